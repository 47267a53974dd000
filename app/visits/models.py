"""Visit records, their problems and photos, and the visit rules (data a village edits)."""
from ..core.photos import PhotoSize, Taken
from ..core.timeutil import utcnow
from ..extensions import db

METHODS = {"door": "上门", "phone": "电话", "lecture": "微宣讲", "group": "集中走访"}
IN_PERSON = ("door", "group")
PERIODS = {"month": "每月", "quarter": "每季度", "year": "每年"}
TARGETS = {
    "linked": "联系户（有联系人的户）",
    "key": "重点户（六类户等重点类别）",
    "ordinary": "普通户（非重点类别）",
    "all": "所有户",
    "categories": "指定类别的户（六类户、五必访、本村类别、党员户）",
}
# Pseudo category keys a rule can name besides real categories: every category of a group
# ("group:六类户"), and households with a party member (党员户).
PARTY_KEY = "party_members"
PARTY_NAME = "党员户（户内有中共党员或预备党员）"
GROUP_PREFIX = "group:"
VISITORS = {"any": "任何走访人", "cadre": "驻村干部（网格长、村/乡镇干部、联系领导）"}

# The defaults of 篇二 and 篇四; a village copies them to change its own.
# (name, target, methods, period, visitor)
DEFAULT_RULES = [
    ("联系户每月至少联系一次", "linked", "", "month", "any"),
    ("重点户（六类户）每月至少上门走访一次", "key", "door,group", "month", "any"),
    ("普通户每季度至少上门走访一次", "ordinary", "door,group", "quarter", "any"),
    ("联系户每季度至少开展一次微宣讲", "linked", "lecture", "quarter", "any"),
    ("驻村干部每年至少走访每户一次", "all", "door,group", "year", "cadre"),
    # 篇四: four collective visit rounds a year (集中走访), one each quarter.
    ("每季度一轮集中走访（每年四轮）", "all", "group", "quarter", "any"),
]


class Visit(db.Model):
    """One visit to a household: how, when, who, what was learned."""

    __tablename__ = "visit"
    __audit__ = True
    __audit_exclude__ = ("created_at", "updated_at")
    id = db.Column(db.Integer, primary_key=True)
    household_id = db.Column(db.Integer, db.ForeignKey("household.id"), nullable=False)
    # The household's grid when visited: scoping and coverage read it without a join.
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    method = db.Column(db.String(10), nullable=False)
    visited_at = db.Column(db.DateTime, nullable=False)  # UTC
    visited_on = db.Column(db.Date, nullable=False)      # the day in China (rules and logs count days)
    # Whether the visitor was a cadre when visiting (the yearly 驻村干部 rule counts these).
    by_cadre = db.Column(db.Boolean, nullable=False, default=False)
    companions = db.Column(db.String(200), nullable=False, default="")
    learned = db.Column(db.Text, nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # Set when the author corrected the visit (allowed until the week is checked).
    updated_at = db.Column(db.DateTime)

    household = db.relationship("Household")
    user = db.relationship("User")
    grid = db.relationship("Grid")
    problems = db.relationship("VisitProblem", back_populates="visit", order_by="VisitProblem.id")
    photos = db.relationship("VisitPhoto", back_populates="visit", order_by="VisitPhoto.id")

    __table_args__ = (
        db.Index("ix_visit_household_day", "household_id", "visited_on"),
        db.Index("ix_visit_user_day", "user_id", "visited_on"),
    )

    @property
    def method_name(self):
        return METHODS.get(self.method, self.method)

    @property
    def audit_label(self):
        return f"{self.method_name}走访 {self.household.address if self.household else ''}"


class VisitProblem(db.Model):
    """A problem raised during a visit; it can later become a case."""

    __tablename__ = "visit_problem"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    visit_id = db.Column(db.Integer, db.ForeignKey("visit.id"), nullable=False, index=True)
    description = db.Column(db.Text, nullable=False)
    # Set when the problem is turned into a case (the cases area owns that table).
    case_id = db.Column(db.Integer, index=True)

    visit = db.relationship(Visit, back_populates="problems")

    @property
    def audit_label(self):
        return self.description[:40]


class VisitPhoto(PhotoSize, Taken, db.Model):
    """A photo taken on a visit, resized and stored with a thumbnail under instance/uploads/ (core/photos.py).

    Not append-only: correcting a visit may remove its photos."""

    __tablename__ = "visit_photo"
    id = db.Column(db.Integer, primary_key=True)
    visit_id = db.Column(db.Integer, db.ForeignKey("visit.id"), nullable=False, index=True)
    file_name = db.Column(db.String(120), nullable=False)  # relative to the uploads folder

    visit = db.relationship(Visit, back_populates="photos")


class VisitRule(db.Model):
    """How often which households must be visited, and how.

    Rules with ``grid_id`` NULL are the defaults; a grid (usually a village) that
    has rules of its own uses those instead, for everything below it.
    """

    __tablename__ = "visit_rule"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), index=True)
    name = db.Column(db.String(80), nullable=False)
    target = db.Column(db.String(20), nullable=False)
    methods = db.Column(db.String(60), nullable=False, default="")  # comma list; empty = any
    # target "categories": comma list of HouseholdCategory keys, "group:<group>" and PARTY_KEY.
    categories = db.Column(db.String(400), nullable=False, default="")
    period = db.Column(db.String(10), nullable=False)
    visitor = db.Column(db.String(10), nullable=False, default="any")
    active = db.Column(db.Boolean, nullable=False, default=True)
    sort_order = db.Column(db.Integer, nullable=False, default=0)

    grid = db.relationship("Grid")

    @property
    def method_set(self):
        return {m for m in self.methods.split(",") if m}

    @property
    def method_names(self):
        return "、".join(METHODS[m] for m in METHODS if m in self.method_set) or "任何方式"

    @property
    def category_keys(self):
        return [k for k in self.categories.split(",") if k]

    @property
    def preferred_method(self):
        """The method the visit form opens with for this rule: the first that satisfies it (None: any)."""
        return next((m for m in METHODS if m in self.method_set), None)

    @property
    def satisfied_by(self):
        """What a visit must be to satisfy the rule, in Chinese (shown on the due list)."""
        who = "由驻村干部" if self.visitor == "cadre" else ""
        if not self.method_set:
            return f"{who}任何方式（上门、电话、微宣讲、集中走访）均可"
        return f"需{who}{'或'.join(METHODS[m] for m in METHODS if m in self.method_set)}"

    @property
    def audit_label(self):
        return self.name
