"""Grid rules: building and reshaping the tree, staff, counts, division imports."""
import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from ..core.forms import ServiceError
from ..core.sheets import clean
from .scope import can_see_grid
from ..extensions import db
from .models import GRID_ROLES, MIN_TEAM_SIZE, Grid, GridKind, GridLevel, GridStaff
from ..core.db import starts_with

# Levels and kinds every installation starts with (the migration inserts them;
# an admin can rename them and add more). Ranks leave room for levels in between.
DEFAULT_LEVELS = [
    ("province", "省", 10),
    ("city", "市", 20),
    ("county", "县（区）", 30),
    ("town", "乡镇（街道）", 40),
    ("district", "片区", 50),
    ("village", "行政村（社区）", 60),
    ("natural_village", "自然村（党支部）", 70),
    ("cluster", "屋场（村民小组）", 80),
]
DEFAULT_KINDS = [
    ("general", "综合网格"),
    ("party", "党建网格"),
    ("environment", "环境监管网格"),
    ("safety", "安全生产网格"),
]
DIVISION_CODE = re.compile(r"^\d{12}$")


def ensure_reference_data():
    """Insert the default levels and kinds that are missing (idempotent)."""
    have = set(db.session.scalars(select(GridLevel.key)))
    for key, name, rank in DEFAULT_LEVELS:
        if key not in have:
            db.session.add(GridLevel(key=key, name=name, rank=rank))
    have = set(db.session.scalars(select(GridKind.key)))
    for key, name in DEFAULT_KINDS:
        if key not in have:
            db.session.add(GridKind(key=key, name=name))
    db.session.flush()


def level_by_key(key):
    return db.session.scalar(select(GridLevel).where(GridLevel.key == key))


def kind_by_key(key):
    return db.session.scalar(select(GridKind).where(GridKind.key == key))


def create_grid(parent, name, level, kind, division_code=None, area_desc=""):
    """Add a grid under ``parent`` (None for a root) after checking the level fits."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("请填写网格名称。", "name")
    if parent is not None and level.rank <= parent.level.rank:
        raise ServiceError(f"“{level.name}”不能建在“{parent.level.name}”之下，请选择更低的层级。", "level_id")
    if division_code:
        if not DIVISION_CODE.match(division_code):
            raise ServiceError("区划代码应为 12 位数字。", "division_code")
        if db.session.scalar(select(Grid.id).where(Grid.division_code == division_code)):
            raise ServiceError(f"区划代码 {division_code} 已被其他网格使用。", "division_code")
    same_parent = Grid.parent_id == parent.id if parent is not None else Grid.parent_id.is_(None)
    siblings = select(func.count()).select_from(Grid).where(same_parent, Grid.name == name, Grid.kind_id == kind.id)
    if db.session.scalar(siblings):
        raise ServiceError(f"同一上级下已有名为“{name}”的{kind.name}。", "name")
    grid = Grid(parent=parent, name=name, level=level, kind=kind, division_code=division_code or None,
                area_desc=area_desc or "")
    db.session.add(grid)
    db.session.flush()
    grid.set_path()
    return grid


def rename_grid(grid, name, area_desc=None):
    """Change a grid's name (and its area description)."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("请填写网格名称。", "name")
    grid.name = name
    if area_desc is not None:
        grid.area_desc = area_desc


def move_grid(actor, grid, new_parent):
    """Move a grid and its whole subtree under another parent in the actor's scope."""
    if grid.parent_id is None:
        raise ServiceError("根网格不能移动。")
    if grid.division_code:
        raise ServiceError("带区划代码的行政单位按官方区划维护，不能移动。")
    if new_parent.id == grid.id or new_parent.path.startswith(grid.path):
        raise ServiceError("不能把网格移到它自己或它的下级之下。", "parent_id")
    if not can_see_grid(actor, new_parent):
        raise ServiceError("目标上级不在您的管理范围内。", "parent_id")
    if grid.level.rank <= new_parent.level.rank:
        raise ServiceError(f"“{grid.level.name}”不能放在“{new_parent.level.name}”之下。", "parent_id")
    move_grid_unchecked(grid, new_parent)


