"""Grids: a tree of areas with levels and kinds that are data, not code."""
from ..core.photos import PhotoSize, Taken
from ..core.timeutil import utcnow
from ..extensions import db

# Roles a person can hold in a grid (GridRole in DOMAIN.md), with their Chinese names.
GRID_ROLES = {
    "leader": "网格长",
    "worker": "网格员",
    "contact_cadre": "联系领导",
    "info_officer": "信息员",
    "team_member": "服务团队成员",
}
# 篇四: a service team (组团式服务) has at least 5 members.
MIN_TEAM_SIZE = 5


class GridLevel(db.Model):
    """A level of the tree (county, town, village …). Rank orders them top-down."""

    __tablename__ = "grid_level"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    key = db.Column(db.String(32), nullable=False, unique=True)
    name = db.Column(db.String(40), nullable=False)
    rank = db.Column(db.Integer, nullable=False)

    @property
    def audit_label(self):
        return self.name


class GridKind(db.Model):
    """A grid system (综合, 党建, 环境监管, 安全生产 …); several can cover one place."""

    __tablename__ = "grid_kind"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    key = db.Column(db.String(32), nullable=False, unique=True)
    name = db.Column(db.String(40), nullable=False)

    @property
    def audit_label(self):
        return self.name


class Grid(db.Model):
    """One node of the grid tree.

    ``path`` is the chain of ids from the root, e.g. ``/1/7/42/``; a subtree is
    every grid whose path starts with its root's path, which keeps scoping a
    single indexed prefix query however deep the tree is.
    """

    __tablename__ = "grid"
    __audit__ = True
    __audit_exclude__ = ("path", "depth", "created_at")
    id = db.Column(db.Integer, primary_key=True)
    parent_id = db.Column(db.Integer, db.ForeignKey("grid.id"), index=True)
    path = db.Column(db.String(400), nullable=False, default="/")
    depth = db.Column(db.Integer, nullable=False, default=0)
    name = db.Column(db.String(80), nullable=False)
    level_id = db.Column(db.Integer, db.ForeignKey("grid_level.id"), nullable=False)
    kind_id = db.Column(db.Integer, db.ForeignKey("grid_kind.id"), nullable=False)
    division_code = db.Column(db.String(12), unique=True)
    area_desc = db.Column(db.Text, nullable=False, default="")
    sort_order = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    parent = db.relationship("Grid", remote_side=[id], backref=db.backref("children", lazy="dynamic"))
    level = db.relationship(GridLevel)
    kind = db.relationship(GridKind)

    # Prefix (LIKE 'x%') searches on path need text_pattern_ops on PostgreSQL.
    __table_args__ = (db.Index("ix_grid_path", "path", postgresql_ops={"path": "text_pattern_ops"}),)

    @property
    def audit_label(self):
        return self.name

    def ancestor_ids(self):
        """Ids from the root down to and including this grid."""
        return [int(x) for x in self.path.strip("/").split("/") if x]

    def set_path(self):
        """Compute path and depth from the parent (id must be assigned)."""
        prefix = self.parent.path if self.parent is not None else "/"
        self.path = f"{prefix}{self.id}/"
        self.depth = self.path.count("/") - 2


class GridStaff(db.Model):
    """A person holding a role in a grid: a user account or just a name and phone."""

    __tablename__ = "grid_staff"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, index=True)
    role = db.Column(db.String(20), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), index=True)
    name = db.Column(db.String(40), nullable=False, default="")
    phone = db.Column(db.String(20), nullable=False, default="")
    duty = db.Column(db.String(80), nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    grid = db.relationship(Grid, backref=db.backref("staff", lazy="dynamic", cascade="all, delete-orphan"))
    user = db.relationship("User")

    __table_args__ = (db.UniqueConstraint("grid_id", "role", "user_id", name="uq_grid_staff_grid_role_user"),)

    @property
    def role_name(self):
        return GRID_ROLES.get(self.role, self.role)

    @property
    def display_name(self):
        return self.user.full_name if self.user else self.name

    @property
    def display_phone(self):
        return (self.user.phone if self.user else self.phone) or ""

    @property
    def audit_label(self):
        return f"{self.role_name} {self.display_name}"


class GridMap(PhotoSize, Taken, db.Model):
    """A grid's area map (网格区域管理图, 篇二): a photo or scan of the map the village drew, checked and
    re-encoded like every uploaded image, with the grids below it marked on it."""

    __tablename__ = "grid_map"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, unique=True)
    file_name = db.Column(db.String(120), nullable=False)  # relative to the uploads folder

    grid = db.relationship(Grid, backref=db.backref("area_map", uselist=False, passive_deletes=True))
    marks = db.relationship("GridMapMark", back_populates="map", order_by="GridMapMark.id",
                            cascade="all, delete-orphan", passive_deletes=True)

    @property
    def audit_label(self):
        return f"{self.grid.name if self.grid else ''}区域图"


class GridMapMark(db.Model):
    """A grid below (a house cluster, 屋场) marked on a map: a point relative to the image, 0–1 each way."""

    __tablename__ = "grid_map_mark"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    map_id = db.Column(db.Integer, db.ForeignKey("grid_map.id", ondelete="CASCADE"), nullable=False, index=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, index=True)
    x = db.Column(db.Float, nullable=False)
    y = db.Column(db.Float, nullable=False)

    map = db.relationship(GridMap, back_populates="marks")
    grid = db.relationship(Grid)

    __table_args__ = (db.UniqueConstraint("map_id", "grid_id", name="uq_grid_map_mark_map_grid"),)

    @property
    def audit_label(self):
        return f"区域图标注 {self.grid.name if self.grid else ''}"
