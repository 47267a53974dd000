"""Choosing a grid on a form: a plain list for a village, a search box for a county.

List filters (``filter_options``) offer the user's top grids and two levels below
them: lists include everything below the chosen grid, and a county's filter then
names its towns and villages rather than every house cluster.

A village's user chooses among a few dozen grids, and a ``<select>`` is the
quickest. A township or county user sees thousands (the county of the benchmark
has 11,783 grids, about 9,000 of them house clusters): a list that long weighs
hundreds of kilobytes on a phone and cannot be scrolled. Past ``SELECT_MAX``
choices the field becomes a search box: typing part of a grid's name (or of a
village or town above it) lists up to ``RESULTS`` matching grids with their
place in the tree; tapping one fills the field. The server checks the chosen id
against the user's scope like any other input.
"""
import time
from dataclasses import dataclass

from flask import url_for
from markupsafe import Markup
from sqlalchemy import func, or_, select
from wtforms.validators import ValidationError

from ..core.db import starts_with
from ..core.validators import mask_ids_in_text
from ..extensions import db
from .models import Grid
from .scope import grid_clause, scope_paths, top_grids

SELECT_MAX = 300
RESULTS = 20


def _leaf_clause():
    child = db.aliased(Grid)
    return ~select(child.id).where(child.parent_id == Grid.id).exists()


def _candidates(user, leaf_only):
    q = select(Grid.id).where(grid_clause(user))
    return q.where(_leaf_clause()) if leaf_only else q


def too_many(user, leaf_only=False):
    """Whether the user's grids are too many for a drop-down list."""
    capped = _candidates(user, leaf_only).limit(SELECT_MAX + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(capped)) > SELECT_MAX


def labels(user, grid_ids):
    """{id: "镇 · 村 · 组"}: each of these grids the user may see, with up to three levels above it
    (the county named only when it is the grid itself). Grids outside the user's scope are left
    out, so an id typed into an address never reveals another grid's name."""
    rows = db.session.execute(select(Grid.id, Grid.path).where(Grid.id.in_(grid_ids), grid_clause(user))).all()
    chains = {}
    for r in rows:
        full = [int(x) for x in r.path.strip("/").split("/") if x]
        chains[r.id] = full[1:][-4:] if len(full) > 1 else full  # the root (the county) only by itself
    wanted = {i for chain in chains.values() for i in chain}
    names = dict(db.session.execute(select(Grid.id, Grid.name).where(Grid.id.in_(wanted))).all())
    return {gid: " · ".join(names[i] for i in chain if i in names) for gid, chain in chains.items()}


def search(user, text, leaf_only=False):
    """Grids in scope named like ``text``, or below a grid named like it; (rows, more) where rows are
    (id, label) in tree order and ``more`` says the list was cut at RESULTS."""
    text = (text or "").strip()[:40]
    if not text:
        return [], False
    named = db.session.scalars(select(Grid.path).where(grid_clause(user), Grid.name.contains(text, autoescape=True))
                               .order_by(Grid.path).limit(50)).all()
    if not named:
        return [], False
    q = select(Grid.id).where(grid_clause(user), or_(*[starts_with(Grid.path, p) for p in named]))
    if leaf_only:
        q = q.where(_leaf_clause())
    ids = db.session.scalars(q.order_by(Grid.path).limit(RESULTS + 1)).all()
    found = labels(user, ids[:RESULTS])
    return [(i, found[i]) for i in ids[:RESULTS]], len(ids) > RESULTS


@dataclass
class Picker:
    """What the template needs to draw the search box in place of the list."""

    field: object
    user: object
    leaf_only: bool

    @property
    def url(self):
        return url_for("grids.pick", leaf=1 if self.leaf_only else None, target=self.field.id)

    @property
    def label(self):
        return labels(self.user, [self.field.data]).get(self.field.data, "") if self.field.data else ""

    multi = False


@dataclass
class MultiPicker(Picker):
    """A field of several grids (a user's grids): the chosen ones as ticked boxes, the search box adds more."""

    multi = True

    @property
    def chosen(self):
        ids = [int(i) for i in self.field.data or []]
        found = labels(self.user, ids)
        return [(i, found[i]) for i in ids if i in found]


def setup(field, user, choices, leaf_only=False):
    """Give a grid SelectField either its ``choices()`` (few grids) or the search box (many).

    With the search box the field keeps only the chosen grid as its choice, and a
    choice outside the user's grids (or not a lowest-level grid when ``leaf_only``)
    is refused with a message in Chinese.
    """
    if not too_many(user, leaf_only):
        field.choices = choices()
        field.picker = None
        return field
    field.picker = Picker(field, user, leaf_only)
    field.validate_choice = False
    field.choices = [(field.data, "")] if field.data else []

    def in_scope(form, f):
        if not f.data:
            raise ValidationError("请输入名称查找，并从列表中点选一个网格。")
        q = _candidates(user, leaf_only).where(Grid.id == f.data)
        if db.session.scalar(q) is None:
            raise ValidationError("所选网格不在您的管辖范围内" + ("，或不是最低一级网格" if leaf_only else "") + "，请重新选择。")
    field.validators = [*field.validators, in_scope]
    return field


def setup_multi(field, user, choices):
    """Give a multiple-grid SelectMultipleField its ``choices()`` (few grids) or the search box (many).

    The chosen grids are still checked against the actor's scope by the service that saves them.
    """
    if not too_many(user):
        field.choices = choices()
        field.picker = None
        return field
    field.picker = MultiPicker(field, user, False)
    field.validate_choice = False
    field.choices = []
    return field


# Rendered <option> lists of the filters, per scope, kept for a minute: a county
# user's filter lists ~300 villages and building it cost more than the rest of the
# list page. A grid renamed or added shows up within a minute.
_OPTIONS_TTL = 60.0
_options_cache = {}


def filter_options(user, selected=None):
    """``<option>``s of a list's grid filter: the user's top grids and two levels below.

    A deeper grid chosen elsewhere (a link from a house cluster's page) is added at the
    end, selected, so the filter always says what the list shows.
    """
    key = (tuple(scope_paths(user) or ("*",)), db.engine.url.render_as_string())
    hit = _options_cache.get(key)
    if hit is None or hit[0] < time.monotonic():
        tops = top_grids(user)
        base = min((g.depth for g in tops), default=0)
        rows = db.session.execute(select(Grid.id, Grid.name, Grid.depth).where(grid_clause(user), Grid.depth <= base + 2)
                                  .order_by(Grid.path)).all()
        html = Markup("").join(Markup('<option value="{}">{}</option>').format(
            r.id, mask_ids_in_text("　" * (r.depth - base) + r.name))
                               for r in rows)
        hit = (time.monotonic() + _OPTIONS_TTL, str(html))
        _options_cache[key] = hit
    html = hit[1]
    if selected:
        mark = f'<option value="{int(selected)}">'
        if mark in html:
            html = html.replace(mark, f'<option value="{int(selected)}" selected>', 1)
        else:
            label = labels(user, [int(selected)]).get(int(selected))
            if label:
                html += str(Markup('<option value="{}" selected>{}</option>').format(int(selected), mask_ids_in_text(label)))
    return Markup(html)
