"""Ledger rules: households and residents with their history, categories, scoping and counts.

Each function that writes takes the writing mode as ``batch`` (batch.py): None for one
change at a time, a Batch for many as one. Search lives in search.py.
"""
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.sql.elements import True_

from ..core import audit
from ..core.db import reserve_ids
from ..core.forms import ServiceError
from ..grids.scope import can_see_grid, get_scoped_or_404, grid_clause, subtree_ids
from ..core.timeutil import local_today
from ..core.validators import InvalidValue, normalize_phone, parse_id_number
from ..extensions import db
from ..grids.models import Grid
from .batch import IMMEDIATE
from .models import (DEFAULT_CATEGORIES, PARTY_MEMBER, POLITICAL, RESIDENT_FLAGS, CategoryTag,
                     Household, HouseholdCategory, HouseholdEvent, Resident, SearchGram)
from .names import name_initials
from .relations import relation_problem
from .search import gram_rows


# Reference data

def ensure_categories():
    """Insert the default categories that are missing (idempotent)."""
    have = set(db.session.scalars(select(HouseholdCategory.key)))
    for key, name, group, is_key in DEFAULT_CATEGORIES:
        if key not in have:
            db.session.add(HouseholdCategory(key=key, name=name, group=group, is_key=is_key))
    db.session.flush()


def categories_for(user, grid=None):
    """Categories usable in the user's scope: the shared ones plus villages' own within it."""
    q = (select(HouseholdCategory).outerjoin(Grid, Grid.id == HouseholdCategory.grid_id)
         .where(or_(HouseholdCategory.grid_id.is_(None), grid_clause(user, Grid)))
         .order_by(HouseholdCategory.group, HouseholdCategory.id))
    return db.session.scalars(q).all()


def add_category(user, grid, name, is_key=False):
    """A village's own category (visible in that village's subtree)."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("请填写类别名称。", "name")
    if not can_see_grid(user, grid):
        raise ServiceError("该网格不在您的管理范围内。")
    if db.session.scalar(select(HouseholdCategory.id).where(HouseholdCategory.name == name,
                                                             or_(HouseholdCategory.grid_id.is_(None),
                                                                 HouseholdCategory.grid_id == grid.id))):
        raise ServiceError(f"已有类别“{name}”。", "name")
    n = db.session.scalar(select(func.count(HouseholdCategory.id))) + 1
    cat = HouseholdCategory(key=f"custom_{grid.id}_{n}", name=name, group="自定义", is_key=is_key, grid_id=grid.id)
    db.session.add(cat)
    db.session.flush()
    return cat


def may_change_category(user, category):
    """Shared categories (六类户, 五必访) are the admin's; a village's own, its managers'."""
    if category.grid_id is None:
        return user.is_admin
    return can_see_grid(user, db.session.get(Grid, category.grid_id))


def set_category_key(user, category, is_key):
    """Mark a category as 重点户 or not (the visit rules for 重点户 follow it at once)."""
    if not may_change_category(user, category):
        raise ServiceError(f"“{category.name}”是全县统一的类别，只有系统管理员可以修改。")
    category.is_key = bool(is_key)
    db.session.flush()
    return category


# Households and residents

def _event(household, kind, summary):
    actor = audit._actor()[1]
    db.session.add(HouseholdEvent(household=household, kind=kind, summary=summary, actor_name=actor))


@dataclass
class ResidentData:
    """What a form or a spreadsheet row says about a person."""

    name: str
    id_number: object
    relation: str = "其他"
    phone: object = ""
    political_status: str = "群众"
    flags: tuple = ()
    sex: str = ""          # optional; checked against the ID number when given
    birth_date: object = None  # optional date or YearMonth (出生年月); checked against the ID number when given
    unknown_mobile_ok: bool = False  # keep an 11-digit 1… number of an unknown prefix (a roster lists it)


@dataclass(frozen=True)
class YearMonth:
    """A birth date given as year and month only (a roster's 出生年月)."""

    year: int
    month: int

    def __str__(self):
        return f"{self.year}-{self.month:02d}"

    def matches(self, day):
        return (self.year, self.month) == (day.year, day.month)


def _same_birth(given, actual):
    return given.matches(actual) if isinstance(given, YearMonth) else given == actual


def check_resident(data, household_id=None, resident_id=None, batch=None):
    """Validate and normalise; returns (fields dict, errors as [(field, message)])."""
    batch = batch or IMMEDIATE
    key = (data.name, data.id_number, data.relation, data.phone, data.political_status, tuple(data.flags),
           data.sex, data.birth_date, data.unknown_mobile_ok, resident_id)
    fields, errors = batch.remembered(key, lambda: _check_resident(data, resident_id, batch))
    return dict(fields), list(errors)


