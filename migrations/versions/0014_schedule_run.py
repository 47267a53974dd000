"""Schedules run inside the server: one row per schedule and period (the lock and the record).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "schedule_run",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("result", sa.Text, nullable=False, server_default=""),
        sa.Column("runner", sa.String(80), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_run")),
        sa.UniqueConstraint("name", "period", name="uq_schedule_run_name_period"),
    )
    op.create_index("ix_schedule_run_name_started_at", "schedule_run", ["name", "started_at"])


def downgrade():
    op.drop_index("ix_schedule_run_name_started_at", table_name="schedule_run")
    op.drop_table("schedule_run")
