"""The household roster imported from a village's own file, all or nothing.

The file is read as the village keeps it (core/sheets.py: .xlsx, .xls, .csv; title rows,
a two-row header, blank rows, notes); columns are recognised by name or mapped by the
clerk. Households come from either layout:

- a 户主身份证号 column on every row (the template): the head's own row has 与户主关系 =
  户主 and 户主身份证号 equal to its own 身份证号;
- blocks: a row whose 与户主关系 is 户主 (or whose 户主 column is filled) starts a
  household, the rows under it are its members; 所属组 and 地址 may stand on the head's
  row only.

所属组 values are matched to the village's grids (第5村民小组 = 五组); those that match
none are listed for the clerk to map, or created as 村民小组 under the village.
Everything the file says is checked with the rules of the forms (性别 and 出生日期
against the ID number too). Re-importing a file updates the people it already created
(matched by ID number) instead of adding them twice, and a file that says nothing new
changes nothing. No Flask request objects here: the web pages, the CLI and the tests
all call these functions.
"""
import re
import unicodedata
from dataclasses import dataclass, field
from typing import ClassVar
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..accounts.permissions import can
from ..core.forms import ServiceError
from ..grids.scope import grid_clause
from ..core.sheets import Field, ImportPlan, cell_text, map_columns, read_table, rows_text
from ..core.timeutil import local_today
from ..core.validators import InvalidValue, mask_id_number, parse_id_number, phone_warning
from ..extensions import db
from ..grids import service as grid_service
from ..grids.groups import key_text
from ..grids.models import Grid
from . import service
from .batch import batch
from .grid_names import GridResolver
from .models import Household, Resident
from .relations import HEAD, normalize_relation
from .roster_template import EXAMPLE_ID, HEADERS

FIELDS = [
    Field("grid", HEADERS["grid"], ("所属组", "村民小组", "所属村民小组", "组别", "网格", "组", "小组", "村组", "所在组",
                                   "组名", "所属小组", "网格名称", "所属网格名称")),
    Field("address", HEADERS["address"], ("家庭住址", "门牌", "地址", "住址", "门牌号", "现住址", "家庭地址", "居住地址",
                                         "户籍地址", "详细地址", "门牌号码")),
    Field("head_id", HEADERS["head_id"], ("户主身份证号码", "户主公民身份号码", "户主证件号码", "户主身份证")),
    Field("head_name", "户主", ("户主姓名", "户主名字")),
    Field("name", HEADERS["name"], ("成员姓名", "名字", "人员姓名", "家庭成员姓名", "家庭成员"), required=True),
    Field("id_number", HEADERS["id_number"], ("身份证号码", "公民身份号码", "公民身份证号码", "身份证", "证件号码",
                                             "居民身份证号码", "身份证件号码", "证件号", "身份证件号"), required=True),
    Field("relation", HEADERS["relation"], ("关系", "家庭关系", "与户主的关系", "户主关系", "与户主关系名称")),
    Field("sex", "性别", ("性别名称",)),
    Field("birth_date", "出生日期", ("出生年月", "出生年月日", "生日", "出生时间")),
    Field("phone", HEADERS["phone"], ("手机号", "电话", "手机", "手机号码", "联系方式", "电话号码", "联系电话号码")),
    Field("political_status", HEADERS["political_status"], ("政治面目",)),
    Field("flags", HEADERS["flags"], ("人员标记", "特殊标记")),
    Field("categories", HEADERS["categories"], ("类别", "户类型", "家庭类别", "户属类别")),
    Field("notes", "备注", ()),
]
FIELD_BY_KEY = {f.key: f for f in FIELDS}
# Which field a check_resident error belongs to (sex and birth date: their own columns when the file has them).
FIELD_COLUMN = {"name": "name", "id_number": "id_number", "sex": "sex", "birth_date": "birth_date",
                "phone": "phone", "relation": "relation", "political_status": "political_status", "flags": "flags"}