def child_rows(parent_id, user_clause):
    """Children of a grid (or the roots) with how many children each has, for the lazy tree."""
    child = db.aliased(Grid)
    sub = select(func.count(child.id)).where(child.parent_id == Grid.id).correlate(Grid).scalar_subquery()
    q = select(Grid, sub.label("n_children")).options(joinedload(Grid.level), joinedload(Grid.kind)).where(user_clause)
    q = q.where(Grid.parent_id == parent_id) if parent_id is not None else q.where(Grid.parent_id.is_(None))
    return db.session.execute(q.order_by(Grid.sort_order, Grid.division_code, Grid.name)).all()


def grid_counts(grid):
    """Counts shown on the grid page: direct children, whole subtree, staff."""
    subtree = db.session.scalar(select(func.count(Grid.id)).where(starts_with(Grid.path, grid.path))) - 1
    children = db.session.scalar(select(func.count(Grid.id)).where(Grid.parent_id == grid.id))
    staff = db.session.scalar(select(func.count(GridStaff.id)).where(GridStaff.grid_id == grid.id))
    return {"children": children, "subtree": subtree, "staff": staff}


def assign_staff(grid, role, user=None, name="", phone="", duty=""):
    """Put a person into a role of the grid (an account, or a name and phone)."""
    if role not in GRID_ROLES:
        raise ServiceError("请选择岗位。", "role")
    if user is None and not (name or "").strip():
        raise ServiceError("请选择一个账号，或填写姓名。", "user_id")
    if user is not None:
        exists = db.session.scalar(select(GridStaff.id).where(
            GridStaff.grid_id == grid.id, GridStaff.role == role, GridStaff.user_id == user.id))
        if exists:
            raise ServiceError(f"{user.full_name} 已是本网格的{GRID_ROLES[role]}。", "user_id")
        # The person needs to see the grid they now serve.
        if not can_see_grid(user, grid) and not user.is_admin:
            user.grids = list(user.grids) + [grid]
    staff = GridStaff(grid=grid, role=role, user=user, name=(name or "").strip() if user is None else "",
                      phone=(phone or "").strip() if user is None else "", duty=(duty or "").strip())
    db.session.add(staff)
    db.session.flush()
    return staff


def team_warning(grid):
    """A warning when a village-level (or lower) grid's service team has fewer than the 5 members 篇四 asks for."""
    village = level_by_key("village")
    if village is not None and grid.level.rank < village.rank:
        return None  # townships and districts have no 组团式服务 team of their own
    n = db.session.scalar(select(func.count(GridStaff.id)).where(
        GridStaff.grid_id == grid.id, GridStaff.role == "team_member"))
    if n < MIN_TEAM_SIZE:
        return f"服务团队现有 {n} 人，按“组团式服务”要求每个团队至少 {MIN_TEAM_SIZE} 人。"
    return None


# Division-code import

@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list = field(default_factory=list)

    def summary(self):
        return (f"divisions: {self.rows} rows, {self.created} created, {self.updated} updated, "
                f"{len(self.errors)} errors")


