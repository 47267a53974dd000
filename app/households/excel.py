"""The household roster in Excel: a template to fill in, an all-or-nothing import, an export.

One row per person. A household is identified by its head's ID number (户主身份证号);
the head's own row has 与户主关系 = 户主 and 户主身份证号 equal to its own 身份证号.
Re-importing a file updates the people it already created (matched by ID number)
instead of adding them twice. No Flask request objects here: the web pages, the
CLI and the tests all call these functions.
"""
import re
import unicodedata
import warnings
from dataclasses import dataclass, field

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from ..core.forms import ServiceError
from ..core.scope import grid_clause
from ..core.validators import InvalidValue, mask_id_number, mask_ids_in_text, parse_id_number
from ..extensions import db
from ..grids.models import Grid, GridLevel
from . import service
from .models import POLITICAL, RELATIONS, RESIDENT_FLAGS, CategoryTag, Household, Resident
from ..core.timeutil import local_today

SHEET = "户籍名册"
HELP_SHEET = "填写说明"
# (key, header, width)
COLUMNS = [
    ("grid", "所属网格", 26),
    ("address", "门牌地址", 24),
    ("head_id", "户主身份证号", 22),
    ("name", "姓名", 10),
    ("id_number", "身份证号", 22),
    ("relation", "与户主关系", 11),
    ("phone", "联系电话", 15),
    ("political_status", "政治面貌", 13),
    ("flags", "标记", 18),
    ("categories", "户类别", 22),
]
HEADERS = {key: header for key, header, _ in COLUMNS}
REQUIRED = ("grid", "address", "head_id", "name", "id_number", "relation")
ID_COLUMNS = ("head_id", "id_number")
# Which column a check_resident error belongs to.
FIELD_COLUMN = {"name": "name", "id_number": "id_number", "sex": "id_number", "birth_date": "id_number",
                "phone": "phone", "relation": "relation", "political_status": "political_status", "flags": "flags"}
LIST_SPLIT = re.compile(r"[、,，;；\s]+")  # not "/": categories such as 小康户/专业户 contain it
GRID_SPLIT = re.compile(r"\s*[/／]\s*")
# The template's example row (a made-up person with a valid number); refused on import.
EXAMPLE_ID = "330522198001010015"
EXAMPLE_ROW = ["东庄一组", "东庄村1号", EXAMPLE_ID, "张三", EXAMPLE_ID, "户主", "13800138000", "群众", "", ""]
CHUNK = 500
TAG_REASON = "导入名册"
FLUSH_EVERY = 250  # households between flushes while applying a plan


# --- reading cells ----------------------------------------------------------

