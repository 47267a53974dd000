"""联系户 beyond one account per household: several contacts (住村干部, 党员, 村民代表), registered people
without an account, and contacts of units. One 联系网格员 per household stays (a partial unique index).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

GRID_WORKER = sa.text("role = 'grid_worker'")


def upgrade():
    with op.batch_alter_table("contact_link") as batch:
        batch.drop_constraint("uq_contact_link_household_id", type_="unique")
        batch.alter_column("household_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("unit_id", sa.Integer(), sa.ForeignKey("unit.id", name="fk_contact_link_unit_id_unit")))
        batch.add_column(sa.Column("resident_id", sa.Integer(),
                                   sa.ForeignKey("resident.id", name="fk_contact_link_resident_id_resident")))
        batch.add_column(sa.Column("role", sa.String(20), nullable=False, server_default="grid_worker"))
        batch.create_index("ix_contact_link_household_id", ["household_id"])
        batch.create_index("ix_contact_link_unit_id", ["unit_id"])
        batch.create_index("ix_contact_link_resident_id", ["resident_id"])
        batch.create_unique_constraint("uq_contact_link_household_user", ["household_id", "user_id"])
        batch.create_unique_constraint("uq_contact_link_household_resident", ["household_id", "resident_id"])
        batch.create_unique_constraint("uq_contact_link_unit_user", ["unit_id", "user_id"])
        batch.create_unique_constraint("uq_contact_link_unit_resident", ["unit_id", "resident_id"])
        batch.create_check_constraint(op.f("ck_contact_link_one_target"), "(household_id IS NULL) <> (unit_id IS NULL)")
        batch.create_check_constraint(op.f("ck_contact_link_one_person"), "(user_id IS NULL) <> (resident_id IS NULL)")
    op.create_index("uq_contact_link_grid_worker", "contact_link", ["household_id"], unique=True,
                    sqlite_where=GRID_WORKER, postgresql_where=GRID_WORKER)


def downgrade():
    op.execute("DELETE FROM contact_link WHERE role <> 'grid_worker'")
    op.drop_index("uq_contact_link_grid_worker", table_name="contact_link")
    with op.batch_alter_table("contact_link") as batch:
        batch.drop_constraint(op.f("ck_contact_link_one_person"), type_="check")
        batch.drop_constraint(op.f("ck_contact_link_one_target"), type_="check")
        batch.drop_constraint("uq_contact_link_unit_resident", type_="unique")
        batch.drop_constraint("uq_contact_link_unit_user", type_="unique")
        batch.drop_constraint("uq_contact_link_household_resident", type_="unique")
        batch.drop_constraint("uq_contact_link_household_user", type_="unique")
        batch.drop_index("ix_contact_link_resident_id")
        batch.drop_index("ix_contact_link_unit_id")
        batch.drop_index("ix_contact_link_household_id")
        batch.drop_column("role")
        batch.drop_column("resident_id")
        batch.drop_column("unit_id")
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("household_id", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_contact_link_household_id", ["household_id"])
