"""The case workflow: who may act, the table of actions, and each action's effect and notification.

``CASES`` (core/workflow.py) reads the table: ``CASES.perform`` is the only code that changes a
case's state, ``CASES.available`` tells a page which buttons to show. Adding an action is adding
a row to ACTIONS and, if it does more than move the state, its effect function here.

Who may act is said by *relations* between the user and the case:
- ``desk``: a user whose role may dispatch cases (the ``dispatch_cases`` permission) and whose
  grids cover the grid the case currently sits at — the level that holds the case;
- ``holder``: the user the case is assigned to. A case transferred to a department has no
  holder account; its desk records the department's answers.
- ``reporter``: the user who raised it (only for an 一般性 case fixed on the spot).
"""
from sqlalchemy import or_, select

from ..accounts.models import User, user_grid
from ..accounts.permissions import can, roles_with
from ..core import photos as photo_store
from ..core.forms import ServiceError
from ..core.timeutil import fmt_local, local_today, utcnow
from ..core.workdays import end_of_local_day, hour_deadline, workday_deadline
from ..core.workflow import Workflow, action
from ..extensions import db
from ..grids.models import Grid
from ..grids.scope import can_see_grid, starts_with
from ..notifications.service import notify
from .models import (HANDLING_CLASSES, PHOTO_FOLDER, STATES, CaseCategory, CaseEvent, CasePhoto, Department,
                     format_receipt)

# States whose step runs against a deadline (the holder must act before it).
TIMED_STATES = {"reported", "accepted", "assigned", "in_progress", "replied", "closed"}
OPEN_STATES = set(STATES) - {"archived", "visited"}
CONFLICT = "该事件刚刚已被其他人处理（状态或期限已变化），您的操作没有保存。请查看最新进展后再决定是否继续。"
# Where 回访 leads: satisfied → visited; not satisfied reopens the case at its desk.
FOLLOW_UP_TARGET = {"satisfied": "visited", "unsatisfied": "accepted"}
SATISFACTION = {"satisfied": "满意", "unsatisfied": "不满意"}
# Event kinds that are not user actions of the table.
OTHER_EVENTS = {"report": "申报", "auto_urge": "自动催办"}
# Levels whose leaders hear of an emergency at once.
ALERT_LEVELS = ("village", "town")

# Which printable form records which action.
PRINT_FORMS = {
    "report": ("申报单", ("report",)),
    "assign": ("交办单", ("assign", "transfer")),
    "urge": ("催办单", ("urge", "auto_urge")),
    "reply": ("反馈单", ("reply", "solve_on_spot")),
}


def relations(user, case):
    """The user's relations to the case: desk, holder, reporter (see the module docstring)."""
    if not getattr(user, "is_authenticated", False) or user.read_only:
        return set()
    rel = set()
    if can(user, "dispatch_cases") and can_see_grid(user, case.current_grid):
        rel.add("desk")
        if case.holder_department_id is not None:
            rel.add("holder")  # the desk records a department's answers
    if case.holder_user_id is not None and case.holder_user_id == user.id:
        rel.add("holder")
    if case.created_by_id is not None and case.created_by_id == user.id:
        rel.add("reporter")
    return rel


# --- the timeline and who hears of a case ------------------------------------------

def _actor_name(user):
    if user is None:
        return "群众（扫码反映）"
    return f"{user.full_name}（{user.role_name}）"


def append_event(case, user, action_key, from_state, to_state, detail, note, deadline=None):
    """One step on the case's timeline (append-only)."""
    ev = CaseEvent(case=case, actor_id=user.id if user is not None else None, actor_name=_actor_name(user),
                   action=action_key, from_state=from_state, to_state=to_state, grid_id=case.current_grid_id,
                   detail=detail[:300], note=note or "", deadline_at=deadline)
    db.session.add(ev)
    db.session.flush()
    return ev


def save_photos(case, event, files):
    """Store each photo of a case's timeline step, one CasePhoto row per file."""
    for name, width, height, size in photo_store.store_flat(files, PHOTO_FOLDER):
        db.session.add(CasePhoto(case_id=case.id, event_id=event.id, stored_name=name, width=width, height=height,
                                 size=size))
    db.session.flush()


