"""Agreement models: versions of a 责任状, signatures by finger, attached scans of the signed paper."""
from ..core.timeutil import utcnow
from ..extensions import db

AGREEMENT_KINDS = {
    "town_village": "乡镇与行政村",
    "village_worker": "行政村与网格员",
}
STATUS_NAMES = {
    "draft": "草稿",
    "issued": "已下发",
    "signed": "已签订",
    "expired": "已到期",
    "replaced": "已被新版本取代",
}
# The 五定 (篇三), in the order they are printed.
SECTIONS = [
    ("area", "定区域"),
    ("people", "定人员"),
    ("duties", "定职责"),
    ("tasks", "定任务"),
    ("rewards", "定奖惩"),
]
PARTIES = {"a": "甲方", "b": "乙方"}


class Agreement(db.Model):
    """One version of a responsibility agreement for a grid.

    Content can change only while a draft; changing an issued or signed
    agreement makes a new version (same ``series_id``), and issuing that
    version marks the old one replaced, so its printed QR code says so.
    """

    __tablename__ = "agreement"
    __audit__ = True
    __audit_exclude__ = ("created_at",)
    id = db.Column(db.Integer, primary_key=True)
    series_id = db.Column(db.Integer, index=True)  # id of the first version
    version = db.Column(db.Integer, nullable=False, default=1)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    kind = db.Column(db.String(20), nullable=False)
    title = db.Column(db.String(100), nullable=False)
    party_a = db.Column(db.String(80), nullable=False)
    party_a_rep = db.Column(db.String(40), nullable=False, default="")
    party_b = db.Column(db.String(80), nullable=False)
    party_b_rep = db.Column(db.String(40), nullable=False, default="")
    period_start = db.Column(db.Date, nullable=False)
    period_end = db.Column(db.Date, nullable=False)
    area = db.Column(db.Text, nullable=False, default="")
    people = db.Column(db.Text, nullable=False, default="")
    duties = db.Column(db.Text, nullable=False, default="")
    tasks = db.Column(db.Text, nullable=False, default="")
    rewards = db.Column(db.Text, nullable=False, default="")
    status = db.Column(db.String(20), nullable=False, default="draft")
    # SHA-256 of the canonical content, fixed when issued.
    fingerprint = db.Column(db.String(64), nullable=False, default="")
    # The random code in the printed QR's URL (one per version).
    verify_code = db.Column(db.String(32), nullable=False, unique=True)
    issued_at = db.Column(db.DateTime)
    signed_at = db.Column(db.DateTime)
    replaced_by_id = db.Column(db.Integer, db.ForeignKey("agreement.id"))
    created_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    grid = db.relationship("Grid")
    replaced_by = db.relationship("Agreement", remote_side=[id], post_update=True)
    signatures = db.relationship("AgreementSignature", back_populates="agreement",
                                 order_by="AgreementSignature.id", cascade="all, delete-orphan")
    scans = db.relationship("AgreementScan", back_populates="agreement", order_by="AgreementScan.id",
                            cascade="all, delete-orphan")

    @property
    def audit_label(self):
        return f"{self.title} 第{self.version}版"

    @property
    def kind_name(self):
        return AGREEMENT_KINDS.get(self.kind, self.kind)

    def effective_status(self, today):
        """The status as of ``today``: an issued or signed agreement past its period is expired."""
        if self.status in ("issued", "signed") and self.period_end < today:
            return "expired"
        return self.status

    def signature(self, party):
        """The latest finger signature of a party ('a' or 'b'), or None."""
        found = [s for s in self.signatures if s.party == party]
        return found[-1] if found else None


class AgreementSignature(db.Model):
    """A signature drawn with a finger on a phone: the image lives under instance/, with who and when."""

    __tablename__ = "agreement_signature"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    agreement_id = db.Column(db.Integer, db.ForeignKey("agreement.id", ondelete="CASCADE"), nullable=False, index=True)
    party = db.Column(db.String(1), nullable=False)
    signer_name = db.Column(db.String(40), nullable=False)
    recorded_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    signed_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    stored_name = db.Column(db.String(80), nullable=False)

    agreement = db.relationship(Agreement, back_populates="signatures")
    recorded_by = db.relationship("User")

    @property
    def audit_label(self):
        return f"{PARTIES.get(self.party, self.party)} {self.signer_name} 手写签名"


class AgreementScan(db.Model):
    """A photo or scan of the signed paper (image or PDF), stored under instance/."""

    __tablename__ = "agreement_scan"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    agreement_id = db.Column(db.Integer, db.ForeignKey("agreement.id", ondelete="CASCADE"), nullable=False, index=True)
    filename = db.Column(db.String(200), nullable=False)
    stored_name = db.Column(db.String(80), nullable=False)
    mime_type = db.Column(db.String(40), nullable=False)
    size = db.Column(db.Integer, nullable=False)
    sha256 = db.Column(db.String(64), nullable=False)
    uploaded_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    uploaded_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    agreement = db.relationship(Agreement, back_populates="scans")
    uploaded_by = db.relationship("User")

    @property
    def audit_label(self):
        return self.filename


class AgreementWording(db.Model):
    """A township's or village's own wording of 定职责, 定任务 and 定奖惩 for one kind of agreement.

    Drafts for a grid take the wording of the nearest grid at or above it that has
    one, else the built-in wording. Placeholders such as ``{户数}`` are filled with
    the grid's figures when a draft is made (see agreements.service.PLACEHOLDERS).
    """

    __tablename__ = "agreement_wording"
    __audit__ = True
    __audit_exclude__ = ("updated_at",)
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False)
    kind = db.Column(db.String(20), nullable=False)
    duties = db.Column(db.Text, nullable=False, default="")
    tasks = db.Column(db.Text, nullable=False, default="")
    rewards = db.Column(db.Text, nullable=False, default="")
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    grid = db.relationship("Grid")

    __table_args__ = (db.UniqueConstraint("grid_id", "kind", name="uq_agreement_wording_grid_kind"),)

    @property
    def audit_label(self):
        return f"{self.grid.name if self.grid else ''} {AGREEMENT_KINDS.get(self.kind, self.kind)}责任状文本"
