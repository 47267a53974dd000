"""Schedules run inside the server, so an install needs no cron.

A schedule is due once a day (or once a working day) at a local time; its *period* is the local
date of the latest due moment. Every minute the runner asks, for each schedule, whether the
current period has a ``schedule_run`` row; if not, it inserts one (status ``running``) and
commits. That row is the lock: the unique (name, period) pair lets exactly one process win
however many workers serve (gunicorn on PostgreSQL, several waitress processes on one SQLite
file); the others get an IntegrityError and skip. The work and the row's result (``ok`` or
``failed`` with the message) are committed together, and each run writes an audit row.

After downtime only the latest period is run (a backup or a 催办 round for today, not one for
every day the server was off). A ``failed`` run is tried again an hour later; a ``running`` row
left by a process that died is taken over after STALE_AFTER.

Areas do not import this module's callers: the shell registers the schedules (app/admin/jobs.py)
and starts the runner from ``flask serve`` or, under another WSGI server, with the first request.
``SCHEDULES_ENABLED = False`` (``VG_SCHEDULES_ENABLED=0``) leaves the runner off, for operators who
run ``flask schedules run`` from cron instead.
"""
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Callable

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from . import audit
from .models import AuditLog, ScheduleRun
from .timeutil import fmt_local, to_local, utcnow
from .workdays import is_workday

log = logging.getLogger(__name__)

TICK_SECONDS = 60
STALE_AFTER = timedelta(hours=2)  # a "running" row this old belongs to a process that died
RETRY_AFTER = timedelta(hours=1)  # a failed run is tried again after this long
LATE_AFTER = timedelta(days=2)  # `flask check` warns when a schedule's last success is older
ACTOR = "系统（定时任务）"
STATUS_LABELS = {"running": "运行中", "ok": "成功", "failed": "失败"}
NEVER = "尚未运行"


@dataclass(frozen=True)
class Schedule:
    """``run(now)`` does the work inside an app context and returns a one-line Chinese result; the
    runner commits it. ``now`` is naive UTC (the runner's clock, frozen in tests)."""

    name: str
    label: str
    at: time  # local (Asia/Shanghai) time of day it is due
    run: Callable[[datetime], str]
    workdays_only: bool = False

    @property
    def when(self):
        return ("每个工作日 " if self.workdays_only else "每天 ") + self.at.strftime("%H:%M")


@dataclass(frozen=True)
class Done:
    """What one run did (plain values: they outlive the session)."""

    name: str
    period: str
    status: str
    result: str


def register(app, schedule):
    """Add a schedule to the app (at start-up)."""
    app.extensions.setdefault("vg_schedules", {})[schedule.name] = schedule


def registered(app):
    return list(app.extensions.get("vg_schedules", {}).values())


def period_of(schedule, now):
    """The local date of the latest due moment at or before ``now`` (naive UTC)."""
    local = to_local(now)
    day = local.date()
    if local.time().replace(tzinfo=None) < schedule.at:
        day -= timedelta(days=1)
    if schedule.workdays_only:
        for _ in range(60):  # the longest holiday is well under this
            if is_workday(day):
                break
            day -= timedelta(days=1)
    return day


def _runner_name():
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


