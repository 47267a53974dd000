"""Set-up page, health check, security headers, audit log, CLI (create-admin, backup, restore, check)."""
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.models import AuditLog, Setting
from app.extensions import db


def test_first_visit_goes_to_setup_then_setup_is_gone(client, app):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/setup"
    assert client.get("/login").headers["Location"] == "/setup"
    html = client.get("/setup").get_data(as_text=True)
    assert "创建第一个系统管理员" in html
    # the address the administrator came by is offered as the public address printed in QR codes
    assert re.search(r'<input [^>]*name="public_address"[^>]*value="http://localhost"', html)
    form = {"org_name": "长兴县", "org_level": "county", "division_code": "330522000000", "username": "chief",
            "full_name": "王主任", "phone": "13900001234", "password": "password", "confirm": "password",
            "public_address": "http://192.168.1.10:5000/"}
    assert "常见密码" in client.post("/setup", form).get_data(as_text=True)
    form.update(password="Changxing-2026", confirm="Changxing-2026")
    resp = client.post("/setup", form)
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", form).status_code == 404
    assert client.login("chief", "Changxing-2026").status_code == 302
    html = client.get("/grids/").get_data(as_text=True)
    assert "长兴县" in html
    with app.app_context():
        assert Setting.get("org_name") == "长兴县"
        assert Setting.get("public_base_url") == "http://192.168.1.10:5000"


def test_healthz_tells_anonymous_callers_ok_only(client, users):
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}
    assert head not in resp.get_data(as_text=True)
    client.login("admin")
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json["schema_revision"] == head and resp.json["status"] == "ok"


def _alembic_config():

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    return cfg


def test_security_headers(client, users):
    client.login("worker")
    resp = client.get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"
    html = resp.get_data(as_text=True)
    # No inline script or style anywhere (the CSP would block them), htmx history cache off.
    assert "<script>" not in html and "style=" not in html and " hx-on" not in html
    assert '"historyCacheSize":0' in html and '"allowEval":false' in html
    assert "X-CSRFToken" in html


def test_audit_log_is_append_only(ctx, tree):
    row = db.session.scalars(select(AuditLog)).first()
    assert row is not None and row.action == "create"
    row.summary = "篡改"
    with pytest.raises(RuntimeError):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(AuditLog)).first())
    with pytest.raises(RuntimeError):
        db.session.flush()
    db.session.rollback()


def test_audit_page_filters(client, users, tree):
    client.login("admin")
    html = client.get("/admin/audit?action=login").get_data(as_text=True)
    assert "登录" in html and "甲村" not in html
    frag = client.get("/admin/audit?entity=grid", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "甲村" in frag and "<html" not in frag
    client.logout()
    client.login("worker")
    assert client.get("/admin/audit").status_code == 403


def test_create_admin_cli_on_empty_database(app):
    runner = app.test_cli_runner()
    res = runner.invoke(args=["create-admin", "--username", "root", "--full-name", "管理员", "--password", "Short"])
    assert res.exit_code != 0
    res = runner.invoke(args=["create-admin", "--username", "root", "--full-name", "管理员", "--org-name", "长兴县",
                              "--password", "Chief-pass-2026"])
    assert res.exit_code == 0, res.output
    with app.app_context():
        assert Setting.get("setup_done") == "1"
    res = runner.invoke(args=["create-admin", "--username", "root2", "--full-name", "二号", "--password", "Chief-pass-2026"])
    assert res.exit_code == 0, res.output


@pytest.fixture
def sqlite_only(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite backup API")


def test_backup_and_restore(app, tree, sqlite_only, tmp_path):
    runner = app.test_cli_runner()
    res = runner.invoke(args=["backup"])
    assert res.exit_code == 0, res.output
    backup = res.output.strip().splitlines()[-1]
    assert "/backups/villagegrid-" in backup and backup.endswith(".db")
    con = sqlite3.connect(backup)
    assert con.execute("SELECT name FROM grid WHERE name='甲村'").fetchone() == ("甲村",)
    con.close()
    # Change something, then restore the backup: the change is gone.
    with app.app_context():
        from app.grids.models import Grid

        db.session.get(Grid, tree["village_a"]).name = "改名村"
        db.session.commit()
    res = runner.invoke(args=["restore", backup])
    assert res.exit_code == 0, res.output
    assert "恢复前的数据库已另存为" in res.output and "/backups/before-restore-" in res.output
    with app.app_context():
        from app.grids.models import Grid

        assert db.session.get(Grid, tree["village_a"]).name == "甲村"
    # Not a VillageGrid database: refused.
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    res = runner.invoke(args=["restore", str(other)])
    assert res.exit_code == 1 and "不是村网格数据库" in res.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    res = runner.invoke(args=["restore", str(junk)])
    assert res.exit_code == 1 and "不是 SQLite 数据库" in res.output


def _live_marker(app):
    from app.grids.models import Grid

    with app.app_context():
        return db.session.scalar(select(Grid.name).order_by(Grid.id).limit(1))


def _refused(app, runner, path, words):
    """A restore of ``path`` refused with ``words``: exit 1, a Chinese message and no traceback, nothing
    left behind, the live database as it was and the app still starting on it."""
    before = _live_marker(app)
    res = runner.invoke(args=["restore", str(path)])
    assert res.exit_code == 1, res.output
    assert words in res.output and "未恢复" in res.output and "当前数据库没有改动" in res.output, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    assert _live_marker(app) == before
    assert not [p.name for p in Path(app.instance_path).iterdir() if ".restoring" in p.name]
    with _app_on(app.config["SQLALCHEMY_DATABASE_URI"]):
        assert db.session.execute(db.text("SELECT count(*) FROM grid")).scalar() >= 1


@contextmanager
def _app_on(url):
    """An app context of another app on the database at ``url`` (closed afterwards)."""
    from app import create_app

    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "CHECK_PRINT_STACK": False})
    with other.app_context():
        try:
            yield other
        finally:
            db.session.remove()
            db.engine.dispose()


