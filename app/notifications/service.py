"""Sending, listing and reading in-app messages.

Areas above this one send with ``notify``; where opening a message should lead is
decided by the area the message is about: it registers a resolver at start-up
(``link_resolver``), so this area never imports the areas that use it.
"""
from flask import abort
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from ..core.timeutil import utcnow
from ..extensions import db
from .models import Notification

# fn(user, notification) -> an app path to open, or None (not the resolver's kind, or not visible).
_resolvers = []


def link_resolver(fn):
    """Register where a message about some record leads (decorator; registered once per function)."""
    if fn not in _resolvers:
        _resolvers.append(fn)
    return fn


def notify(user_id, case, kind, text, url=None):
    """An in-app message; ``url`` (an app path starting with "/") is what it opens when not about a case."""
    if url is not None and not is_app_path(url):
        raise ValueError("notification url must be a path of this app")
    db.session.add(Notification(user_id=user_id, case_id=case.id if case is not None else None, kind=kind,
                                text=text[:300], created_at=utcnow(), url=url))


def is_app_path(url):
    """A path of this app ("/…"), not another site ("//host/…")."""
    return bool(url) and url.startswith("/") and not url.startswith("//")


def unread_count(user):
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def notifications(user, limit=100):
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                              .options(joinedload(Notification.case))
                              .order_by(Notification.id.desc()).limit(limit)).all()


def open_notification(user, notification_id):
    """Mark a notification read; returns it (404 when it is not the user's)."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        abort(404)
    if note.read_at is None:
        note.read_at = utcnow()
    return note


def target(user, note):
    """Where opening the message leads: its record's page (if the user may see it), its path, else None."""
    for resolve in _resolvers:
        path = resolve(user, note)
        if path:
            return path
    return note.url if is_app_path(note.url) else None


def mark_all_read(user):
    db.session.execute(update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
                       .values(read_at=utcnow()))
