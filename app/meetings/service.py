"""Meeting rules: kinds and when they are due, planning with the grid's staff, minutes, decisions, follow-ups."""
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select

from ..cases import service as cases
from ..cases.models import Case
from ..core.db import starts_with
from ..core.forms import ServiceError
from ..core.timeutil import local_today
from ..extensions import db
from ..grids.models import Grid, GridLevel, GridStaff
from ..grids.scope import can_see_grid, get_child_or_404, get_scoped_or_404, subtree_ids
from .models import ATTENDANCE, CADENCES, FollowUp, Meeting, MeetingAttendee, MeetingDecision, MeetingKind

# The kinds every installation starts with; the migration inserts the same rows.
DEFAULT_KINDS = [
    ("grid_quarterly", "网格季度例会", 3, "natural_village", "二级网格长、全体三级网格员"),
    ("team_monthly", "网格服务团队月例会", 1, "cluster", "网格服务团队全体成员"),
    ("village_monthly", "行政村网格月例会", 1, "village", "村两委、各网格服务团队相关人员"),
    ("town_monthly", "乡镇网格工作月例会", 1, "town", "乡镇网格办、各片区网格服务团队负责人"),
]
# Roles of a child grid's staff who are expected at the parent's meeting.
CHILD_ROLES_ATTENDING = ("leader", "worker")
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
# The due-meeting check looks back this many periods (the current one included) …
DUE_PERIODS = 3
# … and lists at most this many missing meetings (a county has thousands of grids).
DUE_LIMIT = 200


def ensure_default_kinds():
    """Insert the default kinds that are missing (idempotent)."""
    have = set(db.session.scalars(select(MeetingKind.key).where(MeetingKind.key.is_not(None))))
    for key, name, months, level_key, attendees in DEFAULT_KINDS:
        if key not in have:
            db.session.add(MeetingKind(key=key, name=name, cadence_months=months, level_key=level_key,
                                       attendees=attendees))
    db.session.flush()


# Kinds

def kinds_for(grid):
    """Kinds usable at ``grid``: the shared ones plus those its village (or any ancestor) added."""
    return db.session.scalars(select(MeetingKind).where(or_(
        MeetingKind.grid_id.is_(None), MeetingKind.grid_id.in_(grid.ancestor_ids())))
        .order_by(MeetingKind.grid_id.is_not(None), MeetingKind.cadence_months.desc(), MeetingKind.id)).all()


def kinds_in_subtree(grid):
    """Kinds that apply somewhere in ``grid``'s subtree (for the due-meeting check)."""
    return db.session.scalars(select(MeetingKind).where(or_(
        MeetingKind.grid_id.is_(None), MeetingKind.grid_id.in_(grid.ancestor_ids()),
        MeetingKind.grid_id.in_(subtree_ids(grid)))).order_by(MeetingKind.id)).all()


