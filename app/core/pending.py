"""Uploaded files waiting for their uploader to confirm an import (or to drop it).

Each upload is a file under ``instance/imports/`` readable by the app's user only,
named by a random token, with a small metadata file beside it; only the user who
uploaded it can read it back, and it is removed on import, on abandon, and once it
is older than PENDING_HOURS.
"""
import json
import os
import re
import secrets
import time
from pathlib import Path

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")   # secrets.token_urlsafe(32)
PENDING_HOURS = 24                             # an upload nobody confirmed is removed after this


class PendingUploads:
    """The store in one folder (``instance/imports``)."""

    def __init__(self, instance_path, suffix=".xlsx"):
        self.folder = Path(instance_path) / "imports"
        self.suffix = suffix

    def _folder(self):
        self.folder.mkdir(mode=0o700, exist_ok=True)
        return self.folder

    def remove_stale(self):
        """Uploads older than PENDING_HOURS that were never confirmed."""
        cutoff = time.time() - PENDING_HOURS * 3600
        for path in self._folder().glob("*"):
            if path.suffix in (self.suffix, ".json") and TOKEN_RE.fullmatch(path.stem):
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                except FileNotFoundError:
                    pass

    @staticmethod
    def _write_private(path, data):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    def save(self, data, meta):
        """Keep an upload (bytes) with its metadata (must name ``user_id``); returns its token."""
        folder = self._folder()
        self.remove_stale()
        token = secrets.token_urlsafe(32)
        self._write_private(folder / f"{token}{self.suffix}", data)
        self._write_private(folder / f"{token}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        return token

    def load(self, token, user_id):
        """(file path, metadata) of an upload of this user, or None (also for anybody else's)."""
        if not TOKEN_RE.fullmatch(token):
            return None
        folder = self._folder()
        path, meta_path = folder / f"{token}{self.suffix}", folder / f"{token}.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if meta.get("user_id") != user_id or not path.is_file():
            return None
        return path, meta

    def discard(self, token):
        folder = self._folder()
        for suffix in (self.suffix, ".json"):
            (folder / f"{token}{suffix}").unlink(missing_ok=True)
