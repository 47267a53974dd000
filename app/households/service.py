"""Ledger rules: households and residents with their history, categories, counts, search."""
import functools
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

from sqlalchemy import bindparam, delete, func, insert, or_, select
from sqlalchemy.sql.elements import True_

from ..core import audit
from ..core.forms import ServiceError
from ..core.scope import can_see_grid, grid_clause, paths_clause, scope_key, subtree_ids
from ..core.validators import InvalidValue, normalize_phone, parse_id_number
from ..extensions import db
from ..grids.models import Grid
from .models import (DEFAULT_CATEGORIES, PARTY_MEMBER, POLITICAL, RELATIONS, RESIDENT_FLAGS, CategoryTag,
                     Household, HouseholdCategory, HouseholdEvent, Resident, ResidentLabels, SearchGram)
from .names import name_initials
from ..core.db import like_prefix, reserve_ids
from ..core.timeutil import local_today

CJK = re.compile(r"[\u3400-\u9fff]")


# --- reference data -------------------------------------------------------

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


# --- search postings ------------------------------------------------------

def grams(text, sizes=(1, 2)):
    """The distinct 1- and/or 2-character pieces of a text, ignoring spaces."""
    text = "".join((text or "").split())
    out = set()
    for size in sizes:
        out.update(text[i:i + size] for i in range(len(text) - size + 1))
    return out


def gram_rows(household, residents):
    """Posting rows for a household's address and its residents' names."""
    rows = [{"gram": g, "field": "a", "household_id": household.id, "resident_id": None, "grid_id": household.grid_id}
            for g in grams(household.address, (2,))]
    for r in residents:
        rows.extend({"gram": g, "field": "n", "household_id": household.id, "resident_id": r.id,
                     "grid_id": household.grid_id} for g in grams(r.name))
    return rows


def reindex(household):
    """Rewrite the search postings of one household and its residents (at the end of a batch())."""
    state = _batch.get()
    if state is not None:
        state.households[id(household)] = household
        return
    reindex_many([household])


def reindex_many(households, chunk=500):
    """Rewrite the search postings of several households at once."""
    db.session.flush()
    households = list(households)
    ids = [h.id for h in households]
    for i in range(0, len(ids), chunk):
        db.session.execute(delete(SearchGram).where(SearchGram.household_id.in_(ids[i:i + chunk])))
    rows = [row for h in households for row in gram_rows(h, h.residents)]
    if rows:
        # The table, not the ORM entity: one executemany however the rows' None values fall.
        db.session.execute(insert(SearchGram.__table__), rows)


# --- many changes at once (a roster import) --------------------------------

@dataclass
class _Batch:
    registered: dict | None
    checked: dict | None
    households: dict = field(default_factory=dict)
    has_children: dict = field(default_factory=dict)


_batch = ContextVar("ledger_batch", default=None)


@contextmanager
def batch(registered=None, checked=None):
    """Run many ledger changes as one: the same functions, checks, events and audit rows,
    but one flush and one rewrite of the search postings at the end instead of per record.

    ``registered`` ({ID number: Resident}), when given, is what check_resident looks
    ID numbers up in instead of querying once per person: it must hold every already
    registered person among the numbers that will be checked (the caller loaded them
    in a few batch queries). Two new people with one number in the same batch are
    the caller's to refuse; the unique index stops them in any case.

    ``checked`` (a dict the caller keeps) remembers check_resident's answers, so a
    batch that writes what an earlier batch with the same ``registered`` checked
    does not check every person twice (the answer depends only on those two).
    """
    state = _Batch(registered, checked)
    token = _batch.set(state)
    try:
        with db.session.no_autoflush:
            yield
    finally:
        _batch.reset(token)
    reindex_many(state.households.values())


def _flush():
    """Flush now, except inside batch() where one flush at the end writes everything."""
    if _batch.get() is None:
        db.session.flush()


def _has_children(grid):
    """Whether households may not be registered in this grid (asked once per grid in a batch)."""
    state = _batch.get()
    if state is None:
        return bool(grid.children.count())
    if grid.id not in state.has_children:
        state.has_children[grid.id] = bool(grid.children.count())
    return state.has_children[grid.id]


def _registered(number):
    """The resident already registered with this ID number, or None."""
    state = _batch.get()
    if state is not None and state.registered is not None:
        return state.registered.get(number)
    return db.session.scalar(select(Resident).where(Resident.id_number == number))


# --- households and residents ---------------------------------------------

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
    birth_date: date = None  # optional; checked against the ID number when given


