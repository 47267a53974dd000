"""Case rules: intake, the one workflow service that reads workflow.ACTIONS, deadlines,
who hears of a case, scoped lists, automatic urging and the public intake."""
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import abort
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from ..accounts.models import User, user_grid
from ..core import photos as photo_store
from ..core import sms
from ..core.forms import ServiceError
from ..core.scope import can_see_grid, starts_with, subtree_ids, visible_grid_ids
from ..core.timeutil import fmt_local, local_today, utcnow
from ..core.validators import InvalidValue, mask_ids_in_text, normalize_phone
from ..core.workdays import end_of_local_day, hour_deadline, is_workday, workday_deadline
from ..extensions import db
from ..grids.models import Grid
from ..notifications.service import notify
from .models import (DEFAULT_CATEGORIES, DEFAULT_DEPARTMENTS, HANDLING_CLASSES, PHOTO_FOLDER, SOURCES, Case,
                     CaseCategory, CaseCoDepartment, CaseEvent, CasePhoto, Department)
from .workflow import (ACTIONS, DESK_ROLES, FOLLOW_UP_TARGET, OPEN_STATES, SATISFACTION, STATES, event_label,
                       needs_pending_extension)

RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CONFLICT = "该事件刚刚已被其他人处理（状态或期限已变化），您的操作没有保存。请查看最新进展后再决定是否继续。"
# 突发 cases: accepted within this many hours whatever the category says.
EMERGENCY_ACCEPT_HOURS = 2
# Levels whose leaders hear of an emergency at once.
ALERT_LEVELS = ("village", "town")


# --- reference data ----------------------------------------------------------

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


def active_departments():
    return db.session.scalars(select(Department).where(Department.active).order_by(Department.id)).all()


# --- scope -------------------------------------------------------------------

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


def _department_of(user):
    return user.department_id if getattr(user, "is_department", False) else None


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


def department_users(department_id):
    """Ids of the active accounts of a department."""
    if department_id is None:
        return []
    return list(db.session.scalars(select(User.id).where(User.department_id == department_id,
                                                         User.role == "department", ~User.is_disabled)))


# --- who may do what -----------------------------------------------------------

def relations(user, case):
    """The user's relations to the case (workflow.py): desk, holder, co_holder, reporter."""
    if not getattr(user, "is_authenticated", False) or user.read_only:
        return set()
    rel = set()
    if user.role in DESK_ROLES and can_see_grid(user, case.current_grid):
        rel.add("desk")
        if case.holder_department_id is not None and not department_users(case.holder_department_id):
            rel.add("holder")  # the desk records the answers of a department without accounts
        if co_reply_departments(user, case):
            rel.add("co_holder")
    if case.holder_user_id is not None and case.holder_user_id == user.id:
        rel.add("holder")
    dept = _department_of(user)
    if dept is not None:
        if case.holder_department_id == dept:
            rel.add("holder")
        if co_reply_departments(user, case):
            rel.add("co_holder")
    if case.created_by_id is not None and case.created_by_id == user.id:
        rel.add("reporter")
    if case.state == "approving" and user.role in DESK_ROLES:
        grid = approval_grid(case)
        if grid is not None and can_see_grid(user, grid):
            rel.add("approver")
    if (case.handling_class == "emergency" and user.role in DESK_ROLES | {"worker"} and can_see_grid(user, case.grid)
            and not any(ev.action == "arrive" and ev.actor_id == user.id for ev in case.events)):
        rel.add("responder")
    return rel


def approval_grid(case):
    """The grid whose desk approves a 需审批 case: the level its category names (at or above the
    case's grid), else the next level with a desk above the one holding the case."""
    key = case.category.approval_level
    if key:
        grid = _grid_at_level(case.grid, key)
        if grid is not None:
            return grid
    return escalation_target(case.current_grid)


def is_approved(case):
    """Whether the case's latest approval request was granted."""
    steps = [ev.action for ev in case.events if ev.action in ("request_approval", "approve", "refuse_approval")]
    return bool(steps) and steps[-1] == "approve"


def co_reply_departments(user, case):
    """The co-handling departments the user may answer for now: their own, or (at the desk) those
    without accounts; only those that have not answered yet."""
    dept = _department_of(user)
    waiting = [c.department for c in case.co_departments if c.replied_at is None]
    if dept is not None:
        return [d for d in waiting if d.id == dept]
    return [d for d in waiting if not department_users(d.id)]


