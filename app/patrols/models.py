"""Patrols (巡查) and hazards (隐患): patrol frequencies by grid level and unit risk grade,
patrol records with photos, hazards with their rectification steps (append-only)."""
from ..core.models import AppendOnly, StepEvent
from ..core.photos import PhotoFile
from ..core.timeutil import utcnow
from ..extensions import db

# Patrol photos are kept flat under instance/<PHOTO_FOLDER>/ (core/photos.py).
PHOTO_FOLDER = "patrol_photos"
SEVERITIES = {"general": "一般隐患", "major": "重大隐患"}
# (target kind, key, every N days, basis). 篇三: level-2 grids monthly, level-3 grids weekly;
# 篇五: production units by risk grade.
DEFAULT_RULES = [
    ("grid_level", "natural_village", 30, "二级网格每月至少巡查一次（篇三）"),
    ("grid_level", "cluster", 7, "三级网格每周至少巡查一次（篇三）"),
    ("risk_grade", "重大风险", 7, "重大风险单位每周检查一次（篇五）"),
    ("risk_grade", "较大风险", 14, "较大风险单位每半月检查一次（篇五）"),
    ("risk_grade", "一般风险", 30, "一般风险单位每月检查一次（篇五）"),
    ("risk_grade", "低风险", 90, "低风险单位每季度检查一次（篇五）"),
]


class PatrolRule(db.Model):
    """How often a grid of a level, or a unit of a risk grade, must be patrolled (admin-editable)."""

    __tablename__ = "patrol_rule"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    target_kind = db.Column(db.String(20), nullable=False)  # grid_level | risk_grade
    target_key = db.Column(db.String(40), nullable=False)
    every_days = db.Column(db.Integer, nullable=False)
    basis = db.Column(db.String(100), nullable=False, default="")

    __table_args__ = (db.UniqueConstraint("target_kind", "target_key", name="uq_patrol_rule_target"),)

    @property
    def audit_label(self):
        return f"巡查频次 {self.target_key}"


class Patrol(db.Model):
    """One patrol: where, what was checked, what was found, by whom and when."""

    __tablename__ = "patrol"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    unit_id = db.Column(db.Integer, db.ForeignKey("unit.id"), index=True)
    patrolled_by_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False, index=True)
    patrolled_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    place = db.Column(db.String(200), nullable=False, default="")
    checked = db.Column(db.Text, nullable=False, default="")
    findings = db.Column(db.Text, nullable=False, default="")

    grid = db.relationship("Grid")
    unit = db.relationship("Unit")
    patrolled_by = db.relationship("User")
    photos = db.relationship("PatrolPhoto", order_by="PatrolPhoto.id", lazy="selectin", viewonly=True)
    hazards = db.relationship("Hazard", order_by="Hazard.id", lazy="selectin", viewonly=True)

    @property
    def audit_label(self):
        return f"巡查 {self.grid.name if self.grid else ''}"


class PatrolPhoto(AppendOnly, PhotoFile, db.Model):
    """A photo taken on a patrol, stored under instance/patrol_photos/ (core/photos.py)."""

    __tablename__ = "patrol_photo"
    id = db.Column(db.Integer, primary_key=True)
    patrol_id = db.Column(db.Integer, db.ForeignKey("patrol.id"), nullable=False, index=True)


class Hazard(db.Model):
    """A hazard found on a patrol and its rectification until it is closed (销号)."""

    __tablename__ = "hazard"
    __audit__ = True
    __audit_exclude__ = ("version",)
    id = db.Column(db.Integer, primary_key=True)
    patrol_id = db.Column(db.Integer, db.ForeignKey("patrol.id"), nullable=False, index=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    unit_id = db.Column(db.Integer, db.ForeignKey("unit.id"), index=True)
    description = db.Column(db.Text, nullable=False)
    severity = db.Column(db.String(20), nullable=False, default="general")
    state = db.Column(db.String(20), nullable=False, default="found", index=True)
    deadline_at = db.Column(db.DateTime, index=True)
    measures = db.Column(db.Text, nullable=False, default="")  # what holds while it is being fixed
    case_id = db.Column(db.Integer, db.ForeignKey("cases.id"), index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    closed_at = db.Column(db.DateTime)
    version = db.Column(db.Integer, nullable=False, default=1)

    grid = db.relationship("Grid")
    unit = db.relationship("Unit")
    patrol = db.relationship(Patrol)
    case = db.relationship("Case")
    events = db.relationship("HazardEvent", order_by="HazardEvent.id", lazy="selectin", viewonly=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_label(self):
        return f"隐患 #{self.id}"


class HazardEvent(StepEvent, db.Model):
    """One step of a hazard's rectification. Rows are only ever inserted."""

    __tablename__ = "hazard_event"
    id = db.Column(db.Integer, primary_key=True)
    hazard_id = db.Column(db.Integer, db.ForeignKey("hazard.id"), nullable=False, index=True)
    measures = db.Column(db.Text, nullable=False, default="")
    deadline_at = db.Column(db.DateTime)