def _text(value):
    """A cell as text: numbers without a trailing .0, whitespace trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value.strip() if isinstance(value, str) else unicodedata.normalize("NFKC", str(value)).strip()


def _id_cell(value):
    """An ID cell as given: text trimmed, numbers left as numbers for parse_id_number to refuse."""
    if isinstance(value, str):
        return value.strip()
    return value


def _split_list(value):
    return [p for p in LIST_SPLIT.split(_text(value)) if p]


def _blank(values):
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def open_workbook(fileobj):
    """Open an uploaded .xlsx read-only, or raise ServiceError saying why it cannot be read."""
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles or extensions it drops; they do not matter for reading.
            warnings.simplefilter("ignore")
            return load_workbook(fileobj, read_only=True, data_only=True)
    except Exception as exc:  # any failure to parse user input is the same answer to the user
        raise ServiceError(f"文件无法作为 Excel 工作簿（.xlsx）打开：{type(exc).__name__}。"
                           "请用 Excel 或 WPS 打开后“另存为 Excel 工作簿（.xlsx）”再上传。") from None


# --- grids -----------------------------------------------------------------

def _ancestor_ids(path):
    return [int(p) for p in path.strip("/").split("/") if p]


def _names_by_id(ids):
    out = {}
    ids = list(ids)
    for i in range(0, len(ids), CHUNK):
        out.update(db.session.execute(select(Grid.id, Grid.name).where(Grid.id.in_(ids[i:i + CHUNK]))).all())
    return out


def _in_order(names, chain):
    """Whether ``names`` appear in ``chain`` in this order (levels may be left out: "甲村/东庄一组")."""
    it = iter(chain)
    return all(name in it for name in names)


class GridResolver:
    """Finds the lowest-level grid a roster's 所属网格 cell names, within the importer's scope.

    A cell holds a grid's name, or a path of names ending with it ("村/自然村/组";
    higher levels may be added and levels in between left out) when the name alone
    is ambiguous.
    """

    def __init__(self, user):
        rows = db.session.execute(select(Grid.id, Grid.parent_id, Grid.name, Grid.path).where(grid_clause(user))).all()
        parents = {r.parent_id for r in rows}
        self.leaf_ids = {r.id for r in rows if r.id not in parents}
        self.in_scope_names = {r.name for r in rows}
        names = _names_by_id({a for r in rows if r.id in self.leaf_ids for a in _ancestor_ids(r.path)})
        self.by_name = {}
        self.chains = {}
        for r in rows:
            if r.id in self.leaf_ids:
                chain = tuple(names.get(a, "") for a in _ancestor_ids(r.path))
                self.chains[r.id] = chain
                self.by_name.setdefault(r.name, []).append(r.id)
        self._cache = {}
        self._grids = {}

    def label(self, grid_id):
        """The shortest trailing path that names this grid unambiguously in the scope."""
        chain = self.chains[grid_id]
        for size in range(1, len(chain) + 1):
            tail = chain[-size:]
            if sum(1 for o in self.by_name.get(chain[-1], ()) if self.chains[o][-size:] == tail) == 1:
                return "/".join(tail)
        return "/".join(chain)

    def grid(self, grid_id):
        if grid_id not in self._grids:
            self._grids[grid_id] = db.session.get(Grid, grid_id)
        return self._grids[grid_id]

    def resolve(self, value):
        """(Grid, None) or (None, Chinese message)."""
        text = _text(value)
        if text not in self._cache:
            self._cache[text] = self._resolve(text)
        grid_id, message = self._cache[text]
        return (self.grid(grid_id) if grid_id else None), message

    def _resolve(self, text):
        parts = tuple(p for p in GRID_SPLIT.split(text) if p)
        if not parts:
            return None, "所属网格为空。"
        found = [g for g in self.by_name.get(parts[-1], ()) if _in_order(parts[:-1], self.chains[g][:-1])]
        if len(found) == 1:
            return found[0], None
        if len(found) > 1:
            options = "；".join(self.label(g) for g in found[:5])
            return None, (f"您的管理范围内有 {len(found)} 个网格叫“{parts[-1]}”（{options}），"
                          "请写成“村/自然村/组”这样的路径以区分。")
        if parts[-1] in self.in_scope_names and parts[-1] not in self.by_name:
            return None, f"“{parts[-1]}”下还有下级网格，户应登记在最低一级网格（如村民小组、屋场），请填写下级网格名称。"
        return None, f"找不到网格“{text}”，或它不在您的管理范围内。"


def export_grid_labels(grids):
    """{grid id: label} for exported rows, unambiguous in the whole tree so any importer can read it back.

    The label starts at the village (行政村) and adds higher levels only when another
    lowest-level grid has the same trailing path.
    """
    grids = {g.id: g for g in grids}
    if not grids:
        return {}
    village_level = db.session.scalar(select(GridLevel.id).where(GridLevel.key == "village"))
    child = db.aliased(Grid)
    has_child = select(child.id).where(child.parent_id == Grid.id).exists()
    leaf_names = sorted({g.name for g in grids.values()})
    others = []
    for i in range(0, len(leaf_names), CHUNK):
        others.extend(db.session.execute(select(Grid.id, Grid.name, Grid.path).where(
            Grid.name.in_(leaf_names[i:i + CHUNK]), ~has_child)).all())
    ids = {a for g in grids.values() for a in _ancestor_ids(g.path)} | {a for o in others for a in _ancestor_ids(o.path)}
    names = _names_by_id(ids)
    levels = {}
    id_list = list({a for g in grids.values() for a in _ancestor_ids(g.path)})
    for i in range(0, len(id_list), CHUNK):
        levels.update(db.session.execute(select(Grid.id, Grid.level_id).where(Grid.id.in_(id_list[i:i + CHUNK]))).all())
    same_name = {}
    for o in others:
        same_name.setdefault(o.name, []).append(tuple(names.get(a, "") for a in _ancestor_ids(o.path)))
    out = {}
    for g in grids.values():
        ancestors = _ancestor_ids(g.path)
        chain = tuple(names.get(a, "") for a in ancestors)
        villages = [i for i, a in enumerate(ancestors) if levels.get(a) == village_level]
        start = villages[-1] if villages else max(0, len(chain) - 3)
        while start > 0 and sum(1 for c in same_name.get(g.name, ()) if c[-(len(chain) - start):] == chain[start:]) > 1:
            start -= 1
        out[g.id] = "/".join(chain[start:])
    return out


# --- template ----------------------------------------------------------------

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="F2DCDB")


def _category_names(user):
    if user is None:
        from .models import DEFAULT_CATEGORIES

        return [name for _, name, _, _ in DEFAULT_CATEGORIES]
    return [c.name for c in service.categories_for(user)]


def template_workbook(user=None):
    """A workbook to fill in: sheet 户籍名册 (header + one example row) and sheet 填写说明.

    With a user, the explanations list the categories and the grids of that user's scope.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append([header for _, header, _ in COLUMNS])
    ws.append(EXAMPLE_ROW)
    for i, (key, _, width) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = width
        ws.cell(1, i).font = HEADER_FONT
        ws.cell(1, i).fill = HEADER_FILL
        if key in ID_COLUMNS or key == "phone":
            # Text, so Excel neither rounds the 18 digits nor shows 3.30522E+17.
            ws.column_dimensions[letter].number_format = "@"
            ws.cell(2, i).number_format = "@"
    ws.freeze_panes = "A2"
    last = 5000
    for key, values in (("relation", RELATIONS), ("political_status", POLITICAL)):
        col = get_column_letter([k for k, _, _ in COLUMNS].index(key) + 1)
        dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle="不在可选值内",
                            error=f"{HEADERS[key]}只能从下拉列表中选择。")
        dv.add(f"{col}2:{col}{last}")
        ws.add_data_validation(dv)

    help_ws = wb.create_sheet(HELP_SHEET)
    help_ws.column_dimensions["A"].width = 16
    help_ws.column_dimensions["B"].width = 8
    help_ws.column_dimensions["C"].width = 90
    wrap = Alignment(wrap_text=True, vertical="top")
    categories = _category_names(user)
    lines = [
        ("户籍名册填写说明", "", ""),
        ("", "", "每人一行。同一户的人用“户主身份证号”归到一起：户主本人那一行的“与户主关系”填“户主”，"
                 "“户主身份证号”填他自己的身份证号；家庭成员的“户主身份证号”填户主的身份证号。"),
        ("", "", "第 2 行“张三”是示例，导入前请删除。导入时整张表先全部检查，有任何一处错误都不会导入，"
                 "并列出每个错误所在的行和列；改正后重新上传即可。"),
        ("", "", "同一个文件可以重复导入：按身份证号找到已登记的人就更新他的信息，不会重复登记；"
                 "已登记的户按户主身份证号找到。导入不会办理迁出、死亡、分户或迁户，这些请在系统中办理。"),
        ("列名", "必填", "说明"),
        (HEADERS["grid"], "是", "户所在的最低一级网格（如村民小组、屋场）的名称，必须在您的管理范围内。"
                                 "名称有重名时写成“村/自然村/组”这样的路径，用“/”分隔，如“甲村/东庄自然村/东庄一组”。"
                                 "家庭成员行可以不填；填了就必须与户主行相同。"),
        (HEADERS["address"], "是", "门牌地址，最多 200 字。家庭成员行可以不填；填了就必须与户主行相同。"
                                    "已登记的户在户主行填写新地址即可修改地址。"),
        (HEADERS["head_id"], "是", "户主的 18 位身份证号（设成“文本”格式，末位可以是 X）。"
                                    "户主本人行可以不填，视为本人的身份证号。"),
        (HEADERS["name"], "是", "姓名，最多 40 字。"),
        (HEADERS["id_number"], "是", "18 位身份证号，末位可以是 X，必须按“文本”输入：整列先设为“文本”格式，"
                                      "或在号码前加英文单引号 '。存成数字的身份证号（如 3.30522E+17）后几位已丢失，"
                                      "导入时会被拒绝。性别、出生日期按身份证号自动识别。"),
        (HEADERS["relation"], "是", "可选值：" + "、".join(RELATIONS) + "。每户有且只有一个“户主”。"),
        (HEADERS["phone"], "否", "手机号（11 位）或带区号的固定电话，如 0572-6012345。"),
        (HEADERS["political_status"], "否", "可选值：" + "、".join(POLITICAL) + "。不填为“群众”。"),
        (HEADERS["flags"], "否", "可填多个，用“、”或英文逗号分隔。可选值：" + "、".join(RESIDENT_FLAGS) + "。"),
        (HEADERS["categories"], "否", "户的类别，可填多个，用“、”或英文逗号分隔，写在户主行即可。导入只会新增类别，"
                                       "不会移出已有类别。可选值：" + mask_ids_in_text("、".join(categories)) + "。"),
    ]
    for row in lines:
        help_ws.append(list(row))
    help_ws["A1"].font = Font(bold=True, size=14)
    for cell in help_ws[5]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    for row in help_ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = wrap
    if user is not None:
        resolver = GridResolver(user)
        labels = sorted(resolver.label(g) for g in resolver.leaf_ids)
        help_ws.append([])
        help_ws.append(["您可以填写的网格", "", f"共 {len(labels)} 个" + ("，下面列出前 500 个" if len(labels) > 500 else "")])
        help_ws.cell(help_ws.max_row, 1).font = HEADER_FONT
        for label in labels[:500]:
            help_ws.append(["", "", mask_ids_in_text(label)])
    return wb


