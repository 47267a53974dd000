"""Case rules: intake, scoped lists, automatic urging and the public intake; the workflow's
actions (workflow.py) are taken through ``perform``."""
import secrets
from types import SimpleNamespace
from dataclasses import dataclass
from datetime import timedelta

from flask import abort
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload

from ..accounts.permissions import can
from ..core import photos as photo_store
from ..core import sms
from ..core.forms import ServiceError
from ..core.inputs import bounded_int
from ..core.timeutil import fmt_local, utcnow
from ..core.validators import InvalidValue, normalize_phone
from ..core.workdays import hour_deadline, is_workday
from ..extensions import db
from ..grids.models import Grid
from ..grids.scope import can_see_grid, subtree_ids, visible_grid_ids
from ..grids.villages import place_names
from ..households.models import Household
from ..notifications.service import notify
from ..units.models import Unit
from .models import (DEFAULT_CATEGORIES, DEFAULT_DEPARTMENTS, HANDLING_CLASSES, SOURCES, Case, CaseCategory,
                     CaseCoDepartment, CaseEvent, Department, format_receipt)
from .workflow import (CASES, OPEN_STATES, RESULT_ACTIONS, STATES, _department_of, alert_emergency,
                       append_event, desk_grids, event_label, holders, notify_desk, save_photos)
# What the views and other areas ask the cases area for, from where it lives.
from .workflow import (CONFLICT, alert_at_once, assignee_choices, co_reply_departments, department_choices,  # noqa: F401
                       escalation_target)

RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# 突发 cases: accepted within this many hours whatever the category says.
EMERGENCY_ACCEPT_HOURS = 2


# Reference data

def ensure_reference_data():
    """The default departments and categories (idempotent; admins edit them afterwards)."""
    depts = {d.name: d for d in db.session.scalars(select(Department))}
    for name in DEFAULT_DEPARTMENTS:
        if name not in depts:
            depts[name] = Department(name=name)
            db.session.add(depts[name])
    existing = set(db.session.scalars(select(CaseCategory.name)))
    for name, dept, accept_hours, handle, follow in DEFAULT_CATEGORIES:
        if name not in existing:
            db.session.add(CaseCategory(name=name, department=depts.get(dept), accept_hours=accept_hours,
                                        handle_workdays=handle, follow_up_workdays=follow))
    db.session.flush()


def active_categories():
    return db.session.scalars(select(CaseCategory).where(CaseCategory.active).order_by(CaseCategory.id)).all()


def may_edit_department(user, department):
    """A department of a level in the user's scope (one of every level: the admin only)."""
    if department.grid is None:
        return getattr(user, "is_admin", False)
    return can_see_grid(user, department.grid)


def get_department_or_404(user, department_id):
    """A department the user may change (its settings, its accounts), else 404."""
    department = db.session.get(Department, department_id)
    if department is None or not may_edit_department(user, department):
        abort(404)
    return department


def active_departments():
    return db.session.scalars(select(Department).where(Department.active).order_by(Department.id)).all()


# Scope

def case_clause(user):
    """Cases the user may see: raised in or held at one of their grids, or assigned to them; for a
    department user exactly the cases handed to their department (as holder or co-handler)."""
    if getattr(user, "is_admin", False):
        return Case.id.isnot(None)
    if getattr(user, "is_department", False):
        if user.department_id is None:
            return Case.id.is_(None)
        co = exists().where(CaseCoDepartment.case_id == Case.id, CaseCoDepartment.department_id == user.department_id)
        return or_(Case.holder_department_id == user.department_id, co)
    visible = visible_grid_ids(user)
    return or_(Case.grid_id.in_(visible), Case.current_grid_id.in_(visible), Case.holder_user_id == user.id)


def can_see_case(user, case):
    dept = _department_of(user)
    if dept is not None:
        return case.holder_department_id == dept or any(c.department_id == dept for c in case.co_departments)
    return (can_see_grid(user, case.grid) or can_see_grid(user, case.current_grid)
            or (case.holder_user_id is not None and case.holder_user_id == user.id))


def get_case_or_404(user, case_id):
    """A case through the scope; another grid's case and a missing one both answer 404."""
    case = db.session.get(Case, case_id)
    if case is None or not can_see_case(user, case):
        abort(404)
    return case


