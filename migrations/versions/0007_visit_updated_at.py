"""Visits can be corrected by their author until the week is checked: when, for the page and the work log.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 05:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("visit") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("visit") as batch:
        batch.drop_column("updated_at")
