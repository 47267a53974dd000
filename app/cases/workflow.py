"""The case workflow: who may act, the table of actions, and each action's effect and notification.

``CASES`` (core/workflow.py) reads the table: ``CASES.perform`` is the only code that changes a
case's state, ``CASES.available`` tells a page which buttons to show. Adding an action is adding
a row to ACTIONS and, if it does more than move the state, its effect function here.

Who may act is said by *relations* between the user and the case:
- ``desk``: a user whose role may dispatch cases (the ``dispatch_cases`` permission) and whose
  grids cover the grid the case currently sits at — the level that holds the case;
- ``holder``: the user the case is assigned to, or a user of the department it was transferred
  to. For a department without accounts the desk records its answers.
- ``co_holder``: a user of a co-handling department (联合执法) that has not answered yet (the desk,
  for such a department without accounts).
- ``reporter``: the user who raised it (only for an 一般性 case fixed on the spot).
- ``approver``: a desk user of the level a 需审批 case's category names (审批层级), while the case
  waits for approval.
- ``responder``: for a 突发 case, a user of the case's grid or a desk above it who has not yet
  recorded their arrival on site (四必到).
"""
from sqlalchemy import or_, select

from ..accounts.models import User, user_grid
from ..accounts.permissions import can, roles_with
from ..core import sms
from ..core import photos as photo_store
from ..core.forms import ServiceError
from ..core.timeutil import fmt_local, local_today, utcnow
from ..core.validators import mask_ids_in_text
from ..core.workdays import end_of_local_day, workday_deadline
from ..core.workflow import Workflow, action
from ..extensions import db
from ..grids.models import Grid, GridStaff
from ..grids.scope import can_see_grid, starts_with
from ..notifications.service import notify
from .models import (HANDLING_CLASSES, PHOTO_FOLDER, STATES, CaseCategory, CaseCoDepartment, CaseEvent, CasePhoto,
                     Department, format_receipt)

# States whose step runs against a deadline (the holder must act before it).
TIMED_STATES = {"reported", "accepted", "approving", "assigned", "in_progress", "replied", "closed"}
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
    "reply": ("反馈单", ("reply", "solve_on_spot", "co_reply")),
}


def _department_of(user):
    return user.department_id if getattr(user, "is_department", False) else None


def department_users(department_id):
    """Ids of the active accounts of a department."""
    if department_id is None:
        return []
    return list(db.session.scalars(select(User.id).where(User.department_id == department_id,
                                                         User.role == "department", ~User.is_disabled)))


def relations(user, case):
    """The user's relations to the case (see the module docstring)."""
    if not getattr(user, "is_authenticated", False) or user.read_only:
        return set()
    rel = set()
    desk_role = can(user, "dispatch_cases")
    if desk_role and can_see_grid(user, case.current_grid):
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
    if case.state == "approving" and desk_role:
        grid = approval_grid(case)
        if grid is not None and can_see_grid(user, grid):
            rel.add("approver")
    if (case.handling_class == "emergency" and (desk_role or user.role == "worker") and can_see_grid(user, case.grid)
            and not any(ev.action == "arrive" and ev.actor_id == user.id for ev in case.events)):
        rel.add("responder")
    return rel


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


def desk_grids(grids):
    """{grid id: id of the nearest grid at or above it that has a desk (someone who may accept there)}."""
    grids = [g for g in grids if g is not None]
    staffed = {gid for _, gid in _desk_users({a for g in grids for a in g.ancestor_ids()})}
    return {g.id: next((a for a in reversed(g.ancestor_ids()) if a in staffed), None) for g in grids}


def escalation_target(grid):
    """Where 上报 from ``grid`` lands: the nearest grid with a desk above the desk that holds ``grid``
    (its own, or the nearest above it with one). None when no level above has a desk."""
    if grid is None:
        return None
    ancestors = grid.ancestor_ids()
    staffed_ids = {gid for _, gid in _desk_users(ancestors)}
    staffed = [a for a in ancestors if a in staffed_ids]
    if len(staffed) < 2:
        return None
    return db.session.get(Grid, staffed[-2])


def grid_at_level(grid, key):
    """The grid of level ``key`` (village, town) at or above ``grid``, or None."""
    return db.session.scalar(select(Grid).where(Grid.id.in_(grid.ancestor_ids()), Grid.level.has(key=key)))


