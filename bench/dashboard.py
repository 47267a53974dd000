"""Dashboard figures: the county dashboard's server time (Server-Timing) on the benchmark county
after the assessment's month of generated activity (``dashboard_p95_ms``).

The dashboard reads this month's figures at most a minute old and the finished months' trend
counts at most ten minutes old (app/stats/service.py); the first request after that computes
them, the others within the minute read them. After start-up the server works out the county's and
townships' dashboards in the background (app/core/warmup.py): ``dashboard_warmup_s`` is how long
that took, ``dashboard_cold_ms`` the county's first request once it is done (the township's beside
it), ``dashboard_during_warmup_ms`` a first request made at once after start-up (it waits for the
computation under way instead of starting another).
Run alone with ``python -m bench.dashboard`` (a county of BENCH_HOUSEHOLDS households, 20,000 by default).
"""
import json
import os
import re
import sqlite3
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path


def _server_ms(opener, url):
    """The server time of one request (Server-Timing ``app``)."""
    with opener.open(urllib.request.Request(url)) as resp:
        resp.read()
        assert resp.status == 200, url
        timing = dict(t.split(";dur=") for t in resp.headers.get_all("Server-Timing"))
        return float(timing["app"])


def _warmed_up_s(log_path, timeout=900):
    """Seconds the server's start-up warm-up took (its log line), once it is done."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = re.search(r"预热完成：统计概况（\d+，([\d.]+) 秒）", Path(log_path).read_text(errors="replace"))
        if found:
            return float(found.group(1))
        time.sleep(0.2)
    raise RuntimeError("the warm-up did not finish")


def dashboard_figures(env, db_path, log_path, n=60):
    """Start a server on the bench database, log in as the county user, time the county dashboard."""
    from bench import start_server
    from bench.__main__ import login

    con = sqlite3.connect(db_path)
    county_id = con.execute("select id from grid where parent_id is null order by id").fetchone()[0]
    town_id = con.execute("select id from grid where division_code='330522200000'").fetchone()[0]
    con.close()
    with open(log_path, "w") as log:  # a server asked at once: its first request meets the warm-up
        server, base = start_server(env, log)
        try:
            during = _server_ms(login(base), f"{base}/stats/grids/{county_id}/dashboard")
        finally:
            server.terminate()
            server.wait(10)
    with open(log_path, "w") as log:
        server, base = start_server(env, log)
        try:
            warmup_s = _warmed_up_s(log_path)
            opener = login(base)
            url = f"{base}/stats/grids/{county_id}/dashboard"
            cold = _server_ms(opener, url)
            town_cold = _server_ms(opener, f"{base}/stats/grids/{town_id}/dashboard")
            samples = sorted(_server_ms(opener, url) for _ in range(n))
        finally:
            server.terminate()
            server.wait(10)
    return {"dashboard_p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
            "dashboard_p50_ms": round(statistics.median(samples), 2),
            "dashboard_cold_ms": round(cold, 1), "dashboard_town_cold_ms": round(town_cold, 1),
            "dashboard_warmup_s": warmup_s, "dashboard_during_warmup_ms": round(during, 1)}


def main():
    from bench import ROOT
    from bench.__main__ import build_database
    from bench.assessment import assessment_figures

    households = int(os.environ.get("BENCH_HOUSEHOLDS", "20000"))
    with tempfile.TemporaryDirectory() as tmp:
        db_path = f"{tmp}/bench.db"
        env = dict(os.environ, VG_INSTANCE_PATH=tmp, DATABASE_URL=f"sqlite:///{db_path}", PYTHONPATH=str(ROOT))
        build_database(env, households)
        assessment_figures(env)
        figures = dashboard_figures(env, db_path, Path(tmp) / "server.log")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