LIST_SPLIT = re.compile(r"[、,，;；\s]+")  # not "/": categories such as 小康户/专业户 contain it
MASKED = re.compile(r"^\d{6}\*{4,}\d{3}[\dXx]$|\*{4,}")
SEXES = {"男": "男", "女": "女", "男性": "男", "女性": "女", "m": "男", "f": "女", "male": "男", "female": "女",
         "1": "男", "2": "女"}
DATE_TEXT = re.compile(r"^(\d{4})\s*[年\-/.]\s*(\d{1,2})\s*(?:[月\-/.]\s*(?:(\d{1,2})\s*日?)?)?$")
CHUNK = 500
TAG_REASON = "导入名册"
FLUSH_EVERY = 250  # households between flushes while applying a plan


def _split_list(value):
    return [p for p in LIST_SPLIT.split(cell_text(value)) if p]


def _id_cell(value):
    """An ID cell as given: text cleaned, numbers left as numbers for parse_id_number to refuse."""
    return cell_text(value) if isinstance(value, str) else value


def parse_sex(value):
    """(男/女 or "", problem or None)."""
    text = cell_text(value).lower()
    if not text:
        return "", None
    if text in SEXES:
        return SEXES[text], None
    return "", f"性别“{cell_text(value)}”应为“男”或“女”。"


def parse_birth(value):
    """(date, YearMonth or None, problem or None) of a 出生日期 / 出生年月 cell."""
    if value is None or value == "":
        return None, None
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    text = "".join(unicodedata.normalize("NFKC", cell_text(value)).split())
    if not text:
        return None, None
    m = DATE_TEXT.match(text)
    if m:
        year, month, day = m.group(1), m.group(2), m.group(3)
    elif text.isdigit() and len(text) in (6, 8):
        year, month, day = text[:4], text[4:6], text[6:] or None
    else:
        return None, f"出生日期“{text}”不是日期（可写作 1960-02-03、1960年2月3日、19600203 或 1960.02）。"
    try:
        if day is None:
            if not 1 <= int(month) <= 12:
                raise ValueError
            return service.YearMonth(int(year), int(month)), None
        return date(int(year), int(month), int(day)), None
    except ValueError:
        return None, f"出生日期“{text}”不存在。"


@dataclass
class ImportOptions:
    """What the importer decided beyond the file: the village it is for, the clerk's column mapping
    for this file, the village's remembered one, and what to do with 所属组 values no grid has."""

    village: Grid | None = None
    columns: dict = None        # {column index: field key or ""}
    remembered: dict = None     # {header key: field key or ""}
    groups: dict = None         # {group key text: grid id or "new"}
    create_groups: bool = False


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
    group: tuple | None = None        # a 所属组 that names no grid of the village (its group key)
    resident: Resident | None = None  # already registered (matched by ID number)
    head_name: str = ""
    notes: str = ""
    relation_text: str = ""           # 与户主关系 as the file gives it (normalised; "" when blank)

    @property
    def changed(self):
        r = self.resident
        return r is None or any(getattr(r, k) != v for k, v in self.fields.items())


@dataclass
class HouseholdPlan:
    head_number: str | None
    rows: list = field(default_factory=list)
    head_row: RosterRow | None = None
    household: Household | None = None  # already registered (matched by its head's ID number)
    grid: Grid | None = None
    new_group: str | None = None        # the key text of a 村民小组 the import creates for it
    address: str = ""
    notes: str | None = None            # None: the file has no 备注 column
    categories: list = field(default_factory=list)
    changed: bool = False               # a registered household whose address, notes or categories change


@dataclass
class GroupNeed:
    """A 所属组 value that names no grid of the village: what the clerk decides on the preview."""

    key: str            # group key text
    text: str           # as the file first writes it
    rows: list = field(default_factory=list)
    households: int = 0


