"""The schedules the server runs by itself: one run per period, one runner among several, audit,
retry, catch-up after downtime, the jobs' work, the rotation of backups, what admins are shown.

Time is frozen by passing the runner's clock (``now``) explicitly."""
import os
import threading
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock

import pytest
from sqlalchemy import func, select, update

from app.core import backups, schedules
from app.core.forms import ServiceError
from app.core.models import AuditLog, ScheduleRun
from app.core.ratelimit import RateCounter
from app.core.timeutil import fmt_local, utcnow
from app.extensions import db
from tests.factories import act, unread

# Wednesday 2 December 2026, 10:00 in China: every schedule (催办 at 09:00 on working days) is due.
NOW = datetime(2026, 12, 2, 2, 0)
ALL = {"urge_overdue", "backup", "cleanup", "expire_logins"}


def _runs(app, name=None):
    with app.app_context():
        q = select(ScheduleRun).order_by(ScheduleRun.id)
        if name:
            q = q.where(ScheduleRun.name == name)
        return [(r.name, r.period, r.status, r.attempts) for r in db.session.scalars(q)]


@pytest.fixture
def probe(app):
    """A schedule of the test's own (every day at 08:00) whose work the test decides."""
    calls = []
    behaviour = {"fail": None, "open": []}

    def work(now):
        calls.append(now)
        # Nothing is left open for the work (on SQLite that would be the write lock held through a backup).
        behaviour["open"].append(db.session().in_transaction())
        if behaviour["fail"]:
            raise ServiceError(behaviour["fail"])
        return f"第 {len(calls)} 次"

    schedules.register(app, schedules.Schedule("probe", "测试任务", clock(8, 0), work))
    yield calls, behaviour
    app.extensions["vg_schedules"].pop("probe")


def test_each_schedule_runs_once_a_period_and_is_audited(app, tree):
    done = schedules.run_due(app, NOW)
    assert {d.name for d in done} == ALL and all(d.status == "ok" for d in done), done
    assert {d.period for d in done} == {"2026-12-02"}
    assert schedules.run_due(app, NOW + timedelta(hours=3)) == []  # the same period: nothing again
    with app.app_context():
        audits = db.session.scalars(select(AuditLog.summary).where(AuditLog.action == "schedule_run")).all()
        assert len(audits) == 4 and all("（2026-12-02）完成" in a for a in audits), audits
        assert db.session.scalar(select(AuditLog.actor_name).where(AuditLog.action == "schedule_run")) == "系统（定时任务）"
    # 09:00 the next day: the nightly ones are due again, 催办 too (Thursday is a working day).
    again = schedules.run_due(app, datetime(2026, 12, 3, 1, 0))
    assert {d.name for d in again} == ALL and {d.period for d in again} == {"2026-12-03"}


def test_before_the_due_time_the_previous_period_counts(app, tree):
    # Thursday 08:00 in China: 催办 (09:00) is not yet due, so its period is still Wednesday's.
    schedules.run_due(app, NOW)
    done = schedules.run_due(app, datetime(2026, 12, 3, 0, 0))
    assert {d.name for d in done} == {"backup", "cleanup", "expire_logins"}


def test_catch_up_after_downtime_runs_the_latest_period_once(app, tree):
    schedules.run_due(app, datetime(2026, 11, 24, 2, 0))  # then the server was off for a week
    done = schedules.run_due(app, NOW)
    assert {d.name for d in done} == ALL and {d.period for d in done} == {"2026-12-02"}
    assert len(_runs(app)) == 8  # one for 24 November and one for today each, none for the days between
    # Saturday 5 December: 催办 only on working days, and Friday's round was done on Friday.
    schedules.run_due(app, datetime(2026, 12, 4, 2, 0))
    saturday = schedules.run_due(app, datetime(2026, 12, 5, 2, 0))
    assert {d.name for d in saturday} == {"backup", "cleanup", "expire_logins"}
    with app.app_context():
        urge = schedules.registered(app)[0]
        assert urge.name == "urge_overdue" and schedules.period_of(urge, datetime(2026, 12, 6, 8, 0)) == date(2026, 12, 4)


