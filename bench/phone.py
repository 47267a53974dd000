"""Bytes on the wire for a phone: a grid worker's first load and a typical htmx fragment.

As a phone's browser asks (``Accept-Encoding: gzip, deflate, br, zstd``), with nothing cached:

- ``phone_first_load_kb``: the home page a worker lands on after logging in, plus every file it
  loads (stylesheet, scripts, icon), each counted as sent — status line, headers and the body
  as it came (compressed), in KB of 1024 bytes;
- ``fragment_kb``: the worker's household search as htmx asks for it while typing (the first
  character of a name in the worker's grid, the median over five), counted the same way;
- ``phone_first_load_gzip_kb``: the same first load for a browser that takes gzip only;
- ``phone_repeat_load_kb``: the home page again with the files kept from the first load (their
  names carry the content hash and are cached as immutable, so the browser does not ask again).

Run alone with ``python -m bench.phone`` (a small database of its own).
"""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from bench import ROOT, start_server

PHONE_HEADERS = {
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "User-Agent": "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
ASSET = re.compile(r'<(?:link|script|img)\b[^>]*?\b(?:href|src)="(/static/[^"]+)"')


class Phone:
    """One browser: a cookie, and the wire size of everything it fetched."""

    def __init__(self, base):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.cookies = {}

    def fetch(self, method, path, body=None, headers=None):
        """(status, headers, raw body, bytes on the wire) of one request."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        h = dict(PHONE_HEADERS, **(headers or {}))
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        for key, value in resp.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        head = len(f"HTTP/1.1 {resp.status} {resp.reason}\r\n") + sum(len(f"{k}: {v}\r\n".encode()) for k, v in
                                                                     resp.getheaders()) + 2
        return resp.status, dict(resp.getheaders()), raw, head + len(raw)

    def text(self, headers, raw):
        """The body as text, whatever the encoding it came in."""
        encoding = headers.get("Content-Encoding")
        if encoding == "br":
            import brotli

            raw = brotli.decompress(raw)
        elif encoding == "gzip":
            import gzip

            raw = gzip.decompress(raw)
        return raw.decode()

    def login(self, username, password):
        status, headers, raw, _ = self.fetch("GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', self.text(headers, raw)).group(1)
        body = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password})
        status, _, _, _ = self.fetch("POST", "/login", body=body)
        assert status in (302, 303), f"login failed: {status}"


def first_load(base, username, password, accept=None):
    """A phone logs in and opens the home page with nothing cached: (phone, bytes, assets, responses)."""
    extra = {"Accept-Encoding": accept} if accept else {}
    phone = Phone(base)
    phone.login(username, password)
    status, headers, raw, page = phone.fetch("GET", "/", headers=extra)
    assert status == 200, status
    assets = sorted(set(ASSET.findall(phone.text(headers, raw))))
    loaded = [phone.fetch("GET", url, headers=extra) for url in assets]
    assert all(s == 200 for s, *_ in loaded), [(u, s) for u, (s, *_) in zip(assets, loaded)]
    return phone, page + sum(size for *_, size in loaded), assets, loaded


def phone_figures(base, username, password, queries):
    """The figures (KB on the wire) for a worker's phone."""
    phone, first, assets, loaded = first_load(base, username, password)
    cacheable = [url for url, (_, h, _, _) in zip(assets, loaded) if "immutable" in h.get("Cache-Control", "")]
    # The second visit: files with an immutable name are not asked for again; others are revalidated.
    again = phone.fetch("GET", "/")[3]
    for url, (_, h, _, _) in zip(assets, loaded):
        if url not in cacheable:
            again += phone.fetch("GET", url, headers={"If-None-Match": h.get("ETag", "")})[3]
    fragments = []
    for q in queries:
        status, headers, raw, size = phone.fetch("GET", "/households/?q=" + urllib.parse.quote(q),
                                                  headers={"HX-Request": "true", "HX-Target": "results"})
        assert status == 200 and "<html" not in phone.text(headers, raw)
        fragments.append(size)
    # A browser that takes gzip only (an older WebView).
    gzip_only = first_load(base, username, password, accept="gzip, deflate")[1]
    return {
        "phone_first_load_kb": round(first / 1024, 1),
        "phone_first_load_files": 1 + len(assets),
        "phone_first_load_immutable": len(cacheable),
        "phone_first_load_gzip_kb": round(gzip_only / 1024, 1),
        "phone_repeat_load_kb": round(again / 1024, 1),
        "fragment_kb": round(statistics.median(fragments) / 1024, 2),
    }


SMALL_DB = """
from app import create_app
from app.extensions import db
from app.core.models import Setting
from bench.generate import generate, village_with_worker
app = create_app({"CHECK_PRINT_STACK": False})
with app.app_context():
    village_with_worker("phone", "Bench-pass-2026")
    Setting.put("setup_done", "1")
    Setting.put("org_name", "长兴县")
    db.session.commit()
    generate(30)
"""


def worker_queries(db_path, username, n=5):
    """First characters of names in the worker's own grids (what a worker types to find a household)."""
    import sqlite3

    con = sqlite3.connect(db_path)
    rows = con.execute(
        "SELECT DISTINCT substr(r.name, 1, 1) FROM resident r JOIN household h ON h.id = r.household_id "
        "JOIN user_grid ug ON ug.grid_id = h.grid_id JOIN user u ON u.id = ug.user_id "
        "WHERE u.username = ? ORDER BY 1 LIMIT ?", (username, n)).fetchall()
    con.close()
    return [r[0] for r in rows]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, VG_INSTANCE_PATH=tmp, DATABASE_URL=f"sqlite:///{tmp}/phone.db", PYTHONPATH=str(ROOT))
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-c", SMALL_DB], env=env, cwd=ROOT, check=True, capture_output=True)
        with open(Path(tmp) / "server.log", "w") as log:
            server, base = start_server(env, log)
            try:
                figures = phone_figures(base, "phone", "Bench-pass-2026", worker_queries(f"{tmp}/phone.db", "phone"))
            finally:
                server.terminate()
                server.wait(10)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