def _check_resident(data, resident_id, batch):
    errors = []
    fields = {}
    name = (data.name or "").strip()
    if not name:
        errors.append(("name", "姓名为空。"))
    elif len(name) > 40:
        errors.append(("name", "姓名超过 40 个字。"))
    fields["name"] = name
    try:
        idn = parse_id_number(data.id_number)
    except InvalidValue as exc:
        errors.append(("id_number", str(exc)))
        idn = None
    if idn is not None:
        fields.update(id_number=idn.number, id_number_rev=idn.number[::-1], sex=idn.sex, birth_date=idn.birth_date)
        if data.sex and data.sex != idn.sex:
            errors.append(("sex", f"性别“{data.sex}”与身份证号不符（身份证号显示为{idn.sex}）。"))
        if data.birth_date and not _same_birth(data.birth_date, idn.birth_date):
            errors.append(("birth_date", f"出生日期 {data.birth_date} 与身份证号不符（身份证号显示为 {idn.birth_date}）。"))
        clash = batch.registered(idn.number)
        if clash is not None and clash.id != resident_id:
            errors.append(("id_number", f"身份证号 {idn.masked} 已在台账中登记，同一人不能登记两次。如是迁入，请先由原所在村办理迁出。"))
    try:
        fields["phone"] = normalize_phone(data.phone, data.unknown_mobile_ok)
        fields["phone_rev"] = fields["phone"][::-1]
    except InvalidValue as exc:
        errors.append(("phone", str(exc)))
    relation = (data.relation or "其他").strip()
    problem = relation_problem(relation)
    if problem:
        errors.append(("relation", problem))
    fields["relation"] = relation
    political = (data.political_status or "群众").strip()
    if political not in POLITICAL:
        errors.append(("political_status", f"政治面貌“{political}”不在可选值内（{'、'.join(POLITICAL)}）。"))
    fields["political_status"] = political
    flags = [f.strip() for f in data.flags if f and f.strip()]
    unknown = [f for f in flags if f not in RESIDENT_FLAGS]
    if unknown:
        errors.append(("flags", f"标记“{'、'.join(unknown)}”不在可选值内（{'、'.join(RESIDENT_FLAGS)}）。"))
    fields["flags"] = ",".join(f for f in RESIDENT_FLAGS if f in flags)
    if name:
        fields["name_initials"], fields["name_initials_alt"] = name_initials(name)
    return fields, errors


def _raise_first(errors):
    field, message = errors[0]
    raise ServiceError(" ".join(m for _, m in errors), field)


def _check_new_household(user, grid, address, phone, head, batch):
    """The checks of a new household and its head: (household columns, head's columns)."""
    if not can_see_grid(user, grid):
        raise ServiceError("该网格不在您的管理范围内。", "grid_id")
    if batch.has_children(grid):
        raise ServiceError(f"“{grid.name}”下还有下级网格，户应登记在最低一级网格（如村民小组、屋场）。", "grid_id")
    address = (address or "").strip()
    if not address:
        raise ServiceError("请填写门牌地址。", "address")
    try:
        phone = normalize_phone(phone, head.unknown_mobile_ok)
    except InvalidValue as exc:
        raise ServiceError(str(exc), "phone") from None
    head.relation = "户主"
    fields, errors = check_resident(head, batch=batch)
    if errors:
        _raise_first(errors)
    return {"grid_id": grid.id, "address": address, "phone": phone, "phone_rev": phone[::-1]}, fields


def _check_member(data, active_head, batch):
    """The checks of a new member of a household whose active head is named ``active_head`` (or None)."""
    fields, errors = check_resident(data, batch=batch)
    if errors:
        _raise_first(errors)
    if fields["relation"] == "户主" and active_head is not None:
        raise ServiceError(f"本户已有户主 {active_head}，如需更换请用“变更户主”。", "relation")
    return fields


def _check_tag(active_categories, category):
    if any(c is category for c in active_categories):
        raise ServiceError(f"本户已在“{category.name}”中。", "category_id")


# The history events of a new record, one wording for every path that creates one.

def _created_event(head_name):
    return "created", f"建档，户主 {head_name}"


def _member_added_event(name, relation):
    return "member_added", f"新增成员 {name}（{relation}）"