def test_two_runners_one_wins(app, tree, probe):
    calls, _ = probe
    start = threading.Barrier(2)
    results = []

    def runner():
        start.wait()
        results.append(schedules.run_due(app, NOW, names={"probe"}))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and probe[1]["open"] == [False]
    assert sorted(len(r) for r in results) == [0, 1]
    assert _runs(app, "probe") == [("probe", "2026-12-02", "ok", 1)]


def test_a_second_process_skips_a_period_another_is_running(app, tree, probe):
    calls, _ = probe
    with app.app_context():
        db.session.add(ScheduleRun(name="probe", period="2026-12-02", status="running", started_at=NOW, runner="other:1"))
        db.session.commit()
    assert schedules.run_due(app, NOW + timedelta(minutes=30), names={"probe"}) == []
    assert calls == []
    # A run whose process died (still "running" after two hours) is taken over.
    done = schedules.run_due(app, NOW + timedelta(hours=2, minutes=1), names={"probe"})
    assert [d.status for d in done] == ["ok"] and len(calls) == 1 and probe[1]["open"] == [False]
    assert _runs(app, "probe") == [("probe", "2026-12-02", "ok", 2)]


def test_a_failed_run_is_recorded_audited_and_tried_again_an_hour_later(app, tree, probe):
    calls, behaviour = probe
    behaviour["fail"] = "磁盘已满"
    done = schedules.run_due(app, NOW, names={"probe"})
    assert [(d.status, d.result) for d in done] == [("failed", "磁盘已满")]
    with app.app_context():
        assert db.session.scalar(select(AuditLog.summary).where(AuditLog.action == "schedule_run")) \
            == "定时任务“测试任务”（2026-12-02）失败：磁盘已满"
    assert schedules.run_due(app, NOW + timedelta(minutes=30), names={"probe"}) == []
    behaviour["fail"] = None
    done = schedules.run_due(app, NOW + timedelta(minutes=61), names={"probe"})
    assert [(d.status, d.result) for d in done] == [("ok", "第 2 次")]
    assert _runs(app, "probe") == [("probe", "2026-12-02", "ok", 2)]


def test_urging_runs_as_the_command_does(app, make_client, users, report):  # noqa: F811
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    act(app, leader, report, "assign", assignee_id=users["worker"])
    with app.app_context():
        from app.cases.models import Case

        db.session.execute(update(Case).where(Case.id == report).values(deadline_at=NOW - timedelta(hours=2)))
        db.session.commit()
    done = schedules.run_due(app, NOW, names={"urge_overdue"})
    assert [(d.status, d.result) for d in done] == [("ok", "催办 1 件超期事件")]
    assert any(t.startswith("超期催办") for t in unread(app, users["worker"]))


def test_nightly_backup_and_its_rotation(app, tree, instance_path):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the SQLite copy is checked here; pg_dump runs in the gunicorn test")
    folder = backups.backup_dir(instance_path)
    for p in folder.glob("auto-*"):
        p.unlink()
    done = schedules.run_due(app, NOW, names={"backup"})
    assert done[0].status == "ok" and done[0].result == "备份到 auto-20261202-100000.db", done
    assert (folder / "auto-20261202-100000.db").read_bytes()[:16] == backups.SQLITE_HEADER
    assert oct((folder / "auto-20261202-100000.db").stat().st_mode & 0o777) == "0o600"


