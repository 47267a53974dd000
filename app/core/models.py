"""Models that belong to no single area: settings and the audit log."""
import time

from flask import current_app, g
from sqlalchemy import event
from sqlalchemy.orm import declared_attr

from ..extensions import db
from .timeutil import utcnow


class Setting(db.Model):
    """A key/value setting of this installation (its name, set-up state …)."""

    __tablename__ = "setting"
    key = db.Column(db.String(64), primary_key=True)
    value = db.Column(db.Text, nullable=False, default="")

    @classmethod
    def get(cls, key, default=None):
        """Value of a setting, or default (a plain column read: every page asks for two)."""
        value = db.session.execute(db.select(cls.value).where(cls.key == key)).scalar()
        return default if value is None else value

    @classmethod
    def put(cls, key, value):
        """Create or change a setting (in the current transaction)."""
        row = db.session.get(cls, key)
        if row is None:
            row = cls(key=key, value=value)
            db.session.add(row)
        else:
            row.value = value
        forget_installation()
        return row


# Every page shows the installation's name and checks that set-up is done. Once set up,
# both are kept in the process for this many seconds (another worker process picks up
# a change within that time); before set-up nothing is kept, so the set-up page is exact.
INSTALLATION_TTL = 30.0
_NOT_SET_UP = (False, "村网格")


def installation():
    """(set-up done, installation name), read once per request and at most every INSTALLATION_TTL seconds."""
    if "_installation" in g:
        return g._installation
    cache = current_app.extensions.setdefault("vg_installation", {})
    now = time.monotonic()
    if cache.get("until", 0.0) > now:
        value = cache["value"]
    else:
        rows = dict(db.session.execute(db.select(Setting.key, Setting.value)
                                       .where(Setting.key.in_(("setup_done", "org_name")))).all())
        value = (True, rows.get("org_name") or "村网格") if rows.get("setup_done") == "1" else _NOT_SET_UP
        if value[0]:
            cache.update(value=value, until=now + INSTALLATION_TTL)
    g._installation = value
    return value


def forget_installation(app=None):
    """Read the set-up state and name afresh next time (after a change, a restore, a test's reset)."""
    (app or current_app).extensions.pop("vg_installation", None)
    if app is None:
        g.pop("_installation", None)


class AppendOnly:
    """Rows of this table are only ever inserted: an update or delete through the ORM raises.

    For the audit log, timelines (case and hazard steps) and the photos attached to them.
    """


class StepEvent(AppendOnly):
    """One step of a workflow record's timeline (core/workflow.py writes it): when, who, which action,
    the state it led to and the note. The area's table adds the record it belongs to."""

    at = db.Column(db.DateTime, nullable=False, default=utcnow)
    actor_name = db.Column(db.String(80), nullable=False, default="")
    action = db.Column(db.String(30), nullable=False)
    to_state = db.Column(db.String(20), nullable=False, default="")
    note = db.Column(db.Text, nullable=False, default="")

    @declared_attr
    def actor_id(cls):
        return db.Column(db.Integer, db.ForeignKey("user.id"), index=True)


@event.listens_for(AppendOnly, "before_update", propagate=True)
@event.listens_for(AppendOnly, "before_delete", propagate=True)
def _append_only(_mapper, _conn, target):
    raise RuntimeError(f"{target.__tablename__} rows cannot be changed (append-only)")


class AuditLog(AppendOnly, db.Model):
    """One audited event. Rows are only ever inserted."""

    __tablename__ = "audit_log"
    id = db.Column(db.Integer, primary_key=True)
    at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    actor_id = db.Column(db.Integer, index=True)
    actor_name = db.Column(db.String(80), nullable=False, default="")
    action = db.Column(db.String(40), nullable=False, index=True)
    entity = db.Column(db.String(40), nullable=False, default="", index=True)
    entity_id = db.Column(db.String(40), nullable=False, default="")
    summary = db.Column(db.Text, nullable=False, default="")
    ip = db.Column(db.String(64), nullable=False, default="")



class ScheduleRun(db.Model):
    """One run of a schedule (app/core/schedules.py) for one period (a local date). The unique
    (name, period) pair is the lock: the process whose row goes in first runs it, others skip."""

    __tablename__ = "schedule_run"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(40), nullable=False)
    period = db.Column(db.String(10), nullable=False)  # ISO date of the due day
    status = db.Column(db.String(10), nullable=False)  # running / ok / failed
    started_at = db.Column(db.DateTime, nullable=False)
    finished_at = db.Column(db.DateTime)
    result = db.Column(db.Text, nullable=False, default="")
    runner = db.Column(db.String(80), nullable=False, default="")  # host and process id
    attempts = db.Column(db.Integer, nullable=False, default=1)
    __table_args__ = (
        db.UniqueConstraint("name", "period", name="uq_schedule_run_name_period"),
        db.Index("ix_schedule_run_name_started_at", "name", "started_at"),
    )
