"""Static files served as nginx would serve them: content-hashed names cached for a year,
compressed once, not on every request.

``url_for('static', filename='css/app.css')`` gives ``/static/css/app.3f2a9c1d0b7e.css``: the
name carries the first 12 hex digits of the file's SHA-256, so a browser may keep it for a year
without asking again (``immutable``), and a changed file gets a new name. The plain name (and a
name whose hash is no longer the file's) is still served, with ``no-cache``, so an old page or a
bookmark keeps working and is revalidated by its ETag.

Text files (CSS, JS, SVG) are compressed the first time they are asked for, with brotli at its
highest quality and with zopfli (gzip for browsers without brotli), and kept in memory (about
0.2 s of CPU once per process for all of them): a handful of files, about 25 KB
compressed in all, and no file written beside them (the install may be read-only). The stat of a
file is checked on every URL built and every request, so an edited file is picked up without a
restart.
"""
import functools
import hashlib
import mimetypes
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import brotli
import zopfli.gzip
from flask import current_app
from werkzeug.wrappers import Request, Response

HASH_LEN = 12
HASHED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{%d})(?P<suffix>\.[^./]+)$" % HASH_LEN)
BARE_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{%d})$" % HASH_LEN)  # a name without a suffix
COMPRESSIBLE = {"text/css", "text/javascript", "application/javascript", "image/svg+xml", "text/plain",
                "application/json", "application/manifest+json"}
ONE_YEAR = 365 * 24 * 3600
ENCODINGS = ("br", "gzip")  # in the order preferred when the browser takes both equally


@dataclass
class _Entry:
    stamp: tuple  # (mtime_ns, size): the file as it was when hashed
    digest: str
    mimetype: str
    data: bytes
    encoded: dict = field(default_factory=dict)  # "br"/"gzip" -> bytes, filled on first use


_CACHE = {}
_LOCK = threading.Lock()


def _root():
    return _resolved(current_app.static_folder)


@functools.lru_cache(maxsize=8)
def _resolved(folder):
    return Path(folder).resolve()


def _file(name, root):
    """The file under static/ for a plain name, or None (outside the folder, missing, a folder)."""
    path = _inside(name, root)
    if path is None or not path.is_file():
        return None
    return path


@functools.lru_cache(maxsize=1024)
def _inside(name, root):
    """``name`` resolved under ``root``, or None when it leads outside; worked out once per name
    (every page asks for the same few files, and resolving reads each folder of the path)."""
    path = (root / name).resolve()
    return path if root in path.parents else None


def _entry(name, root=None):
    """The file's hash, type and bytes, read again only when it changed; None when there is no such file."""
    root = root or _root()
    path = _file(name, root)
    if path is None:
        return None
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    key = (str(root), name)
    entry = _CACHE.get(key)
    if entry is None or entry.stamp != stamp:
        data = path.read_bytes()
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        entry = _Entry(stamp, hashlib.sha256(data).hexdigest()[:HASH_LEN], mimetype, data)
        with _LOCK:
            _CACHE[key] = entry
    return entry


def hashed_name(name):
    """``css/app.css`` -> ``css/app.<hash>.css`` (the name unchanged when there is no such file)."""
    entry = _entry(name)
    if entry is None:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or "/" in suffix:
        return f"{name}.{entry.digest}"
    return f"{stem}.{entry.digest}.{suffix}"


def source_name(name, root=None):
    """The plain name a hashed one stands for, and whether the hash is the file's current one."""
    root = root or _root()
    for m in (HASHED.match(name), BARE_HASHED.match(name)):
        if m:
            plain = m["stem"] + (m.groupdict().get("suffix") or "")
            entry = _entry(plain, root)
            if entry is not None:
                return plain, entry.digest == m["hash"]
    return name, False


def _encoded(entry, encoding):
    body = entry.encoded.get(encoding)
    if body is None:
        if encoding == "br":
            body = brotli.compress(entry.data, quality=11)
        else:  # zopfli: a gzip stream any browser reads, 3–5 % smaller than zlib's best
            body = zopfli.gzip.compress(entry.data, numiterations=5)
        if len(body) >= len(entry.data):
            body = entry.data  # not worth it: sent as it is
        entry.encoded[encoding] = body
    return body


def _url_defaults(endpoint, values):
    """``url_for('static', filename=...)`` builds the hashed name."""
    if endpoint == "static" and "filename" in values:
        values["filename"] = hashed_name(values["filename"])


class StaticFiles:
    """WSGI middleware answering ``/static/...`` before the app: no session, login or database
    is touched for a file (Flask-Login's after-request hook reads the session, which would add
    ``Vary: Cookie`` and make a browser fetch every file again after logging in)."""

    def __init__(self, app, wsgi_app):
        self.prefix = app.static_url_path.rstrip("/") + "/"
        self.root = Path(app.static_folder).resolve()
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(self.prefix):
            return self.wsgi_app(environ, start_response)
        return self.respond(Request(environ), path[len(self.prefix):])(environ, start_response)

    def respond(self, req, filename):
        """The response for one static file: hashed names immutable for a year, compressed as accepted."""
        if req.method not in ("GET", "HEAD"):
            return _plain(405, "该地址只能读取。", Allow="GET, HEAD")
        plain, current = source_name(filename, self.root)
        entry = _entry(plain, self.root)
        if entry is None:
            return _plain(404, "文件不存在。")
        body, encoding = entry.data, None
        if entry.mimetype in COMPRESSIBLE:
            chosen = req.accept_encodings.best_match(ENCODINGS)
            if chosen:
                packed = _encoded(entry, chosen)
                if packed is not entry.data:
                    body, encoding = packed, chosen
        resp = Response(body, mimetype=entry.mimetype)
        if encoding:
            resp.headers["Content-Encoding"] = encoding
        if entry.mimetype in COMPRESSIBLE:
            resp.vary.add("Accept-Encoding")
        resp.set_etag(f"{entry.digest}-{encoding or 'identity'}")
        resp.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable" if current else "no-cache"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        if entry.mimetype == "image/svg+xml":  # an SVG opened on its own is a document: no scripts
            resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return resp.make_conditional(req)


def _plain(status, text, **headers):
    resp = Response(text + "\n", status, mimetype="text/plain", headers=headers)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def init_app(app):
    """Serve static files ahead of the app and make ``url_for('static')`` build hashed names."""
    app.wsgi_app = StaticFiles(app, app.wsgi_app)
    app.url_defaults(_url_defaults)