# Intake

@dataclass
class CaseData:
    """What an intake form (or another area, such as a visit) says about a new case."""

    title: str
    description: str = ""
    location: str = ""
    category_id: int | None = None
    handling_class: str = "general"
    reporter_name: str = ""
    reporter_phone: str = ""
    household_id: int | None = None
    unit_id: int | None = None


def _new_receipt_code():
    while True:
        code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
        if db.session.scalar(select(Case.id).where(Case.receipt_code == code)) is None:
            return code


def normalize_receipt(text):
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())[:12]


def _check_data(user, grid, data):
    title = (data.title or "").strip()
    if not title:
        raise ServiceError("请用一句话写明反映的问题。", "title")
    if len(title) > 100:
        raise ServiceError("问题概述最多 100 个字，详细情况请写在“详细描述”里。", "title")
    if data.handling_class not in HANDLING_CLASSES:
        raise ServiceError("请选择处理类别（一般性、需协调、突发性或需审批）。", "handling_class")
    category = db.session.get(CaseCategory, data.category_id) if data.category_id else None
    if category is None or not category.active:
        raise ServiceError("请选择事件类别。", "category_id")
    phone = ""
    if (data.reporter_phone or "").strip():
        try:
            phone = normalize_phone(data.reporter_phone)
        except InvalidValue as exc:
            raise ServiceError(str(exc), "reporter_phone") from None
    household = unit = None
    if data.household_id:
        household = db.session.get(Household, data.household_id)
        if household is None or (user is not None and not can_see_grid(user, household.grid)):
            raise ServiceError("所选的户不在您负责的网格内。", "household_id")
    if data.unit_id:
        unit = db.session.get(Unit, data.unit_id)
        if unit is None or (user is not None and not can_see_grid(user, unit.grid)):
            raise ServiceError("所选的单位不在您负责的网格内。", "unit_id")
    return title, category, phone, household, unit


def create_case(user, grid, data, photos=(), source="worker", source_ref="", held_at=None, now=None):
    """Raise a case in ``grid`` (from a worker, the village office, a visit, a patrol or the public).

    ``user`` is the account that records it (None for the public intake). The case
    starts 待受理 at ``grid`` (or at ``held_at``, a level above it reported to at once) with the category's acceptance limit; an emergency
    alerts the village and township leaders at once. Raises ServiceError.
    """
    if source not in SOURCES:
        raise ServiceError("未知的事件来源。")
    if grid is None or (user is not None and not can_see_grid(user, grid)):
        raise ServiceError("请选择您负责的网格。", "grid_id")
    title, category, phone, household, unit = _check_data(user, grid, data)
    photo_store.check_photos(photos)
    hours = category.accept_hours
    if data.handling_class == "emergency":
        hours = min(hours, EMERGENCY_ACCEPT_HOURS)
    now = now or utcnow()  # the demo data backdates its cases
    case = Case(receipt_code=_new_receipt_code(), title=title, description=(data.description or "").strip(),
                location=(data.location or "").strip()[:200], grid=grid, current_grid=held_at or grid, category=category,
                handling_class=data.handling_class, source=source, source_ref=(source_ref or "")[:80],
                reporter_name=(data.reporter_name or "").strip()[:40], reporter_phone=phone, household=household,
                unit=unit, state="reported", created_by_id=user.id if user is not None else None, created_at=now)
    case.start_step(now, hour_deadline(hours, now))
    db.session.add(case)
    db.session.flush()
    where = grid.name if held_at is None or held_at.id == grid.id else f"{grid.name}，上报至 {held_at.name}"
    ev = append_event(case, user, "report", "", "reported", f"{SOURCES[source]}，{where}", "", at=now)
    save_photos(case, ev, photos)
    text = f"新事件待受理：{title}（{grid.name}）"
    if data.handling_class == "emergency":
        alert_emergency(case)
    notify_desk(case, "report", text, exclude=user)
    if phone:
        sms.queue(db.session, phone, f"【{grid.name}】已收到您反映的问题，回执码 {format_receipt(case.receipt_code)}，"
                                     "凭此码可在公示牌二维码页面查询办理进度。")
    return case


WEEKDAYS = "一二三四五六日"