def add_kind(grid, name, cadence_months, level_key, attendees):
    """A village's own kind of meeting, visible in its subtree."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("请填写例会名称。", "name")
    if cadence_months not in CADENCES:
        raise ServiceError("请选择召开频次。", "cadence_months")
    if level_key and db.session.scalar(select(GridLevel.id).where(GridLevel.key == level_key)) is None:
        raise ServiceError("请选择在哪一级网格召开。", "level_key")
    if any(k.name == name for k in kinds_for(grid)):
        raise ServiceError(f"已有名为“{name}”的例会类型。", "name")
    kind = MeetingKind(name=name, cadence_months=cadence_months, level_key=level_key or "",
                       attendees=(attendees or "").strip(), grid=grid)
    db.session.add(kind)
    db.session.flush()
    return kind


# Planning

# The sign-in sheet's rows: the expected attendees, then blank rows for walk-ins. An A4 page holds about
# 16 rows of 9 mm under the heading and agenda; the blanks fill it up to 14 rows (room for roles that wrap),
# and at least 2 are always left.
SIGN_IN_PAGE_ROWS = 14
SIGN_IN_MIN_BLANK = 2


def sign_in_blank_rows(attendees):
    """How many blank rows the sign-in sheet prints below ``attendees`` named rows."""
    return max(SIGN_IN_MIN_BLANK, SIGN_IN_PAGE_ROWS - attendees)


def expected_attendees(grid):
    """Who is expected: the grid's own staff, then the leaders and workers of its direct children — of
    every grid below it for a village (篇四 三级例会: the village's monthly meeting has all its grid workers).

    One row per person (a person holding two roles is listed once, with both roles).
    """
    own = db.session.scalars(select(GridStaff).where(GridStaff.grid_id == grid.id)
                             .order_by(GridStaff.role, GridStaff.id)).all()
    below = (starts_with(Grid.path, grid.path) & (Grid.id != grid.id) if grid.level and grid.level.key == "village"
             else Grid.parent_id == grid.id)
    children = db.session.scalars(
        select(GridStaff).join(Grid, Grid.id == GridStaff.grid_id)
        .where(below, GridStaff.role.in_(CHILD_ROLES_ATTENDING))
        .order_by(Grid.path, GridStaff.role, GridStaff.id)).all()
    people = {}
    for s in [*own, *children]:
        key = ("user", s.user_id) if s.user_id else ("name", s.display_name, s.display_phone)
        role = s.role_name if s.grid_id == grid.id else f"{s.grid.name}{s.role_name}"
        if key in people:
            people[key][1].append(role)
        else:
            people[key] = [s, [role]]
    return [(s, "、".join(roles)) for s, roles in people.values()]


@dataclass
class PlanData:
    """What the planning form says."""

    kind_id: int
    held_on: date
    start_time: str = ""
    place: str = ""
    host: str = ""
    recorder: str = ""
    agenda: str = ""
    guests: str = ""


def _check_plan(grid, data):
    kind = db.session.get(MeetingKind, data.kind_id) if data.kind_id else None
    if kind is None or kind not in kinds_for(grid):
        raise ServiceError("请选择例会类型。", "kind_id")
    if data.held_on is None:
        raise ServiceError("请填写会议日期。", "held_on")
    start = (data.start_time or "").strip()
    if start and not TIME_RE.match(start):
        raise ServiceError(f"开始时间“{start}”应写成 时:分，例如 09:30。", "start_time")
    if start and len(start) == 4:
        start = "0" + start
    return kind, start


def plan_meeting(user, grid, data):
    """Plan a meeting of ``grid``: the expected attendees come from its staff (for the sign-in sheet)."""
    if not can_see_grid(user, grid):
        raise ServiceError("请选择您管理范围内的网格。")
    kind, start = _check_plan(grid, data)
    meeting = Meeting(grid=grid, kind=kind, held_on=data.held_on, start_time=start, place=(data.place or "").strip(),
                      host=(data.host or "").strip(), recorder=(data.recorder or "").strip(),
                      agenda=(data.agenda or "").strip(), guests=(data.guests or "").strip(),
                      created_by_id=getattr(user, "id", None))
    for staff, roles in expected_attendees(grid):
        meeting.attendees.append(MeetingAttendee(staff_id=staff.id, name=staff.display_name, role=roles,
                                                 phone=staff.display_phone))
    db.session.add(meeting)
    db.session.flush()
    return meeting


def add_attendee(meeting, resident, role=""):
    """Add a person registered in the village (村民代表, 党员 …) to a meeting not yet held."""
    if meeting.status != "planned":
        raise ServiceError("例会已召开并记录纪要，不能再增加参会人员。")
    if resident is None or resident.status != "active":
        raise ServiceError("请选择一名本村在册的人员。", "resident_id")
    if any(a.resident_id == resident.id for a in meeting.attendees):
        raise ServiceError(f"{resident.name} 已在参会名单中。", "resident_id")
    role = (role or "").strip()[:60] or ("党员" if resident.is_party_member else "村民")
    attendee = MeetingAttendee(resident_id=resident.id, name=resident.name, role=role, phone=resident.phone or "")
    meeting.attendees.append(attendee)
    db.session.flush()
    return attendee


def update_plan(meeting, data):
    """Change date, place, host … of a meeting (its attendees stay)."""
    kind, start = _check_plan(meeting.grid, data)
    meeting.kind = kind
    meeting.held_on = data.held_on
    meeting.start_time = start
    for name in ("place", "host", "recorder", "agenda", "guests"):
        setattr(meeting, name, (getattr(data, name) or "").strip())
    return meeting


# Minutes

@dataclass
class MinutesData:
    """What the minutes form says; ``attendance`` maps attendee id to a status."""

    attendance: dict
    reports: str = ""
    problems: str = ""
    escalation: str = ""


def record_minutes(meeting, data, now):
    """Record attendance and what was said; the meeting counts as held from then on.

    Every expected attendee needs a mark (出席/缺席/请假), so the minutes
    never show somebody as silently missing.
    """
    unmarked = []
    for a in meeting.attendees:
        status = data.attendance.get(a.id)
        if status not in ATTENDANCE or status == "unknown":
            unmarked.append(a.name)
    if unmarked:
        raise ServiceError(f"请为每位参会人员登记出席、缺席或请假（未登记：{'、'.join(unmarked)}）。", "attendance")
    if meeting.attendees and not any(data.attendance[a.id] == "present" for a in meeting.attendees):
        raise ServiceError("没有人出席的会议不能记为已召开。", "attendance")
    if not (data.reports or "").strip() and not (data.problems or "").strip():
        raise ServiceError("请至少填写汇报情况或研究的问题之一。", "reports")
    for a in meeting.attendees:
        a.status = data.attendance[a.id]
    meeting.reports = data.reports.strip()
    meeting.problems = (data.problems or "").strip()
    escalation = (data.escalation or "").strip()
    if escalation and meeting.grid.parent_id is None:
        raise ServiceError("本网格没有上级网格，无法上报。", "escalation")
    meeting.escalation = escalation
    meeting.escalated_to_id = meeting.grid.parent_id if escalation else None
    meeting.status = "held"
    meeting.minutes_at = meeting.minutes_at or now
    return meeting


def add_decision(meeting, text):
    """Add a decision (议定事项) to the minutes."""
    text = (text or "").strip()
    if not text:
        raise ServiceError("请填写议定事项的内容。", "text")
    seq = max((d.seq for d in meeting.decisions), default=0) + 1
    decision = MeetingDecision(meeting=meeting, seq=seq, text=text)
    db.session.add(decision)
    db.session.flush()
    return decision


def make_follow_up(decision, attendee_id, deadline, today):
    """Turn a decision into a follow-up: the owner is one of the meeting's attendees."""
    if decision.follow_up is not None:
        raise ServiceError("这条议定事项已经落实到人。", "owner")
    owner = next((a for a in decision.meeting.attendees if a.id == attendee_id), None)
    if owner is None:
        raise ServiceError("请选择责任人（从参会人员中选）。", "owner")
    if deadline is None:
        raise ServiceError("请填写办结期限。", "deadline")
    if deadline < decision.meeting.held_on:
        raise ServiceError(f"办结期限不能早于会议日期（{decision.meeting.held_on:%Y-%m-%d}）。", "deadline")
    staff = db.session.get(GridStaff, owner.staff_id) if owner.staff_id else None
    fu = FollowUp(decision=decision, grid_id=decision.meeting.grid_id, owner_name=owner.name,
                  owner_user_id=staff.user_id if staff else None, deadline=deadline)
    db.session.add(fu)
    db.session.flush()
    return fu


def complete_follow_up(fu, result, done_on, today):
    """Mark a follow-up done with what was done and when."""
    if fu.status == "done":
        raise ServiceError("这项工作已经办结。", "result")
    result = (result or "").strip()
    if not result:
        raise ServiceError("请填写办理结果。", "result")
    done_on = done_on or today
    if done_on > today:
        raise ServiceError("办结日期不能晚于今天。", "done_on")
    fu.status, fu.result, fu.done_on = "done", result, done_on
    return fu


# What a village sees

def meetings_query(grid):
    """Meetings of a grid and its subtree, newest first."""
    return (select(Meeting).where(Meeting.grid_id.in_(subtree_ids(grid)))
            .order_by(Meeting.held_on.desc(), Meeting.id.desc()))


def open_follow_ups(grid):
    """Follow-ups not yet done in a grid's subtree, earliest deadline first."""
    return db.session.scalars(select(FollowUp).where(FollowUp.grid_id.in_(subtree_ids(grid)), FollowUp.status == "open")
                              .order_by(FollowUp.deadline, FollowUp.id).limit(DUE_LIMIT)).all()


def escalations_to(grid):
    """Problems that meetings of the grid's children reported up to it (newest first)."""
    return db.session.scalars(select(Meeting).where(Meeting.escalated_to_id == grid.id)
                              .order_by(Meeting.held_on.desc()).limit(50)).all()


def period_start(day, months):
    """First day of the period (month, quarter, half-year, year) that contains ``day``."""
    index = (day.month - 1) // months
    return date(day.year, index * months + 1, 1)


def previous_period(start, months):
    month0 = start.month - 1 - months
    return date(start.year + month0 // 12, month0 % 12 + 1, 1)


def period_label(start, months):
    if months == 1:
        return f"{start.year}年{start.month}月"
    if months == 3:
        return f"{start.year}年第{(start.month - 1) // 3 + 1}季度"
    if months == 6:
        return f"{start.year}年{'上' if start.month == 1 else '下'}半年"
    return f"{start.year}年"


@dataclass
class DueGap:
    grid: Grid
    kind: MeetingKind
    period: str
    current: bool  # the period still running (not late yet)


def missing_meetings(grid, today):
    """Meetings that were due in ``grid``'s subtree and not held: each (grid, kind, period) without one.

    Looks at the current period and the ones before it (DUE_PERIODS in all),
    never before a grid existed.
    """
    gaps = []
    for kind in kinds_in_subtree(grid):
        if not kind.cadence_months or not kind.level_key:
            continue
        level = db.session.scalar(select(GridLevel).where(GridLevel.key == kind.level_key))
        if level is None:
            continue
        where = [Grid.level_id == level.id, starts_with(Grid.path, grid.path)]
        if kind.grid_id is not None:
            where.append(starts_with(Grid.path, kind.grid.path))
        grids = db.session.scalars(select(Grid).where(*where).order_by(Grid.path).limit(DUE_LIMIT)).all()
        if not grids:
            continue
        starts = [period_start(today, kind.cadence_months)]
        for _ in range(DUE_PERIODS - 1):
            starts.append(previous_period(starts[-1], kind.cadence_months))
        held = set()
        for gid, on in db.session.execute(select(Meeting.grid_id, Meeting.held_on).where(
                Meeting.kind_id == kind.id, Meeting.status == "held", Meeting.held_on >= starts[-1],
                Meeting.grid_id.in_([g.id for g in grids]))):
            held.add((gid, period_start(on, kind.cadence_months)))
        for g in grids:
            for start in starts:
                end = previous_period(start, -kind.cadence_months)  # first day of the next period
                if g.created_at.date() >= end or (g.id, start) in held:
                    continue
                gaps.append(DueGap(g, kind, period_label(start, kind.cadence_months), start == starts[0]))
                if len(gaps) >= DUE_LIMIT:
                    return gaps
    return gaps


def owns_follow_ups(user):
    """Whether any follow-up names the user as its owner (who may then mark it done)."""
    return db.session.scalar(select(FollowUp.id).where(FollowUp.owner_user_id == user.id).limit(1)) is not None


def get_meeting_or_404(user, meeting_id):
    """A meeting in the user's grids; another grid's is a 404."""
    return get_scoped_or_404(user, Meeting, meeting_id)


def get_decision_or_404(meeting, decision_id):
    return get_child_or_404(MeetingDecision, decision_id, "meeting_id", meeting.id)


def decision_to_case(user, decision):
    """Hand a decision to the case workflow (once): a case at the meeting's grid, 待受理."""
    db.session.refresh(decision, with_for_update=True)  # a second tap at the same moment waits (see problem_to_case)
    if decision.case_id:
        raise ServiceError("这条议定事项已经转为事件。")
    meeting = decision.meeting
    text = decision.text.strip()
    case = cases.create_case(user, meeting.grid, cases.CaseData(
        title=text.splitlines()[0][:100],
        description=f"{text}\n{meeting.kind.name}（{meeting.held_on:%Y-%m-%d}）议定。",
        category_id=cases.public_category().id), source="meeting", source_ref=f"meeting:{meeting.id}")
    decision.case_id = case.id
    db.session.flush()
    fu = decision.follow_up
    if fu is not None:
        # The meeting already said who does it by when: the case is accepted and assigned so.
        cases.perform(user, case, "accept", case.version, note=f"{meeting.kind.name}议定")
        owner_ok = fu.owner_user_id is not None and fu.owner_user_id in {u.id for u in cases.assignee_choices(case)}
        deadline = fu.deadline if fu.deadline >= local_today() else None
        if owner_ok:
            cases.perform(user, case, "assign", case.version, assignee_id=fu.owner_user_id, deadline=deadline,
                          note=f"例会议定：{fu.owner_name}负责，{fu.deadline:%Y-%m-%d}前落实")
    return case


def decision_cases(meeting):
    """{case id: case} of the meeting's decisions handed to the case workflow (one query)."""
    ids = [d.case_id for d in meeting.decisions if d.case_id]
    return {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))} if ids else {}
