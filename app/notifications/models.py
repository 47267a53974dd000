"""The in-app message."""
from ..core.timeutil import utcnow
from ..extensions import db


class Notification(db.Model):
    """An in-app message to one user about a case, or (``url``) about another page of the app."""

    __tablename__ = "notification"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False)
    case_id = db.Column(db.Integer, db.ForeignKey("cases.id"), index=True)
    url = db.Column(db.String(200))  # an app path, e.g. a worker's month of logs after 周查
    kind = db.Column(db.String(20), nullable=False)
    text = db.Column(db.String(300), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    read_at = db.Column(db.DateTime)

    case = db.relationship("Case")

    __table_args__ = (db.Index("ix_notification_user_unread", "user_id", "read_at"),)
