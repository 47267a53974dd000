"""The village a spreadsheet is for: the user's own, one chosen from those in scope, or one named on the
command line (by division code, name or 镇/村), and its lowest-level grids."""
from sqlalchemy import or_, select

from ..core.db import starts_with
from ..core.forms import ServiceError
from .scope import can_see_grid, grid_clause, top_grids
from ..extensions import db
from .models import Grid, GridLevel


def _village_rank():
    return db.session.scalar(select(GridLevel.rank).where(GridLevel.key == "village"))


def default_village(user):
    """The grid a user's rosters are for when there is no choosing: a single bound grid at village level
    or below (a village admin's village)."""
    tops = top_grids(user)
    rank = _village_rank()
    if len(tops) == 1 and rank is not None and tops[0].level.rank >= rank:
        return tops[0]
    return None


def village_choices(user):
    """(id, label) of the villages (行政村) in the user's scope, for the upload form."""
    rank = _village_rank()
    rows = db.session.execute(select(Grid.id, Grid.name, Grid.parent_id).join(GridLevel, GridLevel.id == Grid.level_id)
                              .where(grid_clause(user), GridLevel.rank == rank).order_by(Grid.path)).all()
    parents = dict(db.session.execute(select(Grid.id, Grid.name).where(Grid.id.in_({r.parent_id for r in rows}))).all())
    return [(r.id, f"{parents.get(r.parent_id, '')} · {r.name}".strip(" ·")) for r in rows]


def find_village(user, text):
    """The grid named by a division code, a name or a path ("镇/村") in the user's scope; ServiceError if none or several."""
    text = (text or "").strip()
    parts = [p for p in text.replace("／", "/").split("/") if p]
    if not parts:
        raise ServiceError("请写明村的区划代码或名称（--village）。")
    found = db.session.scalars(select(Grid).where(grid_clause(user), or_(Grid.division_code == text,
                                                                          Grid.name == parts[-1]))).all()
    if len(parts) > 1:
        found = [g for g in found if all(p in _chain(g) for p in parts[:-1])]
    if not found:
        raise ServiceError(f"找不到村“{text}”，或它不在您的管理范围内。")
    if len(found) > 1:
        options = "；".join("/".join(_chain(g)[-3:]) for g in found[:5])
        raise ServiceError(f"有 {len(found)} 个网格叫“{text}”（{options}），请用区划代码或“镇/村”区分。")
    return found[0]


def _chain(grid):
    ids = [int(p) for p in grid.path.strip("/").split("/") if p]
    names = dict(db.session.execute(select(Grid.id, Grid.name).where(Grid.id.in_(ids))).all())
    return [names.get(i, "") for i in ids]


def visible_village(user, village_id):
    grid = db.session.get(Grid, village_id) if village_id else None
    return grid if grid is not None and can_see_grid(user, grid) else None


def leaf_choices(village):
    """(id, label) of the lowest-level grids of a village, for mapping a 所属组 value."""
    child = db.aliased(Grid)
    has_child = select(child.id).where(child.parent_id == Grid.id).exists()
    rows = db.session.scalars(select(Grid).where(starts_with(Grid.path, village.path), ~has_child)
                              .order_by(Grid.path)).all()
    return [(g.id, g.name) for g in rows]


def place_names(grids):
    """{grid id: "甲村 · 东庄一组"}: a grid below a village named with its village first, since group
    names repeat between villages (溪口第1村民小组); a village or a higher grid by its own name."""
    grids = [g for g in grids if g is not None]
    rank = _village_rank()
    ancestor_ids = {a for g in grids for a in g.ancestor_ids()}
    villages = dict(db.session.execute(
        select(Grid.id, Grid.name).join(GridLevel, GridLevel.id == Grid.level_id)
        .where(Grid.id.in_(ancestor_ids), GridLevel.rank == rank)).all()) if ancestor_ids and rank is not None else {}
    names = {}
    for g in grids:
        village = next((villages[a] for a in g.ancestor_ids()[:-1] if a in villages), None)
        names[g.id] = f"{village} · {g.name}" if village else g.name
    return names
