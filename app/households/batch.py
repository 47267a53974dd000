"""How ledger changes are written: one at a time (a form), or many as one (a roster import).

The service functions take the writing mode as an argument (``batch=``): without one,
each change is flushed and its household's search postings are rewritten at once;
with a Batch, the same functions, checks, events and audit rows run, but there is one
flush and one rewrite of the postings at the end, and the checks reuse what the caller
loaded up front.
"""
from contextlib import contextmanager

from sqlalchemy import select

from ..extensions import db
from .models import Resident
from .search import reindex_many


class Immediate:
    """One change at a time: flush now, ask the database, reindex now."""

    def flush(self):
        db.session.flush()

    def has_children(self, grid):
        """Whether households may not be registered in this grid."""
        return bool(grid.children.count())

    def registered(self, number):
        """The resident already registered with this ID number, or None."""
        return db.session.scalar(select(Resident).where(Resident.id_number == number))

    def reindex(self, household):
        """Rewrite the search postings of one household and its residents."""
        reindex_many([household])

    def remembered(self, key, compute):
        """The answer of ``compute()`` (a check); a Batch keeps answers by ``key``."""
        return compute()


IMMEDIATE = Immediate()


class Batch(Immediate):
    """Many changes as one: see batch().

    ``registered`` ({ID number: Resident}), when given, is what checks look ID numbers
    up in instead of querying once per person: it must hold every already registered
    person among the numbers that will be checked (the caller loaded them in a few
    batch queries). Two new people with one number in the same batch are the caller's
    to refuse; the unique index stops them in any case.

    ``checked`` (a dict the caller keeps) remembers check answers, so a batch that
    writes what an earlier batch with the same ``registered`` checked does not check
    every person twice (the answer depends only on those two).
    """

    def __init__(self, registered=None, checked=None):
        self.registered_people = registered
        self.checked = checked
        self.households = {}      # id(household) -> household, reindexed at the end
        self.children = {}        # grid id -> whether it has children

    def flush(self):
        """Nothing: one flush at the end writes everything."""

    def has_children(self, grid):
        if grid.id not in self.children:
            self.children[grid.id] = super().has_children(grid)
        return self.children[grid.id]

    def registered(self, number):
        if self.registered_people is not None:
            return self.registered_people.get(number)
        return super().registered(number)

    def reindex(self, household):
        self.households[id(household)] = household

    def remembered(self, key, compute):
        if self.checked is None:
            return compute()
        if key not in self.checked:
            self.checked[key] = compute()
        return self.checked[key]

    def finish(self):
        reindex_many(self.households.values())


@contextmanager
def batch(registered=None, checked=None):
    """A Batch for the ``with`` block; its households' postings are rewritten when it ends
    without an error."""
    state = Batch(registered, checked)
    with db.session.no_autoflush:
        yield state
    state.finish()
