"""Unit models: a business or production unit in a grid, with its safety grade."""
from ..extensions import db

UNIT_KINDS = ["工商企业户", "生产经营单位", "个体工商户", "机关事业单位", "社会组织"]
RISK_GRADES = ["低风险", "一般风险", "较大风险", "重大风险"]


class Unit(db.Model):
    """单位: a business or production unit in a grid, with its safety grade."""

    __tablename__ = "unit"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False)
    kind = db.Column(db.String(20), nullable=False)
    credit_code = db.Column(db.String(18), unique=True)
    contact_name = db.Column(db.String(40), nullable=False, default="")
    contact_phone = db.Column(db.String(20), nullable=False, default="")
    industry = db.Column(db.String(60), nullable=False, default="")
    address = db.Column(db.String(200), nullable=False, default="")
    risk_grade = db.Column(db.String(10), nullable=False, default="低风险")
    key_supervision = db.Column(db.Boolean, nullable=False, default=False)
    notes = db.Column(db.Text, nullable=False, default="")
    status = db.Column(db.String(20), nullable=False, default="active")

    grid = db.relationship("Grid")

    @property
    def audit_label(self):
        return self.name
