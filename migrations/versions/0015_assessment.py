"""Assessment: schemes and their items, manual scores, frozen periods and their adjustments.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# app.assessment.defaults holds the same schemes.
BANDS = [('五星', 900), ('四星', 800), ('三星', 700), ('二星', 600), ('一星', 0)]
_AREA_ITEMS = [
    ('走访', 'auto', 'visits_done', 200, 0, '全部户按走访规则的完成情况'),
    ('民情日记/工作日志', 'auto', 'log_days', 150, 0, '本村网格员工作日志填写情况'),
    ('事件办理', 'auto', 'cases_in_time', 200, 0, '本村事件按期办结'),
    ('巡查', 'auto', 'patrols_done', 100, 0, '按频次巡查网格和生产经营单位'),
    ('隐患整改', 'auto', 'hazards_in_time', 50, 0, '隐患按期整改销号（篇五）'),
    ('例会', 'auto', 'meetings_held', 100, 0, '各级例会按期召开（篇二、篇四）'),
    ('台账', 'manual', '', 100, 0, '台账与公示，由乡镇检查评分'),
    ('群众满意度', 'auto', 'satisfaction', 100, 0, '事件回访群众满意'),
    ('督查抽查扣分', 'deduction', '', 200, 20, '乡镇督查、抽查发现的问题'),
    ('通报表扬', 'bonus', '', 50, 10, '受到县、乡镇通报表扬'),
]
SCHEMES = {
    'worker': ('网格员千分制考核', [
        ('走访', 'auto', 'visits_done', 200, 0, '按走访规则应走访的户次完成情况（篇二、篇四）'),
        ('民情日记/工作日志', 'auto', 'log_days', 150, 0, '每个工作日填写工作日志（篇一、篇四 日报）'),
        ('事件办理', 'auto', 'cases_in_time', 200, 0, '负责网格内事件按期办结（篇一、篇四 限时办理）'),
        ('巡查', 'auto', 'patrols_done', 150, 0, '按频次巡查网格和生产经营单位（篇三、篇五）'),
        ('例会', 'auto', 'attendance', 100, 0, '按时参加例会（篇二、篇四）'),
        ('台账', 'manual', '', 100, 0, '台账底数清、情况明、信息准，由上级检查评分'),
        ('群众满意度', 'auto', 'satisfaction', 100, 0, '事件回访群众满意（篇二、篇四）'),
        ('督查抽查扣分', 'deduction', '', 200, 10, '镇督查组检查、抽查发现履职不到位，每次扣分，累计不超过上限（篇二）'),
        ('突发事件迟报漏报', 'deduction', '', 100, 50, '突发性事件未及时上报，每次扣 50 分（篇一）'),
        ('表彰奖励', 'bonus', '', 50, 10, '受到表彰、群众书面表扬等加分'),
    ]),
    'village': ('行政村网格化管理千分制考核', _AREA_ITEMS),
    'grid': ('网格千分制考核', _AREA_ITEMS),
}


def upgrade():
    op.create_table(
        "assessment_scheme",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="CASCADE")),
        sa.Column("subject_kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("combine", sa.String(10), nullable=False),
        sa.Column("bands_json", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("grid_id", "subject_kind", name="uq_assessment_scheme_grid_kind"),
    )
    op.create_index("ix_assessment_scheme_grid_id", "assessment_scheme", ["grid_id"])
    op.create_table(
        "assessment_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scheme_id", sa.Integer, sa.ForeignKey("assessment_scheme.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("formula", sa.String(30), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("unit_points", sa.Integer, nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
    )
    op.create_index("ix_assessment_item_scheme_id", "assessment_item", ["scheme_id"])
    op.create_table(
        "assessment_manual_score",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("assessment_item.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject_kind", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.Integer, nullable=False),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("points", sa.Numeric(7, 1), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("evidence_file", sa.String(120), nullable=False),
        sa.Column("entered_by_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_assessment_manual_score_item_id", "assessment_manual_score", ["item_id"])
    op.create_index("ix_assessment_manual_score_grid_id", "assessment_manual_score", ["grid_id"])
    op.create_index("ix_assessment_manual_subject", "assessment_manual_score",
                    ["subject_kind", "subject_id", "period_start"])
    op.create_table(
        "assessment_frozen",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject_kind", sa.String(20), nullable=False),
        sa.Column("period_kind", sa.String(10), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("scheme_id", sa.Integer, sa.ForeignKey("assessment_scheme.id", ondelete="SET NULL")),
        sa.Column("scheme_version", sa.Integer, nullable=False),
        sa.Column("snapshot_json", sa.Text, nullable=False),
        sa.Column("frozen_by_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("frozen_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("grid_id", "subject_kind", "period_kind", "period_start", name="uq_assessment_frozen_period"),
    )
    op.create_index("ix_assessment_frozen_grid_id", "assessment_frozen", ["grid_id"])
    op.create_table(
        "assessment_adjustment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("frozen_id", sa.Integer, sa.ForeignKey("assessment_frozen.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject_id", sa.Integer, nullable=False),
        sa.Column("item_name", sa.String(60), nullable=False),
        sa.Column("points", sa.Numeric(7, 1), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_assessment_adjustment_frozen_id", "assessment_adjustment", ["frozen_id"])
    _insert_defaults()


def _insert_defaults():
    import json
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    schemes = sa.table("assessment_scheme", sa.column("id", sa.Integer), sa.column("grid_id", sa.Integer),
                       sa.column("subject_kind", sa.String), sa.column("name", sa.String),
                       sa.column("total", sa.Integer), sa.column("combine", sa.String),
                       sa.column("bands_json", sa.Text), sa.column("version", sa.Integer),
                       sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
    items = sa.table("assessment_item", sa.column("scheme_id", sa.Integer), sa.column("seq", sa.Integer),
                     sa.column("name", sa.String), sa.column("kind", sa.String), sa.column("formula", sa.String),
                     sa.column("points", sa.Integer), sa.column("unit_points", sa.Integer),
                     sa.column("description", sa.String))
    conn = op.get_bind()
    for kind, (name, rows) in SCHEMES.items():
        conn.execute(schemes.insert().values(grid_id=None, subject_kind=kind, name=name, total=1000, combine="pooled",
                                             bands_json=json.dumps(BANDS, ensure_ascii=False), version=1,
                                             created_at=now, updated_at=now))
        scheme_id = conn.execute(sa.select(schemes.c.id).where(schemes.c.subject_kind == kind,
                                                               schemes.c.grid_id.is_(None))).scalar()
        op.bulk_insert(items, [{"scheme_id": scheme_id, "seq": i, "name": n, "kind": k, "formula": f, "points": p,
                                "unit_points": u, "description": d} for i, (n, k, f, p, u, d) in enumerate(rows, 1)])


def downgrade():
    op.drop_table("assessment_adjustment")
    op.drop_table("assessment_frozen")
    op.drop_table("assessment_manual_score")
    op.drop_table("assessment_item")
    op.drop_table("assessment_scheme")