def test_rotation_keeps_days_weeks_and_months(tmp_path):
    start = datetime(2026, 12, 2, 2, 0)
    for i in range(400):
        (tmp_path / f"auto-{(start - timedelta(days=i)).strftime('%Y%m%d-%H%M%S')}.db").write_bytes(b"x")
    (tmp_path / "villagegrid-20250101-120000.db").write_bytes(b"hand-made")
    (tmp_path / "before-restore-20250101-120000.db").write_bytes(b"safety")
    removed = backups.rotate(tmp_path, 14, 8, 12)
    kept = sorted(p.name for p in tmp_path.glob("auto-*"))
    stamps = [datetime.strptime(n[5:20], "%Y%m%d-%H%M%S") for n in kept]
    assert len(removed) + len(kept) == 400
    assert {(start - timedelta(days=i)).date() for i in range(14)} <= {s.date() for s in stamps}
    assert len({s.isocalendar()[:2] for s in stamps}) >= 8
    assert len({(s.year, s.month) for s in stamps}) == 12  # the newest of each of the last 12 months
    assert len(kept) <= 14 + 8 + 12
    assert (tmp_path / "villagegrid-20250101-120000.db").exists() and (tmp_path / "before-restore-20250101-120000.db").exists()
    assert backups.rotate(tmp_path, 14, 8, 12) == []  # nothing more on a second pass


def test_cleanup_removes_leftovers(app, tree, instance_path):
    folder = backups.backup_dir(instance_path)
    old, fresh = folder / ".auto-20261201-020000.db.partial", folder / ".auto-20261202-095900.db.partial"
    for p in (old, fresh):
        p.write_bytes(b"half")
    at = NOW.replace(tzinfo=timezone.utc).timestamp()
    os.utime(old, (at - 8 * 3600, at - 8 * 3600))  # killed half-way eight hours ago
    os.utime(fresh, (at - 3600, at - 3600))  # still being written, as far as anyone can tell
    done = schedules.run_due(app, NOW, names={"cleanup"})
    assert done[0].status == "ok" and "1 个未完成的备份文件" in done[0].result, done
    assert not old.exists() and fresh.exists()
    fresh.unlink()


def test_expired_logins_are_removed(app, users):
    from app.accounts.models import LoginFailure, LoginSession

    with app.app_context():
        db.session.add_all([
            LoginSession(token="idle", user_id=users["worker"], last_seen_at=NOW - timedelta(hours=1)),
            LoginSession(token="active", user_id=users["worker"], last_seen_at=NOW - timedelta(minutes=5)),
            LoginSession(token="remembered", user_id=users["worker"], remember=True, last_seen_at=NOW - timedelta(days=3)),
            LoginFailure(username="x", ip="1.2.3.4", at=NOW - timedelta(days=2)),
            LoginFailure(username="x", ip="1.2.3.4", at=NOW - timedelta(hours=2)),
            RateCounter(key="public:1.2.3.4", window_start=NOW - timedelta(days=3), count=4),
            RateCounter(key="public:1.2.3.4", window_start=NOW - timedelta(hours=1), count=2),
        ])
        db.session.commit()
    done = schedules.run_due(app, NOW, names={"expire_logins"})
    assert done[0].result == "删除 1 个过期登录、1 条过期的登录失败记录、1 条过期的限流计数"
    with app.app_context():
        assert set(db.session.scalars(select(LoginSession.token))) == {"active", "remembered"}
        assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 1
        assert db.session.scalar(select(func.count()).select_from(RateCounter)) == 1