# --- import -------------------------------------------------------------------

@dataclass
class RosterRow:
    """One person's row, normalised."""

    row: int
    grid_text: str
    address: str
    head_number: str | None
    data: service.ResidentData
    fields: dict
    categories: list
    grid: Grid | None = None
    resident: Resident | None = None  # already registered (matched by ID number)

    @property
    def changed(self):
        r = self.resident
        return r is None or any(getattr(r, k) != v for k, v in self.fields.items())


@dataclass
class HouseholdPlan:
    head_number: str
    rows: list = field(default_factory=list)
    head_row: RosterRow | None = None
    household: Household | None = None  # already registered (matched by its head's ID number)
    grid: Grid | None = None
    address: str = ""
    categories: list = field(default_factory=list)


@dataclass
class RosterPlan:
    """What an import will do, or why it cannot."""

    rows: int = 0
    errors: list = field(default_factory=list)   # [(row number in the sheet, column header, message)]
    households: list = field(default_factory=list)
    created: int = 0            # people to register
    updated: int = 0            # people already registered (matched by ID number)
    unchanged: int = 0          # of those, people whose row changes nothing
    households_created: int = 0
    households_updated: int = 0
    registered: dict = field(default_factory=dict, repr=False)  # {ID number: Resident} already on the ledger
    checked: dict = field(default_factory=dict, repr=False)     # check_resident's answers, reused by apply_plan

    def error(self, row, key, message):
        self.errors.append((row, HEADERS.get(key, key), message))

    def summary(self):
        return f"households: {self.rows} rows, {self.created} created, {self.updated} updated, {len(self.errors)} errors"


