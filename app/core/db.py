"""Engine set-up that differs per database, and the write-transaction rule.

SQLite runs in WAL mode with foreign keys and a busy timeout. A request that
changes state (POST and friends) and every CLI command begin their
transaction with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the
busy timeout instead of failing with "database is locked" when a deferred
read transaction tries to upgrade. GET requests stay deferred (readers never
wait in WAL) and must not write through ``db.session``; the few writes a GET
needs (touching the login session, auditing a sensitive read) go through
:func:`execute_write`, which uses its own short IMMEDIATE transaction.
"""
from contextlib import contextmanager
from contextvars import ContextVar

from flask import has_request_context, request
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from ..extensions import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_force_immediate = ContextVar("force_immediate", default=False)
_reading = ContextVar("reading", default=False)


def is_sqlite(engine=None):
    """True when the app's database is SQLite."""
    engine = engine or db.engine
    return engine.dialect.name == "sqlite"


def wants_immediate():
    """Whether the transaction about to begin may write."""
    if _force_immediate.get():
        return True
    if _reading.get():
        return False
    if has_request_context():
        return request.method not in SAFE_METHODS
    return True


def configure_engine(app):
    """Attach the SQLite pragmas and the BEGIN rule to the app's engine."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy emit BEGIN itself (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Lets LIKE 'prefix%' use the ordinary indexes (tree paths, ID and phone tails,
        # pinyin initials); case-insensitive matching goes through lower() (ilike).
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if wants_immediate() else "BEGIN")


@contextmanager
def reading_only():
    """Transactions begun inside are deferred, as a GET's: for work outside a request that only reads
    (a background thread working out statistics for seconds must not hold the write lock)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


@contextmanager
def separate_write():
    """A short write transaction on a connection of its own."""
    token = _force_immediate.set(True)
    try:
        with db.engine.begin() as conn:
            yield conn
    finally:
        _force_immediate.reset(token)


def execute_write(stmt):
    """Run one write statement safely whatever the request method.

    In a state-changing request it joins the request's transaction; in a GET
    it commits at once on its own connection, so the read transaction of the
    request never has to upgrade to a write.
    """
    if has_request_context() and request.method in SAFE_METHODS:
        with separate_write() as conn:
            conn.execute(stmt)
    else:
        db.session.execute(stmt)


def add_unique(obj, existing):
    """Insert ``obj``, a row a unique constraint allows once (one work log per user and day …); returns
    (the row, True), or (``existing()``, False) when another request inserted it first.

    On SQLite two writers never overlap (BEGIN IMMEDIATE) and ``existing()`` is what the caller checked
    before. On PostgreSQL two identical requests at the same moment both find nothing; the second
    insert waits on the unique index until the first commits and then fails — inside a savepoint, so
    the request goes on with the first one's row instead of answering 500.
    """
    try:
        with db.session.begin_nested():
            db.session.add(obj)
    except IntegrityError:
        found = existing()
        if found is None:
            raise
        return found, False
    return obj, True


def reserve_ids(table, n):
    """``n`` new primary-key values for ``table`` (an ``id`` integer key), so that many rows can be
    inserted with one executemany and their ids known without RETURNING them row by row.

    PostgreSQL takes them from the column's sequence. SQLite continues after the largest id: a
    writing transaction holds the database's write lock (BEGIN IMMEDIATE), and one that began
    deferred cannot commit rows another writer numbered in the meantime.
    """
    if n <= 0:
        return []
    if database_kind() == "postgresql":
        return list(db.session.scalars(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                       {"t": table.name, "n": n}))
    start = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + n))


def database_kind():
    """'sqlite' or 'postgresql' (or whatever dialect) of the current app."""
    return db.engine.dialect.name


def sqlite_path():
    """File path of the SQLite database, or None when not SQLite."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        return None
    return url.database




def starts_with(column, prefix):
    """``column LIKE 'prefix%'`` with the whole pattern bound as one value.

    SQLAlchemy's ``startswith`` renders ``LIKE ? || '%'``, an expression that
    keeps SQLite from using the index; a single bound pattern lets SQLite (with
    case_sensitive_like, see above) and PostgreSQL (text_pattern_ops indexes)
    answer with an index range scan.
    """
    pattern, escaped = like_prefix(prefix)
    return column.like(pattern, escape="\\") if escaped else column.like(pattern)


def like_prefix(prefix):
    """The LIKE pattern of "starts with ``prefix``", and whether it needs ``ESCAPE '\\'``.

    For statements built once that take the pattern as a bound parameter.
    """
    if any(c in prefix for c in "%_\\"):
        return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", True
    return prefix + "%", False
