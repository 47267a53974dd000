"""Unit screens: the scoped list with filters, a unit's page, create/edit, close, key supervision per grid."""
from flask import Blueprint, request, url_for
from flask_login import current_user

from ..accounts.permissions import require
from ..core import panels
from ..core.forms import run_form
from ..core.pagination import paginate
from ..grids.scope import can_see_grid, get_grid_or_404
from ..core.web import render
from ..extensions import db
from ..grids.models import Grid
from .models import RISK_GRADES, UNIT_KINDS
from ..grids import picker
from . import service
from .forms import UnitForm, UnitStatusForm

bp = Blueprint("units", __name__)


@panels.panel("grid", "key_units")
def _key_units(grid):
    """For the grid page: 重点监管单位 in business in the grid's subtree."""
    return {"key_units": service.key_unit_count(grid)}


def _filters():
    args = request.args
    return {
        "q": (args.get("q") or "").strip(),
        "grid_id": args.get("grid_id", type=int),
        "kind": args.get("kind") if args.get("kind") in UNIT_KINDS else "",
        "risk_grade": args.get("risk_grade") if args.get("risk_grade") in RISK_GRADES else "",
        "key": args.get("key") == "1",
        "status": args.get("status") if args.get("status") in (*service.UNIT_STATUS, "all") else "active",
    }


@bp.route("/units/")
def index():
    """Units in the user's grids: filter by grid, kind, risk grade, 重点监管; search by name or code."""
    filters = _filters()
    grid = get_grid_or_404(current_user, filters["grid_id"]) if filters["grid_id"] else None
    q = service.search_units(current_user, grid, filters["kind"], filters["risk_grade"], filters["key"], filters["q"], filters["status"])
    page = paginate(q)
    return render("units/index.html", "units/_results.html", filters=filters, page=page, grid_options=picker.filter_options(current_user, filters["grid_id"]),
                  kinds=UNIT_KINDS, grades=RISK_GRADES, statuses=service.UNIT_STATUS)


def _data(form):
    return service.UnitData(
        name=form.name.data, kind=form.kind.data, credit_code=form.credit_code.data,
        contact_name=form.contact_name.data, contact_phone=form.contact_phone.data, industry=form.industry.data,
        address=form.address.data, risk_grade=form.risk_grade.data, key_supervision=form.key_supervision.data,
        notes=form.notes.data)


def _grid_or_none(grid_id):
    """The chosen grid if it is in scope; the service refuses None with a message on the field."""
    grid = db.session.get(Grid, grid_id) if grid_id else None
    return grid if grid is not None and can_see_grid(current_user, grid) else None


@bp.route("/units/new", methods=["GET", "POST"])
@require("edit_ledger")
def new():
    """Register a unit in a grid."""
    form = UnitForm()
    picker.setup(form.grid_id, current_user, lambda: service.grid_choices(current_user))
    if request.method == "GET" and request.args.get("grid_id", type=int):
        form.grid_id.data = request.args.get("grid_id", type=int)
    done = run_form(form, lambda: service.save_unit(current_user, _grid_or_none(form.grid_id.data), _data(form)),
                    lambda u: f"已登记单位“{u.name}”。", lambda u: url_for("units.show", unit_id=u.id))
    return done or render("units/form.html", form=form, unit=None, title="登记单位")


@bp.route("/units/<int:unit_id>")
def show(unit_id):
    """A unit: code, kind, contact (tap to call), grid, risk grade, 重点监管, notes, status."""
    unit = service.get_unit_or_404(current_user, unit_id)
    return render("units/show.html", unit=unit, statuses=service.UNIT_STATUS, status_form=UnitStatusForm(),
                  **panels.context("unit", unit))


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
@require("edit_ledger")
def edit(unit_id):
    """Change a unit's details (every change is audited)."""
    unit = service.get_unit_or_404(current_user, unit_id)
    form = UnitForm(obj=unit)
    picker.setup(form.grid_id, current_user, lambda: service.grid_choices(current_user))
    done = run_form(form, lambda: service.save_unit(current_user, _grid_or_none(form.grid_id.data), _data(form), unit),
                    "已保存。", url_for("units.show", unit_id=unit.id))
    return done or render("units/form.html", form=form, unit=unit, title=f"修改 {unit.name}")


@bp.route("/units/<int:unit_id>/status", methods=["POST"])
@require("edit_ledger")
def status(unit_id):
    """Mark a unit closed, or back in business (units are kept, never deleted)."""
    unit = service.get_unit_or_404(current_user, unit_id)
    form = UnitStatusForm()
    done = run_form(form, lambda: service.set_status(unit, form.status.data),
                    lambda u: f"“{u.name}”已标记为{service.UNIT_STATUS[u.status]}。", url_for("units.show", unit_id=unit.id))
    return done or render("units/show.html", unit=unit, statuses=service.UNIT_STATUS, status_form=form)


@bp.route("/grids/<int:grid_id>/key-units")
def key_units(grid_id):
    """重点监管单位 of a grid and its subtree, highest risk first."""
    grid = get_grid_or_404(current_user, grid_id)
    return render("units/key_units.html", grid=grid, units=service.key_units(grid))
