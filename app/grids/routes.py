"""Grid screens: the lazy tree, a grid's page, sub-grids and staff."""
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..accounts.models import User, user_grid
from ..accounts.permissions import can, require
from ..core import panels
from ..core.forms import run_action, run_form
from .scope import get_child_or_404, get_grid_or_404, grid_clause, top_grids, visible_grid_ids
from ..core.web import render
from ..extensions import db
from . import picker, service
from .map_routes import map_view
from .forms import GridForm, MoveForm, RenameForm, StaffForm
from .models import GRID_ROLES, Grid, GridKind, GridLevel, GridStaff
from ..core.db import starts_with

bp = Blueprint("grids", __name__, url_prefix="/grids")


def village_rank():
    level = service.level_by_key("village")
    return level.rank if level else 60


def may_add_under(user, parent):
    """Township staff shape their whole scope; village admins work below a village."""
    if not can(user, "manage_grids"):
        return False
    return user.role != "village_admin" or parent.level.rank >= village_rank()


def may_reshape(user, grid):
    """Rename or move: official (coded) units only by an admin; village admins below a village."""
    if not can(user, "manage_grids") or grid.parent_id is None and not user.is_admin:
        return False
    if grid.division_code and not user.is_admin:
        return False
    return user.role != "village_admin" or grid.level.rank > village_rank()


@bp.route("/")
def tree():
    """The grid tree from the user's top grids; children load on demand."""
    roots = top_grids(current_user)
    rows = [(g, db.session.scalar(select(db.func.count(Grid.id)).where(Grid.parent_id == g.id))) for g in roots]
    return render("grids/tree.html", rows=rows)


@bp.route("/pick")
def pick():
    """Fragment: the grids matching a grid field's search box (app/grids/picker.py)."""
    target = request.args.get("target", "grid_id")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,40}", target):
        abort(400)
    text = (request.args.get("q") or "").strip()
    rows, more = picker.search(current_user, text, leaf_only=request.args.get("leaf") == "1")
    return render_template("grids/_pick.html", rows=rows, more=more, text=text, target=target)


@bp.route("/<int:grid_id>/children")
def children(grid_id):
    """Fragment: the child nodes of one grid (htmx lazy load); a full page without htmx."""
    grid = get_grid_or_404(current_user, grid_id)
    rows = service.child_rows(grid.id, grid_clause(current_user))
    return render("grids/children.html", "grids/_nodes.html", grid=grid, rows=rows)


@bp.route("/<int:grid_id>")
def show(grid_id):
    """A grid's page: path, counts, staff by role, service team, children."""
    grid = get_grid_or_404(current_user, grid_id)
    staff = grid.staff.order_by(GridStaff.role, GridStaff.id).all()
    by_role = {role: [s for s in staff if s.role == role] for role in GRID_ROLES}
    crumbs = [g for g in db.session.scalars(select(Grid).where(Grid.id.in_(grid.ancestor_ids()[:-1]), grid_clause(current_user)).order_by(Grid.depth))]
    rows = service.child_rows(grid.id, grid_clause(current_user))
    return render("grids/show.html", grid=grid, by_role=by_role, counts=service.grid_counts(grid), crumbs=crumbs,
                  rows=rows, team_warning=service.team_warning(grid),
                  may_delete=(may_reshape(current_user, grid) or current_user.is_admin)
                  and can(current_user, "manage_grids") and not service.grid_holders(grid),
                  may_add=may_add_under(current_user, grid), may_reshape=may_reshape(current_user, grid),
                  may_assign=can(current_user, "assign_staff"), map_view=map_view(grid), **panels.context("grid", grid))


@bp.route("/<int:grid_id>/new", methods=["GET", "POST"])
@require("manage_grids")
def new_child(grid_id):
    """Create a sub-grid (natural village, house cluster …) under this grid."""
    parent = get_grid_or_404(current_user, grid_id)
    if not may_add_under(current_user, parent):
        abort(403)
    form = GridForm()
    levels = db.session.scalars(select(GridLevel).where(GridLevel.rank > parent.level.rank).order_by(GridLevel.rank)).all()
    form.level_id.choices = [(lv.id, lv.name) for lv in levels]
    form.kind_id.choices = [(k.id, k.name) for k in db.session.scalars(select(GridKind).order_by(GridKind.id))]
    if request.method == "GET":
        form.kind_id.data = parent.kind_id
    done = run_form(
        form,
        lambda: service.create_grid(parent, form.name.data, db.session.get(GridLevel, form.level_id.data),
                                    db.session.get(GridKind, form.kind_id.data), form.division_code.data or None,
                                    form.area_desc.data),
        lambda grid: f"已新建网格“{grid.name}”。", lambda grid: url_for("grids.show", grid_id=grid.id))
    return done or render("grids/form.html", form=form, grid=parent, title=f"在“{parent.name}”下新建网格")