def deadline_warning(day):
    """A deadline typed by hand that falls on a rest day (weekend or holiday): the words that say so."""
    if day is None or is_workday(day):
        return None
    kind = "周末" if day.weekday() >= 5 else "节假日"
    return (f"注意：所填期限 {day.isoformat()}（星期{WEEKDAYS[day.weekday()]}）是{kind}，不是工作日；"
            "如需改到工作日，可退回或延期后重新填写。")


# The workflow (cases/workflow.py)

def available_actions(user, case):
    """The workflow actions the user may take on the case now, in table order."""
    return CASES.available(user, case)


def perform(user, case, action_key, seen_version, **values):
    """Take a workflow action on a case (note=…, assignee_id=…, photos=… as its form asks).

    Raises ServiceError, saving nothing, when someone acted since the user's page showed
    ``seen_version`` or the user may not take the action now."""
    return CASES.perform(user, case, action_key, seen_version, **values)


# Lists

LIST_STATES = {"open": "未办结", "all": "全部", **STATES}
DUE_FILTERS = {"": "全部", "warn": "即将到期", "late": "已超期"}


def search_cases(user, grid=None, state="open", due="", mine=False, holder_id=None, now=None):
    """A scoped query of cases, newest first; ``due`` filters on the deadline colour."""
    now = now or utcnow()
    q = select(Case).where(case_clause(user)).options(
        joinedload(Case.grid), joinedload(Case.current_grid), joinedload(Case.category), joinedload(Case.holder),
        joinedload(Case.holder_department))
    if grid is not None:
        sub = subtree_ids(grid)
        q = q.where(or_(Case.grid_id.in_(sub), Case.current_grid_id.in_(sub)))
    if state == "open":
        q = q.where(Case.state.in_(OPEN_STATES))
    elif state in STATES:
        q = q.where(Case.state == state)
    if mine:
        q = q.where(Case.id.in_(my_case_ids(user)))
    if holder_id:
        q = q.where(Case.holder_user_id == holder_id)
    if due == "late":
        q = q.where(Case.state.in_(OPEN_STATES), Case.deadline_at < now)
    elif due == "warn":
        q = q.where(Case.state.in_(OPEN_STATES), Case.warn_at <= now, Case.deadline_at >= now)
    return q.order_by(Case.deadline_at.is_(None), Case.deadline_at, Case.id.desc())


# States in which a case waits for its desk (受理/交办, 审核反馈, 回访) rather than for a holder.
DESK_STATES = ("reported", "accepted", "replied", "closed")


def my_case_ids(user):
    """Ids of the open cases waiting for this user: held by them (or their department), or waiting at
    a desk that is theirs (a grid they are bound to, or one below it with no desk of its own)."""
    ids = set(db.session.scalars(select(Case.id).where(Case.holder_user_id == user.id, Case.state.in_(OPEN_STATES))))
    dept = _department_of(user)
    if dept is not None:
        co = exists().where(CaseCoDepartment.case_id == Case.id, CaseCoDepartment.department_id == dept,
                            CaseCoDepartment.replied_at.is_(None))
        ids |= set(db.session.scalars(select(Case.id).where(Case.state.in_(("assigned", "in_progress")), or_(
            Case.holder_department_id == dept, co))))
    if can(user, "dispatch_cases") and user.grids and not user.read_only:
        own = {g.id for g in user.grids}
        waiting = db.session.execute(select(Case.id, Case.current_grid_id).where(
            Case.current_grid_id.in_(visible_grid_ids(user)), Case.state.in_(DESK_STATES))).all()
        grids = db.session.scalars(select(Grid).where(Grid.id.in_({gid for _, gid in waiting}))).all()
        desks = desk_grids(grids)
        ids |= {cid for cid, gid in waiting if desks.get(gid) in own}
    return ids


def my_open_cases(user, limit=8, now=None):
    """For the home screen: (open, overdue, rows) of the cases waiting for the user, overdue first."""
    now = now or utcnow()
    ids = my_case_ids(user)
    if not ids:
        return 0, 0, []
    cases = db.session.scalars(select(Case).where(Case.id.in_(ids))
                               .options(joinedload(Case.grid), joinedload(Case.category))).all()
    cases.sort(key=lambda c: (c.deadline_at is None, c.deadline_at or now, c.id))
    late = sum(1 for c in cases if c.deadline_at is not None and c.deadline_at < now)
    return len(cases), late, [(c, due_state(c, now)) for c in cases[:limit]]