def _desk_users(grid_ids):
    if not grid_ids:
        return []
    q = (select(User.id, user_grid.c.grid_id).join(user_grid, user_grid.c.user_id == User.id)
         .where(user_grid.c.grid_id.in_(grid_ids), User.role.in_(roles_with("dispatch_cases")), ~User.is_disabled))
    return db.session.execute(q).all()


def notify_desk(case, kind, text, exclude=None):
    """Tell the desk of the case's grid; where nobody sits there, the nearest level above that has someone."""
    ancestors = case.current_grid.ancestor_ids()
    by_grid = {}
    for uid, gid in _desk_users(ancestors):
        by_grid.setdefault(gid, set()).add(uid)
    for gid in reversed(ancestors):
        ids = by_grid.get(gid, set()) - {getattr(exclude, "id", None)}
        if ids:
            for uid in sorted(ids):
                notify(uid, case, kind, text)
            return


def alert_emergency(case):
    """突发: every desk user of the village and township above the case hears at once."""
    ancestors = db.session.scalars(select(Grid).where(Grid.id.in_(case.grid.ancestor_ids()))).all()
    grid_ids = [g.id for g in ancestors if g.level.key in ALERT_LEVELS]
    text = f"【突发】{case.title}（{case.grid.name}，{case.location or '地点未填'}），请立即处置"
    for uid in sorted({uid for uid, _ in _desk_users(grid_ids)}):
        notify(uid, case, "emergency", text)


def assignee_choices(case):
    """Users who may be given the case: bound to its current grid, a grid below it or above it."""
    grid = case.current_grid
    ancestors = grid.ancestor_ids()
    q = (select(User).join(user_grid, user_grid.c.user_id == User.id).join(Grid, Grid.id == user_grid.c.grid_id)
         .where(~User.is_disabled, User.role != "auditor",
                or_(starts_with(Grid.path, grid.path), Grid.id.in_(ancestors)))
         .distinct().order_by(User.full_name).limit(300))
    return db.session.scalars(q).all()


# --- effects: what an action does beyond moving the state ----------------------------

def _deadline_from_date(day, field="deadline"):
    if day is None:
        return None
    if day < local_today():
        raise ServiceError("办理期限不能早于今天。", field)
    return end_of_local_day(day)


def _start(step, deadline):
    """The action starts a new step of the case, due by ``deadline`` (None: no limit)."""
    step.record.start_step(utcnow(), deadline)


def _handle_deadline(step):
    """The deadline the form gave, else the category's handling limit."""
    case = step.record
    return _deadline_from_date(step.value("deadline")) or workday_deadline(case.category.handle_workdays, utcnow())


def accept(step):
    case = step.record
    category_id, handling_class = step.value("category_id"), step.value("handling_class")
    if category_id:
        category = db.session.get(CaseCategory, category_id)
        if category is None or not category.active:
            raise ServiceError("请选择事件类别。", "category_id")
        case.category = category
    if handling_class:
        if handling_class not in HANDLING_CLASSES:
            raise ServiceError("请选择处理类别。", "handling_class")
        if handling_class == "emergency" and case.handling_class != "emergency":
            case.handling_class = handling_class
            alert_emergency(case)
        case.handling_class = handling_class
    step.detail = f"类别：{case.category.name}，{case.class_name}"
    _start(step, workday_deadline(1, utcnow()))


def assign(step):
    case = step.record
    assignee_id = step.value("assignee_id")
    assignee = db.session.get(User, assignee_id) if assignee_id else None
    # Compare ids: flask-login's UserMixin makes users equal by session token.
    if assignee is None or assignee.id not in {u.id for u in assignee_choices(case)}:
        raise ServiceError("请选择承办人（本网格或上下级网格的工作人员）。", "assignee_id")
    case.holder_user_id, case.holder_department_id = assignee.id, None
    _start(step, _handle_deadline(step))
    step.detail = f"交办给 {assignee.full_name}"