def _claim(schedule, period, now):
    """The id of the ScheduleRun row this process now owns for the period, or None when another has it.

    Nothing is left open after it: on SQLite an open transaction would hold the write lock (BEGIN
    IMMEDIATE) while a backup is copied, and every saving user would wait."""
    key = period.isoformat()
    row = ScheduleRun(name=schedule.name, period=key, status="running", started_at=now, runner=_runner_name())
    try:
        db.session.add(row)
        db.session.flush()
        row_id = row.id
        db.session.commit()
        return row_id
    except IntegrityError:
        db.session.rollback()
    # Someone has the period: take it over only when that run failed an hour ago, or died.
    taken = db.session.execute(
        update(ScheduleRun)
        .where(ScheduleRun.name == schedule.name, ScheduleRun.period == key,
               or_(and_(ScheduleRun.status == "failed", ScheduleRun.finished_at < now - RETRY_AFTER),
                   and_(ScheduleRun.status == "running", ScheduleRun.started_at < now - STALE_AFTER)))
        .values(status="running", started_at=now, finished_at=None, runner=_runner_name(),
                attempts=ScheduleRun.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount
    row_id = db.session.scalar(select(ScheduleRun.id).where(ScheduleRun.name == schedule.name, ScheduleRun.period == key))
    db.session.commit()
    return row_id if taken == 1 else None


def _finish(row_id, schedule, period, status, result, finished_at):
    row = db.session.get(ScheduleRun, row_id)
    row.status, row.result, row.finished_at = status, result, finished_at
    word = "完成" if status == "ok" else "失败"
    audit.record("schedule_run", "schedule", schedule.name, f"定时任务“{schedule.label}”（{period}）{word}：{result}")
    db.session.commit()


def run_one(schedule, now):
    """Run ``schedule`` for its current period unless another run has it; a Done, or None when skipped."""
    period = period_of(schedule, now)
    row_id = _claim(schedule, period, now)
    if row_id is None:
        return None
    began = monotonic()  # the finish time is the runner's clock plus the time taken (frozen in tests)
    with audit.acting_as(ACTOR):
        try:
            result = schedule.run(now) or "完成"
        except Exception as exc:  # recorded and retried; the runner must go on with the others
            db.session.rollback()
            log.exception("schedule %s failed", schedule.name)
            status, result = "failed", str(exc) or exc.__class__.__name__
        else:
            status = "ok"
        result = result[:2000]
        _finish(row_id, schedule, period, status, result, now + timedelta(seconds=monotonic() - began))
    return Done(schedule.name, period.isoformat(), status, result)


def run_due(app, now=None, names=None):
    """Run every registered schedule (or those named) whose current period has no run yet; a Done for each run."""
    done = []
    with app.app_context():
        for schedule in registered(app):
            if names and schedule.name not in names:
                continue
            try:
                row = run_one(schedule, now or utcnow())
            except Exception:  # the database away for a moment: try again at the next tick
                db.session.rollback()
                log.exception("schedule %s could not be started", schedule.name)
                continue
            if row is not None:
                done.append(row)
        db.session.remove()
    return done


class Runner:
    """A daemon thread that runs the due schedules at start (catch-up) and then every minute."""

    def __init__(self, app, every=TICK_SECONDS):
        self.app = app
        self.every = every
        self.stopped = threading.Event()
        self.next_at = utcnow()  # the next tick (naive UTC): the first one at start
        self.thread = threading.Thread(target=self._loop, name="villagegrid-schedules", daemon=True)

    def _loop(self):
        while not self.stopped.is_set():
            try:
                run_due(self.app)
            except Exception:
                log.exception("schedules: tick failed")
            self.next_at = utcnow() + timedelta(seconds=self.every)
            self.stopped.wait(self.every)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()


def start(app):
    """Start the runner once per process, unless switched off (``SCHEDULES_ENABLED``) or testing."""
    if not app.config.get("SCHEDULES_ENABLED") or app.testing:
        return None
    with _START_LOCK:
        runner = app.extensions.get("vg_schedule_runner")
        if runner is None:
            runner = app.extensions["vg_schedule_runner"] = Runner(app).start()
            app.logger.info("定时任务已启动：%s", "、".join(s.label for s in registered(app)))
    return runner


_START_LOCK = threading.Lock()


def start_with_first_request(app):
    """For a WSGI server that imports ``wsgi:app`` (gunicorn): start the runner in each worker process
    when it serves its first request (a fork must not inherit a thread; CLI commands never start it)."""

    def _start_once():
        if "vg_schedule_runner" not in app.extensions:
            start(app)

    # First among the hooks: the login check ends many requests with a redirect before later hooks run.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_once)


# What the admin page and `flask check` show

def first_run(app):
    """When a schedule that has never run will first run, in words; None when only cron runs them.

    The runner runs every schedule's latest period as soon as it starts (catch-up), then each as it
    falls due: in the serving process that is its next tick; under gunicorn the runner of another
    worker starts with that worker's first request."""
    runner = app.extensions.get("vg_schedule_runner")
    if runner is not None and runner.thread.is_alive():
        return fmt_local(max(runner.next_at, utcnow()))
    if app.config.get("SCHEDULES_ENABLED"):
        return "服务启动后一分钟内"
    return None


def overview(app, now=None):
    """Each schedule with its last run and last success, for the admin page and `flask check`."""
    now = now or utcnow()
    out = []
    # Before an installation's first two days nothing can be late (its first activity: the set-up).
    since = db.session.scalar(select(func.min(AuditLog.at)))
    young = since is None or since > now - LATE_AFTER
    for schedule in registered(app):
        last = db.session.scalar(select(ScheduleRun).where(ScheduleRun.name == schedule.name)
                                 .order_by(ScheduleRun.started_at.desc(), ScheduleRun.id.desc()).limit(1))
        last_ok = db.session.scalar(select(ScheduleRun).where(ScheduleRun.name == schedule.name, ScheduleRun.status == "ok")
                                    .order_by(ScheduleRun.started_at.desc(), ScheduleRun.id.desc()).limit(1))
        # Late: no success for the period that was due two days ago (working days for 催办).
        due_then = period_of(schedule, now - LATE_AFTER).isoformat()
        late = (not young) if last is None else (last_ok is None or last_ok.period < due_then)
        out.append({"schedule": schedule, "last": last, "last_ok": last_ok, "late": late,
                    "status": STATUS_LABELS.get(last.status, last.status) if last else NEVER})
    return out


def late_warnings(app, now=None):
    """Chinese warnings for schedules without a success in two days (none when nothing is late)."""
    warnings = []
    for item in overview(app, now):
        if item["late"]:
            ok = item["last_ok"]
            since = f"上次成功是 {fmt_local(ok.finished_at or ok.started_at)}" if ok else "从未成功运行"
            warnings.append(f"警告：定时任务“{item['schedule'].label}”已超过两天没有成功运行（{since}）")
    return warnings
