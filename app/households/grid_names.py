"""Grids named in a roster: finding the grid a 所属网格 cell names, and labelling grids in an export."""
import re

from sqlalchemy import select

from ..grids.scope import grid_clause
from ..core.db import starts_with
from ..core.sheets import cell_text
from ..extensions import db
from ..grids.groups import group_key, key_text
from ..grids.models import Grid, GridLevel

GRID_SPLIT = re.compile(r"\s*[/／]\s*")
CHUNK = 500


def _ancestor_ids(path):
    return [int(p) for p in path.strip("/").split("/") if p]


def _names_by_id(ids):
    out = {}
    ids = list(ids)
    for i in range(0, len(ids), CHUNK):
        out.update(db.session.execute(select(Grid.id, Grid.name).where(Grid.id.in_(ids[i:i + CHUNK]))).all())
    return out


def _in_order(names, chain):
    """Whether ``names`` appear in ``chain`` in this order (levels may be left out: "甲村/东庄一组")."""
    it = iter(chain)
    return all(name in it for name in names)


class GridResolver:
    """Finds the lowest-level grid a roster's 所属网格 cell names, within the importer's scope.

    A cell holds a grid's name, or a path of names ending with it ("村/自然村/组";
    higher levels may be added and levels in between left out) when the name alone
    is ambiguous. With a ``village`` (the grid a roster is for), only its subtree is
    searched, and a 村民小组 spelt another way (第5村民小组 for 五组) is found by its
    group key; ``decisions`` ({key text: grid id}) are the clerk's answers for the
    values that found nothing.
    """

    def __init__(self, user, village=None, decisions=None):
        self.village = village
        where = [grid_clause(user)]
        if village is not None:
            where.append(starts_with(Grid.path, village.path))
        rows = db.session.execute(select(Grid.id, Grid.parent_id, Grid.name, Grid.path).where(*where)).all()
        parents = {r.parent_id for r in rows}
        self.leaf_ids = {r.id for r in rows if r.id not in parents}
        self.in_scope_names = {r.name for r in rows}
        names = _names_by_id({a for r in rows if r.id in self.leaf_ids for a in _ancestor_ids(r.path)})
        self.by_name = {}
        self.chains = {}
        for r in rows:
            if r.id in self.leaf_ids:
                chain = tuple(names.get(a, "") for a in _ancestor_ids(r.path))
                self.chains[r.id] = chain
                self.by_name.setdefault(r.name, []).append(r.id)
        self.by_group = {}
        if village is not None:
            depth = len(_ancestor_ids(village.path)) - 1
            for gid, chain in self.chains.items():
                self.by_group.setdefault(group_key(chain[-1], chain[depth:-1]), []).append(gid)
            self.prefixes = {c for chain in self.chains.values() for c in chain[depth:-1]} | {village.name}
        self.decisions = {k: v for k, v in (decisions or {}).items() if v in self.leaf_ids}
        self._cache = {}
        self._grids = {}

    def label(self, grid_id):
        """The shortest trailing path that names this grid unambiguously in the scope."""
        chain = self.chains[grid_id]
        for size in range(1, len(chain) + 1):
            tail = chain[-size:]
            if sum(1 for o in self.by_name.get(chain[-1], ()) if self.chains[o][-size:] == tail) == 1:
                return "/".join(tail)
        return "/".join(chain)

    def grid(self, grid_id):
        if grid_id not in self._grids:
            self._grids[grid_id] = db.session.get(Grid, grid_id)
        return self._grids[grid_id]

    def resolve(self, value):
        """(Grid, None, None), (None, Chinese message, None), or — for a roster of a village —
        (None, None, group key) when the value names no grid of the village: the clerk maps
        it to one or has it created."""
        text = cell_text(value)
        if text not in self._cache:
            self._cache[text] = self._resolve(text)
        grid_id, message, group = self._cache[text]
        return (self.grid(grid_id) if grid_id else None), message, group

    def group_of(self, text):
        return group_key(text, getattr(self, "prefixes", ()))

    def _resolve(self, text):
        parts = tuple(p for p in GRID_SPLIT.split(text) if p)
        if not parts:
            return None, "所属网格为空。", None
        found = [g for g in self.by_name.get(parts[-1], ()) if _in_order(parts[:-1], self.chains[g][:-1])]
        if not found and self.village is not None and len(parts) == 1:
            key = self.group_of(parts[0])
            if key_text(key) in self.decisions:
                return self.decisions[key_text(key)], None, None
            found = self.by_group.get(key, [])
            if not found and parts[-1] not in self.in_scope_names:
                return None, None, key
        if len(found) == 1:
            return found[0], None, None
        if len(found) > 1:
            options = "；".join(self.label(g) for g in found[:5])
            return None, (f"您的管理范围内有 {len(found)} 个网格叫“{parts[-1]}”（{options}），"
                          "请写成“村/自然村/组”这样的路径以区分。"), None
        if parts[-1] in self.in_scope_names and parts[-1] not in self.by_name:
            return None, (f"“{parts[-1]}”下还有下级网格，户应登记在最低一级网格（如村民小组、屋场），"
                          "请填写下级网格名称。"), None
        return None, f"找不到网格“{text}”，或它不在您的管理范围内。", None


def export_grid_labels(grids):
    """{grid id: label} for exported rows, unambiguous in the whole tree so any importer can read it back.

    The label starts at the village (行政村) and adds higher levels only when another
    lowest-level grid has the same trailing path.
    """
    grids = {g.id: g for g in grids}
    if not grids:
        return {}
    village_level = db.session.scalar(select(GridLevel.id).where(GridLevel.key == "village"))
    child = db.aliased(Grid)
    has_child = select(child.id).where(child.parent_id == Grid.id).exists()
    leaf_names = sorted({g.name for g in grids.values()})
    others = []
    for i in range(0, len(leaf_names), CHUNK):
        others.extend(db.session.execute(select(Grid.id, Grid.name, Grid.path).where(
            Grid.name.in_(leaf_names[i:i + CHUNK]), ~has_child)).all())
    ids = {a for g in grids.values() for a in _ancestor_ids(g.path)} | {a for o in others for a in _ancestor_ids(o.path)}
    names = _names_by_id(ids)
    levels = {}
    id_list = list({a for g in grids.values() for a in _ancestor_ids(g.path)})
    for i in range(0, len(id_list), CHUNK):
        levels.update(db.session.execute(select(Grid.id, Grid.level_id).where(Grid.id.in_(id_list[i:i + CHUNK]))).all())
    same_name = {}
    for o in others:
        same_name.setdefault(o.name, []).append(tuple(names.get(a, "") for a in _ancestor_ids(o.path)))
    out = {}
    for g in grids.values():
        ancestors = _ancestor_ids(g.path)
        chain = tuple(names.get(a, "") for a in ancestors)
        villages = [i for i, a in enumerate(ancestors) if levels.get(a) == village_level]
        start = villages[-1] if villages else max(0, len(chain) - 3)
        while start > 0 and sum(1 for c in same_name.get(g.name, ()) if c[-(len(chain) - start):] == chain[start:]) > 1:
            start -= 1
        out[g.id] = "/".join(chain[start:])
    return out
