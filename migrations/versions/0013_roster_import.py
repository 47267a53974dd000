"""Roster imports: pending uploads kept in the database (their files under instance/imports/),
and a village's remembered column mapping.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pending_upload",
        sa.Column("token", sa.String(43), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("village_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="SET NULL")),
        sa.Column("choices", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_pending_upload_user_id", "pending_upload", ["user_id"])
    op.create_index("ix_pending_upload_created_at", "pending_upload", ["created_at"])
    op.create_table(
        "import_mapping",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("grid_id", "kind", "name", name="uq_import_mapping_name"),
    )
    op.create_index("ix_import_mapping_grid_id", "import_mapping", ["grid_id"])


def downgrade():
    op.drop_index("ix_import_mapping_grid_id", table_name="import_mapping")
    op.drop_table("import_mapping")
    op.drop_index("ix_pending_upload_created_at", table_name="pending_upload")
    op.drop_index("ix_pending_upload_user_id", table_name="pending_upload")
    op.drop_table("pending_upload")