@dataclass
class RosterPlan(ImportPlan):
    """What an import will do, or why it cannot."""

    labels: ClassVar[dict] = {f.key: f.label for f in FIELDS}
    households: list = field(default_factory=list)
    created: int = 0            # people to register
    updated: int = 0            # people already registered whose row changes something
    unchanged: int = 0          # people already registered whose row changes nothing
    households_created: int = 0
    households_updated: int = 0
    layout: str = ""            # "head_id" or "blocks"
    groups: dict = field(default_factory=dict)      # {key text: GroupNeed} not yet decided
    new_groups: dict = field(default_factory=dict)  # {key text: name} the import creates
    registered: dict = field(default_factory=dict, repr=False)  # {ID number: Resident} already on the ledger
    checked: dict = field(default_factory=dict, repr=False)     # check_resident's answers, reused by apply_plan

    @property
    def changes_nothing(self):
        return not self.errors and not self.created and not self.updated and not self.new_groups

    def summary(self):
        return (f"roster: {self.households_created} households created, {self.created} residents created, "
                f"{self.updated} updated, {self.unchanged} unchanged, {len(self.errors)} errors")


def read_roster(source, user, options=None, filename="名册.xlsx"):
    """Read and check a roster (bytes or a file object); returns a RosterPlan (nothing is written).

    Raises ServiceError when the file cannot be read at all.
    """
    data = source if isinstance(source, bytes) else source.read()
    table = read_table(data, filename, FIELDS)
    return _RosterReader(user, options or ImportOptions()).read(table)


def _load_registered(numbers):
    """{ID number: Resident} for the numbers already registered, with household and head loaded."""
    out = {}
    numbers = sorted(numbers)
    for i in range(0, len(numbers), CHUNK):
        q = (select(Resident).options(joinedload(Resident.household).joinedload(Household.head))
             .where(Resident.id_number.in_(numbers[i:i + CHUNK])))
        out.update((r.id_number, r) for r in db.session.scalars(q).unique())
    return out


def _number(value):
    try:
        return parse_id_number(value).number
    except InvalidValue:
        return None


