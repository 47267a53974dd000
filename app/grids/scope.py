"""The one place that decides which grids (and so which records) a user may see.

Every query of grid-bound data filters through :func:`grid_clause` or
:func:`visible_grid_ids`, and every route that takes an id loads it through
:func:`get_scoped_or_404` (:func:`get_grid_or_404` for a grid; an area's loader is a line over it), so the id of
another grid's record answers 404 and never leaks that it exists.
"""
from flask import abort, g, has_request_context
from sqlalchemy import false, or_, select, true

from ..core.db import starts_with
from ..extensions import db
from .models import Grid


def scope_paths(user):
    """Paths of the user's bound grids, or None when the user sees everything."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    if user.is_admin:
        return None
    if getattr(user, "is_department", False):
        return []  # a department sees the cases handed to it (cases.service), no grid's records
    paths = sorted(g.path for g in user.grids)
    # Drop grids already inside another bound grid.
    kept = []
    for p in paths:
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return kept


def _covers_every_root(paths):
    """Whether the paths include every root of the forest (then nothing needs filtering)."""
    if "_vg_roots" not in g:
        g._vg_roots = set(db.session.scalars(select(Grid.path).where(Grid.parent_id.is_(None))))
    return bool(g._vg_roots) and g._vg_roots <= set(paths)


def scope_key(user):
    """The user's scope as a hashable value: None for everything, else the paths of the subtrees
    (empty: nothing). ``grid_clause(user)`` is ``paths_clause(scope_key(user))``; a statement
    built from it may be cached under this key."""
    paths = scope_paths(user)
    if paths is None or (paths and has_request_context() and _covers_every_root(paths)):
        return None
    return tuple(paths)


def paths_clause(key, grid=Grid):
    """The WHERE clause on ``grid`` for a :func:`scope_key`."""
    if key is None:
        return true()
    if not key:
        return false()
    return or_(*[starts_with(grid.path, p) for p in key])


def grid_clause(user, grid=Grid):
    """A WHERE clause on ``grid`` (Grid or an alias) limiting it to the user's subtrees."""
    return paths_clause(scope_key(user), grid)


def visible_grid_ids(user):
    """A subquery of the ids of every grid the user may see."""
    return select(Grid.id).where(grid_clause(user)).scalar_subquery()


def subtree_ids(grid):
    """A subquery of the ids of a grid and everything below it."""
    return select(Grid.id).where(starts_with(Grid.path, grid.path)).scalar_subquery()


def can_see_grid(user, grid):
    """Whether the grid lies in the user's scope (no query)."""
    paths = scope_paths(user)
    if paths is None:
        return True
    return any(grid.path.startswith(p) for p in paths)


def get_grid_or_404(user, grid_id):
    """Load a grid by id through the scope; invisible and missing look the same."""
    return get_scoped_or_404(user, Grid, grid_id, grids_of=lambda grid: (grid,))


def top_grids(user):
    """The roots of what the user sees: the tree's roots for an admin, else their bound grids."""
    paths = scope_paths(user)
    if paths is None:
        return db.session.scalars(select(Grid).where(Grid.parent_id.is_(None)).order_by(Grid.sort_order, Grid.name)).all()
    by_path = {g.path: g for g in user.grids}
    return [by_path[p] for p in paths]


def get_scoped_or_404(user, model, record_id, grids_of=None):
    """A record of a grid-bound model through the scope, else 404 (invisible and missing look the same).

    The record must lie in the user's grids: its ``grid``, or every grid ``grids_of(record)`` names
    (a resident by its household's grid; a visit by its own and its household's)."""
    record = db.session.get(model, record_id)
    if record is None or not all(can_see_grid(user, g) for g in (grids_of(record) if grids_of else (record.grid,))):
        abort(404)
    return record


def get_child_or_404(model, record_id, parent_key, parent_id):
    """A record that belongs to an already scoped parent (``record.<parent_key> == parent_id``), else 404."""
    record = db.session.get(model, record_id)
    if record is None or getattr(record, parent_key) != parent_id:
        abort(404)
    return record


def chosen_grid_or_404(user, grid_id):
    """The grid a page was asked for (through the scope), else the user's first top grid."""
    if grid_id:
        return get_grid_or_404(user, grid_id)
    tops = top_grids(user)
    if not tops:
        abort(404)
    return tops[0]
