"""Working days (工作日) and time limits.

The official calendar comes from ``chinese_calendar`` (statutory holidays and
the 调休 weekend days that become working days). The library knows the years
published when it was released; for later years, and for local corrections,
the admin keeps a table of days (:class:`CalendarDay`) that overrides or
extends it: a row says "this date is a working day" or "this date is a
holiday". A year the library does not know and the table does not cover falls
back to Monday–Friday, and :func:`year_is_known` tells the admin page to warn.

Deadlines are stored as naive UTC datetimes. A limit in working days ends at
the end of the Nth working day after the start (local time); a limit in hours
is plain clock hours (emergencies do not wait for Monday).
"""
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar
from chinese_calendar import constants
from sqlalchemy import select

from ..extensions import db
from .timeutil import LOCAL_TZ, to_local, utcnow

# Yellow when less than this share of the step's time is left (or less than WARN_MIN).
WARN_SHARE = 0.25
WARN_MIN = timedelta(hours=4)
DEADLINE_LABELS = {"ok": "按期", "warn": "即将到期", "late": "已超期"}


class CalendarDay(db.Model):
    """An admin's entry for one date: a working day or a day off, overriding the library."""

    __tablename__ = "calendar_day"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    day = db.Column(db.Date, nullable=False, unique=True)
    is_workday = db.Column(db.Boolean, nullable=False)
    name = db.Column(db.String(40), nullable=False, default="")

    @property
    def audit_label(self):
        return f"{self.day.isoformat()} {'上班' if self.is_workday else '休息'} {self.name}".strip()


def library_years():
    """The years ``chinese_calendar`` has official data for."""
    return range(min(constants.holidays).year, max(constants.holidays).year + 1)


def year_is_known(year):
    """Whether the library or the admin table says anything about this year's holidays."""
    if year in library_years():
        return True
    start, end = date(year, 1, 1), date(year, 12, 31)
    return db.session.scalar(select(CalendarDay.id).where(CalendarDay.day.between(start, end)).limit(1)) is not None


def _overrides(start, end):
    rows = db.session.execute(select(CalendarDay.day, CalendarDay.is_workday).where(CalendarDay.day.between(start, end)))
    return {d: w for d, w in rows}


def _library_is_workday(day):
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def is_workday(day, overrides=None):
    """Whether ``day`` is a working day: the admin table first, then the library, then Mon–Fri."""
    if overrides is None:
        overrides = _overrides(day, day)
    if day in overrides:
        return overrides[day]
    return _library_is_workday(day)


def add_workdays(start, n):
    """The date of the ``n``-th working day after ``start`` (``start`` itself is not counted).

    ``add_workdays(d, 0)`` is ``d`` if it is a working day, else the next one.
    """
    # Long holidays (Spring Festival, National Day) are at most ~9 days; a generous window
    # lets one query fetch every override the walk can meet.
    overrides = _overrides(start, start + timedelta(days=n * 3 + 30))
    day = start
    if n == 0:
        while not is_workday(day, overrides):
            day += timedelta(days=1)
        return day
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if is_workday(day, overrides):
            counted += 1
    return day


def workdays_between(start, end):
    """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
    overrides = _overrides(start, end)
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_workday(day, overrides)
    return count


def workdays_in(start, end):
    """The working days from ``start`` to ``end``, both included, in order (one query for the overrides)."""
    if end < start:
        return []
    overrides = _overrides(start, end)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)
            if is_workday(start + timedelta(days=i), overrides)]


def end_of_local_day(day):
    """23:59:59 in China of ``day``, as naive UTC (how deadlines are stored)."""
    local = datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL_TZ)
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def workday_deadline(n, start=None):
    """The deadline ``n`` working days after ``start`` (naive UTC; default now)."""
    start = start or utcnow()
    return end_of_local_day(add_workdays(to_local(start).date(), n))


def hour_deadline(hours, start=None):
    """The deadline ``hours`` clock hours after ``start`` (naive UTC; default now)."""
    return (start or utcnow()) + timedelta(hours=hours)


def warn_time(start, deadline):
    """When a step turns yellow: the last quarter of its time, or its last 4 hours if longer."""
    if deadline is None:
        return None
    span = deadline - start if start is not None and start < deadline else timedelta(0)
    return deadline - max(WARN_MIN, span * WARN_SHARE)


def deadline_state(start, deadline, now=None):
    """'ok', 'warn' (yellow, from warn_time) or 'late' (red, after the deadline)."""
    if deadline is None:
        return "ok"
    now = now or utcnow()
    if now > deadline:
        return "late"
    return "warn" if now >= warn_time(start, deadline) else "ok"
