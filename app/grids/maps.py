"""A grid's area map (网格区域管理图, 篇二): a photo or scan of the village's drawn map with the grids
below it (house clusters, 屋场) marked by tapping the image.

The image is checked and re-encoded like every uploaded photo or scan (``core.uploads``, stored by ``core.photos``) and
served only to users who may see the grid. Marks are points relative to the image (0–1 each
way), so they stay in place at any size: on a phone, on the PC, on the A3 board and the
cards. Nothing is fetched from outside: no online map tiles.
"""
import base64
from dataclasses import dataclass

from sqlalchemy import select

from ..core import photos, uploads
from ..core.db import starts_with
from ..core.forms import ServiceError
from ..extensions import db
from .models import Grid, GridMap, GridMapMark


def map_of(grid):
    """The grid's own map, or None."""
    return db.session.scalar(select(GridMap).where(GridMap.grid_id == grid.id))


def nearest_map(grid):
    """The map of the grid or of the nearest grid above it that has one (a house cluster shows its village's)."""
    ids = grid.ancestor_ids()
    maps = {m.grid_id: m for m in db.session.scalars(select(GridMap).where(GridMap.grid_id.in_(ids)))}
    for gid in reversed(ids):
        if gid in maps:
            return maps[gid]
    return None


def markable_grids(grid):
    """The grids below ``grid`` that can be marked on its map: the lowest level (house clusters), by path."""
    child = db.aliased(Grid)
    has_child = select(child.id).where(child.parent_id == Grid.id).exists()
    return db.session.scalars(select(Grid).where(starts_with(Grid.path, grid.path), Grid.id != grid.id, ~has_child)
                              .order_by(Grid.path)).all()


def save_map(grid, file):
    """Put an uploaded photo or scan up as the grid's map (replacing the one before; its marks stay)."""
    if file is None or not getattr(file, "filename", ""):
        raise ServiceError("请选择区域图的照片或扫描件。", "map")
    (img,) = uploads.check_photos([file], max_photos=1, field="map")
    stored = photos.store_image(img, "maps")
    area_map = map_of(grid)
    if area_map is None:
        area_map = GridMap(grid_id=grid.id)
        db.session.add(area_map)
    else:
        uploads.delete_with_session(photos.stored_files(area_map.file_name))  # once the new one is committed
    area_map.file_name, area_map.width, area_map.height, area_map.size = (
        stored.file_name, stored.width, stored.height, stored.size)
    db.session.flush()
    return area_map


def _relative(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ServiceError(f"没有收到在图上点选的位置（{name}），请在图上点一下要标注的位置。", "at") from None
    if not 0 <= v <= 1:
        raise ServiceError("点选的位置在图片之外，请在图片上点选。", "at")
    return round(v, 4)


# The width in CSS pixels of the small map a browser without scripts clicks on (static/css/app.css
# input.mapclick says the same; a test holds them together): it fits a phone's card.
CLICK_WIDTH = 300


def click_size(area_map):
    """(width, height) in CSS pixels of the small map a browser without scripts clicks on."""
    return CLICK_WIDTH, max(1, round(CLICK_WIDTH * area_map.height / area_map.width))


def clicked_point(area_map, px, py):
    """The point (0–1 each way) of a click on the small map: ``<input type="image">`` sends the pixel
    it was clicked at, counted on the image as shown (click_size)."""
    try:
        px, py = int(px), int(py)
    except (TypeError, ValueError):
        raise ServiceError("没有收到在图上点选的位置，请在图上点一下要标注的位置。", "at") from None
    width, height = click_size(area_map)
    if not (0 <= px <= width and 0 <= py <= height):
        raise ServiceError("点选的位置在图片之外，请在图片上点选。", "at")
    return min((px + 0.5) / width, 1), min((py + 0.5) / height, 1)


def set_mark(area_map, target, x, y):
    """Mark a grid below the map's grid at (x, y) relative to the image; moves an earlier mark of it."""
    if target is None or target.id == area_map.grid_id or not target.path.startswith(area_map.grid.path):
        raise ServiceError(f"请选择{area_map.grid.name}下属的网格来标注。", "target_id")
    x, y = _relative(x, "横向"), _relative(y, "纵向")
    mark = next((m for m in area_map.marks if m.grid_id == target.id), None)
    if mark is None:
        mark = GridMapMark(map=area_map, grid=target)
        db.session.add(mark)
    mark.x, mark.y = x, y
    db.session.flush()
    return mark


def remove_mark(area_map, target_id):
    """Take a grid's mark off the map."""
    mark = next((m for m in area_map.marks if m.grid_id == target_id), None)
    if mark is None:
        raise ServiceError("这个网格没有标注在图上。")
    area_map.marks.remove(mark)
    db.session.flush()


@dataclass
class MapView:
    """What a page or a printed document draws: the image (a URL, or inline for print) and the marks."""
    href: str
    width: int
    height: int
    marks: list  # (x px, y px, label, highlighted)
    grid_name: str  # whose map it is
    own: bool  # the grid's own map (not the one of a grid above)

    @property
    def radius(self):
        return round(max(self.width, self.height) / 90, 1)


def map_view(grid, href=None):
    """The map shown for ``grid`` (its own or the nearest above), or None; the grid's own mark (or the marks
    of the grids below it) highlighted. Without ``href`` the image is inlined (printing fetches nothing)."""
    area_map = nearest_map(grid)
    if area_map is None:
        return None
    if href is None:
        path = photos.uploads_root() / area_map.file_name
        if not path.is_file():
            return None
        href = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    below = grid.id != area_map.grid_id
    marks = [(round(m.x * area_map.width, 1), round(m.y * area_map.height, 1), m.grid.name,
              below and m.grid.path.startswith(grid.path)) for m in area_map.marks]
    return MapView(href, area_map.width, area_map.height, marks, area_map.grid.name, not below)
