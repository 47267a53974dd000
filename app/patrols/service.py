"""Patrol and hazard rules: recording a patrol, due patrols, and the hazard rectification
steps — one table (HAZARD_ACTIONS) read by the workflow engine (core/workflow.py)."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from ..accounts.permissions import can
from ..cases import service as cases
from ..cases.models import CaseCategory
from ..core import photos as photo_store
from ..core.forms import ServiceError
from ..core.timeutil import fmt_local, local_today, utcnow
from ..core.workdays import end_of_local_day
from ..core.workflow import Workflow, action
from ..extensions import db
from ..grids.models import Grid, GridLevel
from ..grids.scope import can_see_grid, get_scoped_or_404, grid_clause, subtree_ids
from ..units.models import Unit
from .models import DEFAULT_RULES, PHOTO_FOLDER, SEVERITIES, Hazard, HazardEvent, Patrol, PatrolPhoto, PatrolRule

HAZARD_STATES = {
    "found": "待处置",
    "rectifying": "限期整改中",
    "supervised": "挂牌督办中",
    "reported": "已上报",
    "review": "待复查",
    "passed": "复查合格",
    "closed": "已销号",
}
OPEN_HAZARD = {"found", "rectifying", "supervised", "reported", "review", "passed"}
CONFLICT = "该隐患刚刚已被其他人处理，您的操作没有保存。请查看最新进展后再操作。"
REVIEW_FAILED_TARGET = "rectifying"
# What a user may do to a hazard of a grid they see follows from these permissions (one table:
# accounts/permissions.py); each is a relation the step table below names.
HAZARD_PERMISSIONS = ("patrol", "handle_hazards", "supervise_hazards")


# Reference data and scope

def ensure_reference_data():
    have = {(r.target_kind, r.target_key) for r in db.session.scalars(select(PatrolRule))}
    for kind, key, days, basis in DEFAULT_RULES:
        if (kind, key) not in have:
            db.session.add(PatrolRule(target_kind=kind, target_key=key, every_days=days, basis=basis))
    db.session.flush()


def get_patrol_or_404(user, patrol_id):
    """A patrol record through the user's scope, else 404."""
    return get_scoped_or_404(user, Patrol, patrol_id)


def get_hazard_or_404(user, hazard_id):
    """A hazard through the user's scope, else 404."""
    return get_scoped_or_404(user, Hazard, hazard_id)


# Patrols

@dataclass
class PatrolData:
    place: str = ""
    checked: str = ""
    findings: str = ""
    hazard: str = ""  # a hazard found, if any
    severity: str = "general"


def record_patrol(user, grid, unit, data, photos=()):
    """Record a patrol (and the hazard it found, if any). Raises ServiceError."""
    if grid is None or not can_see_grid(user, grid):
        raise ServiceError("请选择您负责的网格。", "grid_id")
    if unit is not None and (unit.grid_id != grid.id and not can_see_grid(user, unit.grid)):
        raise ServiceError("所选单位不在您负责的网格内。", "unit_id")
    if not (data.checked or "").strip():
        raise ServiceError("请写明检查了什么。", "checked")
    if data.severity not in SEVERITIES:
        raise ServiceError("请选择隐患等级。", "severity")
    photo_store.check_photos(photos)
    patrol = Patrol(grid=grid, unit=unit, patrolled_by_id=user.id, patrolled_at=utcnow(),
                    place=(data.place or "").strip()[:200], checked=data.checked.strip(),
                    findings=(data.findings or "").strip())
    db.session.add(patrol)
    db.session.flush()
    for name, width, height, size in photo_store.store_flat(photos, PHOTO_FOLDER):
        db.session.add(PatrolPhoto(patrol_id=patrol.id, stored_name=name, width=width, height=height, size=size))
    if (data.hazard or "").strip():
        hazard = Hazard(patrol=patrol, grid=grid, unit=unit, description=data.hazard.strip(), severity=data.severity,
                        state="found", created_at=utcnow())
        db.session.add(hazard)
        db.session.flush()
        _event(hazard, user, "found", "found", "巡查发现")
        if hazard.severity == "major":
            _alert_major(hazard)
    db.session.flush()
    return patrol


