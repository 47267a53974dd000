"""Rate limits counted in the database, so every worker process shares the count."""
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .timeutil import utcnow


class RateCounter(db.Model):
    """Requests counted per key (e.g. an address) and time window, shared by every worker process."""

    __tablename__ = "rate_counter"
    key = db.Column(db.String(120), primary_key=True)
    window_start = db.Column(db.DateTime, primary_key=True)
    count = db.Column(db.Integer, nullable=False, default=0)


KEEP = timedelta(days=2)  # windows older than this are deleted


def remove_old(now=None, session=None):
    """Delete the counts of windows older than KEEP; returns how many rows went."""
    session = session or db.session
    return session.execute(delete(RateCounter).where(RateCounter.window_start < (now or utcnow()) - KEEP)).rowcount


def rate_hit(key, limit, window_seconds=3600, now=None, session=None):
    """Count one request for ``key``; True while the window's count is within ``limit``.

    One row per key and window in the database, so every worker process shares
    the count. The caller commits (the count must stand even if the form fails).
    """
    session = session or db.session
    now = now or utcnow()
    epoch = int((now - datetime(1970, 1, 1)).total_seconds())
    start = datetime(1970, 1, 1) + timedelta(seconds=epoch - epoch % window_seconds)
    bump = (update(RateCounter).where(RateCounter.key == key, RateCounter.window_start == start)
            .values(count=RateCounter.count + 1))
    if session.execute(bump).rowcount == 0:
        try:
            with session.begin_nested():
                session.add(RateCounter(key=key, window_start=start, count=1))
        except IntegrityError:  # another process inserted the same window first
            session.execute(bump)
    remove_old(now, session)
    count = session.scalar(select(RateCounter.count).where(RateCounter.key == key, RateCounter.window_start == start))
    return count <= limit
