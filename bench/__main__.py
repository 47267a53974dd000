"""Measure the app as a user meets it: a real server (waitress, `flask serve`) over HTTP.

Builds a county-sized grid tree (the real 长兴县 divisions plus natural villages and
house clusters under every village), then times the grid tree's lazy children,
a grid page and the tree root against /healthz on the same server in the same run.
"""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
PASSWORD = "Bench-pass-2026"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_database(env):
    """Schema, divisions, and 10 natural villages × 3 clusters under every village."""
    subprocess.run(FLASK + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    t0 = time.perf_counter()
    out = subprocess.run(FLASK + ["import-divisions", str(ROOT / "data" / "divisions_330522_changxing.csv")],
                         env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    import_s = time.perf_counter() - t0
    script = f"""
from app import create_app
from app.extensions import db
from app.grids import service as gs
from app.grids.models import Grid
from app.accounts.models import User
from app.core.models import Setting
from sqlalchemy import select
app = create_app({{"CHECK_PRINT_STACK": False}})
with app.app_context():
    nv, cl, kind = gs.level_by_key("natural_village"), gs.level_by_key("cluster"), gs.kind_by_key("general")
    villages = db.session.scalars(select(Grid).where(Grid.level_id == gs.level_by_key("village").id)).all()
    for v in villages:
        for i in range(10):
            n = gs.create_grid(v, f"第{{i+1}}自然村", nv, kind)
            for j in range(3):
                gs.create_grid(n, f"第{{i+1}}-{{j+1}}组", cl, kind)
    county = db.session.scalar(select(Grid).where(Grid.parent_id.is_(None)))
    u = User(username="bench", full_name="测试", role="township")
    u.set_password({PASSWORD!r})
    u.grids = [county]
    db.session.add(u)
    Setting.put("setup_done", "1")
    Setting.put("org_name", "长兴县")
    db.session.commit()
    print(db.session.query(Grid).count())
"""
    grids = int(subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1])
    return grids, import_s, out.strip()


def login(base):
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": "bench", "password": PASSWORD}).encode()
    opener.open(base + "/login", data)
    return opener


def timed(opener, url, n, headers=None):
    samples = []
    for _ in range(n):
        req = urllib.request.Request(url, headers=headers or {})
        t0 = time.perf_counter()
        with opener.open(req) as resp:
            resp.read()
            assert resp.status == 200, url
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"p50": round(statistics.median(samples), 2), "p95": round(samples[int(len(samples) * 0.95) - 1], 2)}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, VG_INSTANCE_PATH=tmp, DATABASE_URL=f"sqlite:///{tmp}/bench.db")
        grids, import_s, import_line = build_database(env)
        print(import_line)
        print(f"grid tree: {grids} grids")
        port = free_port()
        log = open(Path(tmp) / "server.log", "w")
        server = subprocess.Popen(FLASK + ["serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/healthz").read()
                    break
                except OSError:
                    time.sleep(0.1)
            opener = login(base)
            script = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(con.execute("select id from grid where division_code='330522200000'").fetchone()[0])
print(con.execute("select id from grid where division_code='330522200203'").fetchone()[0])
"""
            town_id, village_id = subprocess.run([sys.executable, "-c", script, f"{tmp}/bench.db"], check=True,
                                                 capture_output=True, text=True).stdout.split()
            hx = {"HX-Request": "true"}
            figures = {
                "healthz": timed(opener, base + "/healthz", 200),
                "tree_root": timed(opener, base + "/grids/", 100),
                "tree_children_town": timed(opener, f"{base}/grids/{town_id}/children", 200, hx),
                "tree_children_village": timed(opener, f"{base}/grids/{village_id}/children", 200, hx),
                "grid_page_village": timed(opener, f"{base}/grids/{village_id}", 100),
            }
        finally:
            server.terminate()
            server.wait(10)
            log.close()
    for name, f in figures.items():
        print(f"{name:<24} p50 {f['p50']:>7.2f} ms   p95 {f['p95']:>7.2f} ms")
    result = {
        "grids": grids,
        "import_divisions_s": round(import_s, 2),
        "healthz_p95_ms": figures["healthz"]["p95"],
        "tree_children_p95_ms": max(figures["tree_children_town"]["p95"], figures["tree_children_village"]["p95"]),
        "grid_page_p95_ms": figures["grid_page_village"]["p95"],
        "tree_root_p95_ms": figures["tree_root"]["p95"],
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
