"""Ledger search: postings of names and addresses, and the one search box's index walks.

Names and addresses are cut into 1- and 2-character pieces (search_gram); pinyin
initials and reversed ID and phone numbers are indexed columns. Each kind of query
walks one index in order and stops after a page of matches (see the README's Design).
"""
import functools
import re
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, insert, select

from ..core.db import like_prefix
from ..grids.scope import can_see_grid, paths_clause, scope_key
from ..extensions import db
from ..grids.models import Grid
from .models import CategoryTag, Household, Resident, ResidentLabels, SearchGram

CJK = re.compile(r"[\u3400-\u9fff]")


# Postings

def grams(text, sizes=(1, 2)):
    """The distinct 1- and/or 2-character pieces of a text, ignoring spaces."""
    text = "".join((text or "").split())
    out = set()
    for size in sizes:
        out.update(text[i:i + size] for i in range(len(text) - size + 1))
    return out


def gram_rows(household, residents):
    """Posting rows for a household's address and its residents' names."""
    rows = [{"gram": g, "field": "a", "household_id": household.id, "resident_id": None, "grid_id": household.grid_id}
            for g in grams(household.address, (2,))]
    for r in residents:
        rows.extend({"gram": g, "field": "n", "household_id": household.id, "resident_id": r.id,
                     "grid_id": household.grid_id} for g in grams(r.name))
    return rows


def reindex_many(households, chunk=500):
    """Rewrite the search postings of several households at once."""
    db.session.flush()
    households = list(households)
    ids = [h.id for h in households]
    for i in range(0, len(ids), chunk):
        db.session.execute(delete(SearchGram).where(SearchGram.household_id.in_(ids[i:i + chunk])))
    rows = [row for h in households for row in gram_rows(h, h.residents)]
    if rows:
        # The table, not the ORM entity: one executemany however the rows' None values fall.
        db.session.execute(insert(SearchGram.__table__), rows)


# Search

@dataclass
class SearchResult:
    residents: list   # ResidentHit
    households: list  # HouseholdHit
    kind: str


class ResidentHit(ResidentLabels):
    """A person found by a search: just what the results list shows, read as plain columns."""

    __slots__ = ("id", "household_id", "name", "id_number", "relation", "status", "address", "grid_name")
    columns = (Resident.id, Resident.household_id, Resident.name, Resident.id_number, Resident.relation,
               Resident.status, Household.address, Grid.name)

    def __init__(self, row):
        (self.id, self.household_id, self.name, self.id_number, self.relation, self.status, self.address,
         self.grid_name) = row


class HouseholdHit:
    """A household found by a search (address or phone): its address, head's name and grid."""

    __slots__ = ("id", "address", "head_name", "grid_name")

    def __init__(self, row):
        self.id, self.address, self.head_name, self.grid_name = row


def classify(q):
    """What a query is: name (CJK), initials (letters), digits (ID or phone tail), or id (with X)."""
    if CJK.search(q):
        return "name"
    if re.fullmatch(r"[A-Za-z]+", q):
        return "initials"
    if re.fullmatch(r"\d+[Xx]?", q):
        return "digits"
    return "other"


def _rarest_grams(q, fields):
    """{field: the 2-character piece of q with the fewest postings in that field} (a long text is
    checked in full afterwards), from one grouped count."""
    pieces = sorted(grams(q, (2,)))
    if len(pieces) == 1:
        return dict.fromkeys(fields, pieces[0])
    counts = {(f, g): n for g, f, n in db.session.execute(_gram_counts(), {"pieces": pieces, "fields": list(fields)})}
    return {f: min(pieces, key=lambda p: counts.get((f, p), 0)) for f in fields}


def _merge(lists, limit):
    """Results of several index walks, each already limited, without duplicates."""
    seen, out = set(), []
    for rows in lists:
        for row in rows:
            if row.id not in seen:
                seen.add(row.id)
                out.append(row)
    return out[:limit]


# Building a search statement and computing its cache key cost SQLAlchemy more than
# running it, so each shape is built once: the values are bound parameters, and the
# scope (whose paths the statement carries) is part of the key.

@functools.lru_cache(maxsize=1)
def _gram_counts():
    return (select(SearchGram.gram, SearchGram.field, func.count())
            .where(SearchGram.gram.in_(bindparam("pieces", expanding=True)),
                   SearchGram.field.in_(bindparam("fields", expanding=True)))
            .group_by(SearchGram.gram, SearchGram.field))


def _like_param(column, name, escape):
    return column.like(bindparam(name), escape=escape) if escape else column.like(bindparam(name))


# walk: (what is found, the index walked: its conditions and order); :gram, :prefix, :number, :pattern bound.
_WALKS = {
    "name": ("people", lambda p, escape: ((p.c.resident_id == Resident.id, p.c.gram == bindparam("gram"),
                                           p.c.field == "n"), (p.c.grid_id, p.c.resident_id))),
    "address": ("homes", lambda p, escape: ((p.c.household_id == Household.id, p.c.gram == bindparam("gram"),
                                             p.c.field == "a"), (p.c.grid_id, p.c.household_id))),
    "initials": ("people", lambda p, escape: ((_like_param(Resident.name_initials, "prefix", escape),),
                                              (Resident.name_initials, Resident.id))),
    "initials_alt": ("people", lambda p, escape: ((_like_param(Resident.name_initials_alt, "prefix", escape),),
                                                  (Resident.name_initials_alt, Resident.id))),
    "id_number": ("people", lambda p, escape: ((Resident.id_number == bindparam("number"),), (Resident.id,))),
    "id_tail": ("people", lambda p, escape: ((_like_param(Resident.id_number_rev, "prefix", escape),),
                                             (Resident.id_number_rev,))),
    "phone_tail": ("people", lambda p, escape: ((_like_param(Resident.phone_rev, "prefix", escape),),
                                                (Resident.phone_rev,))),
    "home_phone_tail": ("homes", lambda p, escape: ((_like_param(Household.phone_rev, "prefix", escape),),
                                                    (Household.phone_rev,))),
}


