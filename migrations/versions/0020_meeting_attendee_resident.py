"""A meeting attendee may be a person registered in the village (added by hand).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("meeting_attendee") as batch:
        batch.add_column(sa.Column("resident_id", sa.Integer(),
                                   sa.ForeignKey("resident.id", name="fk_meeting_attendee_resident_id_resident",
                                                 ondelete="SET NULL")))


def downgrade():
    with op.batch_alter_table("meeting_attendee") as batch:
        batch.drop_column("resident_id")