def read_roster(fileobj, user):
    """Read and check a roster; returns a RosterPlan (nothing is written).

    Raises ServiceError when the file is not a readable .xlsx workbook.
    """
    wb = open_workbook(fileobj)
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb[wb.sheetnames[0]]
        return _RosterReader(user).read(ws.iter_rows(values_only=True))
    finally:
        wb.close()


def _load_registered(numbers):
    """{ID number: Resident} for the numbers already registered, with household and head loaded."""
    out = {}
    numbers = sorted(numbers)
    for i in range(0, len(numbers), CHUNK):
        q = (select(Resident).options(joinedload(Resident.household).joinedload(Household.head))
             .where(Resident.id_number.in_(numbers[i:i + CHUNK])))
        out.update((r.id_number, r) for r in db.session.scalars(q).unique())
    return out


class _RosterReader:
    """Checks a roster row by row, then household by household, with a few batch queries."""

    def __init__(self, user):
        self.user = user
        self.plan = RosterPlan()
        self.resolver = GridResolver(user)
        self.categories = {c.name: c for c in service.categories_for(user)}
        self.scope_ids = None if user.is_admin else set(db.session.scalars(select(Grid.id).where(grid_clause(user))))
        self.positions = {}
        self.seen = {}          # ID number -> first row
        self.households = {}    # head's ID number -> HouseholdPlan

    def visible(self, grid_id):
        return self.scope_ids is None or grid_id in self.scope_ids

    def cell(self, values, key):
        i = self.positions.get(key)
        return values[i] if i is not None and i < len(values) else None

    def read(self, rows):
        plan = self.plan
        header = next(rows, None) or ()
        by_header = {text: key for key, text, _ in COLUMNS}
        for i, value in enumerate(header):
            key = by_header.get(_text(value))
            if key and key not in self.positions:
                self.positions[key] = i
        missing = [HEADERS[k] for k in REQUIRED if k not in self.positions]
        if missing:
            plan.errors.append((1, "表头", f"第 1 行应为表头，缺少列：{'、'.join(missing)}。"
                                           f"请使用下载的模板（列：{'、'.join(HEADERS.values())}）。"))
            return plan
        raw = [(n, values) for n, values in enumerate(rows, start=2) if values is not None and not _blank(values)]
        plan.rows = len(raw)
        parsed = [self._ids(n, values) for n, values in raw]
        numbers = {p[2] for p in parsed if p[2]} | {p[4] for p in parsed if p[4]}
        plan.registered = _load_registered(numbers)
        with service.batch(registered=plan.registered, checked=plan.checked):
            for item in parsed:
                self._row(*item)
        for hp in self.households.values():
            self._household(hp)
        order = list(HEADERS.values())
        plan.errors.sort(key=lambda e: (e[0], order.index(e[1]) if e[1] in order else -1))
        return plan

    def _ids(self, number, values):
        """The row's own and head's ID numbers (None when unreadable) and the head cell's problem."""
        relation = _text(self.cell(values, "relation"))
        own_cell = _id_cell(self.cell(values, "id_number"))
        head_cell = _id_cell(self.cell(values, "head_id"))
        try:
            own = parse_id_number(own_cell).number
        except InvalidValue:
            own = None  # check_resident explains it
        head, head_error = None, None
        if head_cell is None or head_cell == "":
            if relation == "户主":
                head = own
            else:
                head_error = "请填写户主身份证号（户主本人行可以不填）。"
        else:
            try:
                head = parse_id_number(head_cell).number
            except InvalidValue as exc:
                head_error = str(exc)
        return number, values, head, head_error, own, own_cell, relation

    def _row(self, number, values, head_number, head_error, own, own_cell, relation):
        plan = self.plan
        resident = plan.registered.get(own) if own else None
        data = service.ResidentData(
            name=_text(self.cell(values, "name")), id_number=own or own_cell, relation=relation or "其他",
            phone=_text(self.cell(values, "phone")),
            political_status=_text(self.cell(values, "political_status")) or "群众",
            flags=tuple(_split_list(self.cell(values, "flags"))))
        # The ID, phone and list checks are check_resident's; a registered person is matched, not a clash.
        fields, errors = service.check_resident(data, resident_id=resident.id if resident else None)
        for fld, message in errors:
            plan.error(number, FIELD_COLUMN.get(fld, fld), message)
        if head_error:
            plan.error(number, "head_id", head_error)
        if own == EXAMPLE_ID:
            plan.error(number, "id_number", "这是模板中的示例行（张三），请删除后再导入。")
        if own in self.seen:
            plan.error(number, "id_number", f"身份证号 {mask_id_number(own)} 在第 {self.seen[own]} 行和第 {number} 行"
                                            "重复出现，同一个人只能填一行。")
        elif own:
            self.seen[own] = number
        if own and head_number and relation == "户主" and head_number != own:
            plan.error(number, "relation", "与户主关系为“户主”时，户主身份证号应与本人身份证号相同。")
        elif own and head_number == own and relation != "户主":
            plan.error(number, "relation", f"户主身份证号与本人身份证号相同，与户主关系应填“户主”（这里是“{relation or '空'}”）。")
        if resident is not None and not self.visible(resident.grid_id):
            plan.error(number, "id_number", f"身份证号 {mask_id_number(own)} 已在系统中登记，但不在您的管理范围内，"
                                            "请联系上级核实。")
            resident = None
        cats = []
        for name in _split_list(self.cell(values, "categories")):
            if name not in self.categories:
                plan.error(number, "categories", f"户类别“{name}”不在可选值内（{'、'.join(self.categories)}）。")
            elif self.categories[name] not in cats:
                cats.append(self.categories[name])
        row = RosterRow(row=number, grid_text=_text(self.cell(values, "grid")),
                        address=_text(self.cell(values, "address")), head_number=head_number,
                        data=data, fields=fields, categories=cats, resident=resident)
        if row.grid_text:
            row.grid, message = self.resolver.resolve(row.grid_text)
            if message:
                plan.error(number, "grid", message)
        if len(row.address) > 200:
            plan.error(number, "address", f"门牌地址超过 200 字（这里是 {len(row.address)} 字）。")
        if head_number:
            hp = self.households.setdefault(head_number, HouseholdPlan(head_number=head_number))
            hp.rows.append(row)
            if own == head_number and hp.head_row is None:
                hp.head_row = row

    def _grid_label(self, grid):
        return self.resolver.label(grid.id) if grid.id in self.resolver.chains else grid.name

    def _household(self, hp):
        """Pass 2: one household, new or already registered (matched by its head's ID number)."""
        plan = self.plan
        masked = mask_id_number(hp.head_number)
        head_resident = plan.registered.get(hp.head_number)
        if head_resident is not None and head_resident.household.head_id == head_resident.id:
            hp.household = head_resident.household
        head, h = hp.head_row, hp.household
        if h is not None and not self.visible(h.grid_id):
            for row in hp.rows:
                if row is not head:  # the head's own row has said so already
                    plan.error(row.row, "head_id", f"户主身份证号 {masked} 对应的户不在您的管理范围内。")
            return
        if h is not None and h.status != "active":
            for row in hp.rows:
                plan.error(row.row, "head_id", f"户主身份证号 {masked} 对应的户（{h.address}）已注销，不能再导入。")
            return
        if h is None and head is None:
            for row in hp.rows:
                plan.error(row.row, "head_id", f"户主身份证号 {masked} 在本表中没有“户主”行，系统中也没有以此人为户主的户。"
                                               "请补上户主本人的一行，或核对户主身份证号。")
            return
        if h is None:
            if not head.grid_text:
                plan.error(head.row, "grid", "户主行要填写所属网格。")
            if not head.address:
                plan.error(head.row, "address", "户主行要填写门牌地址。")
            hp.grid, hp.address = head.grid, head.address
        else:
            hp.grid = h.grid
            hp.address = head.address if head is not None and head.address else h.address
            if head is not None and head.grid is not None and head.grid.id != h.grid_id:
                plan.error(head.row, "grid", f"该户已登记在“{self._grid_label(h.grid)}”，导入不能改动户的所属网格；"
                                             "如需迁移请在系统中办理。")
        for row in hp.rows:
            if row is not head:
                where = f"户主行（第 {head.row} 行）" if head is not None else "该户已登记的"
                if row.grid is not None and hp.grid is not None and row.grid.id != hp.grid.id:
                    plan.error(row.row, "grid", f"所属网格与{where}“{self._grid_label(hp.grid)}”不一致；"
                                                "同一户的人在同一网格，成员行可以不填。")
                if row.address and hp.address and row.address != hp.address:
                    plan.error(row.row, "address", f"门牌地址与{where}“{hp.address}”不一致；成员行可以不填。")
            r = row.resident
            if r is not None and (h is None or r.household_id != h.id):
                target = "一个新户" if h is None else f"“{h.address}”户"
                plan.error(row.row, "id_number", f"{r.name}（{mask_id_number(r.id_number)}）已登记在“{r.household.address}”户，"
                                                 f"本表把他（她）列入{target}；导入不办理迁户或分户，请在系统中办理。")
            for c in row.categories:
                if c not in hp.categories:
                    hp.categories.append(c)
        for c in hp.categories:
            if c.grid_id is not None and hp.grid is not None and not self.visible_category(c, hp.grid):
                row = next(r for r in hp.rows if c in r.categories)
                plan.error(row.row, "categories", f"户类别“{c.name}”是其他村自定义的类别，不能用于本户。")
        if h is None:
            plan.households_created += 1
        else:
            plan.households_updated += 1
        for row in hp.rows:
            if row.resident is None:
                plan.created += 1
            else:
                plan.updated += 1
                plan.unchanged += not row.changed
        plan.households.append(hp)

    def visible_category(self, category, grid):
        """A village's own category applies within that village's subtree only."""
        own = self.resolver.grid(category.grid_id)
        return own is not None and grid.path.startswith(own.path)