def _tag_event(category, reason):
    return "tag", f"纳入“{category.name}”。{reason or ''}".strip()


def create_household(user, grid, address, head, phone="", notes="", batch=None):
    """A new household with its head (ResidentData)."""
    batch = batch or IMMEDIATE
    household_fields, fields = _check_new_household(user, grid, address, phone, head, batch)
    household = Household(grid=grid, notes=notes or "", **household_fields)
    db.session.add(household)
    batch.flush()
    resident = Resident(household=household, grid_id=grid.id, **fields)
    db.session.add(resident)
    batch.flush()
    household.head = resident
    _event(household, *_created_event(resident.name))
    batch.reindex(household)
    return household


def add_resident(household, data, batch=None):
    batch = batch or IMMEDIATE
    head = household.head
    fields = _check_member(data, head.name if head is not None and head.status == "active" else None, batch)
    resident = Resident(household=household, grid_id=household.grid_id, **fields)
    db.session.add(resident)
    batch.flush()
    if fields["relation"] == "户主":
        household.head = resident
    _event(household, *_member_added_event(resident.name, resident.relation))
    batch.reindex(household)
    return resident


@dataclass
class NewHousehold:
    """A new household checked by plan_household, for register_households to write."""

    household: dict   # its columns
    people: list      # each person's columns, the head first
    tags: list        # (category, start date, reason)


def plan_household(user, grid, address, head, phone="", notes="", members=(), categories=(), start=None, reason="",
                   batch=None):
    """Check a new household with its members and categories as create_household, add_resident and
    tag would, without writing anything: register_households writes many such at once."""
    batch = batch or IMMEDIATE
    household, head_fields = _check_new_household(user, grid, address, phone, head, batch)
    household["notes"] = notes or ""
    people = [head_fields] + [_check_member(m, head_fields["name"], batch) for m in members]
    tags = []
    for c in categories:
        _check_tag([t[0] for t in tags], c)
        tags.append((c, start or local_today(), reason or ""))
    return NewHousehold(household, people, tags)


def register_households(new):
    """Write households checked by plan_household in bulk: the same rows, history events, search
    postings and audit rows that create_household, add_resident and tag write in a Batch,
    with a few executemany statements instead of the unit of work per record."""
    if not new:
        return
    actor = audit._actor()
    household_rows = [{**n.household, "id": hid, "head_id": None, "status": "active", "split_from_id": None}
                      for n, hid in zip(new, reserve_ids(Household.__table__, len(new)))]
    people_rows = [{**fields, "household_id": row["id"], "grid_id": row["grid_id"], "status": "active",
                    "status_date": None, "status_note": ""}
                   for n, row in zip(new, household_rows) for fields in n.people]
    for person, rid in zip(people_rows, reserve_ids(Resident.__table__, len(people_rows))):
        person["id"] = rid
    tag_rows, tag_categories = [], []
    for n, row in zip(new, household_rows):
        for category, start, reason in n.tags:
            tag_rows.append({"household_id": row["id"], "category_id": category.id, "start_date": start,
                             "end_date": None, "start_reason": reason, "end_reason": ""})
            tag_categories.append(category)
    for t, tid in zip(tag_rows, reserve_ids(CategoryTag.__table__, len(tag_rows))):
        t["id"] = tid
    for model, rows in ((Household, household_rows), (Resident, people_rows), (CategoryTag, tag_rows)):
        if rows:
            db.session.execute(insert(model.__table__), rows)

    events, postings, audit_rows = [], [], []
    people = iter(people_rows)
    for n, row in zip(new, household_rows):
        members = [next(people) for _ in n.people]
        row["head_id"] = members[0]["id"]
        kinds = [_created_event(members[0]["name"])] + [_member_added_event(m["name"], m["relation"]) for m in members[1:]]
        kinds += [_tag_event(category, reason) for category, _, reason in n.tags]
        events.extend({"household_id": row["id"], "kind": kind, "summary": summary, "actor_name": actor[1]}
                      for kind, summary in kinds)
        postings.extend(gram_rows(SimpleNamespace(**row), [SimpleNamespace(**m) for m in members]))
        audit_rows.append(audit.created_row(Household, row, actor=actor))
        audit_rows.extend(audit.created_row(Resident, m, actor=actor) for m in members)
    audit_rows.extend(audit.created_row(CategoryTag, t, {"category": c}, actor=actor)
                      for t, c in zip(tag_rows, tag_categories))
    table = Household.__table__
    db.session.execute(table.update().where(table.c.id == bindparam("b_id")).values(head_id=bindparam("b_head")),
                       [{"b_id": row["id"], "b_head": row["head_id"]} for row in household_rows])
    db.session.execute(insert(HouseholdEvent.__table__), events)
    db.session.execute(insert(SearchGram.__table__), postings)
    audit.write_rows(audit_rows)


