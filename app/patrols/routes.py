"""Patrol and hazard screens: record a patrol on the phone, due patrols, hazards and their steps."""
from flask import Blueprint, abort, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..accounts.permissions import require
from ..core import panels, photos
from ..core.forms import acted_first, run_form
from ..core.pagination import paginate, paginate_rows
from ..grids.scope import can_see_grid, get_grid_or_404, grid_clause
from ..core.timeutil import utcnow
from ..core.web import render
from ..extensions import db
from ..grids.models import Grid
from ..units.models import Unit
from ..units.service import grid_choices
from ..grids import picker
from . import service
from .forms import HazardActionForm, PatrolForm, RuleForm
from .models import PHOTO_FOLDER, SEVERITIES, PatrolPhoto, PatrolRule

bp = Blueprint("patrols", __name__)



@panels.panel("public_intake", "supervised")
def _supervised(grid):
    """The public intake page of a grid lists its 挂牌督办 hazards (nothing personal in them)."""
    return {"supervised": service.supervised_hazards(grid)}


@bp.route("/patrols/")
def index():
    """Recent patrols in the user's grids."""
    grid_id = request.args.get("grid_id", type=int)
    grid = get_grid_or_404(current_user, grid_id) if grid_id else None
    page = paginate(service.recent_patrols(current_user, grid))
    return render("patrols/index.html", page=page, grid=grid, grid_options=picker.filter_options(current_user, grid_id))


@bp.route("/patrols/due")
def due():
    """Grids and units whose patrol is overdue by their frequency rule."""
    return render("patrols/due.html", page=paginate_rows(service.due_patrols(current_user)),
                  rules=db.session.scalars(select(PatrolRule).order_by(PatrolRule.id)).all())


def _unit_choices():
    units = db.session.execute(select(Unit.id, Unit.name).join(Grid, Unit.grid_id == Grid.id)
                               .where(grid_clause(current_user), Unit.status == "active").order_by(Unit.name)).all()
    return [(None, "（不针对单位）")] + [(u.id, u.name) for u in units]


@bp.route("/patrols/new", methods=["GET", "POST"])
@require("patrol")
def new():
    """Record a patrol on the phone: where, what was checked, findings, photos, and a hazard if found."""
    form = PatrolForm()
    picker.setup(form.grid_id, current_user, lambda: grid_choices(current_user))
    form.unit_id.choices = _unit_choices()
    if request.method == "GET":
        form.grid_id.data = request.args.get("grid_id", type=int) or (
            current_user.grids[0].id if current_user.grids else None)
        form.unit_id.data = request.args.get("unit_id", type=int)

    def action():
        grid = db.session.get(Grid, form.grid_id.data) if form.grid_id.data else None
        unit = db.session.get(Unit, form.unit_id.data) if form.unit_id.data else None
        if unit is not None and not can_see_grid(current_user, unit.grid):
            unit = None
        data = service.PatrolData(place=form.place.data, checked=form.checked.data, findings=form.findings.data,
                                  hazard=form.hazard.data, severity=form.severity.data)
        return service.record_patrol(current_user, grid, unit, data, request.files.getlist(form.photos.name))

    done = run_form(form, action, "已记录巡查。", lambda p: url_for("patrols.show", patrol_id=p.id))
    return done or render("patrols/new.html", form=form)


@bp.route("/patrols/<int:patrol_id>")
def show(patrol_id):
    """A patrol with its photos and the hazards it found."""
    patrol = service.get_patrol_or_404(current_user, patrol_id)
    return render("patrols/show.html", patrol=patrol, states=service.HAZARD_STATES, severities=SEVERITIES)


@bp.route("/patrols/<int:patrol_id>/photos/<int:photo_id>")
def photo(patrol_id, photo_id):
    """A patrol photo, only for users who may see the patrol's grid."""
    patrol = service.get_patrol_or_404(current_user, patrol_id)
    return photos.flat_response(PatrolPhoto, photo_id, "patrol_id", patrol.id, PHOTO_FOLDER)