class _RosterReader:
    """Checks a roster row by row, then household by household, with a few batch queries."""

    def __init__(self, user, options):
        self.user = user
        self.options = options
        self.plan = RosterPlan(village=options.village)
        self.resolver = GridResolver(user, options.village, options.groups)
        self.categories = {c.name: c for c in service.categories_for(user)}
        self.scope_ids = None if user.is_admin else set(db.session.scalars(select(Grid.id).where(grid_clause(user))))
        self.positions = {}
        self.seen = {}          # ID number -> (first row, its values)
        self.households = {}    # head's ID number (or "row N") -> HouseholdPlan

    def visible(self, grid_id):
        return self.scope_ids is None or grid_id in self.scope_ids

    def cell(self, values, key):
        i = self.positions.get(key)
        return values[i] if i is not None and i < len(values) else None

    # The header

    def _columns(self, table):
        """Map the columns; returns False (with errors) when the rows cannot be read yet."""
        plan, options = self.plan, self.options
        plan.table = table
        plan.mapping = mapping = map_columns(table.columns, FIELDS, options.columns, options.remembered)
        self.positions = dict(mapping.columns)
        if not table.columns:
            plan.header_error("没有找到表头：前 30 行里没有一行写着“姓名”“身份证号”“与户主关系”这样的列名。"
                              "请确认上传的是名册，或下载模板对照填写。")
            return False
        problems = []
        for key, indexes in mapping.ambiguous.items():
            names = "”和“".join(next(c.title for c in table.columns if c.index == i) for i in indexes)
            problems.append(f"“{names}”都像是“{FIELD_BY_KEY[key].label}”，请指定用哪一列。")
        missing = [f for f in mapping.missing(FIELDS) if f.key not in mapping.ambiguous]
        if "head_id" not in mapping.columns and not {"relation", "head_name"} & set(mapping.columns):
            missing.append(FIELD_BY_KEY["relation"])
        village_leaf = options.village is not None and not options.village.children.count()
        if "grid" not in mapping.columns and not village_leaf and "grid" not in mapping.ambiguous:
            missing.append(FIELD_BY_KEY["grid"])
        if "address" not in mapping.columns and "address" not in mapping.ambiguous:
            missing.append(FIELD_BY_KEY["address"])
        for f in missing:
            also = f"（也可写作：{'、'.join(f.names[:6])}）" if f.names else ""
            problems.append(f"表中没有“{f.label}”列{also}。请指定哪一列是{f.label}，或在表头中补上。")
        for message in problems:
            plan.header_error(message)
        plan.layout = "head_id" if "head_id" in mapping.columns else "blocks"
        return not problems

    # Reading

    def read(self, table):
        plan = self.plan
        if not self._columns(table):
            return plan
        rows = table.data_rows()
        masked = [n for n, values in rows if self._masked(values)]
        if masked:  # said once, on the first such row, for the whole file
            plan.error(masked[0], "id_number", f"身份证号是脱敏的（中间几位是 *），脱敏的号码无法导入（第 {rows_text(masked)} 行，"
                                              f"共 {len(masked)} 行）。请用有权限的账号勾选“显示完整身份证号”导出的文件，"
                                              "或填写完整的身份证号。")
            skip = set(masked)
            rows = [(n, v) for n, v in rows if n not in skip]
        plan.rows = len(rows) + len(masked)
        parsed = [self._ids(n, values) for n, values in rows]
        numbers = {p[2] for p in parsed if p[2]} | {p[4] for p in parsed if p[4]}
        plan.registered = _load_registered(numbers)
        people = []
        with batch(registered=plan.registered, checked=plan.checked) as checks:
            for item in parsed:
                row = self._row(*item, checks)
                if row is not None:
                    people.append(row)
        if plan.layout == "head_id":
            self._by_head_id(people)
        else:
            self._by_blocks(people)
        for hp in self.households.values():
            self._household(hp)
        self._group_errors()
        order = [f.key for f in FIELDS]
        position = {plan.column(k)[0]: i for i, k in enumerate(order)}
        plan.errors.sort(key=lambda e: (e[0], position.get(e[1], -1)))
        plan.warnings.sort(key=lambda e: (e[0], position.get(e[1], -1)))
        return plan

    def _mapped(self, values):
        """The cells of a row that are imported (a 序号 or other unmapped column may differ between copies)."""
        return tuple(cell_text(self.cell(values, key)) for key in sorted(self.positions))

    def _masked(self, values):
        for key in ("id_number", "head_id"):
            v = self.cell(values, key)
            if isinstance(v, str) and "*" in v and MASKED.search(v):
                return True
        return False

    def _ids(self, number, values):
        """The row's own and head's ID numbers (None when unreadable) and the head cell's problem."""
        relation = normalize_relation(cell_text(self.cell(values, "relation")))
        own_cell = _id_cell(self.cell(values, "id_number"))
        own = _number(own_cell)  # check_resident explains a bad one
        head, head_error = None, None
        if self.plan.layout == "head_id":
            head_cell = _id_cell(self.cell(values, "head_id"))
            if head_cell is None or head_cell == "":
                if relation == HEAD:
                    head = own
                else:
                    head_error = "请填写户主身份证号（户主本人行可以不填）。"
            else:
                try:
                    head = parse_id_number(head_cell).number
                except InvalidValue as exc:
                    head_error = str(exc)
        return number, values, head, head_error, own, own_cell, relation

    def _row(self, number, values, head_number, head_error, own, own_cell, relation, checks):
        plan = self.plan
        if own in self.seen:
            first, first_values = self.seen[own]
            same = "整行与第 {0} 行相同" if self._mapped(first_values) == self._mapped(values) else "身份证号与第 {0} 行相同"
            plan.error(number, "id_number", f"{same.format(first)}（{mask_id_number(own)}），同一个人只能填一行，"
                                            "请删除重复的这一行。")
            return None
        if own:
            self.seen[own] = (number, values)
        resident = plan.registered.get(own) if own else None
        head_name = cell_text(self.cell(values, "head_name"))
        name = cell_text(self.cell(values, "name")) or (head_name if relation in (HEAD, "") else "")
        sex, sex_problem = parse_sex(self.cell(values, "sex"))
        birth, birth_problem = parse_birth(self.cell(values, "birth_date"))
        phone = cell_text(self.cell(values, "phone"))
        data = service.ResidentData(
            name=name, id_number=own or own_cell, relation=relation or "其他", phone=phone,
            political_status=cell_text(self.cell(values, "political_status")) or "群众",
            flags=tuple(_split_list(self.cell(values, "flags"))), sex=sex, birth_date=birth, unknown_mobile_ok=True)
        # The ID, phone and list checks are check_resident's; a registered person is matched, not a clash.
        fields, errors = service.check_resident(data, resident_id=resident.id if resident else None, batch=checks)
        for fld, message in errors:
            plan.error(number, FIELD_COLUMN.get(fld, fld), message)
        if sex_problem:
            plan.error(number, "sex", sex_problem)
        if birth_problem:
            plan.error(number, "birth_date", birth_problem)
        warning = phone_warning(phone) if phone else None
        if warning and not any(f == "phone" for f, _ in errors):
            plan.warn(number, "phone", warning)
        plan.warn_formulas(number, values)
        if head_error:
            plan.error(number, "head_id", head_error)
        if own == EXAMPLE_ID:
            plan.error(number, "id_number", "这是模板中的示例行（张三），请删除后再导入。")
        if own and head_number and relation == HEAD and head_number != own:
            plan.error(number, "relation", "与户主关系为“户主”时，户主身份证号应与本人身份证号相同。")
        elif own and head_number == own and relation != HEAD:
            plan.error(number, "relation", f"户主身份证号与本人身份证号相同，与户主关系应填“户主”（这里是“{relation or '空'}”）。")
        if resident is not None and not self.visible(resident.grid_id):
            plan.error(number, "id_number", f"身份证号 {mask_id_number(own)} 已在系统中登记，但不在您的管理范围内，"
                                            "请联系上级核实。")
            resident = None
        cats = []
        for cat in _split_list(self.cell(values, "categories")):
            if cat not in self.categories:
                plan.error(number, "categories", f"户类别“{cat}”不在可选值内（{'、'.join(self.categories)}）。")
            elif self.categories[cat] not in cats:
                cats.append(self.categories[cat])
        row = RosterRow(row=number, grid_text=cell_text(self.cell(values, "grid")),
                        address=cell_text(self.cell(values, "address")), head_number=head_number,
                        data=data, fields=fields, categories=cats, resident=resident, head_name=head_name,
                        notes=cell_text(self.cell(values, "notes")), relation_text=relation)
        if row.grid_text:
            row.grid, message, row.group = self.resolver.resolve(row.grid_text)
            if message:
                plan.error(number, "grid", message)
        if len(row.address) > 200:
            plan.error(number, "address", f"门牌地址超过 200 字（这里是 {len(row.address)} 字）。")
        return row

    # Households from the layout

    def _by_head_id(self, people):
        for row in people:
            if row.head_number:
                hp = self.households.setdefault(row.head_number, HouseholdPlan(head_number=row.head_number))
                hp.rows.append(row)
                if row.fields.get("id_number") == row.head_number and hp.head_row is None:
                    hp.head_row = row

    def _by_blocks(self, people):
        """A row whose relation is 户主 starts a household, and so does one whose relation is blank and
        whose 户主 column names someone else than the current head; the rows under it are its members."""
        plan, hp = self.plan, None
        for row in people:
            given = row.relation_text
            names_other_head = bool(row.head_name) and (hp is None or row.head_name != hp.head_row.data.name)
            if given and given != HEAD and names_other_head:
                plan.error(row.row, "head_name", f"户主栏填了“{row.head_name}”，与户主关系却是“{given}”："
                                                 "每户从户主本人的一行开始（与户主关系填“户主”），成员行的户主栏留空或填本户户主。")
                continue
            if given == HEAD or (not given and names_other_head):
                if row.head_name and row.data.name != row.head_name:
                    plan.error(row.row, "head_name", f"户主栏“{row.head_name}”与姓名“{row.data.name}”不同，"
                                                     "户主行的两栏应是同一个人。")
                row.data.relation = row.fields["relation"] = HEAD
                key = row.fields.get("id_number") or f"row {row.row}"
                if key in self.households:
                    key = f"row {row.row}"
                hp = self.households[key] = HouseholdPlan(head_number=row.fields.get("id_number"), head_row=row)
                hp.rows.append(row)
            elif hp is None:
                plan.error(row.row, "relation", "这一行前面没有户主行：每户从与户主关系为“户主”的一行开始，"
                                                "家庭成员写在户主下面。")
            else:
                hp.rows.append(row)

    def _grid_label(self, grid):
        return self.resolver.label(grid.id) if grid.id in self.resolver.chains else grid.name

    def _group_need(self, hp, head):
        """A new household whose 所属组 names no grid: decided (created) or listed for the clerk."""
        plan, key = self.plan, key_text(head.group)
        decision = (self.options.groups or {}).get(key)
        if decision == "new" or (decision is None and self.options.create_groups):
            hp.new_group = key
            plan.new_groups.setdefault(key, head.grid_text)
            return
        need = plan.groups.setdefault(key, GroupNeed(key, head.grid_text))
        need.rows.append(head.row)
        need.households += 1

    def _group_errors(self):
        plan = self.plan
        village = plan.village.name if plan.village is not None else ""
        for need in plan.groups.values():
            plan.error(need.rows[0], "grid", f"“{need.text}”不是{village}已有的网格（{need.households} 户，第 {rows_text(need.rows)} 行）。"
                                             "请把它对应到已有的村民小组，或新建这个村民小组（命令行加 --create-groups）。")

    def _household(self, hp):
        """Pass 2: one household, new or already registered (matched by its head's ID number)."""
        plan = self.plan
        masked = mask_id_number(hp.head_number or "")
        head_resident = plan.registered.get(hp.head_number) if hp.head_number else None
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
        village_leaf = plan.village is not None and "grid" not in self.positions
        if h is None:
            if not head.grid_text and not village_leaf:
                plan.error(head.row, "grid", "户主行要填写所属网格。")
            if not head.address:
                plan.error(head.row, "address", "户主行要填写门牌地址。")
            hp.grid, hp.address = (plan.village if village_leaf else head.grid), head.address
            if head.group is not None:
                self._group_need(hp, head)
        else:
            hp.grid = h.grid
            hp.address = head.address if head is not None and head.address else h.address
            if head is not None and head.grid is not None and head.grid.id != h.grid_id:
                plan.error(head.row, "grid", f"该户已登记在“{self._grid_label(h.grid)}”，导入不能改动户的所属网格；"
                                             "如需迁移请在系统中办理。")
            if head is not None and head.group is not None:
                plan.error(head.row, "grid", f"该户已登记在“{self._grid_label(h.grid)}”，不是“{head.grid_text}”；"
                                             "导入不能改动户的所属网格，如需迁移请在系统中办理。")
        where = f"户主行（第 {head.row} 行）" if head is not None else "该户已登记的"
        for row in hp.rows:
            if row is not head:
                if row.grid is not None and hp.grid is not None and row.grid.id != hp.grid.id:
                    plan.error(row.row, "grid", f"所属网格与{where}“{self._grid_label(hp.grid)}”不一致；"
                                                "同一户的人在同一网格，成员行可以不填。")
                elif row.group is not None and (head is None or row.group != head.group):
                    plan.error(row.row, "grid", f"所属网格“{row.grid_text}”与{where}不一致；同一户的人在同一网格，成员行可以不填。")
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
        if "notes" in self.positions:
            hp.notes = "；".join(r.notes if r is head else f"{r.data.name}：{r.notes}" for r in hp.rows if r.notes)
        for c in hp.categories:
            if c.grid_id is not None and hp.grid is not None and not self.visible_category(c, hp.grid):
                row = next(r for r in hp.rows if c in r.categories)
                plan.error(row.row, "categories", f"户类别“{c.name}”是其他村自定义的类别，不能用于本户。")
        if h is None:
            plan.households_created += 1
        else:
            active = {t.category_id for t in h.tags if t.active}
            hp.changed = (hp.address != h.address or any(c.id not in active for c in hp.categories)
                          or (hp.notes is not None and hp.notes != h.notes))
            plan.households_updated += 1
        for row in hp.rows:
            if row.resident is None:
                plan.created += 1
            elif row.changed or (row is head and hp.changed):
                plan.updated += 1
            else:
                plan.unchanged += 1
        plan.households.append(hp)

    def visible_category(self, category, grid):
        """A village's own category applies within that village's subtree only."""
        own = self.resolver.grid(category.grid_id)
        return own is not None and grid.path.startswith(own.path)