def transfer(step):
    case = step.record
    department_id = step.value("department_id")
    dept = db.session.get(Department, department_id) if department_id else None
    if dept is None or not dept.active:
        raise ServiceError("请选择移交的部门。", "department_id")
    case.holder_user_id, case.holder_department_id = None, dept.id
    _start(step, _handle_deadline(step))
    step.detail = f"移交 {dept.name}"


def escalate(step):
    case = step.record
    parent = case.current_grid.parent
    case.current_grid_id, case.current_grid = parent.id, parent
    case.holder_user_id = case.holder_department_id = None
    _start(step, hour_deadline(case.category.accept_hours, utcnow()))
    step.detail = f"上报至 {parent.name}"


def urge(step):
    step.detail = f"催办 {step.record.holder_name}"


def reply(step):
    _start(step, workday_deadline(2, utcnow()))
    step.detail = f"{step.record.holder_name} 反馈"


def _closed(step, detail=""):
    case, now = step.record, utcnow()
    case.closed_at = now
    _start(step, workday_deadline(case.category.follow_up_workdays, now))
    step.detail = detail


def solve_on_spot(step):
    _closed(step, "当场处理完毕")


def close(step):
    _closed(step)


def return_case(step):
    case = step.record
    step.detail = f"{case.holder_name} 退回"
    case.holder_user_id = case.holder_department_id = None
    case.extension_until = None
    _start(step, workday_deadline(1, utcnow()))


def reject_reply(step):
    _start(step, _handle_deadline(step))
    step.detail = f"退回 {step.record.holder_name} 重新办理"


def follow_up(step):
    case, satisfaction = step.record, step.value("satisfaction")
    if satisfaction not in FOLLOW_UP_TARGET:
        raise ServiceError("请选择群众是否满意。", "satisfaction")
    step.target = FOLLOW_UP_TARGET[satisfaction]
    case.satisfaction = satisfaction
    step.detail = f"群众{SATISFACTION[satisfaction]}"
    deadline = None
    if satisfaction == "unsatisfied":
        step.detail += "，重新办理"
        case.holder_user_id = case.holder_department_id = None
        case.closed_at = None
        deadline = workday_deadline(1, utcnow())
    _start(step, deadline)


def archive(step):
    _start(step, None)


def request_extension(step):
    case, extend_to = step.record, step.value("extend_to")
    if extend_to is None:
        raise ServiceError("请选择希望延期到哪一天。", "extend_to")
    until = _deadline_from_date(extend_to, "extend_to")
    if case.deadline_at is not None and until <= case.deadline_at:
        raise ServiceError("延期后的期限应晚于现在的期限。", "extend_to")
    case.extension_until = until
    step.detail = f"申请延期至 {fmt_local(until, '%Y-%m-%d')}"


def approve_extension(step):
    case = step.record
    step.detail = f"同意延期至 {fmt_local(case.extension_until, '%Y-%m-%d')}"
    _start(step, case.extension_until)
    case.extension_until = None


def refuse_extension(step):
    step.detail = "不同意延期，按原期限办理"
    step.record.extension_until = None


# --- notifications: who hears of an action --------------------------------------------

def _head(case):
    return f"{case.title}（{format_receipt(case.receipt_code)}）"


def tell_holder_assigned(step):
    case = step.record
    if case.holder_user_id:
        notify(case.holder_user_id, case, step.action.key,
               f"您有交办事件：{_head(case)}，请于 {fmt_local(case.deadline_at)} 前办理")


def tell_urged(step):
    case = step.record
    if case.holder_user_id:
        notify(case.holder_user_id, case, "urge", f"催办：{_head(case)} 期限 {fmt_local(case.deadline_at)}")
    else:
        notify_desk(case, "urge", f"催办：{_head(case)}（{step.detail}）", exclude=step.user)


def tell_desk(step):
    notify_desk(step.record, step.action.key, f"{step.detail or '待处理'}：{_head(step.record)}", exclude=step.user)


def tell_desk_if_reopened(step):
    if step.record.state == "accepted":
        tell_desk(step)


