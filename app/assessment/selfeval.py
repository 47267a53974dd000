"""季度自评 (篇三 "各级网格每季度对本级网格运行情景进行自评，二级网格对下级网格进行评价，评价结果逐级上报").

A grid below the township (a village, a natural village, a house cluster) fills in its quarterly
self-evaluation against the scheme that applies to it: the records propose a score per item, the
grid's 网格长 or workers give their own score and a comment per item and submit it; the level above
(the village for a grid inside it, the township for a village) rates each item and the rated result
is reported up: everyone whose scope covers the rating grid sees it.

States 草稿 → 已提交 → 已评定, and 退回 (back to 草稿 with a reason); every step goes through the
workflow engine (core/workflow.py), which writes the append-only event row; the rows themselves
are audited.
"""
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from ..accounts.models import User, user_grid
from ..accounts.permissions import can, roles_with
from ..core.db import starts_with
from ..core.forms import ServiceError
from ..core.timeutil import local_today, utcnow
from ..core.workflow import Workflow, action
from ..extensions import db
from ..grids.models import Grid, GridLevel
from ..grids.scope import can_see_grid, grid_clause
from ..notifications.service import notify
from . import service
from .models import SELF_EVAL_STATES, SelfEvaluation, SelfEvaluationEvent, SelfEvaluationLine

# The levels that evaluate themselves, and the level of the grid that rates each.
SELF_EVAL_LEVELS = ("village", "natural_village", "cluster")
CONFLICT = "这份自评刚被其他人处理过，请查看最新内容后再操作。"


def rater_grid(grid):
    """The grid whose staff rate ``grid``'s self-evaluation: the township above a village, the village
    above a grid inside it; None for a grid that does not evaluate itself."""
    if grid.level.key not in SELF_EVAL_LEVELS:
        return None
    key = "town" if grid.level.key == "village" else "village"
    above = db.session.scalars(select(Grid).where(Grid.id.in_(grid.ancestor_ids()[:-1]))).all()
    chosen = [g for g in above if g.level.key == key] or ([grid.parent] if grid.parent is not None else [])
    return max(chosen, key=lambda g: g.depth) if chosen else None


def subject_kind(grid):
    return "village" if grid.level.key == "village" else "grid"


def relations(user, ev):
    """filler: the grid's own staff (they see the grid but not the rating grid above it);
    rater: those who may rate and whose scope covers the rating grid."""
    if not getattr(user, "is_authenticated", False) or user.read_only:
        return set()
    out = set()
    if can(user, "rate_self_evaluations") and can_see_grid(user, ev.rater_grid):
        out.add("rater")
    elif can(user, "fill_self_evaluations") and can_see_grid(user, ev.grid):
        out.add("filler")
    return out


def may_start(user, grid):
    """Whether ``user`` may start the grid's self-evaluation (as one of its own staff)."""
    above = rater_grid(grid)
    return above is not None and "filler" in relations(user, SelfEvaluation(grid=grid, rater_grid=above))


# The scores typed into the form

@dataclass
class Typed:
    """One line's score and comment as typed (text), by line id."""
    score: str
    comment: str


def _number(line, text, who):
    """The typed score of a line, checked against the item's range; None when blank."""
    text = (text or "").strip().replace("＋", "+").replace("－", "-").replace("。", ".")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ServiceError(f"“{line.name}”的{who}“{text[:20]}”不是数字。", f"score_{line.id}") from None
    if not value.is_finite():
        raise ServiceError(f"“{line.name}”的{who}“{text[:20]}”不是数字。", f"score_{line.id}")
    value = service.round_points(value)
    if line.kind == "deduction":
        if not line.low <= value <= 0:
            raise ServiceError(f"“{line.name}”是扣分项，{who}应在 -{line.points} 到 0 之间（扣多少分就填负多少）。",
                               f"score_{line.id}")
    elif value < 0:
        raise ServiceError(f"“{line.name}”的{who}不能为负数。", f"score_{line.id}")
    elif value > line.high:
        word = "加分上限" if line.kind == "bonus" else "分值"
        raise ServiceError(f"“{line.name}”的{who} {value.normalize():f} 分超过该项{word} {line.points} 分。", f"score_{line.id}")
    return value


# What each side types: (score column, comment column, total column, summary column, the word for its score).
SIDES = {"self": ("self_score", "self_comment", "self_total", "summary", "自评分"),
         "rate": ("rated_score", "rated_comment", "rated_total", "rating_summary", "评定分")}