def _backup_and_head(app):
    """A fresh backup's path, and the schema revision of the code."""
    backup = app.test_cli_runner().invoke(args=["backup"]).output.strip().splitlines()[-1]
    with app.app_context():
        return backup, db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar()


def _sql(path, *statements, source=None):
    """Run statements on the SQLite file ``path`` (first a copy of ``source``, when given)."""
    if source:
        Path(path).write_bytes(Path(source).read_bytes())
    con = sqlite3.connect(path)
    for statement, *args in statements:
        con.execute(statement, *args)
    con.commit()
    con.close()
    return path


def test_restore_checks_everything_before_touching_the_live_database(app, tree, sqlite_only, tmp_path):
    runner = app.test_cli_runner()
    backup, head = _backup_and_head(app)
    # five tables with the right names (and even the right revision): no table reads as the app's
    fake = _sql(tmp_path / "fake.db", *[(f'CREATE TABLE "{name}" (version_num TEXT)',) for name in
                                        ("alembic_version", "grid", "user", "setting", "audit_log")],
                ("INSERT INTO alembic_version VALUES (?)", (head,)))
    _refused(app, runner, fake, "无法按本程序读取")
    _refused(app, runner, _sql(fake, ("DELETE FROM alembic_version",)), "没有有效的数据库版本号")
    # a backup made by a newer version of the program
    newer = _sql(tmp_path / "newer.db", ("UPDATE alembic_version SET version_num = '0099_from_the_future'",),
                 source=backup)
    _refused(app, runner, newer, "比本程序新")
    # a damaged backup: pages in the middle overwritten
    damaged = tmp_path / "damaged.db"
    data = bytearray(Path(backup).read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 2:page * 6] = b"\xa5" * (page * 4)
    damaged.write_bytes(bytes(data))
    _refused(app, runner, damaged, "已损坏")


def test_restore_of_an_older_backup_upgrades_it(app, tree, sqlite_only, tmp_path):
    from flask_migrate import downgrade

    runner = app.test_cli_runner()
    backup, head = _backup_and_head(app)
    older = _sql(tmp_path / "older.db", source=backup)
    with _app_on(f"sqlite:///{older}"):
        downgrade(revision="-1")
        previous = db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar()
    assert previous != head
    with app.app_context():
        from app.grids.models import Grid

        db.session.get(Grid, tree["village_a"]).name = "改名村"
        db.session.commit()
    res = runner.invoke(args=["restore", str(older)])
    assert res.exit_code == 0, res.output
    assert f"备份的数据库版本 {previous} 已升级到 {head}" in res.output
    with app.app_context():
        from app.grids.models import Grid

        assert db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar() == head
        assert db.session.get(Grid, tree["village_a"]).name == "甲村"