def approval_grid(case):
    """The grid whose desk approves a 需审批 case: the level its category names (at or above the
    case's grid), else the next level with a desk above the one holding the case."""
    key = case.category.approval_level
    if key:
        grid = grid_at_level(case.grid, key)
        if grid is not None:
            return grid
    return escalation_target(case.current_grid)


def is_approved(case):
    """Whether the case's latest approval request was granted."""
    steps = [ev.action for ev in case.events if ev.action in ("request_approval", "approve", "refuse_approval")]
    return bool(steps) and steps[-1] == "approve"


# The timeline and who hears of a case

def _actor_name(user):
    if user is None:
        return "群众（扫码反映）"
    return f"{user.full_name}（{user.role_name}）"


def append_event(case, user, action_key, from_state, to_state, detail, note, deadline=None, at=None):
    """One step on the case's timeline (append-only); ``at`` only for data made afterwards (the demo)."""
    ev = CaseEvent(case=case, actor_id=user.id if user is not None else None, actor_name=_actor_name(user),
                   action=action_key, from_state=from_state, to_state=to_state, grid_id=case.current_grid_id,
                   detail=detail[:300], note=note or "", deadline_at=deadline, at=at or utcnow())
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
    """Tell the desk of the case's grid; where nobody sits there, the nearest level above that has
    someone. Returns the ids told."""
    ancestors = case.current_grid.ancestor_ids()
    by_grid = {}
    for uid, gid in _desk_users(ancestors):
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
    ancestors = db.session.scalars(select(Grid).where(Grid.id.in_(grid.ancestor_ids()))).all()
    grid_ids = [g.id for g in ancestors if g.level.key in ALERT_LEVELS] + [grid.id]
    users = {uid for uid, _ in _desk_users(grid_ids)}
    users |= set(db.session.scalars(select(GridStaff.user_id).join(User, User.id == GridStaff.user_id).where(
        GridStaff.grid_id == grid.id, GridStaff.role == "leader", ~User.is_disabled)))
    for uid in sorted(users):
        notify(uid, case, "emergency", text, url=url)


def alert_emergency(case):
    """突发: the village, the township and the grid's leader hear at once."""
    alert_at_once(case.grid, f"【突发】{case.title}（{case.grid.name}，{case.location or '地点未填'}），请立即处置", case)


def assignee_choices(case):
    """Users who may be given the case: bound to its current grid, a grid below it or above it."""
    grid = case.current_grid
    ancestors = grid.ancestor_ids()
    q = (select(User).join(user_grid, user_grid.c.user_id == User.id).join(Grid, Grid.id == user_grid.c.grid_id)
         .where(~User.is_disabled, User.role != "auditor",
                or_(starts_with(Grid.path, grid.path), Grid.id.in_(ancestors)))
         .distinct().order_by(User.full_name).limit(300))
    return db.session.scalars(q).all()


# Effects: what an action does beyond moving the state

def _deadline_from_date(day, field="deadline"):
    if day is None:
        return None
    if day < local_today():
        raise ServiceError("办理期限不能早于今天。", field)
    return end_of_local_day(day)


def _now(step):
    """When the action happens: now, or the time the demo data gives it."""
    return step.value("now") or utcnow()


def _start(step, deadline):
    """The action starts a new step of the case, due by ``deadline`` (None: no limit)."""
    step.record.start_step(_now(step), deadline)


def _handle_deadline(step):
    """The deadline the form gave, else the category's handling limit."""
    case = step.record
    return _deadline_from_date(step.value("deadline")) or workday_deadline(case.category.handle_workdays, _now(step))


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
    _start(step, workday_deadline(1, _now(step)))


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
    choices = {d.id: d for d in department_choices(case)}
    dept = choices.get(step.value("department_id"))
    if dept is None:
        raise ServiceError("请选择移交的部门（本级或上级的部门）。", "department_id")
    co = [choices.get(i) for i in dict.fromkeys(step.value("co_department_ids") or ()) if i != dept.id]
    if any(d is None for d in co):
        raise ServiceError("会办部门应为本级或上级的部门。", "co_department_ids")
    case.holder_user_id, case.holder_department_id = None, dept.id
    case.holder_department = dept
    case.co_departments = [CaseCoDepartment(department_id=d.id) for d in co]
    _start(step, _handle_deadline(step))
    step.detail = f"移交 {dept.name}" + (f"，会办：{'、'.join(d.name for d in co)}" if co else "")


