"""A small workflow engine: states, actions, who may take them, and the one ``perform``.

A workflow is a table of actions (cases, hazards; approvals and self-evaluations next).
Each row names the states it starts from, where it leads, who may take it, what its form
asks, an optional guard, and the functions that apply it (``effect``) and tell who must
know (``notify``). Who may act is said by *relations* of the user to the record ("desk",
"holder" …), which the area works out from the permissions table and the record.

``Workflow.perform`` is the only code that changes such a record's state: it checks the
version the user's page showed, the actor and the guard, runs the effect, moves the state,
writes the append-only event row and sends the notifications. Adding an action is adding
a row and its effect function; pages ask ``available`` which actions to offer.
"""
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from .errors import ServiceError


@dataclass(frozen=True)
class Action:
    """One row of a workflow's table."""

    key: str
    label: str
    sources: frozenset  # the states it may be taken from
    target: str | None  # where it leads; None: the state stays (or the effect decides)
    who: frozenset  # relations of the user to the record that may take it
    needs: tuple = ()  # what the form asks (the area's form and template read it)
    note_required: bool = False
    style: str = ""  # "primary" / "danger" for the button
    guard: Callable | None = None  # fn(record) -> bool: offered only while true
    effect: Callable | None = None  # fn(step): applies it; may raise ServiceError, set step.target/detail
    notify: Callable | None = None  # fn(step): after the event row is written


def action(key, label, sources, target, who, needs=(), *, note_required=False, style="", guard=None, effect=None,
           notify=None):
    """A table row, with sets for sources and who."""
    return Action(key, label, frozenset(sources), target, frozenset(who), tuple(needs), note_required, style, guard,
                  effect, notify)


@dataclass
class Step:
    """An action being taken: what the effect and notification functions read and fill in."""

    user: Any
    record: Any
    action: Action
    values: dict  # the form's other values (deadline, assignee_id …), by name
    note: str
    from_state: str
    target: str | None
    detail: str = ""  # one line for the timeline ("交办给 张三")
    event: Any = None
    extra: dict = field(default_factory=dict)  # what an effect leaves for the notification

    def value(self, name, default=None):
        return self.values.get(name, default)


class Workflow:
    """The table of one kind of record, and the one function that applies it."""

    def __init__(self, actions, *, relations, write_event, conflict, refusal, note_missing, before=None,
                 after=None):
        self.actions = {a.key: a for a in actions}
        self.relations = relations  # fn(user, record) -> set of relation names
        self.write_event = write_event  # fn(step) -> the append-only event row
        self.conflict = conflict  # the message when someone acted first
        self.refusal = refusal  # fn(record, action) -> why this user may not take it now
        self.note_missing = note_missing  # fn(action) -> the message when a required note is empty
        self.before = before  # fn(step): checks every action's form shares (photos …), before the effect
        self.after = after  # fn(step): what every action stores beside its event (photos …)

    def allowed(self, action, record, relations):
        """Whether an actor with these relations may take the action on the record now."""
        if record.state not in action.sources or not (action.who & relations):
            return False
        return action.guard is None or action.guard(record)

    def available(self, user, record):
        """The actions the user may take on the record now, in table order."""
        rel = self.relations(user, record)
        return [a for a in self.actions.values() if self.allowed(a, record, rel)]

    def perform(self, user, record, key, seen_version, *, note="", **values):
        """Take action ``key``; returns the event row. Raises ServiceError, saving nothing.

        ``seen_version`` is the record's version the user's page showed: if someone acted
        since, nothing is saved. A write racing past that check updates no row and is refused too.
        """
        action = self.actions.get(key)
        if action is None:
            raise ServiceError("未知的操作。")
        if seen_version is None or int(seen_version) != record.version:
            raise ServiceError(self.conflict)
        if not self.allowed(action, record, self.relations(user, record)):
            raise ServiceError(self.refusal(record, action))
        step = Step(user, record, action, values, (note or "").strip(), record.state, action.target)
        try:
            if action.note_required and not step.note:
                raise ServiceError(self.note_missing(action), "note")
            if self.before:
                self.before(step)
            if action.effect:
                action.effect(step)
            if step.target is not None:
                record.state = step.target
            step.event = self.write_event(step)
            if self.after:
                self.after(step)
            if action.notify:
                action.notify(step)
            db.session.flush()
        except StaleDataError:
            # Someone else's action was saved between our check and our write: ours changes nothing.
            db.session.rollback()
            raise ServiceError(self.conflict) from None
        return step.event

    def label(self, key, others=None):
        """Chinese name of an event kind: an action's label, else from ``others``."""
        if key in self.actions:
            return self.actions[key].label
        return (others or {}).get(key, key)