@functools.lru_cache(maxsize=256)
def _search_statement(walk, scope, grid_escape, tagged, status, contains, escape, limit):
    """One index walk of a search: columns only (no ORM objects), the scope checked on each
    candidate's grid path, the filters applied, stopping after ``limit`` rows.

    ``scope`` is grids.scope.scope_key; ``grid_escape`` is None without the grid filter, else
    whether its :grid_path needs escaping; ``tagged`` filters by :category_id; ``status`` is
    the status filter ("any" for none); ``contains`` checks the whole text against :pattern.
    """
    found, conditions = _WALKS[walk]
    p = SearchGram.__table__.alias("p")
    where, order = conditions(p, escape)
    where = [paths_clause(scope, Grid), *where]
    if grid_escape is not None:
        where.append(_like_param(Grid.path, "grid_path", grid_escape))
    if found == "people":
        stmt = (select(*ResidentHit.columns).join(Grid, Grid.id == Resident.grid_id)
                .outerjoin(Household, Household.id == Resident.household_id))
        owner, text = Resident.household_id, Resident.name
        if status != "any":
            where.append(Resident.status == bindparam("status"))
    else:
        head = db.aliased(Resident, name="head")
        stmt = (select(Household.id, Household.address, func.coalesce(head.name, ""), Grid.name)
                .join(Grid, Grid.id == Household.grid_id).outerjoin(head, head.id == Household.head_id))
        owner, text = Household.id, Household.address
        if status == "active":
            where.append(Household.status == "active")
    if contains:
        where.append(text.like(bindparam("pattern"), escape="/"))
    if tagged:
        where.append(owner.in_(select(CategoryTag.household_id).where(
            CategoryTag.category_id == bindparam("category_id"), CategoryTag.end_date.is_(None))))
    return stmt.where(*where).order_by(*order).limit(limit)


def _contains_pattern(text):
    """The LIKE pattern of "contains ``text``" with '/' as the escape character."""
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def search(user, q, grid_id=None, category_id=None, status="active", limit=50):
    """Find residents (by name, initials, ID number or its tail, phone) and households (by address, phone).

    Each kind of query walks one index in order (search postings, pinyin
    initials, reversed ID and phone numbers), checks scope, the full text and
    the filters on each candidate, and stops after ``limit`` matches; a broad
    query ("王") therefore costs no more than a narrow one. The rows hold only
    what the results list shows (ResidentHit, HouseholdHit).
    """
    q = "".join((q or "").split())
    kind = classify(q) if q else "none"
    if kind not in ("name", "initials", "digits"):
        return SearchResult([], [], kind)
    if kind == "digits" and len(q) < 4:
        return SearchResult([], [], "too_short")
    # Scope is checked on each candidate's grid path (cheap per row) rather than
    # by building the list of every grid in a county-wide scope.
    scope = scope_key(user)
    params = {"status": status, "category_id": category_id}
    grid_escape = None
    if grid_id:
        g = db.session.get(Grid, grid_id)
        if g is not None and can_see_grid(user, g):
            params["grid_path"], grid_escape = like_prefix(g.path)
    person_status = status if status in ("active", "moved_out", "deceased") else "any"

    def run(walk, contains=False, escape=False, **values):
        found = _WALKS[walk][0]
        stmt = _search_statement(walk, scope, grid_escape, bool(category_id),
                                 person_status if found == "people" else status, contains, escape, limit)
        hit = ResidentHit if found == "people" else HouseholdHit
        return [hit(row) for row in db.session.execute(stmt, {**params, **values})]

    households = []
    if kind == "name":
        long = len(q) > 2
        rarest = _rarest_grams(q, ("n", "a")) if long else {"n": q, "a": q}
        pattern = _contains_pattern(q) if long else None
        residents = run("name", long, gram=rarest["n"], pattern=pattern)
        if len(q) >= 2:
            households = run("address", long, gram=rarest["a"], pattern=pattern)
    elif kind == "initials":
        prefix, escape = like_prefix(q.lower())
        residents = _merge([run("initials", escape=escape, prefix=prefix),
                            run("initials_alt", escape=escape, prefix=prefix)], limit)
    else:
        number = q.upper()
        if len(number) == 18:
            residents = run("id_number", number=number)
        else:
            prefix, escape = like_prefix(number[::-1])
            residents = _merge([run("id_tail", escape=escape, prefix=prefix),
                                run("phone_tail", escape=escape, prefix=prefix)], limit)
            households = run("home_phone_tail", escape=escape, prefix=prefix)
    residents.sort(key=lambda r: (r.name, r.id))
    households.sort(key=lambda h: (h.address, h.id))
    return SearchResult(residents, households, kind)