def co_reply(step):
    case = step.record
    answerable = {d.id: d for d in co_reply_departments(step.user, case)}
    department_id = step.value("department_id")
    if len(answerable) == 1 and department_id is None:
        department_id = next(iter(answerable))
    dept = answerable.get(department_id)
    if dept is None:
        raise ServiceError("请选择作答的会办部门。", "department_id")
    next(c for c in case.co_departments if c.department_id == dept.id).replied_at = _now(step)
    step.detail = f"{dept.name} 会办反馈"


def escalate(step):
    # One step to the nearest level above that has a desk; the clock the case runs on goes with it.
    case = step.record
    target = escalation_target(case.current_grid)
    case.current_grid_id, case.current_grid = target.id, target
    case.holder_user_id = case.holder_department_id = None
    step.detail = f"上报至 {target.name}"


def request_approval(step):
    _start(step, workday_deadline(step.record.category.handle_workdays, _now(step)))
    step.detail = f"报请 {approval_grid(step.record).name} 审批"


def approve(step):
    grid = approval_grid(step.record)
    _start(step, workday_deadline(1, _now(step)))
    step.detail = f"{grid.name} 审批同意"


def refuse_approval(step):
    grid = approval_grid(step.record)
    _start(step, workday_deadline(2, _now(step)))
    step.detail = f"{grid.name} 不予批准"


def arrive(step):
    step.detail = f"{step.user.full_name} 到场"


def urge(step):
    step.detail = f"催办 {step.record.holder_name}"


def reply(step):
    _start(step, workday_deadline(2, _now(step)))
    step.detail = f"{step.record.holder_name} 反馈"


def _closed(step, detail=""):
    case, now = step.record, _now(step)
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
    _start(step, workday_deadline(1, _now(step)))


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
        deadline = workday_deadline(1, _now(step))
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


# Notifications: who hears of an action

def _head(case):
    return f"{case.title}（{format_receipt(case.receipt_code)}）"


def holders(case, with_co=False):
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


def tell_holder_assigned(step):
    case = step.record
    for uid in holders(case, with_co=step.action.key == "transfer"):
        notify(uid, case, step.action.key, f"您有交办事件：{_head(case)}，请于 {fmt_local(case.deadline_at)} 前办理")


def tell_urged(step):
    case = step.record
    ids = holders(case, with_co=True)
    for uid in ids:
        notify(uid, case, "urge", f"催办：{_head(case)} 期限 {fmt_local(case.deadline_at)}")
    if not ids:
        notify_desk(case, "urge", f"催办：{_head(case)}（{step.detail}）", exclude=step.user)


def tell_desk(step):
    return notify_desk(step.record, step.action.key, f"{step.detail or '待处理'}：{_head(step.record)}",
                       exclude=step.user)


def tell_desk_if_reopened(step):
    if step.record.state == "accepted":
        tell_desk(step)


def tell_holder(step):
    case = step.record
    for uid in holders(case):
        notify(uid, case, step.action.key, f"{step.detail}：{_head(case)}")


def tell_approvers(step):
    case = step.record
    for uid in sorted(_desk_of(approval_grid(case)) - {getattr(step.user, "id", None)}):
        notify(uid, case, step.action.key, f"待审批：{_head(case)}")


def _desk_of(grid):
    """The desk users of the nearest grid at or above ``grid`` that has a desk."""
    if grid is None:
        return set()
    desk = desk_grids([grid]).get(grid.id)
    return {uid for uid, _ in _desk_users([desk])} if desk is not None else set()


RESULT_ACTIONS = ("reply", "solve_on_spot", "refuse_approval")