def update_resident(resident, data, batch=None):
    batch = batch or IMMEDIATE
    fields, errors = check_resident(data, resident_id=resident.id, batch=batch)
    if errors:
        _raise_first(errors)
    head = resident.household.head
    if fields["relation"] == "户主" and head is not None and head is not resident:
        raise ServiceError("本户已有户主，如需更换请用“变更户主”。", "relation")
    for key, value in fields.items():
        setattr(resident, key, value)
    batch.reindex(resident.household)
    return resident


def change_status(resident, status, when, note=""):
    """迁出 or 死亡 (or back to 在册), kept with date and note; the head must be replaced first."""
    if status not in ("active", "moved_out", "deceased"):
        raise ServiceError("状态不正确。", "status")
    if status != "active" and when is None:
        raise ServiceError("请填写日期。", "status_date")
    household = resident.household
    if status != "active" and household.head is resident:
        others = [r for r in household.residents if r.id != resident.id and r.status == "active"]
        if others:
            raise ServiceError(f"{resident.name} 是户主，请先变更户主，再办理{'迁出' if status == 'moved_out' else '死亡登记'}。", "status")
    resident.status = status
    resident.status_date = when
    resident.status_note = note or ""
    label = {"active": "恢复在册", "moved_out": "迁出", "deceased": "死亡"}[status]
    _event(household, status, f"{resident.name} {label}（{when or ''}）{note or ''}".strip())


def change_head(household, resident, reason=""):
    if resident.household_id != household.id or resident.status != "active":
        raise ServiceError("新户主必须是本户在册成员。", "head_id")
    old = household.head
    if old is not None and old.id != resident.id and old.relation == "户主":
        old.relation = "其他"
    resident.relation = "户主"
    household.head = resident
    _event(household, "head_changed", f"户主由 {old.name if old else '（空）'} 变更为 {resident.name}。{reason}".strip())


def split_household(user, household, residents, address, grid=None):
    """Move some members into a new household (分户); the first chosen becomes its head."""
    if not residents:
        raise ServiceError("请选择要分出的成员。", "resident_ids")
    if any(r.household_id != household.id or r.status != "active" for r in residents):
        raise ServiceError("只能分出本户的在册成员。", "resident_ids")
    remaining = [r for r in household.residents if r.status == "active" and r not in residents]
    if not remaining:
        raise ServiceError("分户后原户至少要留一名在册成员；整户迁移请修改地址。", "resident_ids")
    grid = grid or household.grid
    address = (address or "").strip()
    if not address:
        raise ServiceError("请填写新户的门牌地址。", "address")
    new = Household(grid=grid, address=address, split_from_id=household.id, phone="")
    db.session.add(new)
    db.session.flush()
    for r in residents:
        r.household = new
        r.grid_id = grid.id
    new.head = residents[0]
    residents[0].relation = "户主"
    if household.head in residents:
        household.head = remaining[0]
        remaining[0].relation = "户主"
    names = "、".join(r.name for r in residents)
    _event(household, "split", f"分户：{names} 分出，新户地址 {address}")
    _event(new, "created", f"由“{household.address}”分户而来，成员 {names}")
    IMMEDIATE.reindex(household)
    IMMEDIATE.reindex(new)
    return new


def archive_household(household, reason):
    if any(r.status == "active" for r in household.residents):
        raise ServiceError("本户还有在册成员，先办理迁出或死亡登记后才能注销。", "reason")
    if not (reason or "").strip():
        raise ServiceError("请填写注销原因。", "reason")
    household.status = "archived"
    _event(household, "archived", f"注销：{reason.strip()}")


def update_household(household, address, phone, notes, batch=None):
    address = (address or "").strip()
    if not address:
        raise ServiceError("请填写门牌地址。", "address")
    try:
        household.phone = normalize_phone(phone)
    except InvalidValue as exc:
        raise ServiceError(str(exc), "phone") from None
    household.phone_rev = household.phone[::-1]
    if address != household.address:
        _event(household, "address", f"地址由“{household.address}”改为“{address}”")
    household.address = address
    household.notes = notes or ""
    (batch or IMMEDIATE).reindex(household)