def check_resident(data, household_id=None, resident_id=None):
    """Validate and normalise; returns (fields dict, errors as [(field, message)])."""
    state = _batch.get()
    if state is not None and state.checked is not None:
        key = (data.name, data.id_number, data.relation, data.phone, data.political_status, tuple(data.flags),
               data.sex, data.birth_date, resident_id)
        if key not in state.checked:
            state.checked[key] = _check_resident(data, resident_id)
        fields, errors = state.checked[key]
        return dict(fields), list(errors)
    return _check_resident(data, resident_id)


def _check_resident(data, resident_id):
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
        if data.birth_date and data.birth_date != idn.birth_date:
            errors.append(("birth_date", f"出生日期 {data.birth_date} 与身份证号不符（应为 {idn.birth_date}）。"))
        clash = _registered(idn.number)
        if clash is not None and clash.id != resident_id:
            errors.append(("id_number", f"身份证号 {idn.masked} 已在台账中登记，同一人不能登记两次。如是迁入，请先由原所在村办理迁出。"))
    try:
        fields["phone"] = normalize_phone(data.phone)
        fields["phone_rev"] = fields["phone"][::-1]
    except InvalidValue as exc:
        errors.append(("phone", str(exc)))
    relation = (data.relation or "其他").strip()
    if relation not in RELATIONS:
        errors.append(("relation", f"与户主关系“{relation}”不在可选值内（{'、'.join(RELATIONS)}）。"))
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


def _check_new_household(user, grid, address, phone, head):
    """The checks of a new household and its head: (household columns, head's columns)."""
    if not can_see_grid(user, grid):
        raise ServiceError("该网格不在您的管理范围内。", "grid_id")
    if _has_children(grid):
        raise ServiceError(f"“{grid.name}”下还有下级网格，户应登记在最低一级网格（如村民小组、屋场）。", "grid_id")
    address = (address or "").strip()
    if not address:
        raise ServiceError("请填写门牌地址。", "address")
    try:
        phone = normalize_phone(phone)
    except InvalidValue as exc:
        raise ServiceError(str(exc), "phone") from None
    head.relation = "户主"
    fields, errors = check_resident(head)
    if errors:
        _raise_first(errors)
    return {"grid_id": grid.id, "address": address, "phone": phone, "phone_rev": phone[::-1]}, fields


def _check_member(data, active_head):
    """The checks of a new member of a household whose active head is named ``active_head`` (or None)."""
    fields, errors = check_resident(data)
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


def create_household(user, grid, address, head, phone="", notes=""):
    """A new household with its head (ResidentData)."""
    household_fields, fields = _check_new_household(user, grid, address, phone, head)
    household = Household(grid=grid, notes=notes or "", **household_fields)
    db.session.add(household)
    _flush()
    resident = Resident(household=household, grid_id=grid.id, **fields)
    db.session.add(resident)
    _flush()
    household.head = resident
    _event(household, *_created_event(resident.name))
    reindex(household)
    return household


def add_resident(household, data):
    head = household.head
    fields = _check_member(data, head.name if head is not None and head.status == "active" else None)
    resident = Resident(household=household, grid_id=household.grid_id, **fields)
    db.session.add(resident)
    _flush()
    if fields["relation"] == "户主":
        household.head = resident
    _event(household, *_member_added_event(resident.name, resident.relation))
    reindex(household)
    return resident


@dataclass
class NewHousehold:
    """A new household checked by plan_household, for register_households to write."""

    household: dict   # its columns
    people: list      # each person's columns, the head first
    tags: list        # (category, start date, reason)


def plan_household(user, grid, address, head, phone="", notes="", members=(), categories=(), start=None, reason=""):
    """Check a new household with its members and categories as create_household, add_resident and
    tag would, without writing anything: register_households writes many such at once."""
    household, head_fields = _check_new_household(user, grid, address, phone, head)
    household["notes"] = notes or ""
    people = [head_fields] + [_check_member(m, head_fields["name"]) for m in members]
    tags = []
    for c in categories:
        _check_tag([t[0] for t in tags], c)
        tags.append((c, start or local_today(), reason or ""))
    return NewHousehold(household, people, tags)