def _apply(step, side, complete):
    """Check every typed line of one side first, then write them all with the side's total and summary
    (nothing half-saved); ``complete``: every line must have a score."""
    ev, typed = step.record, step.value("typed", {})
    score_attr, comment_attr, total_attr, summary_attr, who = SIDES[side]
    _check_open(ev)
    values = {}
    for ln in ev.lines:
        t = typed.get(ln.id)
        if t is None:
            values[ln.id] = (getattr(ln, score_attr), getattr(ln, comment_attr))
            continue
        values[ln.id] = (_number(ln, t.score, who), (t.comment or "").strip()[:300])
    if complete:
        for ln in ev.lines:
            if values[ln.id][0] is None:
                raise ServiceError(f"“{ln.name}”还没有填写{who}。", f"score_{ln.id}")
    for ln in ev.lines:
        setattr(ln, score_attr, values[ln.id][0])
        setattr(ln, comment_attr, values[ln.id][1])
    scores = [values[ln.id][0] for ln in ev.lines]
    total = None if any(v is None for v in scores) else service.round_points(max(sum(scores, Decimal(0)), Decimal(0)))
    setattr(ev, total_attr, total)
    if step.value("summary") is not None:
        setattr(ev, summary_attr, step.value("summary").strip()[:2000])
    return total


def _check_open(ev):
    period = period_of(ev)
    frozen = service.frozen_for(ev.grid, ev.subject_kind, period)
    if frozen is not None:
        raise ServiceError(f"{period.label}的考核结果已由{frozen.grid.name}发布，不能再修改这份自评。")


def _save(step):
    _apply(step, "self", False)


def _submit(step):
    ev = step.record
    refresh_proposals(ev)
    total = _apply(step, "self", True)
    ev.submitted_at, ev.submitted_by_id = utcnow(), step.user.id
    step.detail = f"（自评 {total} 分）"


def _rate(step):
    ev = step.record
    total = _apply(step, "rate", True)
    ev.rated_at, ev.rated_by_id = utcnow(), step.user.id
    step.detail = f"（评定 {total} 分）"


def _returned(step):
    ev = step.record
    ev.submitted_at = None


def _tell_raters(step):
    ev = step.record
    for uid in _staff_ids(ev.rater_grid, "rate_self_evaluations"):
        notify(uid, None, "self_eval", f"{ev.grid.name}已提交{period_of(ev).label}自评（{ev.self_total} 分），请评定。",
               url=_path(ev))


def _tell_fillers(step):
    ev = step.record
    what = f"已评定：{ev.rated_total} 分" if ev.state == "rated" else f"被退回：{step.note}"
    for uid in _staff_ids(ev.grid, "fill_self_evaluations"):
        notify(uid, None, "self_eval", f"{ev.grid.name}{period_of(ev).label}自评{what}", url=_path(ev))


def _staff_ids(grid, permission):
    """Accounts bound to ``grid`` itself whose role holds ``permission``."""
    return db.session.scalars(select(User.id).join(user_grid, user_grid.c.user_id == User.id).where(
        user_grid.c.grid_id == grid.id, User.role.in_(roles_with(permission)), User.is_disabled.is_(False))).all()


def _path(ev):
    # Built by hand: the notification is written outside any request too (demo, CLI).
    return f"/assessment/grids/{ev.grid_id}/self-evaluation?period={period_of(ev).key}"


ACTIONS = (
    action("save", "保存草稿", {"draft"}, None, {"filler"}, effect=_save),
    action("submit", "提交", {"draft"}, "submitted", {"filler"}, style="primary", effect=_submit, notify=_tell_raters),
    action("rate", "评定", {"submitted"}, "rated", {"rater"}, style="primary", effect=_rate, notify=_tell_fillers),
    action("return", "退回修改", {"submitted"}, "draft", {"rater"}, note_required=True, style="danger",
           effect=_returned, notify=_tell_fillers),
)


def _write_event(step):
    ev = step.record
    label = step.action.label + step.detail
    row = SelfEvaluationEvent(evaluation_id=ev.id, actor_id=step.user.id,
                              actor_name=f"{step.user.full_name}（{step.user.role_name}）", action=step.action.key,
                              to_state=ev.state, note=f"{label}：{step.note}" if step.note else label)
    db.session.add(row)
    return row


SELF_EVALS = Workflow(
    ACTIONS, relations=relations, write_event=_write_event, conflict=CONFLICT,
    refusal=lambda ev, a: f"这份自评当前“{SELF_EVAL_STATES.get(ev.state, ev.state)}”，您不能“{a.label}”。",
    note_missing=lambda a: "退回时请写明原因。")


def available(user, ev):
    return SELF_EVALS.available(user, ev)


def act(user, ev, key, seen_version, *, note="", typed=None, summary=None):
    """Take one step (save, submit, rate, return). Raises ServiceError, saving nothing."""
    return SELF_EVALS.perform(user, ev, key, seen_version, note=note, typed=typed or {}, summary=summary)


# Starting, reading

def period_of(ev):
    return service.period_of("quarter", ev.period_start)


def find(grid, period):
    return db.session.scalar(select(SelfEvaluation).where(SelfEvaluation.grid_id == grid.id,
                                                          SelfEvaluation.period_start == period.start))