def department_choices(case):
    """Departments a case may be transferred to: those of a level at or above where it is held,
    and those of every level (no level set)."""
    above = case.current_grid.ancestor_ids()
    return db.session.scalars(select(Department).where(Department.active, or_(
        Department.grid_id.is_(None), Department.grid_id.in_(above))).order_by(Department.grid_id.is_not(None),
                                                                               Department.grid_id, Department.id)).all()


def _allowed(action, case, rel):
    if case.state not in action.sources or not (action.who & rel):
        return False
    if action.classes and case.handling_class not in action.classes:
        return False
    pending = needs_pending_extension(action.key)
    if pending is not None and pending != (case.extension_until is not None):
        return False
    if action.key == "escalate" and escalation_target(case.current_grid) is None:
        return False
    if case.handling_class == "approval" and action.key in ("assign", "transfer", "request_approval"):
        # 需审批: handled only once approved; asked for (again) only until then.
        return is_approved(case) == (action.key != "request_approval") and (
            action.key != "request_approval" or approval_grid(case) is not None)
    return True


def available_actions(user, case):
    """The workflow actions the user may take on the case now, in table order."""
    rel = relations(user, case)
    return [a for a in ACTIONS.values() if _allowed(a, case, rel)]


# --- intake ------------------------------------------------------------------

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


def format_receipt(code):
    """ABCD2345 → ABCD-2345 (easier to read out over the phone)."""
    return f"{code[:4]}-{code[4:]}" if code and len(code) == 8 else code


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
        from ..households.models import Household

        household = db.session.get(Household, data.household_id)
        if household is None or (user is not None and not can_see_grid(user, household.grid)):
            raise ServiceError("所选的户不在您负责的网格内。", "household_id")
    if data.unit_id:
        from ..units.models import Unit

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
    ev = _append(case, user, "report", "", "reported", f"{SOURCES[source]}，{where}", "", at=now)
    _save_photos(case, ev, photos)
    text = f"新事件待受理：{title}（{grid.name}）"
    if data.handling_class == "emergency":
        _alert_emergency(case)
    _notify_desk(case, "report", text, exclude=user)
    if phone:
        sms.queue(db.session, phone, f"【{grid.name}】已收到您反映的问题，回执码 {format_receipt(case.receipt_code)}，"
                                     "凭此码可在公示牌二维码页面查询办理进度。")
    return case


# --- the workflow -------------------------------------------------------------

def _actor_name(user):
    if user is None:
        return "群众（扫码反映）"
    return f"{user.full_name}（{user.role_name}）"


def _append(case, user, action, from_state, to_state, detail, note, deadline=None, at=None):
    ev = CaseEvent(case=case, actor_id=user.id if user is not None else None, actor_name=_actor_name(user),
                   action=action, from_state=from_state, to_state=to_state, grid_id=case.current_grid_id,
                   detail=detail[:300], note=note or "", deadline_at=deadline, at=at or utcnow())
    db.session.add(ev)
    db.session.flush()
    return ev


WEEKDAYS = "一二三四五六日"


def deadline_warning(day):
    """A deadline typed by hand that falls on a rest day (weekend or holiday): the words that say so."""
    if day is None or is_workday(day):
        return None
    kind = "周末" if day.weekday() >= 5 else "节假日"
    return (f"注意：所填期限 {day.isoformat()}（星期{WEEKDAYS[day.weekday()]}）是{kind}，不是工作日；"
            "如需改到工作日，可退回或延期后重新填写。")


def _save_photos(case, event, files):
    """Store each photo of a case's timeline step, one CasePhoto row per file."""
    for name, width, height, size in photo_store.store_flat(files, PHOTO_FOLDER):
        db.session.add(CasePhoto(case_id=case.id, event_id=event.id, stored_name=name, width=width, height=height,
                                 size=size))
    db.session.flush()


def _deadline_from_date(day, field="deadline"):
    if day is None:
        return None
    if day < local_today():
        raise ServiceError("办理期限不能早于今天。", field)
    return end_of_local_day(day)


def assignee_choices(case):
    """Users who may be given the case: bound to its current grid, a grid below it or above it."""
    grid = case.current_grid
    ancestors = grid.ancestor_ids()
    q = (select(User).join(user_grid, user_grid.c.user_id == User.id).join(Grid, Grid.id == user_grid.c.grid_id)
         .where(~User.is_disabled, User.role != "auditor",
                or_(starts_with(Grid.path, grid.path), Grid.id.in_(ancestors)))
         .distinct().order_by(User.full_name).limit(300))
    return db.session.scalars(q).all()