def tell_result(step, told=frozenset()):
    """反馈 and 办结: the reporter (the worker, or the village for a walk-in), the grid where the case
    arose and, for 需协调, the township hear of it; a resident who left a phone gets a text."""
    case = step.record
    word = "已办结" if step.action.key in ("close", "solve_on_spot") else "已反馈"
    kind = "close" if word == "已办结" else "reply"
    result = next((ev.note for ev in reversed(case.events) if ev.action in RESULT_ACTIONS), "")
    text = f"{word}：{_head(case)}" + (f"，结果：{result}" if result else "")
    to = set()
    if case.source == "office" or case.created_by_id is None:
        to |= _desk_of(grid_at_level(case.grid, "village"))
    else:
        to.add(case.created_by_id)
    to |= _desk_of(case.grid)
    if case.handling_class == "coordination":
        to |= _desk_of(grid_at_level(case.grid, "town"))
    for uid in sorted(to - {getattr(step.user, "id", None)} - set(told)):
        notify(uid, case, kind, text)
    if case.reporter_phone:
        sms.queue(db.session, case.reporter_phone,
                  f"【{case.grid.name}】您反映的问题（回执码 {format_receipt(case.receipt_code)}）{word}"
                  + (f"：{mask_ids_in_text(result)[:200]}" if result else "。"))


def tell_desk_and_result(step):
    """反馈 / 不予批准: the desk that reviews it, then everyone the result concerns."""
    tell_result(step, tell_desk(step))


# Guards

def _general(case):
    return case.handling_class == "general"


def _has_desk_above(case):
    return escalation_target(case.current_grid) is not None


def _approved_if_needed(case):
    """需审批: handled (assigned, transferred) only once approved."""
    return case.handling_class != "approval" or is_approved(case)


def _approval_wanted(case):
    return case.handling_class == "approval" and not is_approved(case) and approval_grid(case) is not None


def _emergency(case):
    return case.handling_class == "emergency"


def _extension_open(case):
    return case.extension_until is not None


def _no_extension_open(case):
    return case.extension_until is None


# The table

ACTIONS = {a.key: a for a in (
    action("accept", "受理", {"reported"}, "accepted", {"desk"}, ("note",), style="primary", effect=accept),
    action("solve_on_spot", "当场办结", {"reported"}, "closed", {"reporter", "desk"}, ("result", "photos"),
           note_required=True, guard=_general, effect=solve_on_spot, notify=tell_result),
    action("request_approval", "报请审批", {"accepted"}, "approving", {"desk"}, ("note",), style="primary",
           guard=_approval_wanted, effect=request_approval, notify=tell_approvers),
    action("approve", "审批同意", {"approving"}, "accepted", {"approver"}, ("note",), note_required=True,
           style="primary", effect=approve, notify=tell_desk),
    action("refuse_approval", "不予批准", {"approving"}, "replied", {"approver"}, ("result",), note_required=True,
           style="danger", effect=refuse_approval, notify=tell_desk_and_result),
    action("arrive", "到场", {"reported", "accepted", "assigned", "in_progress"}, None, {"responder"},
           ("note", "photos"), guard=_emergency, effect=arrive, notify=tell_desk),
    action("assign", "交办", {"accepted"}, "assigned", {"desk"}, ("assignee", "deadline", "note"), style="primary",
           guard=_approved_if_needed, effect=assign, notify=tell_holder_assigned),
    action("transfer", "移交部门", {"accepted"}, "assigned", {"desk"}, ("department", "deadline", "note"),
           guard=_approved_if_needed, effect=transfer, notify=tell_holder_assigned),
    action("escalate", "上报上级", {"reported", "accepted"}, "reported", {"desk"}, ("note",), note_required=True,
           guard=_has_desk_above, effect=escalate, notify=tell_desk),
    action("start", "签收办理", {"assigned"}, "in_progress", {"holder"}, ("note",), style="primary"),
    action("reply", "反馈结果", {"assigned", "in_progress"}, "replied", {"holder"}, ("result", "photos"),
           note_required=True, style="primary", effect=reply, notify=tell_desk_and_result),
    action("co_reply", "会办反馈", {"assigned", "in_progress"}, None, {"co_holder"}, ("co_department", "result", "photos"),
           note_required=True, effect=co_reply, notify=tell_desk),
    action("return", "退回", {"assigned", "in_progress"}, "accepted", {"holder"}, ("note",), note_required=True,
           style="danger", effect=return_case, notify=tell_desk),
    action("reject_reply", "退回重办", {"replied"}, "in_progress", {"desk"}, ("deadline", "note"), note_required=True,
           style="danger", effect=reject_reply, notify=tell_holder_assigned),
    action("close", "办结", {"replied"}, "closed", {"desk"}, ("note",), style="primary", effect=close,
           notify=tell_result),
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
                        case.deadline_at, at=step.value("now"))


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
