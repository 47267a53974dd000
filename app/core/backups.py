"""Backups of the database and restoring one, so that neither can leave a broken installation.

A backup is written under a temporary name in ``instance/backups/`` and renamed only when
complete, so a backup killed half-way never looks like a good one. A SQLite backup is a
consistent copy (SQLite's online backup API, safe while serving) turned into a file on its own
(rollback journal, not WAL): opening it later leaves no ``-wal`` or ``-shm`` files beside it.

A restore checks everything before it touches the live database. The file is copied to a
temporary file next to the live one; the copy must pass SQLite's integrity check, have the
tables of this app and a schema revision this code knows (an older one is upgraded there by
the migrations, a newer one is refused), and every table must read through the app's models.
Only then is the live database saved as a safety copy and the checked file renamed into its
place in one step. On any failure the live database is as it was and the message (in
Chinese) says why and which safety copy exists.
"""
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import select

from ..extensions import db
from .db import sqlite_path
from .files import create_private, private_dir

REQUIRED_TABLES = {"alembic_version", "grid", "user", "setting", "audit_log"}
SQLITE_HEADER = b"SQLite format 3\x00"
MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


class BackupError(Exception):
    """A backup or restore that could not be done; the message is Chinese and names what to do."""


def backup_dir(instance_path):
    return private_dir(Path(instance_path) / "backups")


def _partial(dest):
    """The temporary name a file is written under until it is complete (not matching *.db)."""
    return dest.with_name(f".{dest.name}.partial")


def _sqlite_copy(src_uri, dest):
    """Copy a SQLite database (a ``file:`` URI) into a new private file ``dest``, in rollback-journal mode."""
    os.close(create_private(dest))  # 0600 before SQLite writes it; an empty file is an empty database
    src = sqlite3.connect(src_uri, uri=True)
    dst = sqlite3.connect(dest)
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # a file on its own: no -wal/-shm when opened later
    finally:
        dst.close()
        src.close()
    with open(dest, "rb") as fh:
        os.fsync(fh.fileno())


def write_sqlite_backup(live_path, dest):
    """A consistent copy of the live SQLite database at ``dest``, renamed into place only when complete."""
    dest = Path(dest)
    partial = _partial(dest)
    partial.unlink(missing_ok=True)
    try:
        _sqlite_copy(f"file:{live_path}?mode=ro", partial)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


def copy_sqlite(source, dest):
    """A complete private copy of the SQLite file ``source`` at the new path ``dest`` (a backup put back)."""
    _sqlite_copy(_source_uri(source), dest)


def write_pg_dump(url, dest):
    """``pg_dump --format=custom`` to ``dest``, renamed into place only when complete."""
    if not shutil.which("pg_dump"):
        raise BackupError("PostgreSQL 备份需要 pg_dump（apt-get install postgresql-client）")
    dest = Path(dest)
    partial = _partial(dest)
    partial.unlink(missing_ok=True)
    try:
        os.close(create_private(partial))
        done = subprocess.run(["pg_dump", "--format=custom", "--file", str(partial), url], capture_output=True, text=True)
        if done.returncode:
            raise BackupError(f"pg_dump 失败：{done.stderr.strip()[-500:]}")
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


def backup_now(instance_path, stamp, prefix="villagegrid"):
    """Back up the app's database (SQLite copy or pg_dump) to ``backups/<prefix>-<stamp>.db|.dump``."""
    path = sqlite_path()
    if path:
        return write_sqlite_backup(path, backup_dir(instance_path) / f"{prefix}-{stamp}.db")
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return write_pg_dump(url, backup_dir(instance_path) / f"{prefix}-{stamp}.dump")


# The nightly backups: rotation and leftovers

AUTO_PREFIX = "auto"  # the scheduled backups; rotation never touches any other file
AUTO_NAME = re.compile(r"^auto-(\d{8})-(\d{6})\.(db|dump)$")


def rotate(folder, daily, weekly, monthly):
    """Keep the newest scheduled backup of each of the last ``daily`` days, ``weekly`` ISO weeks and
    ``monthly`` months that have one; delete the other scheduled backups. Returns the names deleted.

    Only files named ``auto-YYYYMMDD-HHMMSS.db|.dump`` are considered: backups made by hand
    (`flask backup`) and the safety copies of a restore are never deleted."""
    found = []
    for path in Path(folder).iterdir():
        m = AUTO_NAME.match(path.name)
        if m and path.is_file():
            found.append((datetime.strptime(m[1] + m[2], "%Y%m%d%H%M%S"), path))
    found.sort(reverse=True)  # newest first
    keep = set()
    for count, key in ((daily, lambda t: t.date()), (weekly, lambda t: t.isocalendar()[:2]),
                       (monthly, lambda t: (t.year, t.month))):
        seen = []
        for stamp, path in found:
            k = key(stamp)
            if k not in seen:
                if len(seen) >= count:
                    break
                seen.append(k)
                keep.add(path)
    removed = []
    for _, path in found:
        if path not in keep:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def remove_partials(folder, older_than):
    """Delete ``.*.partial`` files (backups killed half-way) last written before ``older_than``
    (a POSIX timestamp); a backup being written now is younger. Returns how many."""
    n = 0
    for path in Path(folder).glob(".*.partial"):
        try:
            if path.stat().st_mtime < older_than:
                path.unlink()
                n += 1
        except FileNotFoundError:
            pass
    return n


