"""Work logs: save a day's log, weekly checks by a leader, amendments, who has not filled in."""
import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from flask import abort
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from ..accounts.models import User, role_rank
from ..accounts.permissions import can, roles_with
from ..cases.models import CaseEvent
from ..core.db import add_unique
from ..core.forms import ServiceError
from ..core.timeutil import LOCAL_TZ, local_today, to_local, utcnow
from ..core.workdays import workdays_in
from ..extensions import db
from ..grids.scope import can_see_grid
from ..households.contacts import workers_of
from ..households.models import Household
from ..notifications.service import notify
from ..patrols.models import Patrol
from ..visits.models import Visit
from ..visits.service import edit_lock, week_bounds
from .models import WeekCheck, WorkLog, WorkLogAmendment

LOG_ROLES = roles_with("keep_worklog")  # who keeps a daily work log (the permissions table)


# Who may see and check whose logs

def may_view(user, worker):
    """The worker themself, or someone who checks logs and sees one of the worker's grids."""
    if user.id == worker.id:
        return True
    if not can(user, "check_worklogs") and not can(user, "oversee_visits"):
        return False
    if user.is_admin:
        return True
    return role_rank(user.role) > role_rank(worker.role) and any(can_see_grid(user, g) for g in worker.grids)


def may_check(user, worker):
    return user.id != worker.id and can(user, "check_worklogs") and may_view(user, worker)


def get_worker_or_404(user, worker_id):
    worker = db.session.get(User, worker_id)
    if worker is None or not may_view(user, worker):
        abort(404)
    return worker


# Logs

def week_check_for(worker_id, day):
    monday, _ = week_bounds(day)
    return db.session.scalar(select(WeekCheck).where(WeekCheck.user_id == worker_id, WeekCheck.week_start == monday))


def get_log(worker_id, day):
    return db.session.scalar(select(WorkLog).where(WorkLog.user_id == worker_id, WorkLog.log_date == day)
                             .options(selectinload(WorkLog.amendments)))


def save_log(user, day, content, today=None):
    """Write or rewrite the user's own log of ``day`` (not in the future, not once the week is checked)."""
    today = today or local_today()
    if day > today:
        raise ServiceError("不能填写今天以后的工作日志。")
    check = week_check_for(user.id, day)
    if check is not None:
        raise ServiceError(f"这一周的日志已由{check.checker.full_name}于{check.checked_at:%Y-%m-%d}检查，不能再修改；"
                           "如需更正，请添加补充说明。")
    content = (content or "").strip()
    log = get_log(user.id, day)
    made = False
    if log is None:
        log, made = add_unique(WorkLog(user_id=user.id, log_date=day, content=content), lambda: get_log(user.id, day))
    if not made:  # rewritten, or saved a moment ago by the same user's other request: the later text stays
        log.content = content
        log.updated_at = utcnow()
    db.session.flush()
    return log


def amend(user, day, content):
    """Add a correction to a checked log; the original text stays as it was."""
    content = (content or "").strip()
    if not content:
        raise ServiceError("请填写补充说明的内容。", "content")
    if week_check_for(user.id, day) is None:
        raise ServiceError("这一周还没有检查，可以直接修改日志，不需要补充说明。")
    log = get_log(user.id, day)
    if log is None:
        log, _ = add_unique(WorkLog(user_id=user.id, log_date=day, content=""), lambda: get_log(user.id, day))
    a = WorkLogAmendment(log_id=log.id, content=content, author_id=user.id)
    db.session.add(a)
    db.session.flush()
    return a


def check_week(checker, worker, monday, comment, today=None):
    """周查: mark the worker's week as checked; its logs are then closed to edits."""
    today = today or local_today()
    if monday.weekday() != 0:
        raise ServiceError("周查以周一为一周的开始。")
    if monday > today:
        raise ServiceError("这一周还没有开始，不能检查。")
    if not may_check(checker, worker):
        raise ServiceError("您不能检查这位网格员的日志。")
    if week_check_for(worker.id, monday) is not None:
        raise ServiceError("这一周已经检查过了。")
    c, made = add_unique(WeekCheck(user_id=worker.id, week_start=monday, checker_id=checker.id,
                                   comment=(comment or "").strip()), lambda: week_check_for(worker.id, monday))
    if not made:  # another leader's check of the same week committed while this one waited
        raise ServiceError(f"这一周已由{c.checker.full_name}检查过了。")
    # The worker's month of logs (worklogs.month); built by hand, as this also runs outside requests.
    notify(worker.id, None, "week_check",
           f"{checker.full_name}已检查您 {monday.month}月{monday.day}日起一周的工作日志" + (f"：{c.comment}" if c.comment else "。"),
           url=f"/worklogs/users/{worker.id}/month/{monday:%Y-%m}")
    return c


# A month of logs

@dataclass
class Day:
    date: date
    workday: bool
    log: WorkLog = None
    visits: list = field(default_factory=list)
    case_events: list = field(default_factory=list)  # the worker's steps on cases that day
    patrols: list = field(default_factory=list)

    @property
    def filled(self):
        return self.log is not None


@dataclass
class Week:
    monday: date
    days: list
    check: WeekCheck = None


def parse_month(text):
    """'2026-11' → date(2026, 11, 1), or None."""
    try:
        y, m = (int(x) for x in (text or "").split("-"))
        return date(y, m, 1)
    except ValueError:
        return None


