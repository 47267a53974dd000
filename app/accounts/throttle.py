"""Failed logins and the locks they cause, worked out from the ``login_failure`` rows.

A lock is per account name *and source address*: five wrong passwords for ``admin`` from one
address stop logins to ``admin`` from that address only, so somebody elsewhere cannot lock the
village PC out. Two ceilings catch what that misses: many failures for one name from many
addresses lock the name everywhere (an administrator can lift it), and many failures from one
address over any names lock that address. The name typed is counted whether or not such a user
exists, so locks, messages and timing are the same for both and tell nobody which names exist.

Every lock runs for ``minutes`` from the failure that caused it; failures while locked are not
counted, so a lock ends on time and the count starts again from zero after it.
"""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from ..extensions import db
from .models import LoginFailure, normalise_password

KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Rules:
    """How many failures within ``minutes`` lock a name at one address, a name, and an address."""

    per_address: int = 5
    per_account: int = 25
    per_source: int = 30
    minutes: int = 15

    @classmethod
    def from_config(cls, config):
        return cls(per_address=int(config["LOGIN_MAX_FAILURES"]), per_account=int(config["LOGIN_ACCOUNT_MAX_FAILURES"]),
                   per_source=int(config["LOGIN_ADDRESS_MAX_FAILURES"]), minutes=int(config["LOGIN_LOCK_MINUTES"]))

    @property
    def window(self):
        return timedelta(minutes=self.minutes)


def login_name(username):
    """The name a login is counted under: as typed, NFKC-normalised (full-width letters), lower case."""
    return normalise_password(username).strip().lower()[:40]


def _lock_end(times, limit, window):
    """Given failure times (newest first, at most ``limit``): when the lock they cause ends, or None."""
    if limit <= 0 or len(times) < limit or times[0] - times[limit - 1] >= window:
        return None
    return times[0] + window


def _times(where, limit, rules, now):
    return db.session.scalars(select(LoginFailure.at).where(*where, LoginFailure.at > now - 2 * rules.window)
                              .order_by(LoginFailure.at.desc()).limit(limit)).all()


def locked_until(name, ip, rules, now):
    """The end of the lock on logging in as ``name`` from ``ip``, or None when not locked."""
    ends = [
        _lock_end(_times((LoginFailure.username == name, LoginFailure.ip == ip), rules.per_address, rules, now),
                  rules.per_address, rules.window),
        _lock_end(_times((LoginFailure.username == name,), rules.per_account, rules, now), rules.per_account, rules.window),
        _lock_end(_times((LoginFailure.ip == ip,), rules.per_source, rules, now), rules.per_source, rules.window),
    ]
    ends = [e for e in ends if e is not None and e > now]
    return max(ends) if ends else None


@dataclass
class Failure:
    """What one failed login did: failures still allowed before the lock, and the locks it started."""

    left: int
    locked_here: bool
    locked_account: bool
    locked_source: bool


def record_failure(name, ip, rules, now):
    """Count a failed login (in the current transaction); say which locks it started."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP))
    db.session.add(LoginFailure(username=name, ip=ip, at=now))
    db.session.flush()
    since = now - rules.window

    def count(*where):
        return db.session.scalar(select(func.count()).select_from(LoginFailure).where(*where, LoginFailure.at > since))

    here = count(LoginFailure.username == name, LoginFailure.ip == ip)
    return Failure(left=max(0, rules.per_address - here), locked_here=here >= rules.per_address,
                   locked_account=count(LoginFailure.username == name) == rules.per_account,
                   locked_source=count(LoginFailure.ip == ip) == rules.per_source)


def clear(name, ip=None):
    """Forget the failures for ``name`` (from ``ip`` only, after a good login there)."""
    stmt = delete(LoginFailure).where(LoginFailure.username == name)
    if ip is not None:
        stmt = stmt.where(LoginFailure.ip == ip)
    db.session.execute(stmt)


@dataclass
class LockReport:
    """What an administrator sees about one account: recent failures and the locks in force."""

    failures: int
    sources: list  # [(ip, failures within the window, end of this address's lock or None)]
    account_until: object  # the name's account-wide lock, or None

    @property
    def locked(self):
        return self.account_until is not None or any(until for _ip, _n, until in self.sources)


def report(names, rules, now):
    """{name: LockReport} for the names with failures within the window (one query for a list page)."""
    rows = db.session.execute(select(LoginFailure.username, LoginFailure.ip, LoginFailure.at)
                              .where(LoginFailure.username.in_(list(names)), LoginFailure.at > now - 2 * rules.window)
                              .order_by(LoginFailure.at.desc())).all()
    by_name = {}
    for r in rows:
        by_name.setdefault(r.username, []).append(r)
    out = {}
    for name, items in by_name.items():
        by_ip = {}
        for r in items:
            by_ip.setdefault(r.ip, []).append(r.at)
        sources = []
        for ip, times in sorted(by_ip.items()):
            end = _lock_end(times[:rules.per_address], rules.per_address, rules.window)
            sources.append((ip, sum(1 for t in times if t > now - rules.window), end if end and end > now else None))
        account = _lock_end([r.at for r in items][:rules.per_account], rules.per_account, rules.window)
        out[name] = LockReport(failures=sum(n for _ip, n, _until in sources), sources=[x for x in sources if x[1] or x[2]],
                               account_until=account if account and account > now else None)
    return out
