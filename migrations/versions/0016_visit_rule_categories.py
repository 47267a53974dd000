"""Visit rules that target named household categories (and 党员户); the default rule for the four
集中走访 rounds a year.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

GROUP_RULE = "每季度一轮集中走访（每年四轮）"


def upgrade():
    with op.batch_alter_table("visit_rule") as batch:
        batch.add_column(sa.Column("categories", sa.String(400), nullable=False, server_default=""))
    # An installation that has the default rules gains the 集中走访 one (篇四: four rounds a year).
    rule = sa.table("visit_rule", sa.column("grid_id", sa.Integer), sa.column("name", sa.String),
                    sa.column("target", sa.String), sa.column("methods", sa.String), sa.column("period", sa.String),
                    sa.column("visitor", sa.String), sa.column("active", sa.Boolean),
                    sa.column("sort_order", sa.Integer), sa.column("categories", sa.String))
    conn = op.get_bind()
    defaults = conn.execute(sa.select(sa.func.count(), sa.func.max(rule.c.sort_order))
                            .where(rule.c.grid_id.is_(None))).one()
    have = conn.execute(sa.select(sa.func.count()).where(rule.c.grid_id.is_(None), rule.c.name == GROUP_RULE)).scalar()
    if defaults[0] and not have:
        conn.execute(rule.insert().values(grid_id=None, name=GROUP_RULE, target="all", methods="group",
                                          period="quarter", visitor="any", active=True,
                                          sort_order=(defaults[1] or 0) + 1, categories=""))


def downgrade():
    op.execute(sa.text("DELETE FROM visit_rule WHERE grid_id IS NULL AND name = :n").bindparams(n=GROUP_RULE))
    with op.batch_alter_table("visit_rule") as batch:
        batch.drop_column("categories")
