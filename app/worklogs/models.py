"""A worker's daily log, the leader's weekly check, and amendments to checked logs."""
from ..core.timeutil import utcnow
from ..extensions import db


class WorkLog(db.Model):
    """One worker's log of one day (the day's visits are shown beside it, not copied)."""

    __tablename__ = "work_log"
    __audit__ = True
    __audit_exclude__ = ("created_at", "updated_at")
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    log_date = db.Column(db.Date, nullable=False)
    content = db.Column(db.Text, nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    user = db.relationship("User")
    amendments = db.relationship("WorkLogAmendment", back_populates="log", order_by="WorkLogAmendment.id")

    __table_args__ = (db.UniqueConstraint("user_id", "log_date", name="uq_work_log_user_day"),)

    @property
    def audit_label(self):
        return f"{self.user.full_name if self.user else ''} {self.log_date:%Y-%m-%d} 工作日志"


class WorkLogAmendment(db.Model):
    """A correction added after the week was checked; the original text stays."""

    __tablename__ = "work_log_amendment"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    log_id = db.Column(db.Integer, db.ForeignKey("work_log.id"), nullable=False, index=True)
    content = db.Column(db.Text, nullable=False)
    author_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    log = db.relationship(WorkLog, back_populates="amendments")
    author = db.relationship("User")

    @property
    def audit_label(self):
        return f"补充说明 {self.log.log_date:%Y-%m-%d}" if self.log else "补充说明"


class WeekCheck(db.Model):
    """周查: a leader marks a worker's week (Monday to Sunday) as checked."""

    __tablename__ = "week_check"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    week_start = db.Column(db.Date, nullable=False)  # a Monday
    checker_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    checked_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    comment = db.Column(db.Text, nullable=False, default="")

    user = db.relationship("User", foreign_keys=[user_id])
    checker = db.relationship("User", foreign_keys=[checker_id])

    __table_args__ = (db.UniqueConstraint("user_id", "week_start", name="uq_week_check_user_week"),)

    @property
    def audit_label(self):
        return f"{self.user.full_name if self.user else ''} {self.week_start:%Y-%m-%d} 周查"
