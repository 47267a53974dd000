"""Assessment (考核): schemes as data, manual scores, frozen (published) periods and
the adjustments made to them afterwards."""
import json

from ..core.models import StepEvent
from ..core.timeutil import utcnow
from ..extensions import db

# Who is assessed. A scheme is kept per kind of subject.
SUBJECT_KINDS = {
    "worker": "网格员",
    "grid": "网格",
    "village": "行政村",
    "team": "服务团队",
    "party_member": "党员",
}
# How an item is scored.
ITEM_KINDS = {
    "auto": "自动计分",
    "manual": "人工评分",
    "deduction": "扣分项",
    "bonus": "加分项",
    "tally": "按次计分",
}
BASE_KINDS = ("auto", "manual", "tally")
# The fixed set of formulas an automatic item may use: the share of what was due that was done.
FORMULAS = {
    "visits_done": "应走访户次中已走访的比例",
    "log_days": "工作日中填写了工作日志的比例",
    "cases_in_time": "本期办结事件中按期办结的比例",
    "satisfaction": "本期回访事件中群众满意的比例",
    "patrols_done": "应巡查次数中已巡查的比例",
    "hazards_in_time": "本期到期隐患中按期整改销号的比例",
    "meetings_held": "应召开例会中已召开的比例",
    "attendance": "应参会人次中出席的比例",
}
# What a tally item (按次计分, 党员分类积分) counts: ``unit_points`` per record in a month, at most ``points``.
TALLIES = {
    "member_links": "结对联系的户（每户每月计分）",
    "member_meetings": "出席的会议（每次计分）",
}
# Who is scored by counting records, and which counts apply: party members (residents) link households
# and sit in meetings; service-team members (grid staff, mostly without an account) sit in meetings.
TALLY_KINDS = {"party_member": ("member_links", "member_meetings"), "team": ("member_meetings",)}
PERIOD_KINDS = {"month": "月度", "quarter": "季度", "year": "年度"}
# How a quarter's or a year's score is made: computed over the whole period at once, or the
# average of its months' totals.
COMBINE = {"pooled": "按整个期间的记录计算", "mean": "取各月得分的平均值", "sum": "各月积分相加（党员积分）"}


class AssessmentScheme(db.Model):
    """A scheme for one kind of subject. ``grid_id`` empty: the installation's default; a county's
    or township's own scheme serves its whole subtree (the nearest one above a subject wins).

    ``version`` goes up with every change; a frozen period keeps a copy of the version it used.
    """

    __tablename__ = "assessment_scheme"
    __audit__ = True
    __audit_exclude__ = ("created_at", "updated_at")
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), index=True)
    subject_kind = db.Column(db.String(20), nullable=False)
    name = db.Column(db.String(80), nullable=False)
    total = db.Column(db.Integer, nullable=False, default=1000)
    combine = db.Column(db.String(10), nullable=False, default="pooled")
    # 评星定级: JSON list of [name, minimum score], highest first.
    bands_json = db.Column(db.Text, nullable=False, default="[]")
    version = db.Column(db.Integer, nullable=False, default=1)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    grid = db.relationship("Grid")
    items = db.relationship("AssessmentItem", back_populates="scheme", order_by="AssessmentItem.seq",
                            cascade="all, delete-orphan")

    __table_args__ = (db.UniqueConstraint("grid_id", "subject_kind", name="uq_assessment_scheme_grid_kind"),)

    @property
    def audit_label(self):
        return f"{self.name}（第{self.version}版）"

    @property
    def bands(self):
        return [tuple(b) for b in json.loads(self.bands_json or "[]")]

    @property
    def subject_name(self):
        return SUBJECT_KINDS.get(self.subject_kind, self.subject_kind)


