"""A grid's area map: the page with the marks, uploading the image, marking house clusters by tapping it."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..accounts.permissions import can, require
from ..core import photos, uploads
from ..core.forms import ServiceError
from .scope import get_grid_or_404
from ..core.web import render
from ..extensions import db
from . import maps

bp = Blueprint("grid_maps", __name__, url_prefix="/grids")


def map_view(grid):
    """The map a grid's pages show (its own or the nearest above), served through the grid's own image URL."""
    return maps.map_view(grid, href=url_for("grid_maps.image", grid_id=grid.id))


@bp.route("/<int:grid_id>/map")
def show(grid_id):
    """The grid's area map with its marks (or the map of the grid above, with this grid's mark), and for
    grid managers the upload and the tap-to-mark form."""
    grid = get_grid_or_404(current_user, grid_id)
    own = maps.map_of(grid)
    shown = own or maps.nearest_map(grid)
    may_edit = can(current_user, "manage_grids")
    marked = {m.grid_id for m in own.marks} if own else set()
    targets = maps.markable_grids(grid) if own and may_edit else []
    return render("grids/map.html", grid=grid, own=own, view=shown and map_view(grid), may_edit=may_edit,
                  targets=targets, click_size=maps.click_size(own) if targets else None,
                  marked=marked, next_target=next((t.id for t in targets if t.id not in marked), None),
                  photo_hint=uploads.PHOTO_HINT.split("，", 1)[1])


@bp.route("/<int:grid_id>/map.jpg")
def image(grid_id):
    """The map image, only for users who may see the grid (the map of the grid itself or the nearest above)."""
    grid = get_grid_or_404(current_user, grid_id)
    shown = maps.nearest_map(grid)
    if shown is None:
        abort(404)
    return photos.send_photo(shown.file_name, thumb=request.args.get("size") == "thumb")


def _done(grid, message, anchor="map"):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("grid_maps.show", grid_id=grid.id, _anchor=anchor))


def _refused(grid, exc):
    db.session.rollback()
    flash(str(exc), "error")
    return redirect(url_for("grid_maps.show", grid_id=grid.id))


@bp.route("/<int:grid_id>/map", methods=["POST"])
@require("manage_grids")
def upload(grid_id):
    """Put up (or replace) the grid's map: a photo or scan of the drawn map."""
    grid = get_grid_or_404(current_user, grid_id)
    try:
        replaced = maps.map_of(grid) is not None
        maps.save_map(grid, request.files.get("map"))
    except ServiceError as exc:
        return _refused(grid, exc)
    return _done(grid, "已更换区域图；原来的标注保留，请核对位置。" if replaced else "已上传区域图，请在图上标注各屋场。")


def _own_map(grid_id):
    """The grid (in scope) and its own map; 404 when it has none."""
    grid = get_grid_or_404(current_user, grid_id)
    own = maps.map_of(grid)
    if own is None:
        abort(404)
    return grid, own


@bp.route("/<int:grid_id>/map/marks", methods=["POST"])
@require("manage_grids")
def mark(grid_id):
    """Mark a house cluster where the map was tapped: x, y relative to the image (the script on the map),
    or the pixel clicked on the small map of a browser without scripts (at.x, at.y)."""
    grid, own = _own_map(grid_id)
    target_id = request.form.get("target_id", type=int)
    target = get_grid_or_404(current_user, target_id) if target_id else None
    x, y = request.form.get("x"), request.form.get("y")
    try:
        if not x and request.form.get("at.x") is not None:
            x, y = maps.clicked_point(own, request.form.get("at.x"), request.form.get("at.y"))
        m = maps.set_mark(own, target, x, y)
    except ServiceError as exc:
        return _refused(grid, exc)
    return _done(grid, f"已在图上标注 {m.grid.name}。")


@bp.route("/<int:grid_id>/map/marks/remove", methods=["POST"])
@require("manage_grids")
def unmark(grid_id):
    """Take a house cluster's mark off the map."""
    grid, own = _own_map(grid_id)
    try:
        maps.remove_mark(own, request.form.get("target_id", type=int))
    except ServiceError as exc:
        return _refused(grid, exc)
    return _done(grid, "已取消标注。")
