"""A partial index of archived households in the ledger's order, for the 已注销 list.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 06:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ARCHIVED = sa.text("status = 'archived'")


def upgrade():
    op.create_index("ix_household_archived", "household", ["grid_id", "address", "id", "status"], unique=False,
                    sqlite_where=ARCHIVED, postgresql_where=ARCHIVED)


def downgrade():
    op.drop_index("ix_household_archived", table_name="household")