def department_summary(user, now=None):
    """For a department user's home screen: the department's open cases, counted as 待签收 (handed to
    it, not signed for), 办理中 (signed for, not answered), 待会办 (a case it co-handles that it has not
    answered yet) and 超期 (any of them past its deadline); None for anybody else."""
    dept = _department_of(user)
    if dept is None:
        return None
    now = now or utcnow()
    co = exists().where(CaseCoDepartment.case_id == Case.id, CaseCoDepartment.department_id == dept,
                        CaseCoDepartment.replied_at.is_(None))
    rows = db.session.execute(select(Case.state, Case.deadline_at, Case.holder_department_id == dept).where(
        Case.state.in_(("assigned", "in_progress")), or_(Case.holder_department_id == dept, co))).all()
    department = db.session.get(Department, dept)
    return SimpleNamespace(name=department.name if department else "本部门", to_sign=sum(1 for s, _, held in rows if held and s == "assigned"),
                           in_progress=sum(1 for s, _, held in rows if held and s == "in_progress"),
                           co_pending=sum(1 for _, _, held in rows if not held),
                           late=sum(1 for _, d, _ in rows if d is not None and d < now))


def due_state(case, now=None):
    """'ok' / 'warn' / 'late' for an open case's current step."""
    if case.state not in OPEN_STATES or case.deadline_at is None:
        return "ok"
    now = now or utcnow()
    return "late" if now > case.deadline_at else "warn" if case.warn_at and now >= case.warn_at else "ok"


def holder_overview(user, grid=None, now=None):
    """A leader's overview: per holder (a person, a department or a grid's desk), open cases and how many are late."""
    now = now or utcnow()
    rows = {}
    for case in db.session.scalars(search_cases(user, grid, "open", now=now)).unique():
        if case.holder is not None:
            key, name, kind = ("user", case.holder_user_id), case.holder.full_name, "承办人"
        elif case.holder_department is not None:
            key, name, kind = ("dept", case.holder_department_id), case.holder_department.name, "部门"
        else:
            key, name, kind = ("grid", case.current_grid_id), case.current_grid.name, "网格（待受理/交办）"
        row = rows.setdefault(key, {"name": name, "kind": kind, "holder_id": key[1] if key[0] == "user" else None,
                                    "total": 0, "warn": 0, "late": 0})
        row["total"] += 1
        state = due_state(case, now)
        if state != "ok":
            row[state] += 1
    return sorted(rows.values(), key=lambda r: (-r["late"], -r["warn"], -r["total"], r["name"]))


# Automatic urging

def urge_overdue(now=None):
    """催办 every open case whose step is late and that nobody urged in the last day; returns how many."""
    now = now or utcnow()
    recent = exists().where(CaseEvent.case_id == Case.id, CaseEvent.action.in_(("urge", "auto_urge")),
                            CaseEvent.at > func.coalesce(Case.deadline_at, now), CaseEvent.at > now - timedelta(days=1))
    cases = db.session.scalars(select(Case).where(Case.state.in_(OPEN_STATES), Case.deadline_at < now, ~recent)
                               .order_by(Case.id)).all()
    for case in cases:
        detail = f"已超过期限 {fmt_local(case.deadline_at)}，系统自动催办"
        ev = CaseEvent(case_id=case.id, actor_id=None, actor_name="系统", action="auto_urge", from_state=case.state,
                       to_state=case.state, grid_id=case.current_grid_id, detail=detail, note="",
                       deadline_at=case.deadline_at, at=now)
        db.session.add(ev)
        head = f"{case.title}（{format_receipt(case.receipt_code)}）"
        ids = holders(case, with_co=True) if case.state in ("assigned", "in_progress") else []
        if ids:
            for uid in ids:
                notify(uid, case, "urge", f"超期催办：{head}")
        else:
            notify_desk(case, "urge", f"超期催办：{head}（{case.state_name}）")
    db.session.flush()
    return len(cases)


# The public intake