def register_households(new):
    """Write households checked by plan_household in bulk: the same rows, history events, search
    postings and audit rows that create_household, add_resident and tag write inside batch(),
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


def update_resident(resident, data):
    fields, errors = check_resident(data, resident_id=resident.id)
    if errors:
        _raise_first(errors)
    head = resident.household.head
    if fields["relation"] == "户主" and head is not None and head is not resident:
        raise ServiceError("本户已有户主，如需更换请用“变更户主”。", "relation")
    for key, value in fields.items():
        setattr(resident, key, value)
    reindex(resident.household)
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
    reindex(household)
    reindex(new)
    return new


def archive_household(household, reason):
    if any(r.status == "active" for r in household.residents):
        raise ServiceError("本户还有在册成员，先办理迁出或死亡登记后才能注销。", "reason")
    if not (reason or "").strip():
        raise ServiceError("请填写注销原因。", "reason")
    household.status = "archived"
    _event(household, "archived", f"注销：{reason.strip()}")


def update_household(household, address, phone, notes):
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
    reindex(household)


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


# --- scoping --------------------------------------------------------------

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
    from flask import abort

    h = db.session.get(Household, household_id)
    if h is None or not can_see_grid(user, h.grid):
        abort(404)
    return h


def get_resident_or_404(user, resident_id):
    from flask import abort

    r = db.session.get(Resident, resident_id)
    if r is None or not can_see_grid(user, r.household.grid):
        abort(404)
    return r


# --- counts ---------------------------------------------------------------

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


# --- search ---------------------------------------------------------------

@dataclass
class SearchResult:
    residents: list   # ResidentHit
    households: list  # HouseholdHit
    kind: str


class ResidentHit(ResidentLabels):
    """A person found by a search: just what the results list shows, read as plain columns."""

    __slots__ = ("id", "household_id", "name", "id_number", "relation", "status", "address", "grid_name")
    columns = (Resident.id, Resident.household_id, Resident.name, Resident.id_number, Resident.relation,
               Resident.status, Household.address, Grid.name)

    def __init__(self, row):
        (self.id, self.household_id, self.name, self.id_number, self.relation, self.status, self.address,
         self.grid_name) = row


class HouseholdHit:
    """A household found by a search (address or phone): its address, head's name and grid."""

    __slots__ = ("id", "address", "head_name", "grid_name")

    def __init__(self, row):
        self.id, self.address, self.head_name, self.grid_name = row


def classify(q):
    """What a query is: name (CJK), initials (letters), digits (ID or phone tail), or id (with X)."""
    if CJK.search(q):
        return "name"
    if re.fullmatch(r"[A-Za-z]+", q):
        return "initials"
    if re.fullmatch(r"\d+[Xx]?", q):
        return "digits"
    return "other"


def _rarest_grams(q, fields):
    """{field: the 2-character piece of q with the fewest postings in that field} (a long text is
    checked in full afterwards), from one grouped count."""
    pieces = sorted(grams(q, (2,)))
    if len(pieces) == 1:
        return dict.fromkeys(fields, pieces[0])
    counts = {(f, g): n for g, f, n in db.session.execute(_gram_counts(), {"pieces": pieces, "fields": list(fields)})}
    return {f: min(pieces, key=lambda p: counts.get((f, p), 0)) for f in fields}


def _merge(lists, limit):
    """Results of several index walks, each already limited, without duplicates."""
    seen, out = set(), []
    for rows in lists:
        for row in rows:
            if row.id not in seen:
                seen.add(row.id)
                out.append(row)
    return out[:limit]


# Building a search statement and computing its cache key cost SQLAlchemy more than
# running it, so each shape is built once: the values are bound parameters, and the
# scope (whose paths the statement carries) is part of the key.

@functools.lru_cache(maxsize=1)
def _gram_counts():
    return (select(SearchGram.gram, SearchGram.field, func.count())
            .where(SearchGram.gram.in_(bindparam("pieces", expanding=True)),
                   SearchGram.field.in_(bindparam("fields", expanding=True)))
            .group_by(SearchGram.gram, SearchGram.field))


def _like_param(column, name, escape):
    return column.like(bindparam(name), escape=escape) if escape else column.like(bindparam(name))


# walk: (what is found, the index walked: its conditions and order); :gram, :prefix, :number, :pattern bound.
_WALKS = {
    "name": ("people", lambda p, escape: ((p.c.resident_id == Resident.id, p.c.gram == bindparam("gram"),
                                           p.c.field == "n"), (p.c.grid_id, p.c.resident_id))),
    "address": ("homes", lambda p, escape: ((p.c.household_id == Household.id, p.c.gram == bindparam("gram"),
                                             p.c.field == "a"), (p.c.grid_id, p.c.household_id))),
    "initials": ("people", lambda p, escape: ((_like_param(Resident.name_initials, "prefix", escape),),
                                              (Resident.name_initials, Resident.id))),
    "initials_alt": ("people", lambda p, escape: ((_like_param(Resident.name_initials_alt, "prefix", escape),),
                                                  (Resident.name_initials_alt, Resident.id))),
    "id_number": ("people", lambda p, escape: ((Resident.id_number == bindparam("number"),), (Resident.id,))),
    "id_tail": ("people", lambda p, escape: ((_like_param(Resident.id_number_rev, "prefix", escape),),
                                             (Resident.id_number_rev,))),
    "phone_tail": ("people", lambda p, escape: ((_like_param(Resident.phone_rev, "prefix", escape),),
                                                (Resident.phone_rev,))),
    "home_phone_tail": ("homes", lambda p, escape: ((_like_param(Household.phone_rev, "prefix", escape),),
                                                    (Household.phone_rev,))),
}