def perform(user, case, action_key, seen_version, *, note="", assignee_id=None, department_id=None,
            deadline=None, satisfaction=None, extend_to=None, category_id=None, handling_class=None, photos=(),
            co_department_ids=(), now=None):
    """Take a workflow action on a case, append it to the timeline and notify who must know.

    ``seen_version`` is the case version the user's page showed: if someone acted
    since, nothing is saved and a ServiceError explains why. Raises ServiceError.
    """
    action = ACTIONS.get(action_key)
    if action is None:
        raise ServiceError("未知的操作。")
    if seen_version is None or int(seen_version) != case.version:
        raise ServiceError(CONFLICT)
    if not _allowed(action, case, relations(user, case)):
        raise ServiceError(f"当前状态“{case.state_name}”下您不能“{action.label}”，请刷新页面查看最新进展。")
    try:
        return _perform(user, case, action, (note or "").strip(), assignee_id, department_id, deadline,
                        satisfaction, extend_to, category_id, handling_class, photos, co_department_ids, now)
    except StaleDataError:
        # Someone else's action was saved between our check and our write: ours changes nothing.
        db.session.rollback()
        raise ServiceError(CONFLICT) from None


def _perform(user, case, action, note, assignee_id, department_id, deadline, satisfaction, extend_to, category_id,
             handling_class, photos, co_department_ids=(), now=None):
    if action.note_required and not note:
        raise ServiceError(f"请填写{'处理结果' if 'result' in action.needs else '说明'}。", "note")
    if "photos" in action.needs:
        photo_store.check_photos(photos)
    from_state, target = case.state, action.target
    detail, new_deadline, keep_deadline = "", None, False
    now = now or utcnow()
    cat = case.category
    if action.key == "accept":
        if category_id:
            category = db.session.get(CaseCategory, category_id)
            if category is None or not category.active:
                raise ServiceError("请选择事件类别。", "category_id")
            case.category = cat = category
        if handling_class:
            if handling_class not in HANDLING_CLASSES:
                raise ServiceError("请选择处理类别。", "handling_class")
            if handling_class == "emergency" and case.handling_class != "emergency":
                case.handling_class = handling_class
                _alert_emergency(case)
            case.handling_class = handling_class
        detail = f"类别：{cat.name}，{case.class_name}"
        new_deadline = workday_deadline(1, now)
    elif action.key == "assign":
        assignee = db.session.get(User, assignee_id) if assignee_id else None
        # Compare ids: flask-login's UserMixin makes users equal by session token.
        if assignee is None or assignee.id not in {u.id for u in assignee_choices(case)}:
            raise ServiceError("请选择承办人（本网格或上下级网格的工作人员）。", "assignee_id")
        case.holder_user_id, case.holder_department_id = assignee.id, None
        new_deadline = _deadline_from_date(deadline) or workday_deadline(cat.handle_workdays, now)
        detail = f"交办给 {assignee.full_name}"
    elif action.key == "transfer":
        choices = {d.id: d for d in department_choices(case)}
        dept = choices.get(department_id)
        if dept is None:
            raise ServiceError("请选择移交的部门（本级或上级的部门）。", "department_id")
        co = [choices.get(i) for i in dict.fromkeys(co_department_ids or ()) if i != dept.id]
        if any(d is None for d in co):
            raise ServiceError("会办部门应为本级或上级的部门。", "co_department_ids")
        case.holder_user_id, case.holder_department_id = None, dept.id
        case.holder_department = dept
        case.co_departments = [CaseCoDepartment(department_id=d.id) for d in co]
        new_deadline = _deadline_from_date(deadline) or workday_deadline(cat.handle_workdays, now)
        detail = f"移交 {dept.name}" + (f"，会办：{'、'.join(d.name for d in co)}" if co else "")
    elif action.key == "request_approval":
        grid = approval_grid(case)
        new_deadline = workday_deadline(cat.handle_workdays, now)
        detail = f"报请 {grid.name} 审批"
    elif action.key == "approve":
        new_deadline = workday_deadline(1, now)
        detail = f"{approval_grid(case).name} 审批同意"
    elif action.key == "refuse_approval":
        new_deadline = workday_deadline(2, now)
        detail = f"{approval_grid(case).name} 不予批准"
    elif action.key == "arrive":
        keep_deadline = True
        detail = f"{user.full_name} 到场"
    elif action.key == "co_reply":
        answerable = {d.id: d for d in co_reply_departments(user, case)}
        if len(answerable) == 1 and department_id is None:
            department_id = next(iter(answerable))
        dept = answerable.get(department_id)
        if dept is None:
            raise ServiceError("请选择作答的会办部门。", "department_id")
        next(c for c in case.co_departments if c.department_id == dept.id).replied_at = now
        detail = f"{dept.name} 会办反馈"
    elif action.key == "escalate":
        # One step to the nearest level above that has a desk; the clock the case runs on goes with it.
        target_grid = escalation_target(case.current_grid)
        case.current_grid_id, case.current_grid = target_grid.id, target_grid
        case.holder_user_id = case.holder_department_id = None
        keep_deadline = True
        detail = f"上报至 {target_grid.name}"
    elif action.key in ("start", "urge", "co_reply"):
        keep_deadline = True
        if action.key == "urge":
            detail = f"催办 {case.holder_name}"
    elif action.key == "reply":
        new_deadline = workday_deadline(2, now)
        detail = f"{case.holder_name} 反馈"
    elif action.key == "solve_on_spot":
        new_deadline = workday_deadline(cat.follow_up_workdays, now)
        case.closed_at = now
        detail = "当场处理完毕"
    elif action.key == "return":
        detail = f"{case.holder_name} 退回"
        case.holder_user_id = case.holder_department_id = None
        case.extension_until = None
        new_deadline = workday_deadline(1, now)
    elif action.key == "reject_reply":
        new_deadline = _deadline_from_date(deadline) or workday_deadline(cat.handle_workdays, now)
        detail = f"退回 {case.holder_name} 重新办理"
    elif action.key == "close":
        case.closed_at = now
        new_deadline = workday_deadline(cat.follow_up_workdays, now)
    elif action.key == "follow_up":
        if satisfaction not in FOLLOW_UP_TARGET:
            raise ServiceError("请选择群众是否满意。", "satisfaction")
        target = FOLLOW_UP_TARGET[satisfaction]
        case.satisfaction = satisfaction
        detail = f"群众{SATISFACTION[satisfaction]}"
        if satisfaction == "unsatisfied":
            detail += "，重新办理"
            case.holder_user_id = case.holder_department_id = None
            case.closed_at = None
            new_deadline = workday_deadline(1, now)
    elif action.key == "archive":
        pass
    elif action.key == "request_extension":
        if extend_to is None:
            raise ServiceError("请选择希望延期到哪一天。", "extend_to")
        until = _deadline_from_date(extend_to, "extend_to")
        if case.deadline_at is not None and until <= case.deadline_at:
            raise ServiceError("延期后的期限应晚于现在的期限。", "extend_to")
        case.extension_until = until
        keep_deadline = True
        detail = f"申请延期至 {fmt_local(until, '%Y-%m-%d')}"
    elif action.key == "approve_extension":
        new_deadline = case.extension_until
        detail = f"同意延期至 {fmt_local(case.extension_until, '%Y-%m-%d')}"
        case.extension_until = None
    elif action.key == "refuse_extension":
        keep_deadline = True
        detail = "不同意延期，按原期限办理"
        case.extension_until = None
    if target is not None:
        case.state = target
    if not keep_deadline and action.target is not None or action.key in ("follow_up", "approve_extension"):
        case.start_step(now, new_deadline)
    ev = _append(case, user, action.key, from_state, case.state, detail, note, case.deadline_at, at=now)
    if "photos" in action.needs:
        _save_photos(case, ev, photos)
    _notify_after(case, user, action.key, detail)
    db.session.flush()
    return ev


