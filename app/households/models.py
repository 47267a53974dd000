"""Ledger models. Nothing here is deleted by an ordinary user: people move out or
die, households are split or archived, and each such step is kept as an event."""
from ..core.timeutil import utcnow
from ..core.validators import mask_id_number
from ..extensions import db
from .relations import RELATIONS  # noqa: F401  (GB/T 4761: the ledger's vocabulary of 与户主关系)

POLITICAL = ["群众", "中共党员", "中共预备党员", "入党积极分子", "共青团员", "民主党派"]
PARTY_MEMBER = {"中共党员", "中共预备党员"}
RESIDENT_FLAGS = ["流动党员", "残疾", "外出务工", "留守", "退役军人", "独居老人", "精神障碍", "重点关注"]
RESIDENT_STATUS = {"active": "在册", "moved_out": "迁出", "deceased": "死亡"}

# The 六类户 of 篇二 and the 五必访 groups of 篇四; villages add their own.
DEFAULT_CATEGORIES = [
    ("dibao_wubao", "低保五保户", "六类户", True),
    ("serious_illness", "重病重残户", "六类户", True),
    ("poverty_risk", "易返贫致贫户", "六类户", True),
    ("empty_nest", "空巢老人户", "六类户", True),
    ("left_behind_children", "留守儿童户", "六类户", True),
    ("martyr_military", "烈属军属户", "六类户", True),
    ("xiaokang_specialist", "小康户/专业户", "五必访", False),
    ("veteran_cadre_member", "老干部/老党员户", "五必访", False),
    ("petition_opinion", "上访户/意见户", "五必访", False),
    ("hardship_dibao", "困难户/低保户", "五必访", False),
    ("returnee_mobile_member", "返乡创业户/流动党员家属户", "五必访", False),
]


class HouseholdCategory(db.Model):
    """A category a household can be tagged with (六类户, 五必访, or a village's own)."""

    __tablename__ = "household_category"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    key = db.Column(db.String(40), nullable=False, unique=True)
    name = db.Column(db.String(40), nullable=False)
    group = db.Column(db.String(20), nullable=False, default="自定义")
    # 重点户: the visit rules treat these more strictly.
    is_key = db.Column(db.Boolean, nullable=False, default=False)
    # A village's own category is visible in that village's subtree only.
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), index=True)

    @property
    def audit_label(self):
        return self.name


