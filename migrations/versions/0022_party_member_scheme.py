"""The default party-member scheme (党员分类积分量化考评, 篇四): points per month for the households a
member links and the meetings attended, with entries for 志愿服务, commendations and deductions.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29 17:00:00

"""
import json
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

# A copy of app/assessment/defaults.py as it stood (a migration never imports the app).
NAME = '党员分类积分量化考评'
BANDS = [('优秀', 80), ('良好', 60), ('合格', 30), ('待改进', 0)]
ITEMS = [
    ('联系户', 'tally', 'member_links', 60, 10, '与户结对联系，每户每月计 10 分（篇四：确保每一户都有党员、干部或村民代表联系结对）'),
    ('参加会议', 'tally', 'member_meetings', 40, 10, '出席例会、党员大会等会议，每次 10 分（篇二、篇四）'),
    ('志愿服务', 'bonus', '', 30, 5, '义务服务、“1+1”创业帮带、“一创三联”等，由村党组织登记，每次 5 分'),
    ('其他表现', 'bonus', '', 20, 0, '受到表彰、群众书面表扬等'),
    ('违反纪律', 'deduction', '', 50, 10, '无故缺席组织生活、违反村规民约等，每次扣 10 分'),
]

schemes = sa.table("assessment_scheme", sa.column("id", sa.Integer), sa.column("grid_id", sa.Integer),
                   sa.column("subject_kind", sa.String), sa.column("name", sa.String),
                   sa.column("total", sa.Integer), sa.column("combine", sa.String),
                   sa.column("bands_json", sa.Text), sa.column("version", sa.Integer),
                   sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
items = sa.table("assessment_item", sa.column("scheme_id", sa.Integer), sa.column("seq", sa.Integer),
                 sa.column("name", sa.String), sa.column("kind", sa.String), sa.column("formula", sa.String),
                 sa.column("points", sa.Integer), sa.column("unit_points", sa.Integer),
                 sa.column("description", sa.String))


def _default_id(conn, kind):
    return conn.execute(sa.select(schemes.c.id).where(schemes.c.subject_kind == kind,
                                                      schemes.c.grid_id.is_(None))).scalar()


def insert_default(kind, name, combine, bands, rows):
    """The installation's default scheme of ``kind`` with its items, unless there is one (0023 uses it too)."""
    conn = op.get_bind()
    if _default_id(conn, kind) is not None:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    total = sum(p for _, k, _, p, _, _ in rows if k in ("auto", "manual", "tally"))
    conn.execute(schemes.insert().values(grid_id=None, subject_kind=kind, name=name, total=total, combine=combine,
                                         bands_json=json.dumps(bands, ensure_ascii=False), version=1,
                                         created_at=now, updated_at=now))
    op.bulk_insert(items, [{"scheme_id": _default_id(conn, kind), "seq": i, "name": n, "kind": k, "formula": f,
                            "points": p, "unit_points": u, "description": d}
                           for i, (n, k, f, p, u, d) in enumerate(rows, 1)])


def delete_default(kind):
    conn = op.get_bind()
    scheme_id = _default_id(conn, kind)
    if scheme_id is not None:
        conn.execute(items.delete().where(items.c.scheme_id == scheme_id))
        conn.execute(schemes.delete().where(schemes.c.id == scheme_id))


def upgrade():
    insert_default("party_member", NAME, "sum", BANDS, ITEMS)


def downgrade():
    delete_default("party_member")