def month_days(worker, first, today=None):
    """Every day of the month up to today: its log, its visits, whether it is a working day."""
    today = today or local_today()
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    end = min(last, today)
    logs = {l.log_date: l for l in db.session.scalars(
        select(WorkLog).where(WorkLog.user_id == worker.id, WorkLog.log_date.between(first, last))
        .options(selectinload(WorkLog.amendments).joinedload(WorkLogAmendment.author)))}
    visits = {}
    for v in db.session.scalars(select(Visit).where(Visit.user_id == worker.id, Visit.visited_on.between(first, last))
                                .options(joinedload(Visit.household).joinedload(Household.head),
                                         selectinload(Visit.problems)).order_by(Visit.visited_at, Visit.id)):
        visits.setdefault(v.visited_on, []).append(v)
    events, patrols = _activity(worker, first, last)
    workdays = set(workdays_in(first, end))
    days = []
    d = first
    while d <= end:
        days.append(Day(d, d in workdays, logs.get(d), visits.get(d, []), events.get(d, []), patrols.get(d, [])))
        d += timedelta(days=1)
    return days


def _utc_bounds(first, last):
    """The UTC instants where local day ``first`` begins and local day ``last`` ends."""
    start = datetime.combine(first, time.min, LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
    end = datetime.combine(last + timedelta(days=1), time.min, LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
    return start, end


def _activity(worker, first, last):
    """The worker's case steps and patrols between two local days, each by local day."""
    start, end = _utc_bounds(first, last)
    events, patrols = {}, {}
    for e in db.session.scalars(select(CaseEvent).where(CaseEvent.actor_id == worker.id, CaseEvent.at >= start,
                                                        CaseEvent.at < end)
                                .options(joinedload(CaseEvent.case)).order_by(CaseEvent.at, CaseEvent.id)):
        events.setdefault(to_local(e.at).date(), []).append(e)
    for p in db.session.scalars(select(Patrol).where(Patrol.patrolled_by_id == worker.id, Patrol.patrolled_at >= start,
                                                     Patrol.patrolled_at < end)
                                .options(joinedload(Patrol.grid)).order_by(Patrol.patrolled_at, Patrol.id)):
        patrols.setdefault(to_local(p.patrolled_at).date(), []).append(p)
    return events, patrols


def day_activity(worker, day):
    """(case steps, patrols) of one day, for the day's log page."""
    events, patrols = _activity(worker, day, day)
    return events.get(day, []), patrols.get(day, [])


def month_weeks(worker, days):
    """The days grouped by week (Monday first) with each week's check."""
    if not days:
        return []
    mondays = sorted({week_bounds(d.date)[0] for d in days})
    checks = {c.week_start: c for c in db.session.scalars(
        select(WeekCheck).where(WeekCheck.user_id == worker.id, WeekCheck.week_start.in_(mondays))
        .options(joinedload(WeekCheck.checker)))}
    return [Week(m, [d for d in days if week_bounds(d.date)[0] == m], checks.get(m)) for m in mondays]


# Who has not filled in

@dataclass
class Missing:
    user: User
    days: list  # working days without a log
    checked: bool
    logged: set = field(default_factory=set)  # days of the range with a log (weekends and today too)
    visits: dict = field(default_factory=dict)  # day -> visits recorded that day


def missing_logs(workers, start, end, today=None):
    """For each worker, the working days in [start, end] (before today) with no log, and every day of the
    range that has a log or visits — a Sunday or today's log counts and is shown like any other."""
    today = today or local_today()
    last = min(end, today - timedelta(days=1))
    workdays = workdays_in(start, last)
    ids = [w.id for w in workers]
    filled, visits = {}, {}
    if ids:
        for uid, day in db.session.execute(select(WorkLog.user_id, WorkLog.log_date).where(
                WorkLog.user_id.in_(ids), WorkLog.log_date.between(start, end))):
            filled.setdefault(uid, set()).add(day)
        for uid, day, n in db.session.execute(
                select(Visit.user_id, Visit.visited_on, func.count(Visit.id))
                .where(Visit.user_id.in_(ids), Visit.visited_on.between(start, end))
                .group_by(Visit.user_id, Visit.visited_on)):
            visits.setdefault(uid, {})[day] = n
    monday, _ = week_bounds(start)
    checked = set(db.session.scalars(select(WeekCheck.user_id).where(WeekCheck.user_id.in_(ids),
                                                                     WeekCheck.week_start == monday))) if ids else set()
    return [Missing(w, [d for d in workdays if d not in filled.get(w.id, set())], w.id in checked,
                    filled.get(w.id, set()), visits.get(w.id, {})) for w in workers]


def team_members(grid):
    """Workers and grid leaders serving in the grid's subtree (whose logs a leader checks)."""
    return [w.user for w in workers_of(grid) if w.user.role in LOG_ROLES and not w.user.is_disabled]


@edit_lock
def checked_week_locks_visits(user_id, day):
    """Once a leader checked the week's work (周查), its visits stay as checked: a correction goes
    into the day's work log as an amendment."""
    monday, _ = week_bounds(day)
    check = db.session.scalar(select(WeekCheck).where(WeekCheck.user_id == user_id, WeekCheck.week_start == monday))
    if check is None:
        return None
    return (f"{day.month}月{day.day}日所在这一周的工作已由{check.checker.full_name}检查，走访记录不能再修改；"
            "如需更正，请在当天的工作日志里补充说明。")
