"""Measure the app as a user meets it: a real server (waitress, as `flask serve`) over HTTP.

Builds a county-sized grid tree (the real 长兴县 divisions plus natural villages and
house clusters under every village) and a ledger of 250,000 households with about
700,000 residents (a real county's size; BENCH_HOUSEHOLDS for quicker runs), then times,
on one server in one run: the grid tree, a grid page, the ledger search for each kind of
query (server time from the Server-Timing header), the household list page against a bare
page of the same rows (in turns), a 10,000-row Excel import, the server's peak memory, and
(on a fresh server) its peak memory after decompression bombs sent to the anonymous intake
(bench/bomb.py).
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from bench import ROOT, peak_rss_mb, start_server
from bench.phone import phone_figures, worker_queries

FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
PASSWORD = "Bench-pass-2026"


def build_database(env, households):
    """Schema, divisions, 10 natural villages x 3 clusters under every village, the ledger."""
    subprocess.run(FLASK + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    t0 = time.perf_counter()
    out = subprocess.run(FLASK + ["import-divisions", str(ROOT / "data" / "divisions_330522_changxing.csv")],
                         env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    import_s = time.perf_counter() - t0
    script = f"""
from app import create_app
from app.extensions import db
from app.grids.models import Grid
from app.accounts.models import User
from app.core.models import Setting
from bench.generate import add_grids_below_villages, generate
from sqlalchemy import select
app = create_app({{"CHECK_PRINT_STACK": False}})
with app.app_context():
    add_grids_below_villages()
    county = db.session.scalar(select(Grid).where(Grid.parent_id.is_(None)))
    u = User(username="bench", full_name="测试", role="township")
    u.set_password({PASSWORD!r})
    u.grids = [county]
    db.session.add(u)
    # A grid worker of one house cluster in 水口村 (the phone figures: bench/phone.py).
    village = db.session.scalar(select(Grid).where(Grid.division_code == "330522200203"))
    cluster = db.session.scalar(select(Grid).where(Grid.path.like(village.path + "%"), Grid.depth == village.depth + 2)
                                .order_by(Grid.id))
    w = User(username="bench_worker", full_name="王网格", role="worker")
    w.set_password({PASSWORD!r})
    w.grids = [cluster]
    db.session.add(w)
    Setting.put("setup_done", "1")
    Setting.put("org_name", "长兴县")
    db.session.commit()
    print(db.session.query(Grid).count())
    print(*generate({households}))
"""
    lines = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()
    grids = int(lines[-2])
    hh, residents = map(int, lines[-1].split())
    return grids, hh, residents, import_s, out.strip()


def sample_queries(db_path):
    """Real name pieces of 1–4 characters, initials and ID tails (6 and 4 digits) taken from the generated ledger."""
    import random
    import sqlite3

    con = sqlite3.connect(db_path)
    rng = random.Random(3)
    names = [r[0] for r in con.execute("SELECT name FROM resident ORDER BY random() LIMIT 3000")]
    ids = [r[0] for r in con.execute("SELECT id_number FROM resident ORDER BY random() LIMIT 200")]
    inits = [r[0] for r in con.execute("SELECT name_initials FROM resident ORDER BY random() LIMIT 200")]
    con.close()
    by_len = {n: [x[:n] for x in names if len(x) >= n] for n in (1, 2, 3)}
    four = [x for x in names if len(x) >= 4] or [x + x[-1] for x in names]
    return {
        "name_1": rng.sample(by_len[1], 60), "name_2": rng.sample(by_len[2], 60),
        "name_3": rng.sample(by_len[3], 60), "name_4": [x[:4] for x in rng.sample(four, min(60, len(four)))],
        "initials": [x[:3] for x in rng.sample(inits, 60)], "id_tail": [x[-6:] for x in rng.sample(ids, 60)],
        # The shortest tail the box takes: about 70 people share one in a county, and their phones too.
        "id_tail_4": [x[-4:] for x in rng.sample(ids, 60)],
    }


def server_times(opener, base, queries):
    """Server time (Server-Timing ``app``) of each query through the real search fragment, and the
    CPU time of the request's thread (``cpu``)."""
    samples, cpu = [], []
    for q in queries:
        req = urllib.request.Request(f"{base}/households/?q={urllib.parse.quote(q)}", headers={"HX-Request": "true"})
        with opener.open(req) as resp:
            resp.read()
            timing = dict(t.split(";dur=") for t in resp.headers.get_all("Server-Timing"))
            samples.append(float(timing["app"]))
            cpu.append(float(timing["cpu"]))
    samples.sort()
    cpu.sort()
    p95 = int(len(samples) * 0.95) - 1
    return {"p50": round(statistics.median(samples), 2), "p95": round(samples[p95], 2),
            "cpu_p50": round(statistics.median(cpu), 2), "cpu_p95": round(cpu[p95], 2)}