def import_divisions(text):
    """Create or update grids from ``code,name,level,parent_code`` CSV text.

    All or nothing: any bad row means nothing is written and every bad row is
    reported with its line number (the header is line 1).
    """
    ensure_reference_data()
    result = ImportResult()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    expected = ["code", "name", "level", "parent_code"]
    if header is None or [h.strip().lower() for h in header[:4]] != expected:
        result.errors.append("第 1 行：表头应为 code,name,level,parent_code")
        return result
    levels = {lv.key: lv for lv in db.session.scalars(select(GridLevel))}
    general = kind_by_key("general")
    existing = {g.division_code: g for g in db.session.scalars(select(Grid).where(Grid.division_code.is_not(None)))}
    parsed = []  # (line, code, name, level, parent_code)
    seen = {}
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        result.rows += 1
        cells = [clean(c) for c in row] + [""] * 4
        code, name, level_key, parent_code = cells[:4]
        problems = []
        if not DIVISION_CODE.match(code):
            problems.append(f"区划代码“{code}”不是 12 位数字")
        elif code in seen:
            problems.append(f"区划代码 {code} 与第 {seen[code]} 行重复")
        if not name:
            problems.append("名称为空")
        if level_key not in levels:
            problems.append(f"层级“{level_key}”未定义（可用：{'、'.join(levels)}）")
        if parent_code and not DIVISION_CODE.match(parent_code):
            problems.append(f"上级代码“{parent_code}”不是 12 位数字")
        if problems:
            result.errors.append((line_no, f"第 {line_no} 行：" + "；".join(problems)))
        else:
            seen[code] = line_no
            parsed.append((line_no, code, name, levels[level_key], parent_code))
    # Parents may come from the file or from the database.
    level_of = {code: lv for _, code, _, lv, _ in parsed}
    for code, grid in existing.items():
        level_of.setdefault(code, grid.level)
    for line_no, code, _name, level, parent_code in parsed:
        if not parent_code:
            continue
        if parent_code not in level_of:
            result.errors.append((line_no, f"第 {line_no} 行：上级代码 {parent_code} 在文件和系统中都不存在"))
        elif level.rank <= level_of[parent_code].rank:
            result.errors.append((line_no, f"第 {line_no} 行：层级“{level.name}”不能位于上级“{level_of[parent_code].name}”之下"))
        elif parent_code == code:
            result.errors.append((line_no, f"第 {line_no} 行：上级代码不能是自己"))
    if not result.errors:
        _adopt_uncoded_roots(parsed, existing, result)
    if result.errors:
        result.errors = [msg for _line, msg in sorted(result.errors)]
        return result
    # Parents before children: sort by level rank, then file order.
    parsed.sort(key=lambda r: (r[3].rank, r[0]))
    for line_no, code, name, level, parent_code in parsed:
        parent = existing.get(parent_code) if parent_code else None
        grid = existing.get(code)
        if grid is None:
            grid = Grid(name=name, level=level, kind=general, division_code=code, parent=parent)
            db.session.add(grid)
            db.session.flush()
            grid.set_path()
            existing[code] = grid
            result.created += 1
            continue
        changed = False
        if grid.name != name:
            grid.name = name
            changed = True
        if grid.level_id != level.id:
            grid.level = level
            changed = True
        if (grid.parent.division_code if grid.parent else "") != (parent_code or ""):
            if parent is None:
                raise ServiceError(f"第 {line_no} 行：已有网格不能改为根网格")
            move_grid_unchecked(grid, parent)
            changed = True
        if changed:
            result.updated += 1
    return result


def _adopt_uncoded_roots(parsed, existing, result):
    """A root set up without a division code is the file's root of the same name and level: it takes the
    code (and keeps its users and grids) instead of a second root being made beside it. A code-less root
    that matches no root of the file is a question for the operator, reported, never guessed."""
    roots = db.session.scalars(select(Grid).where(Grid.parent_id.is_(None), Grid.division_code.is_(None))).all()
    if not roots:
        return
    file_roots = [(line_no, code, name, level) for line_no, code, name, level, parent in parsed
                  if not parent and code not in existing]
    for grid in roots:
        same = [r for r in file_roots if r[2] == grid.name and r[3].id == grid.level_id]
        if same:
            line_no, code, _name, _level = same[0]
            grid.division_code = code
            existing[code] = grid
            continue
        named = [r for r in file_roots if r[2] == grid.name]
        if named:
            line_no, code, name, level = named[0]
            result.errors.append((line_no, f"第 {line_no} 行：系统中已有未填区划代码的“{grid.name}”（层级：{grid.level.name}），"
                                           f"与文件中的“{name}”（层级：{level.name}）同名但层级不同。请先核对层级，"
                                           "改成一致后再导入，以免出现两个同名的根网格。"))
        elif file_roots:
            line_no, code, name, level = file_roots[0]
            result.errors.append((line_no, f"第 {line_no} 行：系统中已有未填区划代码的根网格“{grid.name}”（{grid.level.name}），"
                                           f"文件的根是“{name}”（{level.name}）。如果是同一个地方，请先把“{grid.name}”改名为"
                                           f"“{name}”（层级一致）再导入；导入不会另建一个根网格。"))


