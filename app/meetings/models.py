"""Meeting models: kinds with a cadence, meetings with attendance, decisions and their follow-ups."""
from ..core.timeutil import utcnow
from ..extensions import db

ATTENDANCE = {"present": "出席", "absent": "缺席", "leave": "请假", "unknown": "未登记"}
MEETING_STATUS = {"planned": "已计划", "held": "已召开"}
FOLLOW_UP_STATUS = {"open": "办理中", "done": "已办结"}
# How often a kind of meeting is due, in months (0: only when needed).
CADENCES = {1: "每月", 3: "每季度", 6: "每半年", 12: "每年", 0: "不定期"}


class MeetingKind(db.Model):
    """A kind of meeting (网格季度例会, 三级例会 …): who attends, how often, at which grid level.

    The defaults (``grid_id`` empty) serve everyone; a village adds its own
    kinds, visible in its subtree only.
    """

    __tablename__ = "meeting_kind"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    key = db.Column(db.String(40), unique=True)
    name = db.Column(db.String(60), nullable=False)
    cadence_months = db.Column(db.Integer, nullable=False, default=0)
    # The grid level (GridLevel.key) whose grids hold it; empty: any grid.
    level_key = db.Column(db.String(32), nullable=False, default="")
    attendees = db.Column(db.String(200), nullable=False, default="")
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), index=True)

    grid = db.relationship("Grid")

    @property
    def audit_label(self):
        return self.name

    @property
    def cadence_name(self):
        return CADENCES.get(self.cadence_months, f"每 {self.cadence_months} 个月")


class Meeting(db.Model):
    """One meeting of a grid: planned first (sign-in sheet), then its minutes are recorded."""

    __tablename__ = "meeting"
    __audit__ = True
    __audit_exclude__ = ("created_at",)
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False)  # indexed with held_on
    kind_id = db.Column(db.Integer, db.ForeignKey("meeting_kind.id"), nullable=False, index=True)
    status = db.Column(db.String(20), nullable=False, default="planned")
    held_on = db.Column(db.Date, nullable=False)
    start_time = db.Column(db.String(5), nullable=False, default="")  # HH:MM, local
    place = db.Column(db.String(100), nullable=False, default="")
    host = db.Column(db.String(40), nullable=False, default="")
    recorder = db.Column(db.String(40), nullable=False, default="")
    agenda = db.Column(db.Text, nullable=False, default="")
    guests = db.Column(db.String(200), nullable=False, default="")  # 列席 (not on the grid's staff)
    reports = db.Column(db.Text, nullable=False, default="")  # what was reported
    problems = db.Column(db.Text, nullable=False, default="")  # problems discussed
    # A problem the meeting cannot solve goes up one level (逐级上报).
    escalation = db.Column(db.Text, nullable=False, default="")
    escalated_to_id = db.Column(db.Integer, db.ForeignKey("grid.id"), index=True)
    created_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    minutes_at = db.Column(db.DateTime)

    grid = db.relationship("Grid", foreign_keys=[grid_id])
    escalated_to = db.relationship("Grid", foreign_keys=[escalated_to_id])
    kind = db.relationship(MeetingKind)
    attendees = db.relationship("MeetingAttendee", back_populates="meeting", order_by="MeetingAttendee.id",
                                cascade="all, delete-orphan")
    decisions = db.relationship("MeetingDecision", back_populates="meeting", order_by="MeetingDecision.seq",
                                cascade="all, delete-orphan")

    __table_args__ = (db.Index("ix_meeting_grid_held", "grid_id", "held_on"),)

    @property
    def audit_label(self):
        return f"{self.held_on:%Y-%m-%d} {self.kind.name if self.kind else ''}"

    @property
    def status_name(self):
        return MEETING_STATUS.get(self.status, self.status)

    def count(self, status):
        return sum(1 for a in self.attendees if a.status == status)


class MeetingAttendee(db.Model):
    """A person expected at a meeting, drawn from the grid's staff or added from the village's ledger,
    with their attendance."""

    __tablename__ = "meeting_attendee"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    meeting_id = db.Column(db.Integer, db.ForeignKey("meeting.id", ondelete="CASCADE"), nullable=False, index=True)
    staff_id = db.Column(db.Integer, db.ForeignKey("grid_staff.id", ondelete="SET NULL"))
    # A person registered in the village added by hand (村民代表, 党员 …), when not from the staff.
    resident_id = db.Column(db.Integer, db.ForeignKey("resident.id", ondelete="SET NULL"))
    # Copied when planned: the minutes keep who was expected even if staff change later.
    name = db.Column(db.String(40), nullable=False)
    role = db.Column(db.String(60), nullable=False, default="")
    phone = db.Column(db.String(20), nullable=False, default="")
    status = db.Column(db.String(20), nullable=False, default="unknown")

    meeting = db.relationship(Meeting, back_populates="attendees")

    @property
    def audit_label(self):
        return f"{self.name} {ATTENDANCE.get(self.status, self.status)}"

    @property
    def status_name(self):
        return ATTENDANCE.get(self.status, self.status)


class MeetingDecision(db.Model):
    """A decision of a meeting (议定事项); it may become a follow-up with an owner and a deadline."""

    __tablename__ = "meeting_decision"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    meeting_id = db.Column(db.Integer, db.ForeignKey("meeting.id", ondelete="CASCADE"), nullable=False, index=True)
    seq = db.Column(db.Integer, nullable=False, default=1)
    text = db.Column(db.Text, nullable=False)
    # Set when the decision is handed to the case workflow (the cases area owns that table).
    case_id = db.Column(db.Integer, index=True)

    meeting = db.relationship(Meeting, back_populates="decisions")
    follow_up = db.relationship("FollowUp", back_populates="decision", uselist=False, cascade="all, delete-orphan")

    @property
    def audit_label(self):
        return self.text[:40]


class FollowUp(db.Model):
    """落实: who carries a decision out and by when, and whether it is done."""

    __tablename__ = "follow_up"
    __audit__ = True
    __audit_exclude__ = ("created_at",)
    id = db.Column(db.Integer, primary_key=True)
    decision_id = db.Column(db.Integer, db.ForeignKey("meeting_decision.id", ondelete="CASCADE"), nullable=False,
                            unique=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)  # = the meeting's, for scoping
    owner_name = db.Column(db.String(40), nullable=False)
    owner_user_id = db.Column(db.Integer, db.ForeignKey("user.id"), index=True)
    deadline = db.Column(db.Date, nullable=False)
    status = db.Column(db.String(20), nullable=False, default="open")
    result = db.Column(db.Text, nullable=False, default="")
    done_on = db.Column(db.Date)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    decision = db.relationship(MeetingDecision, back_populates="follow_up")
    owner_user = db.relationship("User")

    @property
    def audit_label(self):
        return f"{self.owner_name} {self.deadline:%Y-%m-%d}"

    @property
    def status_name(self):
        return FOLLOW_UP_STATUS.get(self.status, self.status)

    def is_overdue(self, today):
        return self.status == "open" and self.deadline < today