def _grid_to_reshape(grid_id):
    """A grid in scope that the current user may rename or move, else 404/403."""
    grid = get_grid_or_404(current_user, grid_id)
    if not may_reshape(current_user, grid):
        abort(403)
    return grid


@bp.route("/<int:grid_id>/edit", methods=["GET", "POST"])
@require("manage_grids")
def edit(grid_id):
    """Rename a grid and describe its area."""
    grid = _grid_to_reshape(grid_id)
    form = RenameForm(obj=grid)
    done = run_form(form, lambda: service.rename_grid(grid, form.name.data, form.area_desc.data),
                    "已保存。", url_for("grids.show", grid_id=grid.id))
    return done or render("grids/form.html", form=form, grid=grid, title=f"修改网格“{grid.name}”")


@bp.route("/<int:grid_id>/delete", methods=["POST"])
@require("manage_grids")
def delete(grid_id):
    """Delete an empty grid (nothing below it, no households, staff, accounts or records)."""
    grid = get_grid_or_404(current_user, grid_id)
    if not (may_reshape(current_user, grid) or current_user.is_admin):
        abort(403)
    parent_id = grid.parent_id
    return run_action(lambda: service.delete_empty_grid(current_user, grid), lambda name: f"已删除空网格“{name}”。",
                      url_for("grids.show", grid_id=parent_id) if parent_id else url_for("grids.tree"),
                      back=url_for("grids.show", grid_id=grid_id))


@bp.route("/<int:grid_id>/move", methods=["GET", "POST"])
@require("manage_grids")
def move(grid_id):
    """Move a grid with its subtree under another parent."""
    grid = _grid_to_reshape(grid_id)
    form = MoveForm()
    candidates = db.session.execute(
        select(Grid.id, Grid.name, Grid.depth).join(GridLevel, Grid.level_id == GridLevel.id)
        .where(grid_clause(current_user), GridLevel.rank < grid.level.rank, ~starts_with(Grid.path, grid.path),
               Grid.id != grid.parent_id)
        .order_by(Grid.path)
    ).all()
    form.parent_id.choices = [(c.id, "　" * c.depth + c.name) for c in candidates]
    done = run_form(form, lambda: service.move_grid(current_user, grid, get_grid_or_404(current_user, form.parent_id.data)),
                    f"已将“{grid.name}”移到新的上级之下。", url_for("grids.show", grid_id=grid.id))
    return done or render("grids/form.html", form=form, grid=grid, title=f"移动网格“{grid.name}”")


def _staff_candidates(grid):
    """Accounts that can be put into a role: those bound within the actor's scope."""
    q = select(User).where(User.is_disabled.is_(False)).order_by(User.full_name)
    if not current_user.is_admin:
        bound = select(user_grid.c.user_id).where(user_grid.c.grid_id.in_(visible_grid_ids(current_user)))
        q = q.where(User.id.in_(bound))
    return db.session.scalars(q).all()


@bp.route("/<int:grid_id>/staff/new", methods=["GET", "POST"])
@require("assign_staff")
def staff_new(grid_id):
    """Assign a person to 网格长 / 网格员 / 联系领导 / 信息员 or the service team."""
    grid = get_grid_or_404(current_user, grid_id)
    form = StaffForm()
    users = _staff_candidates(grid)
    form.user_id.choices = [(0, "（无账号，填写下方姓名）")] + [(u.id, f"{u.full_name}（{u.username}，{u.role_name}）") for u in users]
    if request.method == "GET" and request.args.get("role") in GRID_ROLES:
        form.role.data = request.args["role"]
    user = next((u for u in users if u.id == form.user_id.data), None)
    done = run_form(form, lambda: service.assign_staff(grid, form.role.data, user, form.name.data, form.phone.data,
                                                       form.duty.data),
                    "已安排岗位。", url_for("grids.show", grid_id=grid.id))
    return done or render("grids/staff_form.html", form=form, grid=grid)


@bp.route("/<int:grid_id>/staff/<int:staff_id>/remove", methods=["POST"])
@require("assign_staff")
def staff_remove(grid_id, staff_id):
    """Take a person out of a grid role (their account stays)."""
    grid = get_grid_or_404(current_user, grid_id)
    staff = get_child_or_404(GridStaff, staff_id, "grid_id", grid.id)
    name = staff.display_name
    db.session.delete(staff)
    db.session.commit()
    flash(f"已将 {name} 移出该岗位。", "success")
    return redirect(url_for("grids.show", grid_id=grid.id))