# What holds a grid, in Chinese, by the table that refers to it (others are named "其他记录").
_HOLDERS = {"grid": "下级网格", "household": "户", "resident": "人员", "unit": "单位", "user_grid": "账号绑定",
            "grid_staff": "岗位人员", "visit": "走访记录", "cases": "事件", "case_event": "事件记录", "meeting": "例会",
            "follow_up": "例会落实事项", "agreement": "责任状", "patrol": "巡查记录", "hazard": "隐患",
            "household_category": "户类别", "assessment_frozen": "已定稿的考核", "assessment_manual_score": "考核评分"}
# Rows that belong to the grid alone and go with it (its own settings, map, rules, meeting kinds …).
_OWN_ROWS = {"grid_map", "grid_map_mark", "visit_rule", "grid_notice", "meeting_kind", "import_mapping",
             "agreement_wording", "assessment_scheme"}


def grid_holders(grid):
    """[(Chinese name, count)] of the records that keep the grid from being deleted (empty: it may go)."""
    found = []
    for table in db.metadata.sorted_tables:
        if table.name in _OWN_ROWS:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name != "grid" or fk.column.name != "id" or fk.ondelete == "SET NULL":
                continue
            n = db.session.scalar(select(func.count()).select_from(table).where(fk.parent == grid.id))
            if n:
                found.append((_HOLDERS.get(table.name, "其他记录"), n))
    return found


def delete_empty_grid(user, grid):
    """Delete a grid that holds nothing (made by mistake, or a second root left by a set-up); ServiceError
    saying what it holds otherwise. Its own map, rules and settings go with it."""
    holders = grid_holders(grid)
    if holders:
        what = "、".join(f"{name} {n} 条" for name, n in holders)
        raise ServiceError(f"“{grid.name}”不是空网格（有{what}），不能删除；请先移走或注销这些记录。")
    for table in reversed(db.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table.name != "grid" or fk.column.name != "id":
                continue
            if table.name in _OWN_ROWS:
                db.session.execute(table.delete().where(fk.parent == grid.id))
            elif fk.ondelete == "SET NULL":
                db.session.execute(table.update().where(fk.parent == grid.id).values({fk.parent.name: None}))
    name = grid.name
    db.session.delete(grid)
    db.session.flush()
    return name


def move_grid_unchecked(grid, new_parent):
    """Re-parent a grid and rewrite its subtree's paths (callers did the checks)."""
    old_path = grid.path
    grid.parent = new_parent
    new_path = f"{new_parent.path}{grid.id}/"
    shift = new_path.count("/") - old_path.count("/")
    db.session.execute(
        update(Grid)
        .where(starts_with(Grid.path, old_path))
        .values(path=func.replace(Grid.path, old_path, new_path), depth=Grid.depth + shift)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    db.session.expire_all()


def village_of(grid):
    """The village (行政村) a grid lies in, or the grid itself above village level."""
    ids = grid.ancestor_ids()
    rows = {g.id: g for g in db.session.scalars(select(Grid).where(Grid.id.in_(ids)))}
    for gid in ids:
        g = rows.get(gid)
        if g is not None and g.level and g.level.key == "village":
            return g
    return grid


def village_name(grid):
    """The name of the village a grid lies in (or the grid's own name above village level), for document headers."""
    return village_of(grid).name
