"""Starting the server safely on its data folder: the one-file release's start-up.

Before a single request is served the start-up makes sure of, in this order:

1. the data folder exists (made 0700) and can be written;
2. no other copy of the program uses it (``server.lock``, held with ``flock`` for as long as
   the process runs; the kernel drops it when the process dies, so a crash leaves no stale lock);
3. the port is free;
4. the SQLite database is readable and not damaged (every page is read, ``PRAGMA quick_check``,
   only at the first start after an unclean stop or with another program: the server leaves
   ``clean-stop`` naming itself when it stops cleanly), and its schema revision is one this
   program knows (a newer one means an older program was started on a newer database:
   refused, never a silent downgrade);
5. when the schema is older than the program, the database is backed up first
   (``backups/before-upgrade-<revision>-<time>.db``, written complete or not at all) and the
   migrations are run; when one fails, the backup is put back and the start is refused with a
   message naming the backup.

Every refusal is a ``StartRefused`` with a Chinese message; the caller prints it and exits
non-zero. Nothing is left half-written: a backup that could not be finished is removed, a
failed upgrade is undone from its backup, a refused start changes nothing.
"""
import errno
import fcntl
import os
import shutil
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from ..extensions import db
from . import backups
from .files import PROGRAM_DIR, private_dir, sqlite_file

LOCK_NAME = "server.lock"
CLEAN_STOP = "clean-stop"  # written when the server stops cleanly: the program that ran
RUNTIME = PROGRAM_DIR  # the release file's unpacked builds (scripts/dist/stub.c)
# Exit codes of a refused start, one per cause (for scripts and systemd's logs).
NOT_WRITABLE, LOCKED, PORT_TAKEN, DAMAGED, TOO_NEW, BACKUP_FAILED, UPGRADE_FAILED = 2, 3, 4, 5, 6, 7, 8