def _create_groups(plan, user):
    """The 村民小组 grids the plan asks for, under its village: {key text: Grid}."""
    if not plan.new_groups:
        return {}
    village = plan.village
    if village is None:
        raise ServiceError("新建村民小组需要指定村。")
    if not can(user, "manage_grids"):
        raise ServiceError("您的账号不能新建网格，请让村或乡镇管理员先建好村民小组，或把所属组对应到已有网格。")
    level = grid_service.level_by_key("cluster")
    if level is None or level.rank <= village.level.rank:
        raise ServiceError(f"“{village.name}”下不能再建村民小组（层级已是最低一级）。")
    return {key: grid_service.create_grid(village, name, level, village.kind) for key, name in plan.new_groups.items()}


def apply_plan(plan, user):
    """Write a checked plan: all or nothing.

    The 村民小组 it needs are created first. New households are checked one by one
    with the rules of the forms and then written together (service.plan_household /
    register_households); households already on the ledger are updated through the
    per-record service functions, and only where the file says something new.
    Raises ServiceError when the plan has errors or a service refuses a row; the
    caller then rolls back, so nothing is written. Returns the counts (people, and
    households and groups created); the caller commits.
    """
    if plan.errors:
        raise ServiceError(f"名册有 {len(plan.errors)} 处错误，没有导入。")
    today = local_today()
    groups = _create_groups(plan, user)
    created = updated = 0
    new = []
    with batch(registered=plan.registered, checked=plan.checked) as writes:
        for n, hp in enumerate(plan.households, start=1):
            if n % FLUSH_EVERY == 0:
                db.session.flush()  # several middle-sized flushes cost less than one huge one
            if hp.new_group:
                hp.grid = groups[hp.new_group]
            try:
                if hp.household is None:
                    head = hp.head_row
                    members = [row.data for row in hp.rows if row is not head]
                    new.append(service.plan_household(user, hp.grid, hp.address, head.data, head.fields.get("phone", ""),
                                                      notes=hp.notes or "", members=members, categories=hp.categories,
                                                      start=today, reason=TAG_REASON, batch=writes))
                    created += 1 + len(members)
                    continue
                h = hp.household
                if hp.address != h.address or (hp.notes is not None and hp.notes != h.notes):
                    service.update_household(h, hp.address, h.phone, h.notes if hp.notes is None else hp.notes,
                                             batch=writes)
                for row in hp.rows:
                    if row.resident is None:
                        service.add_resident(h, row.data, batch=writes)
                        created += 1
                    elif row.changed:
                        service.update_resident(row.resident, row.data, batch=writes)
                        updated += 1
                if hp.categories:
                    active = {t.category_id for t in h.tags if t.active}
                    for c in hp.categories:
                        if c.id not in active:
                            service.tag(h, c, today, TAG_REASON)
            except ServiceError as exc:
                row = hp.head_row or hp.rows[0]
                raise ServiceError(f"第 {row.row} 行所在的户（户主 {row.data.name}）无法导入：{exc}") from None
        service.register_households(new)
    return {"rows": plan.rows, "created": created, "updated": plan.updated, "unchanged": plan.unchanged,
            "households_created": plan.households_created, "groups_created": len(groups)}