# Restoring

@dataclass
class Restored:
    safety: Path | None  # the live database as it was, or None when there was none
    from_revision: str  # the backup's schema revision
    to_revision: str  # the revision after the restore (the code's)


def _source_uri(path):
    """Read a backup without writing beside it: immutable (no -wal/-shm made) unless it has a WAL of its own."""
    if Path(f"{path}-wal").exists():
        return f"file:{path}?mode=ro"
    return f"file:{path}?immutable=1"


def _script():
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def _check_file(path, name):
    """Integrity, the app's tables and the schema revision of the copy at ``path``; returns the revision."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in con.execute("PRAGMA integrity_check")]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            revisions = [r[0] for r in con.execute("SELECT version_num FROM alembic_version")] \
                if "alembic_version" in tables else []
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name} 已损坏，无法读取（{exc}）") from None
    if problems != ["ok"]:
        raise BackupError(f"{name} 已损坏（完整性检查未通过：{'；'.join(problems[:3])}）")
    missing = REQUIRED_TABLES - tables
    if missing:
        raise BackupError(f"{name} 不是村网格数据库（缺少表：{'、'.join(sorted(missing))}）")
    if len(revisions) != 1 or not revisions[0]:
        raise BackupError(f"{name} 没有有效的数据库版本号，不是村网格的备份")
    revision = revisions[0]
    script = _script()
    try:
        known = script.get_revision(revision) is not None
    except Exception:  # alembic: an unknown or malformed revision id
        known = False
    if not known:
        raise BackupError(f"{name} 的数据库版本（{revision}）比本程序新或不认识：请先把程序升级到做这份备份时的版本，再恢复")
    return revision


def _upgrade_and_read(path, revision, head, name, app_factory):
    """Bring the copy to the code's schema (when older) and read every table through the app's models."""
    app = app_factory(f"sqlite:///{path}")
    try:
        with app.app_context():
            if revision != head:
                try:
                    upgrade()
                except Exception as exc:
                    raise BackupError(f"{name} 从版本 {revision} 升级到 {head} 失败（{exc}）") from None
            with db.engine.connect() as conn:
                for table in db.metadata.sorted_tables:
                    try:
                        for _ in conn.execute(select(table).execution_options(yield_per=2000)):
                            pass
                    except Exception as exc:
                        raise BackupError(f"{name} 的表 {table.name} 无法按本程序读取（{exc}）") from None
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def restore_sqlite(source, live_path, safety_path, app_factory):
    """Replace the live database by the backup ``source``, checked first; returns a Restored.

    ``app_factory(url)`` makes an app on another database (to migrate and read the copy).
    Raises BackupError (Chinese) when the backup is refused or the restore fails; the
    live database is then unchanged unless the message says otherwise.
    """
    source, live = Path(source), Path(live_path)
    name = f"备份文件 {source.name}"
    with open(source, "rb") as fh:
        if fh.read(16) != SQLITE_HEADER:
            raise BackupError(f"{name} 不是 SQLite 数据库")
    work = live.with_name(f".{live.name}.restoring")
    for p in (work, Path(f"{work}-wal"), Path(f"{work}-shm"), Path(f"{work}-journal")):
        p.unlink(missing_ok=True)
    safety = None
    try:
        try:
            _sqlite_copy(_source_uri(source), work)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{name} 已损坏，无法读取（{exc}）") from None
        revision = _check_file(work, name)
        head = _script().get_current_head()
        _upgrade_and_read(work, revision, head, name, app_factory)
        if live.exists():
            safety = write_sqlite_backup(live, safety_path)
            con = sqlite3.connect(live)  # fold the live WAL into its file: the -wal left must be empty
            try:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                con.close()
        os.replace(work, live)
        for p in (Path(f"{live}-wal"), Path(f"{live}-shm")):
            p.unlink(missing_ok=True)  # the old database's, never to be paired with the new one
        return Restored(safety, revision, head)
    except BackupError as exc:
        raise BackupError(_failed(str(exc), safety)) from None
    except Exception as exc:
        raise BackupError(_failed(f"恢复时出错（{exc}）", safety)) from None
    finally:
        for p in (work, Path(f"{work}-wal"), Path(f"{work}-shm"), Path(f"{work}-journal")):
            p.unlink(missing_ok=True)


def _failed(reason, safety):
    saved = f"恢复前的数据库另存在 {safety}。" if safety else "没有生成安全副本（也不需要）。"
    return f"未恢复：{reason}。当前数据库没有改动；{saved}"
