"""What a grid publishes beyond its ledger: services offered and the complaint phone."""
from ..extensions import db


class GridNotice(db.Model):
    """Notice-board settings of a grid; a grid without its own uses its nearest ancestor's."""

    __tablename__ = "grid_notice"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, unique=True)
    services = db.Column(db.Text, nullable=False, default="")  # one service per line
    complaint_phone = db.Column(db.String(40), nullable=False, default="")
    office_hours = db.Column(db.String(100), nullable=False, default="")

    grid = db.relationship("Grid")

    @property
    def audit_label(self):
        return f"{self.grid.name if self.grid else ''} 公示牌"