def apply_plan(plan, user):
    """Write a checked plan: all or nothing.

    New households are checked one by one with the rules of the forms and then
    written together (service.plan_household / register_households); households
    already on the ledger are updated through the per-record service functions.
    Raises ServiceError when the plan has errors or a service refuses a row; the
    caller then rolls back, so nothing is written. Returns {"rows", "created",
    "updated"} (people); the caller commits.
    """
    if plan.errors:
        raise ServiceError(f"名册有 {len(plan.errors)} 处错误，没有导入。")
    today = local_today()
    created = updated = 0
    new = []
    with service.batch(registered=plan.registered, checked=plan.checked):
        for n, hp in enumerate(plan.households, start=1):
            if n % FLUSH_EVERY == 0:
                db.session.flush()  # several middle-sized flushes cost less than one huge one
            try:
                if hp.household is None:
                    head = hp.head_row
                    members = [row.data for row in hp.rows if row is not head]
                    new.append(service.plan_household(user, hp.grid, hp.address, head.data, head.fields.get("phone", ""),
                                                      members=members, categories=hp.categories, start=today,
                                                      reason=TAG_REASON))
                    created += 1 + len(members)
                    continue
                h = hp.household
                if hp.address != h.address:
                    service.update_household(h, hp.address, h.phone, h.notes)
                for row in hp.rows:
                    if row.resident is None:
                        service.add_resident(h, row.data)
                        created += 1
                    else:
                        if row.changed:
                            service.update_resident(row.resident, row.data)
                        updated += 1
                if hp.categories:
                    active = {t.category_id for t in h.tags if t.active}
                    for c in hp.categories:
                        if c.id not in active:
                            service.tag(h, c, today, TAG_REASON)
            except ServiceError as exc:
                row = hp.head_row or hp.rows[0]
                raise ServiceError(f"第 {row.row} 行所在的户（户主身份证号 {mask_id_number(hp.head_number)}）"
                                   f"无法导入：{exc}") from None
        service.register_households(new)
    return {"rows": plan.rows, "created": created, "updated": updated}