def test_a_backup_is_whole_or_absent_and_opening_it_leaves_nothing_beside_it(app, tree, sqlite_only, monkeypatch):
    import os
    import stat

    from app.core import backups

    runner = app.test_cli_runner()
    folder = Path(app.instance_path) / "backups"
    before = set(folder.glob("*")) if folder.exists() else set()
    real = backups._sqlite_copy

    def killed(src, dest):  # the machine stops half-way through the copy
        real(src, dest)
        Path(dest).write_bytes(Path(dest).read_bytes()[:4096])
        raise KeyboardInterrupt

    monkeypatch.setattr(backups, "_sqlite_copy", killed)
    runner.invoke(args=["backup"])
    assert set(folder.glob("*")) == before  # no file named like a good backup, no partial file
    monkeypatch.undo()
    res = runner.invoke(args=["backup"])
    assert res.exit_code == 0, res.output
    made = Path(res.output.strip().splitlines()[-1])
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o600 and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    con = sqlite3.connect(made)
    assert con.execute("SELECT name FROM grid WHERE name='甲村'").fetchone() == ("甲村",)
    con.close()
    assert runner.invoke(args=["restore", str(made)]).exit_code == 0
    assert not [p.name for p in folder.iterdir() if p.name.endswith(("-wal", "-shm", "-journal", ".partial"))]