def tell_holder(step):
    case = step.record
    if case.holder_user_id:
        notify(case.holder_user_id, case, step.action.key, f"{step.detail}：{_head(case)}")


# --- guards ------------------------------------------------------------------------------

def _general(case):
    return case.handling_class == "general"


def _has_parent(case):
    return case.current_grid.parent_id is not None


def _extension_open(case):
    return case.extension_until is not None


def _no_extension_open(case):
    return case.extension_until is None


# --- the table -----------------------------------------------------------------------------

ACTIONS = {a.key: a for a in (
    action("accept", "受理", {"reported"}, "accepted", {"desk"}, ("note",), style="primary", effect=accept),
    action("solve_on_spot", "当场办结", {"reported"}, "closed", {"reporter", "desk"}, ("result", "photos"),
           note_required=True, guard=_general, effect=solve_on_spot),
    action("assign", "交办", {"accepted"}, "assigned", {"desk"}, ("assignee", "deadline", "note"), style="primary",
           effect=assign, notify=tell_holder_assigned),
    action("transfer", "移交部门", {"accepted"}, "assigned", {"desk"}, ("department", "deadline", "note"),
           effect=transfer),
    action("escalate", "上报上级", {"reported", "accepted"}, "reported", {"desk"}, ("note",), note_required=True,
           guard=_has_parent, effect=escalate, notify=tell_desk),
    action("start", "签收办理", {"assigned"}, "in_progress", {"holder"}, ("note",), style="primary"),
    action("reply", "反馈结果", {"assigned", "in_progress"}, "replied", {"holder"}, ("result", "photos"),
           note_required=True, style="primary", effect=reply, notify=tell_desk),
    action("return", "退回", {"assigned", "in_progress"}, "accepted", {"holder"}, ("note",), note_required=True,
           style="danger", effect=return_case, notify=tell_desk),
    action("reject_reply", "退回重办", {"replied"}, "in_progress", {"desk"}, ("deadline", "note"), note_required=True,
           style="danger", effect=reject_reply, notify=tell_holder_assigned),
    action("close", "办结", {"replied"}, "closed", {"desk"}, ("note",), style="primary", effect=close),
    action("follow_up", "回访", {"closed"}, None, {"desk"}, ("satisfaction", "note"), note_required=True,
           style="primary", effect=follow_up, notify=tell_desk_if_reopened),
    action("archive", "归档", {"visited"}, "archived", {"desk"}, ("note",), style="primary", effect=archive),
    action("urge", "催办", {"assigned", "in_progress"}, None, {"desk"}, ("note",), effect=urge, notify=tell_urged),
    action("request_extension", "申请延期", {"assigned", "in_progress"}, None, {"holder"}, ("extend_to", "note"),
           note_required=True, guard=_no_extension_open, effect=request_extension, notify=tell_desk),
    action("approve_extension", "同意延期", {"assigned", "in_progress"}, None, {"desk"}, ("note",),
           guard=_extension_open, effect=approve_extension, notify=tell_holder),
    action("refuse_extension", "不同意延期", {"assigned", "in_progress"}, None, {"desk"}, ("note",),
           note_required=True, style="danger", guard=_extension_open, effect=refuse_extension, notify=tell_holder),
)}


def _check_photos(step):
    if "photos" in step.action.needs:
        photo_store.check_photos(step.value("photos", ()))


def _write_event(step):
    case = step.record
    return append_event(case, step.user, step.action.key, step.from_state, case.state, step.detail, step.note,
                        case.deadline_at)


def _store_photos(step):
    if "photos" in step.action.needs:
        save_photos(step.record, step.event, step.value("photos", ()))


CASES = Workflow(
    ACTIONS.values(), relations=relations, write_event=_write_event, conflict=CONFLICT,
    refusal=lambda case, a: f"当前状态“{case.state_name}”下您不能“{a.label}”，请刷新页面查看最新进展。",
    note_missing=lambda a: f"请填写{'处理结果' if 'result' in a.needs else '说明'}。",
    before=_check_photos, after=_store_photos)


def event_label(key):
    """Chinese name of a timeline entry."""
    return CASES.label(key, OTHER_EVENTS)
