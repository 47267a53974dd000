"""A grid's area map (网格区域管理图): the image and the grids marked on it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "grid_map",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False),
        sa.Column("file_name", sa.String(120), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("grid_id", name="uq_grid_map_grid_id"),
    )
    op.create_table(
        "grid_map_mark",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("map_id", sa.Integer, sa.ForeignKey("grid_map.id", ondelete="CASCADE"), nullable=False),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False),
        sa.Column("x", sa.Float, nullable=False),
        sa.Column("y", sa.Float, nullable=False),
        sa.UniqueConstraint("map_id", "grid_id", name="uq_grid_map_mark_map_grid"),
    )
    op.create_index("ix_grid_map_mark_map_id", "grid_map_mark", ["map_id"])
    op.create_index("ix_grid_map_mark_grid_id", "grid_map_mark", ["grid_id"])


def downgrade():
    op.drop_index("ix_grid_map_mark_grid_id", table_name="grid_map_mark")
    op.drop_index("ix_grid_map_mark_map_id", table_name="grid_map_mark")
    op.drop_table("grid_map_mark")
    op.drop_table("grid_map")