def _holders(case, with_co=False):
    """Who answers for the case now: its holder, or the accounts of its department (and of the
    co-handling departments that have not answered yet)."""
    if case.holder_user_id:
        return [case.holder_user_id]
    ids = department_users(case.holder_department_id)
    if with_co:
        for c in case.co_departments:
            if c.replied_at is None:
                ids += department_users(c.department_id)
    return sorted(set(ids))


def _grid_at_level(grid, key):
    """The grid of level ``key`` (village, town) at or above ``grid``, or None."""
    return db.session.scalar(select(Grid).where(Grid.id.in_(grid.ancestor_ids()), Grid.level.has(key=key)))


def _desk_of(grid):
    """The desk users of the nearest grid at or above ``grid`` that has a desk."""
    if grid is None:
        return set()
    desk = desk_grids([grid]).get(grid.id)
    return {uid for uid, _ in _desk_users([desk])} if desk is not None else set()


def _notify_result(case, user, action, told=frozenset()):
    """反馈 and 办结: the reporter (the worker, or the village for a walk-in), the grid where the case
    arose and, for 需协调, the township hear of it; a resident who left a phone gets a text."""
    head = f"{case.title}（{format_receipt(case.receipt_code)}）"
    word = "已反馈" if action == "reply" else "已办结"
    result = next((ev.note for ev in reversed(case.events) if ev.action in RESULT_ACTIONS), "")
    text = f"{word}：{head}" + (f"，结果：{result}" if result else "")
    to = set()
    if case.source == "office" or case.created_by_id is None:
        to |= _desk_of(_grid_at_level(case.grid, "village"))
    else:
        to.add(case.created_by_id)
    to |= _desk_of(case.grid)
    if case.handling_class == "coordination":
        to |= _desk_of(_grid_at_level(case.grid, "town"))
    for uid in sorted(to - {getattr(user, "id", None)} - set(told)):
        notify(uid, case, action, text)
    if case.reporter_phone:
        sms.queue(db.session, case.reporter_phone,
                  f"【{case.grid.name}】您反映的问题（回执码 {format_receipt(case.receipt_code)}）{word}"
                  + (f"：{mask_ids_in_text(result)[:200]}" if result else "。"))


