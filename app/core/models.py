"""Models that belong to no single area: settings and the audit log."""
from sqlalchemy import event

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
        return row


class AuditLog(db.Model):
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


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _audit_is_append_only(_mapper, _conn, _target):
    raise RuntimeError("audit log rows cannot be changed")
