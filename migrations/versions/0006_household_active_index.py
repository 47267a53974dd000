"""A partial index of active households in the ledger's order: the list walks it, and its total and the per-grid counts read it alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 04:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'active'")


def upgrade():
    op.create_index("ix_household_active", "household", ["grid_id", "address", "id", "status"], unique=False,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade():
    op.drop_index("ix_household_active", table_name="household")