def test_restore_refuses_while_serving(app, sqlite_only, tmp_path):
    import fcntl
    from pathlib import Path

    runner = app.test_cli_runner()
    backup = runner.invoke(args=["backup"]).output.strip().splitlines()[-1]
    lock = open(Path(app.instance_path) / "server.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = runner.invoke(args=["restore", backup])
        assert res.exit_code != 0 and "服务正在运行" in res.output
        assert runner.invoke(args=["restore", "--force", backup]).exit_code == 0
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def test_sqlite_pragmas(app, sqlite_only):
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000


def test_concurrent_writers_wait_instead_of_failing(app, tree, sqlite_only):
    """Two threads writing at once: the second waits on BEGIN IMMEDIATE; both commits land."""
    import threading

    from app.grids.models import Grid

    errors = []

    def rename(grid_id, name):
        try:
            with app.app_context():
                for i in range(20):
                    db.session.get(Grid, grid_id).name = f"{name}{i}"
                    db.session.commit()
        except Exception as exc:  # pragma: no cover - the failure we test against
            errors.append(exc)

    threads = [threading.Thread(target=rename, args=(tree[k], k)) for k in ("village_a", "village_b", "town_a")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        assert db.session.get(Grid, tree["village_a"]).name == "village_a19"


def test_migrations_match_the_models(app):
    """`flask db upgrade` builds exactly the schema the models describe (on SQLite and PostgreSQL)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context():
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == []


def test_grid_public_code_round_trip(app):
    from app.core.public import grid_id_from_code, grid_public_code

    with app.test_request_context(base_url="http://grid.local"):
        code = grid_public_code(17)
        assert grid_id_from_code(code) == 17
        assert grid_id_from_code("18-" + code.split("-")[1]) is None
        assert grid_id_from_code("abc") is None and grid_id_from_code("") is None


def test_installation_name_is_kept_briefly_and_a_change_is_seen_at_once(app, client, tree, users, monkeypatch):
    """The name and set-up state are read once per INSTALLATION_TTL; a change through Setting.put
    shows at once, and a row changed behind the app's back shows once the time has passed."""
    from app.core import models
    from app.core.models import Setting
    from app.extensions import db

    client.login("admin")
    assert "测试县" in client.get("/").get_data(as_text=True)
    with app.app_context():
        Setting.put("org_name", "新名县")
        db.session.commit()
    assert "新名县" in client.get("/").get_data(as_text=True)
    with app.app_context():
        db.session.execute(db.update(Setting).where(Setting.key == "org_name").values(value="另名县"))
        db.session.commit()
    assert "新名县" in client.get("/").get_data(as_text=True)  # another process's change: not yet
    now = [models.time.monotonic() + models.INSTALLATION_TTL + 1]
    monkeypatch.setattr(models.time, "monotonic", lambda: now[0])
    assert "另名县" in client.get("/").get_data(as_text=True)


def test_check_reports_the_print_font(app):
    res = app.test_cli_runner().invoke(args=["check"])
    assert res.exit_code == 0, res.output
    assert "打印字体：villagegrid-print-bold-" in res.output and "villagegrid-print-regular-" in res.output
    assert res.output.rstrip().endswith("ok")


def test_serve_is_sized_for_a_township_and_reports_its_queue_once_a_minute(app, monkeypatch, caplog):
    """`flask serve` runs waitress with the sizing of core/serving.py; twenty people saving at once
    no longer write a "Task queue depth" line per request, but one summary a minute with figures."""
    import logging

    import waitress
    from waitress.task import ThreadedTaskDispatcher

    from app.core import serving

    seen = {}
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: seen.update(kw))
    res = app.test_cli_runner().invoke(args=["serve", "--port", "5999"])
    assert res.exit_code == 0, res.output
    assert seen["threads"] == 12 and seen["backlog"] == 512 and seen["connection_limit"] == 400
    assert seen["channel_timeout"] == 60 and seen["port"] == 5999

    caplog.set_level(logging.WARNING, logger="waitress.queue")
    dispatcher = ThreadedTaskDispatcher()  # no thread free: every task waits
    for _ in range(2000):
        dispatcher.add_task(object())
    assert not [r for r in caplog.records if r.name == "waitress.queue"]

    clock = [0.0]
    report = serving.QueueReport(12, clock=lambda: clock[0])
    logger = logging.getLogger("tests.queue")
    logger.addFilter(report)
    try:
        for i in range(20_000):  # six minutes of it
            clock[0] = i * 0.018
            logger.warning("Task queue depth is %d", 1 + i % 9)
    finally:
        logger.removeFilter(report)
    lines = [r.getMessage() for r in caplog.records if r.name == "tests.queue"]
    assert 5 <= len(lines) <= 6, lines
    assert all(re.fullmatch(r"请求排队：过去 60 秒内 \d+ 次有请求等待空闲线程，最多同时 9 个在等（共 12 个线程）", line)
               for line in lines), lines


def test_the_database_and_every_stored_file_are_private(app, sqlite_only, tmp_path, monkeypatch):
    """The database, photos, scans, signatures and backups are created 0600 in folders 0700, and
    whatever an older version left readable is tightened when the app starts."""
    import os
    import stat

    from app.core import uploads

    def mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)

    instance = tmp_path / "instance"
    (instance / "uploads" / "visits").mkdir(parents=True, mode=0o755)
    os.chmod(instance, 0o755)
    old_photo = instance / "uploads" / "visits" / "old.jpg"
    old_photo.write_bytes(b"\xff\xd8\xff")
    os.chmod(old_photo, 0o644)
    (instance / "villagegrid.db-wal").write_bytes(b"")
    os.chmod(instance / "villagegrid.db-wal", 0o644)
    program = instance / "runtime" / "1.0.0-0123456789ab" / "villagegrid"  # the release's unpacked program
    program.parent.mkdir(parents=True)
    os.chmod(instance / "runtime", 0o755)
    program.write_bytes(b"\x7fELF")
    os.chmod(program, 0o755)
    url = f"sqlite:///{instance / 'villagegrid.db'}"
    monkeypatch.setenv("VG_INSTANCE_PATH", str(instance))
    with _app_on(url) as other:
        assert mode(instance) == 0o700 and mode(instance / "uploads") == 0o700
        assert mode(old_photo) == 0o600 and mode(instance / "villagegrid.db-wal") == 0o600
        assert mode(instance / "runtime") == 0o700 and mode(program) == 0o755  # still runnable, by its owner only
        assert mode(instance / "villagegrid.db") == 0o600  # made before SQLite makes it
        db.session.execute(db.text("CREATE TABLE t (x)"))
        db.session.commit()
        assert mode(instance / "villagegrid.db") == 0o600 and mode(instance / "villagegrid.db-shm") == 0o600
        with other.test_request_context(method="POST"):
            db.session.rollback()
            uploads.write_with_session(instance / "signatures" / "a" / "s.png", b"png")
            db.session.commit()
    assert mode(instance / "signatures") == 0o700 and mode(instance / "signatures" / "a") == 0o700
    assert mode(instance / "signatures" / "a" / "s.png") == 0o600


def test_making_the_app_leaves_weasyprint_and_pypinyin_unloaded(tmp_path):
    """Every process pays for what ``create_app`` imports: WeasyPrint (about 40 MB) loads with the first
    document and pypinyin's dictionaries (about 57 MB) with the first initials, not at start-up."""
    import os
    import subprocess
    import sys

    code = ("import sys; from app import create_app; create_app({'CHECK_PRINT_STACK': False}); "
            "print(sorted(m for m in ('weasyprint', 'pypinyin', 'fontTools') if m in sys.modules))")
    env = dict(os.environ, VG_INSTANCE_PATH=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    from app.households.names import name_initials

    assert name_initials("单雄信")[0] == "sxx"
