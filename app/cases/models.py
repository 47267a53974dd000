"""Cases (事件/诉求): the case, its append-only timeline, photos, departments and categories."""
from ..core.models import AppendOnly
from ..core.photos import PhotoFile, Taken
from ..core.timeutil import utcnow
from ..core.workdays import warn_time
from ..extensions import db

STATES = {
    "reported": "待受理",
    "accepted": "已受理",
    "approving": "待审批",
    "assigned": "已交办",
    "in_progress": "办理中",
    "replied": "已反馈",
    "closed": "已办结",
    "visited": "已回访",
    "archived": "已归档",
}
HANDLING_CLASSES = {"general": "一般性", "coordination": "需协调", "emergency": "突发性", "approval": "需审批"}
# Case photos are kept flat under instance/<PHOTO_FOLDER>/ (core/photos.py).
PHOTO_FOLDER = "case_photos"
SOURCES = {"worker": "网格员上报", "office": "村委会受理", "visit": "走访发现", "patrol": "巡查发现", "public": "群众扫码反映",
           "meeting": "例会议定"}

DEFAULT_DEPARTMENTS = ["环保站", "派出所", "国土所", "水利站", "民政办", "综治办", "卫生院", "安监站", "社保所"]
# name, default department, 受理时限 (hours), 办理时限 (working days), 回访时限 (working days)
DEFAULT_CATEGORIES = [
    ("民政", "民政办", 24, 5, 3),
    ("计生", "卫生院", 24, 5, 3),
    ("综治", "综治办", 24, 5, 3),
    ("社保", "社保所", 24, 5, 3),
    ("卫生", "卫生院", 24, 5, 3),
    ("环境", "环保站", 24, 5, 3),
    ("安全生产", "安监站", 4, 3, 3),
    ("国土", "国土所", 24, 10, 3),
    ("水利", "水利站", 24, 5, 3),
    ("其他", "", 24, 5, 3),
]


def format_receipt(code):
    """ABCD2345 → ABCD-2345 (easier to read out over the phone)."""
    return f"{code[:4]}-{code[4:]}" if code and len(code) == 8 else code


class Department(db.Model):
    """A department cases are transferred to (环保站, 派出所 …), belonging to a level: a township or
    county grid (None: every level of the installation). Its users (role ``department``) answer
    the cases handed to it themselves; without users the desk records its answers."""

    __tablename__ = "department"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), index=True)
    # Unique across levels: a township's department is named as it is known (雉城派出所).
    name = db.Column(db.String(40), nullable=False, unique=True)
    phone = db.Column(db.String(20), nullable=False, default="")
    active = db.Column(db.Boolean, nullable=False, default=True)

    grid = db.relationship("Grid")

    @property
    def audit_label(self):
        return self.name


class CaseCoDepartment(db.Model):
    """A co-handling department of a case (联合执法): it answers on its own; ``replied_at`` once it did."""

    __tablename__ = "case_co_department"
    case_id = db.Column(db.Integer, db.ForeignKey("cases.id"), primary_key=True)
    department_id = db.Column(db.Integer, db.ForeignKey("department.id"), primary_key=True, index=True)
    replied_at = db.Column(db.DateTime)

    department = db.relationship(Department, lazy="joined")


class CaseCategory(db.Model):
    """A case category with its default department and the time limit of each step."""

    __tablename__ = "case_category"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(40), nullable=False, unique=True)
    department_id = db.Column(db.Integer, db.ForeignKey("department.id"), index=True)
    accept_hours = db.Column(db.Integer, nullable=False, default=24)
    handle_workdays = db.Column(db.Integer, nullable=False, default=5)
    follow_up_workdays = db.Column(db.Integer, nullable=False, default=3)
    # 需审批 cases of this category are approved by the desk of this grid level (a level key, e.g.
    # "town"); empty: the next level with a desk above the one that accepted the case.
    approval_level = db.Column(db.String(32), nullable=False, default="", server_default="")
    active = db.Column(db.Boolean, nullable=False, default=True)

    department = db.relationship(Department)

    @property
    def audit_label(self):
        return self.name