def test_admin_page_and_check_show_the_last_runs(app, client, users):
    client.login("admin")
    html = client.get("/admin/settings").get_data(as_text=True)
    # Before its first run a schedule is not late: the page says when the server will first run it.
    assert "定时任务" in html and "每晚备份" in html and "超过两天没有成功运行" not in html
    assert html.count("尚未运行（服务启动后首次运行时间：服务启动后一分钟内）") == 4
    app.config["SCHEDULES_ENABLED"] = False
    try:
        assert "尚未运行（由 cron 运行 flask schedules run 时运行）" in client.get("/admin/settings").get_data(as_text=True)
    finally:
        app.config["SCHEDULES_ENABLED"] = True
    runner = schedules.Runner(app)  # the runner of this process (not started: its first tick is now)
    app.extensions["vg_schedule_runner"] = runner
    runner.thread.is_alive = lambda: True
    try:
        html = client.get("/admin/settings").get_data(as_text=True)
        assert f"尚未运行（服务启动后首次运行时间：{fmt_local(runner.next_at)}" in html or \
            f"尚未运行（服务启动后首次运行时间：{fmt_local(utcnow())}" in html
    finally:
        del app.extensions["vg_schedule_runner"]
    with app.app_context():  # the installation's first activity (its set-up): nearly two days before NOW
        db.session.execute(update(AuditLog).values(at=NOW - timedelta(days=2) + timedelta(minutes=1)))
        db.session.commit()
        assert schedules.late_warnings(app, NOW) == []  # not two days old: not yet late
        warnings = schedules.late_warnings(app, NOW + timedelta(minutes=1))
        assert len(warnings) == 4 and "从未成功运行" in warnings[0], warnings  # cron never set up: warned
    schedules.run_due(app, NOW)
    with app.app_context():
        assert schedules.late_warnings(app, NOW + timedelta(days=1)) == []
        warnings = schedules.late_warnings(app, NOW + timedelta(days=3))
        assert len(warnings) == 4 and "已超过两天没有成功运行（上次成功是 2026-12-02 10:00）" in warnings[1], warnings
    client.login("admin")  # the frozen clock is days ahead: the expiry of logins ended the session
    html = client.get("/admin/settings").get_data(as_text=True)
    assert "成功：删除 1 个过期登录" in html and "尚未运行" not in html
    client.logout()
    client.login("worker")
    assert client.get("/admin/settings").status_code == 403


def test_cli_runs_due_schedules_and_reports(app, tree, probe):
    runner = app.test_cli_runner()
    res = runner.invoke(args=["schedules", "run", "probe"])
    assert res.exit_code == 0 and "probe" in res.output and "成功：第 1 次" in res.output, res.output
    res = runner.invoke(args=["schedules", "run", "probe"])
    assert res.exit_code == 0 and "没有到期的定时任务" in res.output
    res = runner.invoke(args=["schedules", "run", "nonsense"])
    assert res.exit_code != 0 and "没有这个定时任务" in res.output
    res = runner.invoke(args=["schedules", "status"])
    assert "probe" in res.output and "成功" in res.output and "backup         每天 02:00  尚未运行" in res.output
    assert "警告" not in res.output  # an installation of today: nothing is late yet


def test_runner_thread_runs_at_start_and_stops(app, tree, probe):
    calls, _ = probe
    assert schedules.start(app) is None  # never inside tests unless asked
    runner = schedules.Runner(app, every=3600).start()
    try:
        deadline = time.monotonic() + 30
        while [r[2] for r in _runs(app, "probe")] in ([], ["running"]) and time.monotonic() < deadline:
            runner.thread.join(0.05)
        assert [r[2] for r in _runs(app, "probe")] == ["ok"]
    finally:
        runner.stop()
        runner.thread.join(10)
    assert not runner.thread.is_alive()


def test_one_run_among_gunicorn_workers(app, database_url, tmp_path):
    """The real thing: gunicorn with three workers on the test database, each starting the runner with
    its first request; each schedule runs once for today, audited once."""
    import socket
    import subprocess
    import sys
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VG_", "FLASK_"))}
    env.update(VG_INSTANCE_PATH=str(tmp_path / "instance"), DATABASE_URL=database_url, VG_SCHEDULES_ENABLED="1")
    (tmp_path / "instance").mkdir()
    log = open(tmp_path / "gunicorn.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "3", "--bind", f"127.0.0.1:{port}",
                             "wsgi:app"], cwd=root, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def get(_):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
                return resp.status
        except OSError:
            return None

    try:
        deadline = time.monotonic() + 60
        while get(0) != 200:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-3000:]
            time.sleep(0.1)
        with ThreadPoolExecutor(6) as pool:  # requests at once, so that every worker gets some
            assert set(pool.map(get, range(60))) == {200}
        while time.monotonic() < deadline:
            rows = _runs(app)
            if len(rows) == 4 and all(r[2] != "running" for r in rows):
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    rows = _runs(app)
    assert sorted(r[0] for r in rows) == sorted(ALL) and {r[2] for r in rows} == {"ok"}, rows
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "schedule_run")) == 4