def proposals(grid, period, today=None):
    """{item id: (score, note)} the records propose for the grid's quarter, with the scheme used."""
    kind = subject_kind(grid)
    subject = service.area_subject(grid, kind)
    (score,) = service.compute([subject], period, today or local_today(), paths=[grid.path])
    return score.scheme, {ln.item_id: (ln.score, ln.note) for ln in score.lines}


def start(user, grid, period, today=None):
    """Open the grid's self-evaluation for a quarter (a draft with the proposed scores)."""
    today = today or local_today()
    if period.kind != "quarter":
        raise ServiceError("季度自评请选择季度，例如 2026-Q4。", "period")
    if period.start > today:
        raise ServiceError(f"{period.label}还没有开始，不能自评。", "period")
    above = rater_grid(grid)
    if above is None:
        raise ServiceError(f"{grid.name}是{grid.level.name}，不填写季度自评（行政村及以下的网格填写）。")
    if not may_start(user, grid):
        raise ServiceError("只有本网格的网格长、网格员或村里的管理员可以填写本网格的自评。")
    if find(grid, period) is not None:
        raise ServiceError(f"{grid.name}{period.label}的自评已经建立。")
    kind = subject_kind(grid)
    frozen = service.frozen_for(grid, kind, period)
    if frozen is not None:
        raise ServiceError(f"{period.label}的考核结果已由{frozen.grid.name}发布，不能再填写自评。")
    scheme, proposed = proposals(grid, period, today)
    ev = SelfEvaluation(grid=grid, rater_grid=above, subject_kind=kind, period_start=period.start,
                        period_end=period.end, scheme_id=scheme.id, scheme_name=scheme.name,
                        scheme_version=scheme.version, state="draft")
    for it in scheme.items:
        score, note = proposed.get(it.id, (None, ""))
        ev.lines.append(SelfEvaluationLine(seq=it.seq, item_id=it.id, name=it.name, kind=it.kind, points=it.points,
                                           proposed=score, proposed_note=note[:300]))
    db.session.add(ev)
    db.session.flush()
    db.session.add(SelfEvaluationEvent(evaluation_id=ev.id, actor_id=user.id,
                                       actor_name=f"{user.full_name}（{user.role_name}）", action="start",
                                       to_state="draft", note="开始填写"))
    db.session.flush()
    return ev


def refresh_proposals(ev, today=None):
    """The proposed scores again from the records as they are now (at submission)."""
    _, proposed = proposals(ev.grid, period_of(ev), today)
    for ln in ev.lines:
        if ln.item_id in proposed:
            ln.proposed, note = proposed[ln.item_id]
            ln.proposed_note = note[:300]


def typed_from(form, ev, prefix):
    """{line id: Typed} from a posted form's ``<prefix>_<line id>`` and ``<prefix>_comment_<line id>``."""
    out = {}
    for ln in ev.lines:
        key = f"{prefix}_{ln.id}"
        if key in form or f"{prefix}_comment_{ln.id}" in form:
            out[ln.id] = Typed(form.get(key, ""), form.get(f"{prefix}_comment_{ln.id}", ""))
    return out


def listing(user, state=None, waiting_for=None):
    """Self-evaluations in the user's scope, newest quarter first; ``waiting_for``: only those submitted
    and waiting for this user's rating."""
    q = select(SelfEvaluation).join(Grid, Grid.id == SelfEvaluation.grid_id).where(grid_clause(user))
    if state:
        q = q.where(SelfEvaluation.state == state)
    rows = db.session.scalars(q.order_by(SelfEvaluation.period_start.desc(), Grid.path)).all()
    if waiting_for is not None:
        rows = [ev for ev in rows if ev.state == "submitted" and "rater" in relations(waiting_for, ev)]
    return rows


def of_quarters(grids, quarters):
    """{(grid id, quarter start): self-evaluation} of several grids over several quarters, in one query."""
    if not grids or not quarters:
        return {}
    return {(ev.grid_id, ev.period_start): ev for ev in db.session.scalars(select(SelfEvaluation).where(
        SelfEvaluation.grid_id.in_([g.id for g in grids]),
        SelfEvaluation.period_start.in_([q.start for q in quarters])))}


def own_grids(user):
    """The grids whose self-evaluation the user fills (their own, below the rating level)."""
    grids = db.session.scalars(select(Grid).where(grid_clause(user), Grid.level.has(
        GridLevel.key.in_(SELF_EVAL_LEVELS))).order_by(Grid.path).limit(200)).all()
    return [g for g in grids if may_start(user, g)]


def under(grid):
    """Self-evaluations of the grids under ``grid`` (the figures reported up to it)."""
    return db.session.scalars(select(SelfEvaluation).join(Grid, Grid.id == SelfEvaluation.grid_id)
                              .where(starts_with(Grid.path, grid.path))
                              .order_by(SelfEvaluation.period_start.desc(), Grid.path)).all()
