"""The household roster imported from Excel, all or nothing.

One row per person. A household is identified by its head's ID number (户主身份证号);
the head's own row has 与户主关系 = 户主 and 户主身份证号 equal to its own 身份证号.
Re-importing a file updates the people it already created (matched by ID number)
instead of adding them twice. No Flask request objects here: the web pages, the
CLI and the tests all call these functions.
"""
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..core.forms import ServiceError
from ..core.scope import grid_clause
from ..core.sheets import cell_text as _text
from ..core.sheets import is_blank as _blank
from ..core.sheets import open_workbook
from ..core.timeutil import local_today
from ..core.validators import InvalidValue, mask_id_number, parse_id_number
from ..extensions import db
from ..grids.models import Grid
from . import service
from .batch import batch
from .grid_names import GridResolver
from .models import Household, Resident
from .roster_template import COLUMNS, EXAMPLE_ID, HEADERS, REQUIRED, SHEET

# Which column a check_resident error belongs to.
FIELD_COLUMN = {"name": "name", "id_number": "id_number", "sex": "id_number", "birth_date": "id_number",
                "phone": "phone", "relation": "relation", "political_status": "political_status", "flags": "flags"}
LIST_SPLIT = re.compile(r"[、,，;；\s]+")  # not "/": categories such as 小康户/专业户 contain it
CHUNK = 500
TAG_REASON = "导入名册"
FLUSH_EVERY = 250  # households between flushes while applying a plan


def _id_cell(value):
    """An ID cell as given: text trimmed, numbers left as numbers for parse_id_number to refuse."""
    if isinstance(value, str):
        return value.strip()
    return value


def _split_list(value):
    return [p for p in LIST_SPLIT.split(_text(value)) if p]


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
        with batch(registered=plan.registered, checked=plan.checked) as checks:
            for item in parsed:
                self._row(*item, checks)
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

    def _row(self, number, values, head_number, head_error, own, own_cell, relation, checks):
        plan = self.plan
        resident = plan.registered.get(own) if own else None
        data = service.ResidentData(
            name=_text(self.cell(values, "name")), id_number=own or own_cell, relation=relation or "其他",
            phone=_text(self.cell(values, "phone")),
            political_status=_text(self.cell(values, "political_status")) or "群众",
            flags=tuple(_split_list(self.cell(values, "flags"))))
        # The ID, phone and list checks are check_resident's; a registered person is matched, not a clash.
        fields, errors = service.check_resident(data, resident_id=resident.id if resident else None, batch=checks)
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
    with batch(registered=plan.registered, checked=plan.checked) as writes:
        for n, hp in enumerate(plan.households, start=1):
            if n % FLUSH_EVERY == 0:
                db.session.flush()  # several middle-sized flushes cost less than one huge one
            try:
                if hp.household is None:
                    head = hp.head_row
                    members = [row.data for row in hp.rows if row is not head]
                    new.append(service.plan_household(user, hp.grid, hp.address, head.data, head.fields.get("phone", ""),
                                                      members=members, categories=hp.categories, start=today,
                                                      reason=TAG_REASON, batch=writes))
                    created += 1 + len(members)
                    continue
                h = hp.household
                if hp.address != h.address:
                    service.update_household(h, hp.address, h.phone, h.notes, batch=writes)
                for row in hp.rows:
                    if row.resident is None:
                        service.add_resident(h, row.data, batch=writes)
                        created += 1
                    else:
                        if row.changed:
                            service.update_resident(row.resident, row.data, batch=writes)
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