def throughput(opener, url, seconds=6.0, workers=4):
    """Requests per second with a few concurrent clients sharing the login cookie."""
    import threading

    count = [0]
    stop = time.perf_counter() + seconds
    lock = threading.Lock()

    def run():
        n = 0
        while time.perf_counter() < stop:
            with opener.open(url) as resp:
                resp.read()
            n += 1
        with lock:
            count[0] += n

    threads = [threading.Thread(target=run) for _ in range(workers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / (time.perf_counter() - t0)


IMPORT_SCRIPT = """
import time, io
from app import create_app
from app.extensions import db
from app.accounts.models import User
from bench.generate import roster_workbook, village_layout_workbook
from app.households import roster_import
from app.grids.villages import find_village
from sqlalchemy import select
app = create_app({{"CHECK_PRINT_STACK": False}})
with app.app_context():
    user = db.session.scalar(select(User).where(User.username == "bench"))
    buf = io.BytesIO()
    {workbook}({rows}).save(buf)
    data = buf.getvalue()
    t0 = time.perf_counter()
    village = find_village(user, {village!r}) if {village!r} else None
    plan = roster_import.read_roster(data, user, roster_import.ImportOptions(village=village), filename="名册.xlsx")
    assert not plan.errors, plan.errors[:5]
    counts = roster_import.apply_plan(plan, user)
    db.session.commit()
    print(time.perf_counter() - t0, counts)
"""


def _import_seconds(env, workbook, rows, village=""):
    """Seconds to read, check and import a generated roster in a process of its own, as the web import does."""
    script = IMPORT_SCRIPT.format(workbook=workbook, rows=rows, village=village)
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"roster import ({workbook}) failed:\n{proc.stderr[-3000:]}")
    out = proc.stdout.strip().splitlines()[-1]
    return float(out.split()[0]), out


def import_roster_seconds(env, rows=10_000):
    """Validate and import a 10,000-row roster in the template (a new village's worth of people)."""
    return _import_seconds(env, "roster_workbook", rows)


def import_own_layout_seconds(env, rows=10_000):
    """Detect, check and import a 10,000-person roster in a village's own layout (title row, two-row
    header, head-and-member blocks, mixed ID formats)."""
    return _import_seconds(env, "village_layout_workbook", rows, "水口村委会")


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
    households = int(os.environ.get("BENCH_HOUSEHOLDS", "250000"))
    with tempfile.TemporaryDirectory() as tmp:
        db_path = f"{tmp}/bench.db"
        env = dict(os.environ, VG_INSTANCE_PATH=tmp, DATABASE_URL=f"sqlite:///{db_path}", PYTHONPATH=str(ROOT))
        t0 = time.perf_counter()
        grids, hh, residents, import_s, import_line = build_database(env, households)
        print(import_line)
        print(f"data: {grids} grids, {hh} households, {residents} residents (built in {time.perf_counter() - t0:.0f} s)")
        queries = sample_queries(db_path)
        log = open(Path(tmp) / "server.log", "w")
        server, base = start_server(env, log)
        try:
            opener = login(base)
            import sqlite3

            con = sqlite3.connect(db_path)
            town_id = con.execute("select id from grid where division_code='330522200000'").fetchone()[0]
            village_id = con.execute("select id from grid where division_code='330522200203'").fetchone()[0]
            con.close()
            hx = {"HX-Request": "true"}
            figures = {
                "healthz": timed(opener, base + "/healthz", 200),
                "tree_root": timed(opener, base + "/grids/", 100),
                "tree_children_town": timed(opener, f"{base}/grids/{town_id}/children", 200, hx),
                "tree_children_village": timed(opener, f"{base}/grids/{village_id}/children", 200, hx),
                "grid_page_village": timed(opener, f"{base}/grids/{village_id}", 100),
            }
            search = {kind: server_times(opener, base, qs) for kind, qs in queries.items()}
            timed(opener, base + "/households/", 20)  # warm up, one client and then four
            timed(opener, base + "/_bench/bare", 20)
            throughput(opener, base + "/households/", seconds=1.0)
            throughput(opener, base + "/_bench/bare", seconds=1.0)
            # List and bare page in turns, so that a busy moment on a shared machine hits
            # both rather than one; the figure is the median of the rounds' ratios.
            rounds = []
            for _ in range(4):
                rounds.append((throughput(opener, base + "/households/", seconds=3.0),
                               throughput(opener, base + "/_bench/bare", seconds=3.0)))
            list_rps = statistics.median(r[0] for r in rounds)
            bare_rps = statistics.median(r[1] for r in rounds)
            list_ratio = statistics.median(r[0] / r[1] for r in rounds)
            rss = peak_rss_mb(server.pid)
            phone = phone_figures(base, "bench_worker", PASSWORD, worker_queries(db_path, "bench_worker"))
        finally:
            server.terminate()
            server.wait(10)
            log.close()
        for name, f in figures.items():
            print(f"{name:<24} p50 {f['p50']:>7.2f} ms   p95 {f['p95']:>7.2f} ms  (round trip)")
        for name, f in search.items():
            print(f"search {name:<17} p50 {f['p50']:>7.2f} ms   p95 {f['p95']:>7.2f} ms  (server time; "
                  f"CPU p50 {f['cpu_p50']:.2f} ms, p95 {f['cpu_p95']:.2f} ms)")
        for i, (lr, br) in enumerate(rounds, 1):
            print(f"round {i}: household list page {lr:.1f} req/s, bare page {br:.1f} req/s, ratio {lr / br:.3f}")
        print(f"household list page {list_rps:.1f} req/s, bare page {bare_rps:.1f} req/s (medians); "
              f"server peak RSS {rss} MB", flush=True)
        print(f"phone: first load {phone['phone_first_load_kb']} KB on the wire ({phone['phone_first_load_files']} files, "
              f"{phone['phone_first_load_immutable']} cached as immutable; {phone['phone_first_load_gzip_kb']} KB with gzip only), next visit {phone['phone_repeat_load_kb']} KB, "
              f"search fragment {phone['fragment_kb']} KB")
        import_s_10k, import_out = import_roster_seconds(env)
        own_s_10k, own_out = import_own_layout_seconds(env)
        from bench.bomb import bomb_figures

        bomb = bomb_figures(env, village_id, Path(tmp) / "bomb-server.log")
        # Last, as it adds a month of activity (and its workers) to the database.
        from bench.assessment import assessment_figures

        assess = assessment_figures(env)
        # On the month of activity just added: the county dashboard's server time.
        from bench.dashboard import dashboard_figures

        dash = dashboard_figures(env, db_path, Path(tmp) / "dashboard-server.log")
    print(f"import 10k rows: {import_out}")
    print(f"import 10k people in a village's own layout: {own_out}")
    print(f"bombs: {bomb['bomb_statuses']} in {bomb['bomb_request_s']} s; server peak RSS {bomb['bomb_rss_before_mb']} MB "
          f"before, {bomb['bomb_peak_rss_mb']} MB after")
    print(f"assessment: a month of {assess['visits']} visits, {assess['logs']} logs, {assess['cases']} cases, "
          f"{assess['patrols']} patrols; {assess['assessment_workers']} workers and {assess['assessment_villages']} "
          f"villages computed and ranked in {assess['assessment_month_s']} s (goal <= 2 s)")
    print(f"county dashboard: p50 {dash['dashboard_p50_ms']} ms, p95 {dash['dashboard_p95_ms']} ms (server time, goal <= 100 ms); "
          f"first request after the start-up warm-up ({dash['dashboard_warmup_s']} s) {dash['dashboard_cold_ms']} ms "
          f"(a township's: {dash['dashboard_town_cold_ms']} ms; asked at once after start-up: {dash['dashboard_during_warmup_ms']} ms)")
    result = {
        "grids": grids,
        "households": hh,
        "residents": residents,
        "import_divisions_s": round(import_s, 2),
        "healthz_p95_ms": figures["healthz"]["p95"],
        "tree_children_p95_ms": max(figures["tree_children_town"]["p95"], figures["tree_children_village"]["p95"]),
        "grid_page_p95_ms": figures["grid_page_village"]["p95"],
        "tree_root_p95_ms": figures["tree_root"]["p95"],
        "search_p95_ms": max(f["p95"] for f in search.values()),
        "search_cpu_p95_ms": max(f["cpu_p95"] for f in search.values()),
        "list_page_vs_bare": round(list_ratio, 3),
        "import_10k_rows_s": round(import_s_10k, 2),
        "import_own_layout_10k_s": round(own_s_10k, 2),
        "peak_rss_mb": rss,
        "bomb_peak_rss_mb": bomb["bomb_peak_rss_mb"],
        "phone_first_load_kb": phone["phone_first_load_kb"],
        "phone_first_load_gzip_kb": phone["phone_first_load_gzip_kb"],
        "phone_repeat_load_kb": phone["phone_repeat_load_kb"],
        "fragment_kb": phone["fragment_kb"],
        "assessment_month_s": assess["assessment_month_s"],
        "dashboard_p95_ms": dash["dashboard_p95_ms"],
        "dashboard_cold_ms": dash["dashboard_cold_ms"],
        "dashboard_warmup_s": dash["dashboard_warmup_s"],
    }
    from bench.pdf import pdf_figures

    pdf = pdf_figures()
    print(f"work log PDF: {pdf['worklog_entries']} entries, {pdf['worklog_pdf_pages']} pages ({pdf['worklog_pdf_kb']} KB) in {pdf['worklog_pdf_s']} s; "
          f"bare document: {pdf['bare_pdf_pages']} pages in {pdf['bare_pdf_10p_s']} s (CPU seconds, best of 5)")
    print(f"bare document of the same {pdf['worklog_pdf_pages']} pages (running header, page numbers, signature block): "
          f"{pdf['bare_same_pages_s']} s; work log over it {pdf['worklog_pdf_vs_bare_same_pages']}")
    print(f"one more page (a month of {pdf['busy_entries']} entries, {pdf['busy_pages']} pages; a bare document of "
          f"{pdf['long_bare_pages']} pages): work log over bare {pdf['worklog_page_marginal_vs_bare']}")
    result.update({k: v for k, v in pdf.items()
                   if k not in ("worklog_entries", "bare_pdf_pages", "busy_entries", "busy_pages", "long_bare_pages")})
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