class Household(db.Model):
    """A household (户) in a house-cluster (lowest-level) grid."""

    __tablename__ = "household"
    __audit__ = True
    __audit_exclude__ = ("created_at", "phone_rev")
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    address = db.Column(db.String(200), nullable=False)
    head_id = db.Column(db.Integer, db.ForeignKey("resident.id", use_alter=True, name="fk_household_head_id_resident"))
    phone = db.Column(db.String(20), nullable=False, default="")
    phone_rev = db.Column(db.String(20), nullable=False, default="")
    notes = db.Column(db.Text, nullable=False, default="")
    status = db.Column(db.String(20), nullable=False, default="active")  # active / archived
    split_from_id = db.Column(db.Integer, db.ForeignKey("household.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    grid = db.relationship("Grid")
    head = db.relationship("Resident", foreign_keys=[head_id], post_update=True)
    residents = db.relationship("Resident", foreign_keys="Resident.household_id", back_populates="household",
                                order_by="Resident.id")

    __table_args__ = (
        db.Index("ix_household_phone_rev", "phone_rev", postgresql_ops={"phone_rev": "text_pattern_ops"}),
        # The ledger list's order: it reads one page from here and stops. (Status is
        # left out on purpose: as a leading column it tempted the planner to walk
        # every active household for a phone-number search.)
        db.Index("ix_household_list", "grid_id", "address", "id"),
        # The same order for active households only, with the status column so that the
        # list's total ("共 N 条") and the per-grid counts read this index alone. Partial,
        # so it never competes with the phone index for a search.
        db.Index("ix_household_active", "grid_id", "address", "id", "status",
                 sqlite_where=db.text("status = 'active'"), postgresql_where=db.text("status = 'active'")),
        # The same for the archived list (已注销), so a county's few archived households are found
        # without walking past every active one.
        db.Index("ix_household_archived", "grid_id", "address", "id", "status",
                 sqlite_where=db.text("status = 'archived'"), postgresql_where=db.text("status = 'archived'")),
    )

    @property
    def audit_label(self):
        return self.address

    @property
    def head_name(self):
        return self.head.name if self.head else ""


class ResidentLabels:
    """How a person's ID number and status are shown: shared by Resident and the search's lightweight rows."""

    __slots__ = ()

    @property
    def masked_id(self):
        return mask_id_number(self.id_number)

    @property
    def status_name(self):
        return RESIDENT_STATUS.get(self.status, self.status)


class Resident(ResidentLabels, db.Model):
    """A person (人员) on the ledger. The ID number is shown masked unless revealed."""

    __tablename__ = "resident"
    __audit__ = True
    __audit_exclude__ = ("created_at", "id_number_rev", "name_initials", "name_initials_alt", "phone_rev")
    __audit_mask__ = {"id_number": mask_id_number}
    id = db.Column(db.Integer, primary_key=True)
    household_id = db.Column(db.Integer, db.ForeignKey("household.id"), nullable=False, index=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)  # = household's, for scoping
    name = db.Column(db.String(40), nullable=False, index=True)
    id_number = db.Column(db.String(18), nullable=False, unique=True)
    # Reversed copies make "ends with" searches index lookups.
    id_number_rev = db.Column(db.String(18), nullable=False)
    sex = db.Column(db.String(2), nullable=False)
    birth_date = db.Column(db.Date, nullable=False)
    phone = db.Column(db.String(20), nullable=False, default="")
    phone_rev = db.Column(db.String(20), nullable=False, default="")
    relation = db.Column(db.String(10), nullable=False, default="其他")
    political_status = db.Column(db.String(20), nullable=False, default="群众")
    flags = db.Column(db.String(200), nullable=False, default="")  # comma-separated RESIDENT_FLAGS
    status = db.Column(db.String(20), nullable=False, default="active")
    status_date = db.Column(db.Date)
    status_note = db.Column(db.String(200), nullable=False, default="")
    name_initials = db.Column(db.String(20), nullable=False, default="")
    name_initials_alt = db.Column(db.String(20), nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    household = db.relationship(Household, foreign_keys=[household_id], back_populates="residents")

    # Prefix searches (LIKE 'x%'): text_pattern_ops on PostgreSQL; SQLite uses
    # these with case_sensitive_like (core/db.py).
    __table_args__ = tuple(
        db.Index(f"ix_resident_{col}", col, postgresql_ops={col: "text_pattern_ops"})
        for col in ("id_number_rev", "phone_rev", "name_initials", "name_initials_alt")
    )

    @property
    def audit_label(self):
        return f"{self.name} {mask_id_number(self.id_number)}"

    @property
    def flag_list(self):
        return [f for f in self.flags.split(",") if f]

    @property
    def is_party_member(self):
        return self.political_status in PARTY_MEMBER


class CategoryTag(db.Model):
    """A household's membership of a category over time (start, end, reasons)."""

    __tablename__ = "category_tag"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    household_id = db.Column(db.Integer, db.ForeignKey("household.id"), nullable=False, index=True)
    category_id = db.Column(db.Integer, db.ForeignKey("household_category.id"), nullable=False, index=True)
    start_date = db.Column(db.Date, nullable=False)
    end_date = db.Column(db.Date)
    start_reason = db.Column(db.String(200), nullable=False, default="")
    end_reason = db.Column(db.String(200), nullable=False, default="")

    household = db.relationship(Household, backref=db.backref("tags", order_by="CategoryTag.start_date"))
    category = db.relationship(HouseholdCategory)

    @property
    def audit_label(self):
        return self.category.name if self.category else ""

    @property
    def active(self):
        return self.end_date is None


class HouseholdEvent(db.Model):
    """A step in a household's history: member added, moved out, died, head changed, split, archived."""

    __tablename__ = "household_event"
    id = db.Column(db.Integer, primary_key=True)
    household_id = db.Column(db.Integer, db.ForeignKey("household.id"), nullable=False, index=True)
    at = db.Column(db.DateTime, nullable=False, default=utcnow)
    actor_name = db.Column(db.String(80), nullable=False, default="")
    kind = db.Column(db.String(30), nullable=False)
    summary = db.Column(db.Text, nullable=False, default="")

    household = db.relationship(Household, backref=db.backref("events", order_by="HouseholdEvent.at.desc()"))


class ContactLink(db.Model):
    """联系户: the worker who links a household (one current worker per household)."""

    __tablename__ = "contact_link"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    household_id = db.Column(db.Integer, db.ForeignKey("household.id"), nullable=False, unique=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False, index=True)
    since = db.Column(db.Date, nullable=False)

    household = db.relationship(Household, backref=db.backref("contact", uselist=False))
    user = db.relationship("User")

    @property
    def audit_label(self):
        return f"{self.user.full_name if self.user else ''} 联系 {self.household.address if self.household else ''}"


class SearchGram(db.Model):
    """Search postings: 1- and 2-character pieces of names and 2-character pieces of addresses.

    Every query of 1 or 2 characters is an index lookup here; a longer one
    looks up its first 2-character piece and then checks the whole text, so
    every query length finds exactly the right rows on SQLite and PostgreSQL
    alike (FTS5's trigram tokenizer finds nothing below 3 characters).
    """

    __tablename__ = "search_gram"
    id = db.Column(db.Integer, primary_key=True)
    gram = db.Column(db.String(2), nullable=False)
    field = db.Column(db.String(1), nullable=False)  # n = resident name, a = household address
    household_id = db.Column(db.Integer, db.ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    resident_id = db.Column(db.Integer, db.ForeignKey("resident.id", ondelete="CASCADE"), index=True)
    grid_id = db.Column(db.Integer, nullable=False)

    # Covering, and in the order results are listed, so a search reads postings
    # in index order and stops after the first page of matches.
    __table_args__ = (db.Index("ix_search_gram_lookup", "gram", "field", "grid_id", "resident_id", "household_id"),)