def _notify_after(case, user, action, detail):
    head = f"{case.title}（{format_receipt(case.receipt_code)}）"
    holders = _holders(case, with_co=action in ("transfer", "urge"))
    told = set()
    if action in ("assign", "transfer", "reject_reply") and holders:
        for uid in holders:
            notify(uid, case, action, f"您有交办事件：{head}，请于 {fmt_local(case.deadline_at)} 前办理")
    elif action == "urge":
        if holders:
            for uid in holders:
                notify(uid, case, "urge", f"催办：{head} 期限 {fmt_local(case.deadline_at)}")
        else:
            _notify_desk(case, "urge", f"催办：{head}（{detail}）", exclude=user)
    elif action == "request_approval":
        grid = approval_grid(case)
        for uid in sorted(_desk_of(grid) - {getattr(user, "id", None)}):
            notify(uid, case, action, f"待审批：{head}")
    elif action in ("escalate", "return", "reply", "request_extension", "co_reply", "approve", "refuse_approval",
                    "arrive") or (
            action == "follow_up" and case.state == "accepted"):
        told = _notify_desk(case, action, f"{detail or '待处理'}：{head}", exclude=user)
    elif action in ("approve_extension", "refuse_extension") and holders:
        for uid in holders:
            notify(uid, case, action, f"{detail}：{head}")
    if action in ("reply", "close", "solve_on_spot", "refuse_approval"):
        _notify_result(case, user, "close" if action in ("close", "solve_on_spot") else "reply", told)


# --- who hears of a case ------------------------------------------------------

def _desk_users(grid_ids, roles=DESK_ROLES):
    if not grid_ids:
        return []
    q = (select(User.id, user_grid.c.grid_id).join(user_grid, user_grid.c.user_id == User.id)
         .where(user_grid.c.grid_id.in_(grid_ids), User.role.in_(roles), ~User.is_disabled))
    return db.session.execute(q).all()


def _notify_desk(case, kind, text, exclude=None):
    """Tell the desk of the case's grid; where nobody sits there, the nearest level above that has
    someone. Returns the ids told."""
    ancestors = case.current_grid.ancestor_ids()
    rows = _desk_users(ancestors)
    by_grid = {}
    for uid, gid in rows:
        by_grid.setdefault(gid, set()).add(uid)
    for gid in reversed(ancestors):
        ids = by_grid.get(gid, set()) - {getattr(exclude, "id", None)}
        if ids:
            for uid in sorted(ids):
                notify(uid, case, kind, text)
            return ids
    return set()


def alert_at_once(grid, text, case=None, url=None):
    """突发 and 重大隐患: the desks of the village and township above ``grid`` and the leaders of the
    grid itself (its desk users and its 网格长 with an account) hear at once."""
    from ..grids.models import GridStaff

    ancestors = db.session.scalars(select(Grid).where(Grid.id.in_(grid.ancestor_ids()))).all()
    grid_ids = [g.id for g in ancestors if g.level.key in ALERT_LEVELS] + [grid.id]
    users = {uid for uid, _ in _desk_users(grid_ids)}
    users |= set(db.session.scalars(select(GridStaff.user_id).join(User, User.id == GridStaff.user_id).where(
        GridStaff.grid_id == grid.id, GridStaff.role == "leader", ~User.is_disabled)))
    for uid in sorted(users):
        notify(uid, case, "emergency", text, url=url)