class StartRefused(Exception):
    """The program must not start; ``str(exc)`` says why in Chinese, ``exit_code`` is non-zero."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


# The data folder

def prepare_data_folder(path):
    """Create the data folder (0700) when missing and prove it can be written; returns its Path."""
    path = Path(path).absolute()
    try:
        private_dir(path)
        probe = path / f".write-test-{os.getpid()}"
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        probe.unlink()
    except OSError as exc:
        raise StartRefused(f"数据目录 {path} 无法创建或写入（{exc.strerror or exc}）。"
                           "请检查它的所有者和权限，或用环境变量 VG_INSTANCE_PATH 指定另一个可写的目录。", NOT_WRITABLE) from None
    return path


# One copy per data folder

_held = {}  # lock file path -> [open file, depth]; the lock is per process and re-entrant
_held_guard = threading.Lock()


def lock_holder(folder):
    """The process id written in the data folder's lock file, or None."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def instance_lock(folder):
    """Hold ``<folder>/server.lock`` while the block runs; StartRefused when another process holds it.

    Re-entrant within one process, so the release start-up and the ``serve`` command it calls
    share one lock."""
    path = str(Path(folder).absolute() / LOCK_NAME)
    with _held_guard:
        entry = _held.get(path)
        if entry is None:
            fh = open(path, "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                holder = lock_holder(folder)
                raise StartRefused(f"另一个村网格程序{f'（进程 {holder}）' if holder else ''}正在使用数据目录 {folder}，"
                                   "本程序不再启动。同一个数据目录只能运行一份程序。", LOCKED) from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            entry = _held[path] = [fh, 0]
        entry[1] += 1
    try:
        yield
    finally:
        with _held_guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[path]
                fcntl.flock(entry[0], fcntl.LOCK_UN)
                entry[0].close()


# The port

def check_port(host, port):
    """Refuse to start when ``host:port`` cannot be listened on (another program has it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does: TIME_WAIT is no conflict
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartRefused(f"端口 {port} 已被其他程序占用，无法启动。请先停止占用它的程序，"
                               f"或换一个端口启动，例如：PORT={port + 1} ./villagegrid", PORT_TAKEN) from None
        raise StartRefused(f"无法在 {host}:{port} 上监听（{exc.strerror or exc}）。"
                           "端口小于 1024 需要管理员权限；请检查 HOST 和 PORT。", PORT_TAKEN) from None
    finally:
        sock.close()


# A clean stop, and the unpacked programs

def stopped_cleanly(folder, program):
    """True when the last server on the folder stopped cleanly (Ctrl+C, SIGTERM) and was this same
    ``program``: then the database need not be read through again at this start."""
    try:
        return (Path(folder) / CLEAN_STOP).read_text(encoding="utf-8").strip() == program
    except OSError:
        return False


def mark_running(folder):
    """From now until ``mark_stopped`` the folder counts as not cleanly stopped (a crash leaves it so)."""
    (Path(folder) / CLEAN_STOP).unlink(missing_ok=True)


def mark_stopped(folder, program):
    """The server on the folder stopped cleanly, its database closed."""
    path = Path(folder) / CLEAN_STOP
    tmp = path.with_name(f".{CLEAN_STOP}.{os.getpid()}")
    tmp.write_text(program + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prune_runtimes(folder, current, keep=1):
    """In ``<folder>/runtime`` (where the release file unpacks itself, one folder per build): mark
    ``current`` as used now, and remove all other builds but the ``keep`` used last (to go back to),
    and what an unpack that was interrupted an hour ago or more left behind. Returns the names removed."""
    runtime = Path(folder) / RUNTIME
    if not (runtime / current).is_dir():
        return []
    os.utime(runtime / current)
    others, removed = [], []
    hour_ago = time.time() - 3600
    for entry in runtime.iterdir():
        if entry.name == current or not entry.is_dir():
            continue
        if entry.name.startswith(".partial-"):
            if entry.stat().st_mtime < hour_ago:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        else:
            others.append(entry)
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for entry in others[keep:]:
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


# The database

def _problems(con):
    return [r[0] for r in con.execute("PRAGMA quick_check") if r[0] != "ok"]


def quick_check(path):
    """What ``PRAGMA quick_check`` finds wrong in the SQLite file at ``path`` (empty: nothing)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _problems(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]


def _script(directory):
    cfg = Config()
    cfg.set_main_option("script_location", str(directory))
    return ScriptDirectory.from_config(cfg)


def migrations_head(directory):
    """The newest schema revision the migrations in ``directory`` make."""
    return _script(directory).get_current_head()


def database_revision(path, thorough=True):
    """The schema revision of the SQLite file at ``path``; None for a new (missing or empty) database.

    Refuses a damaged file, or one that is not this program's database. ``thorough`` also reads
    every page (``PRAGMA quick_check``: 0.3–0.5 s for 20,000 households, over 3 s for 250,000),
    which the start-up does only after an unclean stop or a change of program (``stopped_cleanly``)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    restore_hint = f"本程序没有改动它。请用备份恢复：./villagegrid restore {path.parent / 'backups'}/<备份文件>.db"
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != backups.SQLITE_HEADER:
                raise StartRefused(f"数据库文件 {path} 已损坏（不是 SQLite 数据库）。{restore_hint}", DAMAGED)
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = _problems(con) if thorough else []
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            revisions = ([r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
                         if "alembic_version" in tables else [])
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StartRefused(f"数据库文件 {path} 已损坏，无法读取（{exc}）。{restore_hint}", DAMAGED) from None
    if problems:
        raise StartRefused(f"数据库文件 {path} 已损坏（完整性检查：{'；'.join(problems[:3])}）。{restore_hint}", DAMAGED)
    if not tables:
        return None
    if len(revisions) != 1 or not revisions[0]:
        raise StartRefused(f"数据库文件 {path} 不是村网格的数据库（没有数据库版本号），本程序不会改动它。", DAMAGED)
    return revisions[0]


def _put_back(backup, live):
    """Replace the live database by ``backup`` (a complete copy), in one rename."""
    work = live.with_name(f".{live.name}.rollback")
    work.unlink(missing_ok=True)
    try:
        backups.copy_sqlite(backup, work)
        os.replace(work, live)
    finally:
        work.unlink(missing_ok=True)
    for p in (Path(f"{live}-wal"), Path(f"{live}-shm")):
        p.unlink(missing_ok=True)


def upgrade_database(app, stamp, thorough=True):
    """Bring the app's SQLite database to the program's schema, backing it up first (``thorough``:
    see ``database_revision``).

    Returns (revision before, head, backup path or None). Raises StartRefused when the
    database is newer than the program, the backup cannot be written, or a migration fails
    (then the database is put back from the backup)."""
    directory = app.extensions["migrate"].directory
    script = _script(directory)
    head = script.get_current_head()
    live = sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    if not live:
        raise StartRefused("单文件版只使用数据目录里的 SQLite 数据库。PostgreSQL 请按 README 的“PostgreSQL + gunicorn”"
                           "从源码安装运行，或取消 DATABASE_URL。", UPGRADE_FAILED)
    live = Path(live)
    revision = database_revision(live, thorough)
    if revision is not None:
        try:
            known = script.get_revision(revision) is not None
        except Exception:  # alembic: an unknown revision id
            known = False
        if not known:
            raise StartRefused(
                f"数据库 {live} 的版本（{revision}）比本程序新：它已被更新版本的村网格使用过。"
                "本程序不会降级数据库，拒绝启动。请使用那个更新的版本（或更高版本）的程序。", TOO_NEW)
        if revision == head:
            return revision, head, None
    saved = None
    if revision is not None:
        dest = backups.backup_dir(app.instance_path) / f"before-upgrade-{revision}-{stamp}.db"
        try:
            saved = backups.write_sqlite_backup(live, dest)
        except (OSError, sqlite3.Error) as exc:
            raise StartRefused(f"升级数据库前无法写入备份 {dest}（{_reason(exc)}）。数据库没有改动，程序未启动。"
                               "请腾出磁盘空间后再启动。", BACKUP_FAILED) from None
    with app.app_context():
        try:
            # alembic itself, not flask_migrate.upgrade: that one logs a failure and exits
            command.upgrade(app.extensions["migrate"].migrate.get_config(directory), "head")
            failure = None
        except BaseException as exc:  # noqa: BLE001 - whatever broke, the database goes back
            failure = exc
        finally:
            db.session.remove()
            db.engine.dispose()
    if failure is None:
        return revision, head, saved
    if saved is None:  # a new database: nothing to keep, remove what was half made
        for p in (live, Path(f"{live}-wal"), Path(f"{live}-shm")):
            p.unlink(missing_ok=True)
        raise StartRefused(f"新建数据库失败（{failure}），已删除未完成的数据库文件，程序未启动。", UPGRADE_FAILED)
    _put_back(saved, live)
    raise StartRefused(f"数据库从版本 {revision} 升级到 {head} 失败（{failure}）。已用升级前的备份 {saved} "
                       "恢复原数据库，程序拒绝启动。请换回原来版本的程序继续使用，并把这条信息告诉技术支持。", UPGRADE_FAILED)


def _reason(exc):
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "磁盘已满"
    if isinstance(exc, sqlite3.Error) and "full" in str(exc).lower():
        return "磁盘已满"
    return getattr(exc, "strerror", None) or str(exc)
