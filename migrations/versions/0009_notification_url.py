"""Messages that are not about a case (a leader's 周查 of a worker's week) carry the page they open.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 06:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("url", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("url")