def _alert_major(hazard):
    """重大隐患: the village, the grid's leader and the township hear at once, as of a 突发 case."""
    where = f"{hazard.grid.name}{'，' + hazard.unit.name if hazard.unit else ''}"
    cases.alert_at_once(hazard.grid, f"【重大隐患】{hazard.description[:80]}（{where}），请立即组织处置",
                        url=f"/hazards/{hazard.id}")  # the hazard's page (patrols.hazard)


def _rules():
    return {(r.target_kind, r.target_key): r for r in db.session.scalars(select(PatrolRule))}


def due_patrols(user, today=None):
    """Grids and units whose last patrol is older than their rule allows (or who never had one).

    Returns rows (kind, object, rule, last patrol time or None, days overdue), most overdue first.
    """
    today = today or local_today()
    rules = _rules()
    rows = []
    last_by_grid = dict(db.session.execute(
        select(Patrol.grid_id, func.max(Patrol.patrolled_at)).where(Patrol.unit_id.is_(None)).group_by(Patrol.grid_id)).all())
    level_keys = {k for kind, k in rules if kind == "grid_level"}
    grids = db.session.scalars(select(Grid).join(GridLevel, Grid.level_id == GridLevel.id)
                               .where(grid_clause(user), GridLevel.key.in_(level_keys)).order_by(Grid.path)).all()
    for grid in grids:
        rule = rules[("grid_level", grid.level.key)]
        rows.append(("grid", grid, rule, last_by_grid.get(grid.id)))
    last_by_unit = dict(db.session.execute(
        select(Patrol.unit_id, func.max(Patrol.patrolled_at)).where(Patrol.unit_id.isnot(None)).group_by(Patrol.unit_id)).all())
    grades = {k for kind, k in rules if kind == "risk_grade"}
    units = db.session.scalars(select(Unit).join(Grid, Unit.grid_id == Grid.id)
                               .where(grid_clause(user), Unit.status == "active", Unit.risk_grade.in_(grades))).all()
    for unit in units:
        rows.append(("unit", unit, rules[("risk_grade", unit.risk_grade)], last_by_unit.get(unit.id)))
    out = []
    for kind, obj, rule, last in rows:
        due = (last.date() if last else today - timedelta(days=rule.every_days + 1)) + timedelta(days=rule.every_days)
        if due < today:
            out.append((kind, obj, rule, last, (today - due).days))
    return sorted(out, key=lambda r: (r[3] is not None, -r[4]))


def recent_patrols(user, grid=None):
    q = select(Patrol).join(Grid, Patrol.grid_id == Grid.id).where(grid_clause(user))
    if grid is not None:
        q = q.where(Patrol.grid_id.in_(subtree_ids(grid)))
    return q.order_by(Patrol.patrolled_at.desc())


# Hazards

def hazards(user, grid=None, state="open", overdue=False, now=None):
    now = now or utcnow()
    q = select(Hazard).join(Grid, Hazard.grid_id == Grid.id).where(grid_clause(user))
    if grid is not None:
        q = q.where(Hazard.grid_id.in_(subtree_ids(grid)))
    if state == "open":
        q = q.where(Hazard.state.in_(OPEN_HAZARD))
    elif state in HAZARD_STATES:
        q = q.where(Hazard.state == state)
    if overdue:
        q = q.where(Hazard.state.in_(OPEN_HAZARD), Hazard.deadline_at < now)
    return q.order_by(Hazard.deadline_at.is_(None), Hazard.deadline_at, Hazard.id.desc())


def supervised_hazards(grid):
    """挂牌督办 hazards of a grid's subtree: listed on the grid's public page (no personal data in them)."""
    return db.session.scalars(select(Hazard).where(Hazard.grid_id.in_(subtree_ids(grid)), Hazard.state == "supervised")
                              .order_by(Hazard.deadline_at)).all()


def hazard_relations(user, hazard):
    """The hazard permissions of a user who may act on the hazard's grid."""
    if not getattr(user, "is_authenticated", False) or user.read_only or not can_see_grid(user, hazard.grid):
        return set()
    return {p for p in HAZARD_PERMISSIONS if can(user, p)}


def _deadline_and_measures(step):
    hazard, deadline = step.record, step.value("deadline")
    if deadline is None:
        raise ServiceError("请填写整改期限。", "deadline")
    if deadline < local_today():
        raise ServiceError("整改期限不能早于今天。", "deadline")
    hazard.deadline_at = end_of_local_day(deadline)
    if not step.value("measures"):
        raise ServiceError("请写明整改期间采取的安全措施。", "measures")
    hazard.measures = step.value("measures")