def _alert_emergency(case):
    """突发: the village, the township and the grid's leader hear at once."""
    alert_at_once(case.grid, f"【突发】{case.title}（{case.grid.name}，{case.location or '地点未填'}），请立即处置", case)


# --- lists ----------------------------------------------------------------------

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


def desk_grids(grids):
    """{grid id: id of the nearest grid at or above it that has a desk (someone who may accept there)}.

    A grid with nobody of a desk role bound to it, or above it, maps to None."""
    grids = [g for g in grids if g is not None]
    staffed = {gid for _, gid in _desk_users({a for g in grids for a in g.ancestor_ids()})}
    return {g.id: next((a for a in reversed(g.ancestor_ids()) if a in staffed), None) for g in grids}


def escalation_target(grid):
    """Where 上报 from ``grid`` lands: the nearest grid with a desk above the desk that holds ``grid``
    (its own, or the nearest above it with one). None when no level above has a desk."""
    if grid is None:
        return None
    ancestors = grid.ancestor_ids()
    staffed = [a for a in ancestors if a in {gid for _, gid in _desk_users(ancestors)}]
    if len(staffed) < 2:
        return None
    return db.session.get(Grid, staffed[-2])


def my_case_ids(user):
    """Ids of the open cases waiting for this user: held by them, or waiting at a desk that is theirs
    (a grid they are bound to, or one below it with no desk of its own)."""
    ids = set(db.session.scalars(select(Case.id).where(Case.holder_user_id == user.id, Case.state.in_(OPEN_STATES))))
    dept = _department_of(user)
    if dept is not None:
        co = exists().where(CaseCoDepartment.case_id == Case.id, CaseCoDepartment.department_id == dept,
                            CaseCoDepartment.replied_at.is_(None))
        ids |= set(db.session.scalars(select(Case.id).where(Case.state.in_(("assigned", "in_progress")), or_(
            Case.holder_department_id == dept, co))))
    if user.role in DESK_ROLES and user.grids and not user.read_only:
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


# --- automatic urging ----------------------------------------------------------

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
        holders = _holders(case, with_co=True) if case.state in ("assigned", "in_progress") else []
        if holders:
            for uid in holders:
                notify(uid, case, "urge", f"超期催办：{head}")
        else:
            _notify_desk(case, "urge", f"超期催办：{head}（{case.state_name}）")
    db.session.flush()
    return len(cases)


# --- the public intake -----------------------------------------------------------

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
    return {"receipt": format_receipt(case.receipt_code), "category": case.category.name, "grid": case.grid.name,
            "state": case.state_name, "state_key": case.state, "reported_at": case.created_at, "steps": steps,
            "result": result}


# The steps that set the deadline a holder works to (the 反馈单 prints it, not the review deadline).
HANDLING_DEADLINE_ACTIONS = ("assign", "transfer", "reject_reply", "approve_extension")


def handling_deadline(case, event):
    """The handling deadline in force when ``event`` happened (None for a case solved on the spot)."""
    earlier = [ev for ev in case.events if ev.id < event.id and ev.action in HANDLING_DEADLINE_ACTIONS]
    return earlier[-1].deadline_at if earlier else None


# States in which a case has an answer the resident may read, and the steps that give it.
ANSWERED_STATES = {"replied", "closed", "visited", "archived"}
RESULT_ACTIONS = ("reply", "solve_on_spot", "refuse_approval")


def handling_unit(case):
    """The unit that handled a case, as a resident may see it: a department or a grid, never a person."""
    if case.holder_department is not None:
        return case.holder_department.name
    return case.current_grid.name


def public_receipt(receipt):
    """What a receipt slip prints: the code, the grid it went to and when (None for an unknown code)."""
    code = normalize_receipt(receipt)
    case = db.session.scalar(select(Case).where(Case.receipt_code == code)) if code else None
    if case is None:
        return None
    return {"receipt": format_receipt(case.receipt_code), "grid": case.grid.name, "reported_at": case.created_at,
            "category": case.category.name}


def grid_for_public_intake(grid_id):
    return db.session.get(Grid, grid_id) if grid_id else None


def concerned(user, household_id, unit_id):
    """The household and unit an intake form is about, when the user may see them (else None)."""
    from ..households.models import Household
    from ..units.models import Unit

    def _load(model, value):
        try:
            obj = db.session.get(model, int(value)) if value else None
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