# --- export -----------------------------------------------------------------

def export_households(ids):
    """The households of these ids, in this order, with residents, tags and grids loaded for export
    (one query per relation)."""
    ids = list(ids)
    out = []
    for i in range(0, len(ids), CHUNK):
        q = (select(Household).options(selectinload(Household.residents), joinedload(Household.grid),
                                       selectinload(Household.tags).joinedload(CategoryTag.category))
             .where(Household.id.in_(ids[i:i + CHUNK])))
        out.extend(db.session.scalars(q).unique())
    order = {hid: n for n, hid in enumerate(ids)}
    return sorted(out, key=lambda h: order[h.id])


def members(household, resident_status="active"):
    """The people of a household an export lists: the head first, then in order of registration."""
    out = [r for r in household.residents if resident_status is None or r.status == resident_status]
    out.sort(key=lambda r: (r.id != household.head_id, r.id))
    return out


def export_workbook(households, reveal, resident_status="active"):
    """An .xlsx of the households and their residents, one row per person, in the template's columns.

    ID numbers are masked unless ``reveal``; the ID columns are text. ``resident_status``
    limits the people (None: everyone).
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET)
    for i, (_, _, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    header = []
    for _, text, _ in COLUMNS:
        c = WriteOnlyCell(ws, value=text)
        c.font = HEADER_FONT
        c.fill = HEADER_FILL
        header.append(c)
    ws.append(header)
    labels = export_grid_labels({h.grid for h in households})
    show = (lambda n: n or "") if reveal else mask_id_number

    def text_cell(value):
        c = WriteOnlyCell(ws, value=value)
        c.number_format = "@"
        return c

    for h in households:
        head_number = h.head.id_number if h.head is not None else ""
        cats = "、".join(t.category.name for t in h.tags if t.active)
        for r in members(h, resident_status):
            flags = "、".join(r.flag_list)
            # Typed text (an address, a name) is masked like on the screen; only the ID columns follow ``reveal``.
            ws.append([mask_ids_in_text(labels.get(h.grid_id, h.grid.name)), mask_ids_in_text(h.address),
                       text_cell(show(head_number)), mask_ids_in_text(r.name), text_cell(show(r.id_number)),
                       r.relation, text_cell(r.phone), r.political_status, flags, mask_ids_in_text(cats)])
    return wb