def _supervise(step):
    _deadline_and_measures(step)
    if step.record.severity != "major":
        step.record.severity = "major"
        _alert_major(step.record)


def _report(step):
    _report_as_case(step.user, step.record, step.note)


def _fixed(step):
    if not step.note:
        raise ServiceError("请写明整改情况。", "note")


def _review(step):
    result = step.value("result")
    if result not in ("pass", "fail"):
        raise ServiceError("请选择复查结果。", "result")
    if result == "fail":
        step.target = REVIEW_FAILED_TARGET
        if not step.note:
            raise ServiceError("复查不合格时请写明问题。", "note")
        step.detail = "（不合格，继续整改）"
    else:
        step.detail = "（合格）"


def _close(step):
    step.record.closed_at = utcnow()


HAZARD_ACTIONS = {a.key: a for a in (
    action("fix_on_spot", "当场整改", {"found"}, "review", {"patrol"}, effect=_fixed),
    action("set_deadline", "限期整改", {"found"}, "rectifying", {"handle_hazards"}, ("deadline", "measures"),
           effect=_deadline_and_measures),
    action("report", "上报", {"found", "rectifying"}, "reported", {"handle_hazards"}, effect=_report),
    action("supervise", "挂牌督办", {"found", "rectifying", "reported"}, "supervised", {"supervise_hazards"},
           ("deadline", "measures"), effect=_supervise),
    action("rectified", "整改完成", {"rectifying", "supervised", "reported"}, "review", {"patrol"}, effect=_fixed),
    action("review", "复查", {"review"}, "passed", {"handle_hazards"}, ("result",), effect=_review),
    action("close", "销号", {"passed"}, "closed", {"handle_hazards"}, effect=_close),
)}


def _event(hazard, user, action_key, to_state, note="", measures="", deadline=None):
    db.session.add(HazardEvent(hazard_id=hazard.id, actor_id=user.id, actor_name=f"{user.full_name}（{user.role_name}）",
                               action=action_key, to_state=to_state, note=note, measures=measures, deadline_at=deadline))


def _write_hazard_event(step):
    hazard, label = step.record, step.action.label + step.detail
    _event(hazard, step.user, step.action.key, hazard.state, f"{label}：{step.note}" if step.note else label,
           step.value("measures"), hazard.deadline_at)


HAZARDS = Workflow(
    HAZARD_ACTIONS.values(), relations=hazard_relations, write_event=_write_hazard_event, conflict=CONFLICT,
    refusal=lambda hazard, a: f"隐患当前“{HAZARD_STATES[hazard.state]}”，您不能“{a.label}”。",
    note_missing=lambda a: "请填写说明。")


def hazard_actions(user, hazard):
    """The steps the user may take on the hazard now, in table order."""
    return HAZARDS.available(user, hazard)


def act(user, hazard, key, seen_version, *, note="", deadline=None, measures="", result=None):
    """Take one rectification step on a hazard. Raises ServiceError, saving nothing."""
    HAZARDS.perform(user, hazard, key, seen_version, note=note, deadline=deadline,
                    measures=(measures or "").strip(), result=result)
    return hazard


def _report_as_case(user, hazard, note):
    """上报: the hazard becomes a case of its grid, held at the level above that grid that has a desk
    (reporting up means the grid's own desk cannot settle it)."""
    category = db.session.scalar(select(CaseCategory).where(CaseCategory.name == "安全生产", CaseCategory.active)) \
        or cases.public_category()
    data = cases.CaseData(title=f"隐患上报：{hazard.description[:80]}", description=f"{hazard.description}\n{note}".strip(),
                          location=hazard.patrol.place, category_id=category.id,
                          handling_class="emergency" if hazard.severity == "major" else "coordination",
                          unit_id=hazard.unit_id)
    above = cases.escalation_target(hazard.grid)
    if above is None:
        raise ServiceError("上级没有可以受理的人员，无法上报；请先为上级网格安排工作人员。")
    case = cases.create_case(user, hazard.grid, data, source="patrol", source_ref=f"hazard:{hazard.id}",
                             held_at=above)
    hazard.case_id = case.id


def deadline_text(hazard):
    return fmt_local(hazard.deadline_at, "%Y-%m-%d") if hazard.deadline_at else "—"