class AssessmentItem(db.Model):
    """One line of a scheme: its points and how it is scored.

    auto: ``points`` × the share the formula finds. manual: a leader enters 0..points with a
    reason. deduction / bonus: entries of ``unit_points`` each (or any amount), together at
    most ``points`` (the cap); deductions take points off, bonuses add them.
    """

    __tablename__ = "assessment_item"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    scheme_id = db.Column(db.Integer, db.ForeignKey("assessment_scheme.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    seq = db.Column(db.Integer, nullable=False, default=1)
    name = db.Column(db.String(60), nullable=False)
    kind = db.Column(db.String(10), nullable=False)
    formula = db.Column(db.String(30), nullable=False, default="")
    points = db.Column(db.Integer, nullable=False)
    unit_points = db.Column(db.Integer, nullable=False, default=0)
    description = db.Column(db.String(300), nullable=False, default="")

    scheme = db.relationship(AssessmentScheme, back_populates="items")

    @property
    def audit_label(self):
        return f"考核项 {self.name}"

    @property
    def kind_name(self):
        return ITEM_KINDS.get(self.kind, self.kind)

    @property
    def formula_name(self):
        return FORMULAS.get(self.formula) or TALLIES.get(self.formula, "")

    @property
    def counts_in_total(self):
        """Auto, manual and tally items make up the scheme's total; deductions and bonuses come on top."""
        return self.kind in BASE_KINDS


class ManualScore(db.Model):
    """A leader's entry for a subject, an item and a period: a manual score, a deduction or a bonus,
    with the reason and (optionally) the evidence, a photo or scan."""

    __tablename__ = "assessment_manual_score"
    __audit__ = True
    __audit_exclude__ = ("created_at",)
    id = db.Column(db.Integer, primary_key=True)
    item_id = db.Column(db.Integer, db.ForeignKey("assessment_item.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    subject_kind = db.Column(db.String(20), nullable=False)
    subject_id = db.Column(db.Integer, nullable=False)
    # The grid the subject belongs to (a worker's grid, the village itself): scoping reads it.
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, index=True)
    period_start = db.Column(db.Date, nullable=False)  # the month it counts in
    points = db.Column(db.Numeric(7, 1), nullable=False)
    reason = db.Column(db.String(300), nullable=False)
    evidence_file = db.Column(db.String(120), nullable=False, default="")
    entered_by_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    item = db.relationship(AssessmentItem)
    entered_by = db.relationship("User")
    grid = db.relationship("Grid")

    __table_args__ = (db.Index("ix_assessment_manual_subject", "subject_kind", "subject_id", "period_start"),)

    @property
    def audit_label(self):
        return f"{self.item.name if self.item else '考核项'} {self.points} 分：{self.reason[:40]}"


class FrozenPeriod(db.Model):
    """A published period of a township (or any grid): its figures and the scheme version it used,
    kept as they were; later corrections are :class:`ScoreAdjustment` rows."""

    __tablename__ = "assessment_frozen"
    __audit__ = True
    __audit_exclude__ = ("snapshot_json",)
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, index=True)
    subject_kind = db.Column(db.String(20), nullable=False)
    period_kind = db.Column(db.String(10), nullable=False)
    period_start = db.Column(db.Date, nullable=False)
    period_end = db.Column(db.Date, nullable=False)
    scheme_id = db.Column(db.Integer, db.ForeignKey("assessment_scheme.id", ondelete="SET NULL"))
    scheme_version = db.Column(db.Integer, nullable=False)
    snapshot_json = db.Column(db.Text, nullable=False)
    frozen_by_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    frozen_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    grid = db.relationship("Grid")
    frozen_by = db.relationship("User")
    adjustments = db.relationship("ScoreAdjustment", back_populates="frozen", order_by="ScoreAdjustment.id")

    __table_args__ = (db.UniqueConstraint("grid_id", "subject_kind", "period_kind", "period_start",
                                          name="uq_assessment_frozen_period"),)

    @property
    def audit_label(self):
        return f"考核结果发布 {self.period_kind} {self.period_start:%Y-%m-%d}"

    @property
    def snapshot(self):
        return json.loads(self.snapshot_json)


class ScoreAdjustment(db.Model):
    """A correction to a frozen period's figure for one subject, with the reason (audited)."""

    __tablename__ = "assessment_adjustment"
    __audit__ = True
    __audit_exclude__ = ("created_at",)
    id = db.Column(db.Integer, primary_key=True)
    frozen_id = db.Column(db.Integer, db.ForeignKey("assessment_frozen.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    subject_id = db.Column(db.Integer, nullable=False)
    item_name = db.Column(db.String(60), nullable=False)
    points = db.Column(db.Numeric(7, 1), nullable=False)
    reason = db.Column(db.String(300), nullable=False)
    author_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    frozen = db.relationship(FrozenPeriod, back_populates="adjustments")
    author = db.relationship("User")

    @property
    def audit_label(self):
        return f"考核更正 {self.item_name} {self.points:+} 分：{self.reason[:40]}"


# 季度自评 (篇三): a grid rates itself each quarter against its scheme, the level above rates it.
SELF_EVAL_STATES = {"draft": "草稿", "submitted": "已提交", "rated": "已评定"}


class SelfEvaluation(db.Model):
    """A grid's quarterly self-evaluation: one line per item of the scheme that applied when it was
    started (its version is kept), the grid's own scores, then the rating of the level above."""

    __tablename__ = "assessment_self_eval"
    __audit__ = True
    __audit_exclude__ = ("version", "created_at")
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, index=True)
    # The grid whose staff rate it (the village for a grid below it, the township for a village).
    rater_grid_id = db.Column(db.Integer, db.ForeignKey("grid.id"), nullable=False, index=True)
    subject_kind = db.Column(db.String(20), nullable=False)
    period_start = db.Column(db.Date, nullable=False)
    period_end = db.Column(db.Date, nullable=False)
    scheme_id = db.Column(db.Integer, db.ForeignKey("assessment_scheme.id", ondelete="SET NULL"))
    scheme_name = db.Column(db.String(80), nullable=False)
    scheme_version = db.Column(db.Integer, nullable=False)
    state = db.Column(db.String(20), nullable=False, default="draft", index=True)
    self_total = db.Column(db.Numeric(7, 1))
    rated_total = db.Column(db.Numeric(7, 1))
    summary = db.Column(db.Text, nullable=False, default="")  # the grid's overall comment
    rating_summary = db.Column(db.Text, nullable=False, default="")  # the rater's
    submitted_at = db.Column(db.DateTime)
    submitted_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    rated_at = db.Column(db.DateTime)
    rated_by_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    version = db.Column(db.Integer, nullable=False, default=1)

    grid = db.relationship("Grid", foreign_keys=[grid_id])
    rater_grid = db.relationship("Grid", foreign_keys=[rater_grid_id])
    submitted_by = db.relationship("User", foreign_keys=[submitted_by_id])
    rated_by = db.relationship("User", foreign_keys=[rated_by_id])
    lines = db.relationship("SelfEvaluationLine", back_populates="evaluation", order_by="SelfEvaluationLine.seq",
                            cascade="all, delete-orphan")
    events = db.relationship("SelfEvaluationEvent", order_by="SelfEvaluationEvent.id", viewonly=True)

    __table_args__ = (db.UniqueConstraint("grid_id", "period_start", name="uq_assessment_self_eval_grid_period"),)
    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_label(self):
        return f"季度自评 {self.grid.name if self.grid else ''} {self.period_start:%Y-%m}"

    @property
    def state_name(self):
        return SELF_EVAL_STATES.get(self.state, self.state)


class SelfEvaluationLine(db.Model):
    """One item of a self-evaluation: the score the records propose, the grid's own score and comment,
    the rater's score and comment. Scores are signed as they count (a deduction is negative)."""

    __tablename__ = "assessment_self_eval_line"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    evaluation_id = db.Column(db.Integer, db.ForeignKey("assessment_self_eval.id", ondelete="CASCADE"),
                              nullable=False, index=True)
    seq = db.Column(db.Integer, nullable=False)
    item_id = db.Column(db.Integer, db.ForeignKey("assessment_item.id", ondelete="SET NULL"))
    name = db.Column(db.String(60), nullable=False)
    kind = db.Column(db.String(10), nullable=False)
    points = db.Column(db.Integer, nullable=False)
    proposed = db.Column(db.Numeric(7, 1))
    proposed_note = db.Column(db.String(300), nullable=False, default="")
    self_score = db.Column(db.Numeric(7, 1))
    self_comment = db.Column(db.String(300), nullable=False, default="")
    rated_score = db.Column(db.Numeric(7, 1))
    rated_comment = db.Column(db.String(300), nullable=False, default="")

    evaluation = db.relationship(SelfEvaluation, back_populates="lines")

    @property
    def audit_label(self):
        return f"自评项 {self.name}"

    @property
    def kind_name(self):
        return ITEM_KINDS.get(self.kind, self.kind)

    @property
    def low(self):
        """The lowest score the line may take (a deduction takes points off, down to its cap)."""
        return -self.points if self.kind == "deduction" else 0

    @property
    def high(self):
        return 0 if self.kind == "deduction" else self.points


class SelfEvaluationEvent(StepEvent, db.Model):
    """One step of a self-evaluation (saved, submitted, returned, rated). Rows are only ever inserted."""

    __tablename__ = "assessment_self_eval_event"
    id = db.Column(db.Integer, primary_key=True)
    evaluation_id = db.Column(db.Integer, db.ForeignKey("assessment_self_eval.id", ondelete="CASCADE"),
                              nullable=False, index=True)