def public_category():
    """Cases from the public start as 其他 (or the first category); the desk classifies them on 受理."""
    cats = active_categories()
    for c in cats:
        if c.name == "其他":
            return c
    if not cats:
        raise ServiceError("系统尚未设置事件类别，请直接联系网格员。")
    return cats[0]


def public_report(grid, what, where, phone, photos=()):
    """A resident's report from the notice board's QR code: a case at the grid, 待受理."""
    if not (phone or "").strip():
        raise ServiceError("请留下手机号码，便于网格员联系您。", "reporter_phone")
    data = CaseData(title=(what or "").strip()[:100], description=(what or "").strip(), location=where,
                    category_id=public_category().id, handling_class="general", reporter_phone=phone)
    if len((what or "").strip()) > 1000:
        raise ServiceError("反映的问题最多 1000 个字。", "title")
    return create_case(None, grid, data, photos, source="public")


def public_progress(receipt):
    """What the public status page shows for a receipt code: no names, phones or notes."""
    code = normalize_receipt(receipt)
    case = db.session.scalar(select(Case).where(Case.receipt_code == code)) if code else None
    if case is None:
        return None
    steps = [(ev.at, event_label(ev.action)) for ev in case.events
             if ev.action not in ("urge", "auto_urge", "request_extension", "approve_extension", "refuse_extension")]
    result = None
    if case.state in ANSWERED_STATES:
        answer = next((ev for ev in reversed(case.events) if ev.action in RESULT_ACTIONS), None)
        if answer is not None:
            result = {"text": answer.note, "at": answer.at, "unit": handling_unit(case)}
    return {"receipt": format_receipt(case.receipt_code), "category": case.category.name, "grid": _place(case.grid),
            "state": case.state_name, "state_key": case.state, "reported_at": case.created_at, "steps": steps,
            "result": result}


# States in which a case has an answer the resident may read, and the steps that give it.
ANSWERED_STATES = {"replied", "closed", "visited", "archived"}


def handling_unit(case):
    """The unit that handled a case, as a resident may see it: a department or a grid, never a person."""
    if case.holder_department is not None:
        return case.holder_department.name
    return case.current_grid.name


def _place(grid):
    """A grid named with its village (溪口村 · 溪口第1村民小组): group names repeat between villages."""
    return place_names([grid])[grid.id]


# The steps that set the deadline a holder works to (the 反馈单 prints it, not the review deadline).
HANDLING_DEADLINE_ACTIONS = ("assign", "transfer", "reject_reply", "approve_extension")


def handling_deadline(case, event):
    """The handling deadline in force when ``event`` happened (None for a case solved on the spot)."""
    earlier = [ev for ev in case.events if ev.id < event.id and ev.action in HANDLING_DEADLINE_ACTIONS]
    return earlier[-1].deadline_at if earlier else None


def public_receipt(receipt):
    """What a receipt slip prints: the code, the grid it went to and when (None for an unknown code)."""
    code = normalize_receipt(receipt)
    case = db.session.scalar(select(Case).where(Case.receipt_code == code)) if code else None
    if case is None:
        return None
    return {"receipt": format_receipt(case.receipt_code), "grid": _place(case.grid), "reported_at": case.created_at,
            "category": case.category.name}


def grid_for_public_intake(grid_id):
    return db.session.get(Grid, grid_id) if grid_id else None


def concerned(user, household_id, unit_id):
    """The household and unit an intake form is about, when the user may see them (else None)."""
    def _load(model, value):
        try:
            obj = db.session.get(model, bounded_int(value)) if value else None
        except (TypeError, ValueError):
            return None
        return obj if obj is not None and can_see_grid(user, obj.grid) else None

    return _load(Household, household_id), _load(Unit, unit_id)


def open_case_counts(grid, now=None):
    """{"open": n, "late": n} for cases raised in or held by the grid's subtree."""
    now = now or utcnow()
    sub = subtree_ids(grid)
    base = select(func.count(Case.id)).where(or_(Case.grid_id.in_(sub), Case.current_grid_id.in_(sub)),
                                             Case.state.in_(OPEN_STATES))
    return {"open": db.session.scalar(base) or 0, "late": db.session.scalar(base.where(Case.deadline_at < now)) or 0}
