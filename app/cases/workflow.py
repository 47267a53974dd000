"""The case workflow as data: states, actions, who may take them and what each needs.

This table is the only place that knows the transitions. The service reads it
to decide whether an action is allowed and where it leads; the views ask the
service which actions a user has on a case and render a form per action.

Who may act is said by *relations* between the user and the case:
- ``desk``: a user whose role may dispatch cases (see DESK_ROLES) and whose grids
  cover the grid the case currently sits at — the level that holds the case;
- ``holder``: the user the case is assigned to, or a user of the department it was
  transferred to. For a department without accounts the desk records its answers.
- ``co_holder``: a user of a co-handling department (联合执法) that has not answered yet
  (the desk, for such a department without accounts).
- ``reporter``: the user who raised it (only for an 一般性 case fixed on the spot).
- ``approver``: a desk user of the level a 需审批 case's category names (审批层级), while the
  case waits for approval.
- ``responder``: for a 突发 case, a user of the case's grid or a desk above it who has not yet
  recorded their arrival on site (四必到).
"""
from dataclasses import dataclass, field

STATES = {
    "reported": "待受理",
    "accepted": "已受理",
    "approving": "待审批",
    "assigned": "已交办",
    "in_progress": "办理中",
    "replied": "已反馈",
    "closed": "已办结",
    "visited": "已回访",
    "archived": "已归档",
}
# States whose step runs against a deadline (the holder must act before it).
TIMED_STATES = {"reported", "accepted", "approving", "assigned", "in_progress", "replied", "closed"}
OPEN_STATES = set(STATES) - {"archived", "visited"}

# Account roles that may act as the desk of the grid a case sits at.
DESK_ROLES = {"admin", "township", "village_admin", "leader"}


@dataclass(frozen=True)
class Action:
    """One action of the workflow."""

    key: str
    label: str
    sources: frozenset
    target: str | None  # None: the state does not change
    who: frozenset  # relations, see the module docstring
    needs: tuple = ()  # what the form must ask: assignee, department, deadline, note, result, photos, satisfaction, extend_to
    note_required: bool = False
    style: str = ""  # "primary" / "danger" for the button
    classes: frozenset = field(default_factory=frozenset)  # limited to these handling classes (empty: all)


def _a(key, label, sources, target, who, needs=(), note_required=False, style="", classes=()):
    return Action(key, label, frozenset(sources), target, frozenset(who), tuple(needs), note_required, style, frozenset(classes))


ACTIONS = {a.key: a for a in (
    _a("accept", "受理", {"reported"}, "accepted", {"desk"}, ("note",), style="primary"),
    _a("solve_on_spot", "当场办结", {"reported"}, "closed", {"reporter", "desk"}, ("result", "photos"),
       note_required=True, classes={"general"}),
    _a("request_approval", "报请审批", {"accepted"}, "approving", {"desk"}, ("note",), style="primary",
       classes={"approval"}),
    _a("approve", "审批同意", {"approving"}, "accepted", {"approver"}, ("note",), note_required=True, style="primary"),
    _a("refuse_approval", "不予批准", {"approving"}, "replied", {"approver"}, ("result",), note_required=True,
       style="danger"),
    _a("arrive", "到场", {"reported", "accepted", "assigned", "in_progress"}, None, {"responder"}, ("note", "photos"),
       classes={"emergency"}),
    _a("assign", "交办", {"accepted"}, "assigned", {"desk"}, ("assignee", "deadline", "note"), style="primary"),
    _a("transfer", "移交部门", {"accepted"}, "assigned", {"desk"}, ("department", "deadline", "note")),
    _a("escalate", "上报上级", {"reported", "accepted"}, "reported", {"desk"}, ("note",), note_required=True),
    _a("start", "签收办理", {"assigned"}, "in_progress", {"holder"}, ("note",), style="primary"),
    _a("reply", "反馈结果", {"assigned", "in_progress"}, "replied", {"holder"}, ("result", "photos"),
       note_required=True, style="primary"),
    _a("co_reply", "会办反馈", {"assigned", "in_progress"}, None, {"co_holder"}, ("co_department", "result", "photos"),
       note_required=True),
    _a("return", "退回", {"assigned", "in_progress"}, "accepted", {"holder"}, ("note",), note_required=True, style="danger"),
    _a("reject_reply", "退回重办", {"replied"}, "in_progress", {"desk"}, ("deadline", "note"), note_required=True,
       style="danger"),
    _a("close", "办结", {"replied"}, "closed", {"desk"}, ("note",), style="primary"),
    _a("follow_up", "回访", {"closed"}, None, {"desk"}, ("satisfaction", "note"), note_required=True, style="primary"),
    _a("archive", "归档", {"visited"}, "archived", {"desk"}, ("note",), style="primary"),
    _a("urge", "催办", {"assigned", "in_progress"}, None, {"desk"}, ("note",)),
    _a("request_extension", "申请延期", {"assigned", "in_progress"}, None, {"holder"}, ("extend_to", "note"),
       note_required=True),
    _a("approve_extension", "同意延期", {"assigned", "in_progress"}, None, {"desk"}, ("note",)),
    _a("refuse_extension", "不同意延期", {"assigned", "in_progress"}, None, {"desk"}, ("note",), note_required=True,
       style="danger"),
)}
# Where 回访 leads: satisfied → visited; not satisfied reopens the case at its desk.
FOLLOW_UP_TARGET = {"satisfied": "visited", "unsatisfied": "accepted"}
SATISFACTION = {"satisfied": "满意", "unsatisfied": "不满意"}
# Event kinds that are not user actions of the table.
OTHER_EVENTS = {"report": "申报", "auto_urge": "自动催办"}

# Which printable form records which action.
PRINT_FORMS = {
    "report": ("申报单", ("report",)),
    "assign": ("交办单", ("assign", "transfer")),
    "urge": ("催办单", ("urge", "auto_urge")),
    "reply": ("反馈单", ("reply", "solve_on_spot", "co_reply")),
}


def event_label(action):
    """Chinese name of a timeline entry."""
    if action in ACTIONS:
        return ACTIONS[action].label
    return OTHER_EVENTS.get(action, action)


def needs_pending_extension(action):
    """Approve/refuse only make sense while a request is open; a request only when none is."""
    return {"approve_extension": True, "refuse_extension": True, "request_extension": False}.get(action)
