"""The default service-team scheme (服务团队成员应知应会考核, 篇四): meetings attended, the leaders'
应知应会 check, the people's praise and deductions, per team member and month.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29 17:30:00

"""
import importlib.util
from pathlib import Path

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

# A copy of app/assessment/defaults.py as it stood (a migration never imports the app).
NAME = '服务团队成员应知应会考核'
KIND = 'team'
COMBINE = 'mean'
BANDS = [('优秀', 90), ('良好', 80), ('合格', 60), ('不合格', 0)]
ITEMS = [
    ('参加例会', 'tally', 'member_meetings', 30, 10, '出席网格例会、服务团队例会，每次 10 分（篇四 三级例会）'),
    ('应知应会', 'manual', '', 70, 0, '村情户情、政策法规、服务技能的掌握，由乡镇、村检查评分（篇四 应知应会能力考核）'),
    ('群众评价', 'bonus', '', 20, 5, '群众书面表扬、走访回访中群众点名肯定，每次 5 分'),
    ('履职不到位', 'deduction', '', 50, 10, '督查、抽查发现不熟悉责任网格情况等，每次扣 10 分'),
]


def _0022():
    """Migration 0022's helpers (the default scheme of a kind, inserted and removed)."""
    spec = importlib.util.spec_from_file_location("vg_migration_0022", Path(__file__).with_name("0022_party_member_scheme.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade():
    _0022().insert_default(KIND, NAME, COMBINE, BANDS, ITEMS)


def downgrade():
    _0022().delete_default(KIND)
