"""Files under instance/ are the installation's private data: the database, photos, scans,
signatures, imports and backups. Folders are made 0700 and files 0600, and at start-up
anything looser (files made by an older version, copied in by hand) is tightened."""
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

DIR_MODE = 0o700
FILE_MODE = 0o600
# The one-file release unpacks its program into this folder of the data folder (scripts/dist/stub.c):
# the folder is 0700, what is in it keeps its own modes (the program and its libraries are executable).
PROGRAM_DIR = "runtime"


def private_dir(path):
    """``path`` as a folder only the app's user can open (made with its parents when missing)."""
    path = Path(path)
    if not path.is_dir():
        missing = [p for p in [path, *path.parents] if not p.exists()]
        for p in reversed(missing):  # each missing folder 0700 (mkdir(parents=True) ignores the mode for parents)
            p.mkdir(mode=DIR_MODE, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def create_private(path):
    """Create an empty file readable only by the app's user (refused when it exists); returns an open fd."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)


def write_private(path, data):
    """Write a new file readable only by the app's user."""
    with os.fdopen(create_private(path), "wb") as fh:
        fh.write(data)


def _tighten(path, mode):
    try:
        current = stat.S_IMODE(os.lstat(path).st_mode)
        if current & ~mode:
            os.chmod(path, current & mode)
    except OSError:
        pass  # not ours to change (or gone): nothing to tighten


def tighten_tree(root):
    """Make the instance folder and everything in it private (folders 0700, files 0600)."""
    root = Path(root)
    if not root.is_dir():
        return
    _tighten(root, DIR_MODE)
    for folder, dirs, names in os.walk(root):
        if folder == str(root) and PROGRAM_DIR in dirs:
            dirs.remove(PROGRAM_DIR)
            _tighten(root / PROGRAM_DIR, DIR_MODE)
        for name in dirs:
            _tighten(os.path.join(folder, name), DIR_MODE)
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                _tighten(path, FILE_MODE)


def sqlite_file(url):
    """The file of a SQLite database URL, or None (another database, or in memory)."""
    url = make_url(url)
    return url.database if url.get_backend_name() == "sqlite" and url.database else None


def private_sqlite(path):
    """Create the SQLite database file 0600 before SQLite does (its -wal and -shm files take the
    database file's permissions), or tighten an existing one and its companions."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    path = Path(path)
    if not path.parent.is_dir():
        return
    if not path.exists():
        try:
            os.close(create_private(path))  # an empty file is an empty SQLite database
        except FileExistsError:
            pass
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            _tighten(p, FILE_MODE)