class Case(db.Model):
    """One case. ``grid_id`` is where it arose; ``current_grid_id`` the level that holds it now.

    ``version`` is SQLAlchemy's version counter: an UPDATE names the version it
    read, so of two simultaneous actions the second changes nothing and fails.
    """

    __tablename__ = "cases"
    __audit__ = True
    __audit_exclude__ = ("created_at", "updated_at", "version")
    id = db.Column(db.Integer, primary_key=True)
    receipt_code = db.Column(db.String(12), nullable=False, unique=True)
    title = db.Column(db.String(100), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    location = db.Column(db.String(200), nullable=False, default="")
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    current_grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    category_id = db.Column(db.Integer, db.ForeignKey("case_category.id"), nullable=False, index=True)
    handling_class = db.Column(db.String(20), nullable=False, default="general")
    source = db.Column(db.String(20), nullable=False, default="worker")
    source_ref = db.Column(db.String(80), nullable=False, default="")
    reporter_name = db.Column(db.String(40), nullable=False, default="")
    reporter_phone = db.Column(db.String(20), nullable=False, default="")
    household_id = db.Column(db.Integer, db.ForeignKey("household.id"), index=True)
    unit_id = db.Column(db.Integer, db.ForeignKey("unit.id"), index=True)
    state = db.Column(db.String(20), nullable=False, default="reported", index=True)
    holder_user_id = db.Column(db.Integer, db.ForeignKey("user.id"), index=True)
    holder_department_id = db.Column(db.Integer, db.ForeignKey("department.id"), index=True)
    step_started_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    deadline_at = db.Column(db.DateTime, index=True)
    # When the step turns yellow (core.workdays.warn_time), kept so lists can filter on it.
    warn_at = db.Column(db.DateTime, index=True)
    extension_until = db.Column(db.DateTime)  # an open 延期申请 asks for this deadline
    satisfaction = db.Column(db.String(20), nullable=False, default="")
    created_by_id = db.Column(db.Integer, db.ForeignKey("user.id"), index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    closed_at = db.Column(db.DateTime)
    version = db.Column(db.Integer, nullable=False, default=1)

    grid = db.relationship("Grid", foreign_keys=[grid_id])
    current_grid = db.relationship("Grid", foreign_keys=[current_grid_id])
    category = db.relationship(CaseCategory)
    household = db.relationship("Household")
    unit = db.relationship("Unit")
    holder = db.relationship("User", foreign_keys=[holder_user_id])
    holder_department = db.relationship(Department)
    created_by = db.relationship("User", foreign_keys=[created_by_id])
    events = db.relationship("CaseEvent", order_by="CaseEvent.id", back_populates="case", lazy="selectin")
    photos = db.relationship("CasePhoto", order_by="CasePhoto.id", lazy="selectin", viewonly=True)
    co_departments = db.relationship(CaseCoDepartment, lazy="selectin", order_by=CaseCoDepartment.department_id,
                                     cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_label(self):
        return f"事件 {self.receipt_code}"

    def start_step(self, start, deadline):
        """A new step begins at ``start`` and must be done by ``deadline`` (None: no limit)."""
        self.step_started_at, self.deadline_at = start, deadline
        self.warn_at = warn_time(start, deadline)

    @property
    def state_name(self):
        return STATES.get(self.state, self.state)

    @property
    def class_name(self):
        return HANDLING_CLASSES.get(self.handling_class, self.handling_class)

    @property
    def source_name(self):
        return SOURCES.get(self.source, self.source)

    @property
    def holder_name(self):
        if self.holder_department is not None:
            return self.holder_department.name
        if self.holder is not None:
            return self.holder.full_name
        return f"{self.current_grid.name}（待处理）" if self.current_grid else ""


class CaseEvent(AppendOnly, db.Model):
    """One step of a case's timeline. Rows are only ever inserted."""

    __tablename__ = "case_event"
    id = db.Column(db.Integer, primary_key=True)
    case_id = db.Column(db.Integer, db.ForeignKey("cases.id"), nullable=False, index=True)
    at = db.Column(db.DateTime, nullable=False, default=utcnow)
    actor_id = db.Column(db.Integer, db.ForeignKey("user.id"), index=True)
    actor_name = db.Column(db.String(80), nullable=False, default="")
    action = db.Column(db.String(30), nullable=False)
    from_state = db.Column(db.String(20), nullable=False, default="")
    to_state = db.Column(db.String(20), nullable=False, default="")
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False)
    detail = db.Column(db.String(300), nullable=False, default="")  # "交办给 张三", "上报至 甲村" …
    note = db.Column(db.Text, nullable=False, default="")
    deadline_at = db.Column(db.DateTime)

    case = db.relationship(Case, back_populates="events")
    grid = db.relationship("Grid")
    photos = db.relationship("CasePhoto", order_by="CasePhoto.id", lazy="selectin", viewonly=True)


class CasePhoto(AppendOnly, PhotoFile, Taken, db.Model):
    """A photo attached to a timeline step, stored resized under instance/case_photos/ (core/photos.py)."""

    __tablename__ = "case_photo"
    id = db.Column(db.Integer, primary_key=True)
    case_id = db.Column(db.Integer, db.ForeignKey("cases.id"), nullable=False, index=True)
    event_id = db.Column(db.Integer, db.ForeignKey("case_event.id"), nullable=False, index=True)