@bp.route("/hazards/")
def hazards():
    """Hazards in the user's grids: open, overdue, or by state; per grid."""
    grid_id = request.args.get("grid_id", type=int)
    grid = get_grid_or_404(current_user, grid_id) if grid_id else None
    state = request.args.get("state") if request.args.get("state") in (*service.HAZARD_STATES, "all") else "open"
    overdue = request.args.get("overdue") == "1"
    page = paginate(service.hazards(current_user, grid, state, overdue))
    return render("patrols/hazards.html", page=page, grid=grid, state=state, overdue=overdue, now=utcnow(),
                  grid_options=picker.filter_options(current_user, grid_id), states=service.HAZARD_STATES, severities=SEVERITIES)


def _hazard_page(hazard, forms=None, status=None, refused=None):
    actions = service.hazard_actions(current_user, hazard)
    all_forms = {}
    for a in actions:
        form = HazardActionForm(prefix=a.key, formdata=None)
        form.version.data = hazard.version
        all_forms[a.key] = form
    all_forms.update(forms or {})
    return render("patrols/hazard.html", hazard=hazard, actions=actions, forms=all_forms, now=utcnow(),
                  refused=refused, status=status,
                  states=service.HAZARD_STATES, severities=SEVERITIES, labels={k: a.label for k, a in service.HAZARD_ACTIONS.items()})


@bp.route("/hazards/<int:hazard_id>")
def hazard(hazard_id):
    """A hazard: what, where, deadline, the measures held meanwhile, every step so far."""
    return _hazard_page(service.get_hazard_or_404(current_user, hazard_id))


@bp.route("/hazards/<int:hazard_id>/act", methods=["POST"])
def hazard_act(hazard_id):
    """Take one rectification step (当场整改, 限期整改, 上报, 挂牌督办, 整改完成, 复查, 销号)."""
    hazard = service.get_hazard_or_404(current_user, hazard_id)
    key = request.form.get("action", "")
    if key not in service.HAZARD_ACTIONS:
        abort(400)
    form = HazardActionForm(prefix=key)
    action = service.HAZARD_ACTIONS[key]
    done = run_form(form, lambda: service.act(current_user, hazard, key, form.version.data, note=form.note.data,
                                              deadline=form.deadline.data, measures=form.measures.data,
                                              result=form.result.data),
                    f"已{action.label}。", url_for("patrols.hazard", hazard_id=hazard_id))
    if done:
        return done
    hazard = service.get_hazard_or_404(current_user, hazard_id)  # reload after the rollback
    if service.CONFLICT in form.form_errors:  # someone acted first: say who, keep what was typed
        latest = hazard.events[-1] if hazard.events else None
        label = service.HAZARD_ACTIONS[latest.action].label if latest and latest.action in service.HAZARD_ACTIONS \
            else "发现"
        refused = acted_first(latest, label, action, form, hazard.version, "其他人刚刚处理了这个隐患")
        return _hazard_page(hazard, {key: form}, status=409, refused=refused)
    return _hazard_page(hazard, {key: form})


@bp.route("/patrols/rules", methods=["GET", "POST"])
@require("manage_case_settings")
def rules():
    """Patrol frequencies by grid level and by unit risk grade."""
    rows = db.session.scalars(select(PatrolRule).order_by(PatrolRule.id)).all()
    if request.method == "POST":
        rule = db.session.get(PatrolRule, request.form.get("rule_id", type=int) or 0) or abort(404)
        form = RuleForm(prefix=f"r{rule.id}")
        done = run_form(form, lambda: setattr(rule, "every_days", form.every_days.data) or rule,
                        "已保存巡查频次。", url_for("patrols.rules"))
        if done:
            return done
    forms = {r.id: RuleForm(prefix=f"r{r.id}", formdata=None, obj=r) for r in rows}
    if request.method == "POST":
        forms[rule.id] = form
    return render("patrols/rules.html", rows=rows, forms=forms)