@functools.lru_cache(maxsize=256)
def _search_statement(walk, scope, grid_escape, tagged, status, contains, escape, limit):
    """One index walk of a search: columns only (no ORM objects), the scope checked on each
    candidate's grid path, the filters applied, stopping after ``limit`` rows.

    ``scope`` is core.scope.scope_key; ``grid_escape`` is None without the grid filter, else
    whether its :grid_path needs escaping; ``tagged`` filters by :category_id; ``status`` is
    the status filter ("any" for none); ``contains`` checks the whole text against :pattern.
    """
    found, conditions = _WALKS[walk]
    p = SearchGram.__table__.alias("p")
    where, order = conditions(p, escape)
    where = [paths_clause(scope, Grid), *where]
    if grid_escape is not None:
        where.append(_like_param(Grid.path, "grid_path", grid_escape))
    if found == "people":
        stmt = (select(*ResidentHit.columns).join(Grid, Grid.id == Resident.grid_id)
                .outerjoin(Household, Household.id == Resident.household_id))
        owner, text = Resident.household_id, Resident.name
        if status != "any":
            where.append(Resident.status == bindparam("status"))
    else:
        head = db.aliased(Resident, name="head")
        stmt = (select(Household.id, Household.address, func.coalesce(head.name, ""), Grid.name)
                .join(Grid, Grid.id == Household.grid_id).outerjoin(head, head.id == Household.head_id))
        owner, text = Household.id, Household.address
        if status == "active":
            where.append(Household.status == "active")
    if contains:
        where.append(text.like(bindparam("pattern"), escape="/"))
    if tagged:
        where.append(owner.in_(select(CategoryTag.household_id).where(
            CategoryTag.category_id == bindparam("category_id"), CategoryTag.end_date.is_(None))))
    return stmt.where(*where).order_by(*order).limit(limit)


def _contains_pattern(text):
    """The LIKE pattern of "contains ``text``" with '/' as the escape character."""
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def search(user, q, grid_id=None, category_id=None, status="active", limit=50):
    """Find residents (by name, initials, ID number or its tail, phone) and households (by address, phone).

    Each kind of query walks one index in order (search postings, pinyin
    initials, reversed ID and phone numbers), checks scope, the full text and
    the filters on each candidate, and stops after ``limit`` matches; a broad
    query ("王") therefore costs no more than a narrow one. The rows hold only
    what the results list shows (ResidentHit, HouseholdHit).
    """
    q = "".join((q or "").split())
    kind = classify(q) if q else "none"
    if kind not in ("name", "initials", "digits"):
        return SearchResult([], [], kind)
    if kind == "digits" and len(q) < 4:
        return SearchResult([], [], "too_short")
    # Scope is checked on each candidate's grid path (cheap per row) rather than
    # by building the list of every grid in a county-wide scope.
    scope = scope_key(user)
    params = {"status": status, "category_id": category_id}
    grid_escape = None
    if grid_id:
        g = db.session.get(Grid, grid_id)
        if g is not None and can_see_grid(user, g):
            params["grid_path"], grid_escape = like_prefix(g.path)
    person_status = status if status in ("active", "moved_out", "deceased") else "any"

    def run(walk, contains=False, escape=False, **values):
        found = _WALKS[walk][0]
        stmt = _search_statement(walk, scope, grid_escape, bool(category_id),
                                 person_status if found == "people" else status, contains, escape, limit)
        hit = ResidentHit if found == "people" else HouseholdHit
        return [hit(row) for row in db.session.execute(stmt, {**params, **values})]

    households = []
    if kind == "name":
        long = len(q) > 2
        rarest = _rarest_grams(q, ("n", "a")) if long else {"n": q, "a": q}
        pattern = _contains_pattern(q) if long else None
        residents = run("name", long, gram=rarest["n"], pattern=pattern)
        if len(q) >= 2:
            households = run("address", long, gram=rarest["a"], pattern=pattern)
    elif kind == "initials":
        prefix, escape = like_prefix(q.lower())
        residents = _merge([run("initials", escape=escape, prefix=prefix),
                            run("initials_alt", escape=escape, prefix=prefix)], limit)
    else:
        number = q.upper()
        if len(number) == 18:
            residents = run("id_number", number=number)
        else:
            prefix, escape = like_prefix(number[::-1])
            residents = _merge([run("id_tail", escape=escape, prefix=prefix),
                                run("phone_tail", escape=escape, prefix=prefix)], limit)
            households = run("home_phone_tail", escape=escape, prefix=prefix)
    residents.sort(key=lambda r: (r.name, r.id))
    households.sort(key=lambda h: (h.address, h.id))
    return SearchResult(residents, households, kind)