def tag(household, category, start, reason=""):
    """Put a household into a category from a date (no double membership at once)."""
    _check_tag([t.category for t in household.tags if t.active], category)
    t = CategoryTag(household=household, category=category, start_date=start or local_today(), start_reason=reason or "")
    db.session.add(t)
    _event(household, *_tag_event(category, reason))
    return t


def end_tag(t, end, reason):
    """End a category membership (e.g. monitoring ends when the risk is cleared)."""
    if not t.active:
        raise ServiceError("该类别已结束。")
    if not (reason or "").strip():
        raise ServiceError("请填写结束原因。", "end_reason")
    end = end or local_today()
    if end < t.start_date:
        raise ServiceError("结束日期不能早于开始日期。", "end_date")
    t.end_date = end
    t.end_reason = reason.strip()
    _event(t.household, "untag", f"移出“{t.category.name}”：{reason.strip()}")


# Scoping

def households_query(user):
    """Households in the user's grids (the one path every ledger query starts from).

    Scope is checked on each household's grid path through a join, which
    lets a listing walk its index in order and stop after one page.
    """
    scope_grid = db.aliased(Grid)
    clause = grid_clause(user, scope_grid)
    if isinstance(clause, True_):
        return select(Household)  # the user sees the whole tree: no join to count through
    return select(Household).join(scope_grid, scope_grid.id == Household.grid_id).where(clause)


def get_household_or_404(user, household_id):
    """A household through the user's scope, else 404."""
    return get_scoped_or_404(user, Household, household_id)


def get_resident_or_404(user, resident_id):
    """A resident through the scope of their household's grid, else 404."""
    return get_scoped_or_404(user, Resident, resident_id, grids_of=lambda r: (r.household.grid,))


# Counts

def member_counts(household_ids):
    """{household id: active members} in one query (for list pages)."""
    if not household_ids:
        return {}
    return dict(db.session.execute(
        select(Resident.household_id, func.count(Resident.id))
        .where(Resident.household_id.in_(household_ids), Resident.status == "active")
        .group_by(Resident.household_id)).all())


def _per_grid_counts(grid):
    """{grid id: [households, residents, party members]} for each grid of the subtree, summed up the tree.

    One grouped count per table over the subtree's own rows, then summed along
    each grid's path in Python: no per-child subtree joins, so a county page
    costs a few grouped scans rather than one scan per child.
    """
    subtree = subtree_ids(grid)
    own = {}
    for gid, n in db.session.execute(select(Household.grid_id, func.count(Household.id)).where(
            Household.grid_id.in_(subtree), Household.status == "active").group_by(Household.grid_id)):
        own[gid] = [n, 0, 0]
    for gid, n, party in db.session.execute(
            select(Resident.grid_id, func.count(Resident.id),
                   func.count(Resident.id).filter(Resident.political_status.in_(PARTY_MEMBER)))
            .where(Resident.grid_id.in_(subtree), Resident.status == "active").group_by(Resident.grid_id)):
        row = own.setdefault(gid, [0, 0, 0])
        row[1], row[2] = n, party
    if not own:
        return {}
    paths = dict(db.session.execute(select(Grid.id, Grid.path).where(Grid.id.in_(list(own)))).all())
    top = grid.depth
    totals = {}
    for gid, counts in own.items():
        for anc in [int(x) for x in paths[gid].strip("/").split("/")][top:]:
            t = totals.setdefault(anc, [0, 0, 0])
            for k in range(3):
                t[k] += counts[k]
    return totals


def grid_counts(grid, totals=None):
    """Live counts for a grid's whole subtree: households, residents, party members, each category."""
    totals = _per_grid_counts(grid) if totals is None else totals
    hh, people, party = totals.get(grid.id, [0, 0, 0])
    cats = db.session.execute(
        select(HouseholdCategory.name, func.count(CategoryTag.id))
        .join(CategoryTag, CategoryTag.category_id == HouseholdCategory.id)
        .join(Household, Household.id == CategoryTag.household_id)
        .where(Household.grid_id.in_(subtree_ids(grid)), CategoryTag.end_date.is_(None), Household.status == "active")
        .group_by(HouseholdCategory.name).order_by(HouseholdCategory.name)).all()
    return {"households": hh, "residents": people, "party_members": party, "categories": cats}


def counts_with_children(grid):
    """(the grid's counts, {child id: (households, residents)}) from one pass over the subtree."""
    totals = _per_grid_counts(grid)
    children = {gid: (t[0], t[1]) for gid, t in totals.items() if gid != grid.id}
    return grid_counts(grid, totals), children
