"""Set-up page, health check, security headers, audit log, CLI (create-admin, backup, restore, check)."""
import re
import sqlite3

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


def test_healthz_reports_schema_revision(client):
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json["schema_revision"] == head and resp.json["status"] == "ok"


def _alembic_config():
    from pathlib import Path

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
    assert "previous database was saved" in res.output
    with app.app_context():
        from app.grids.models import Grid

        assert db.session.get(Grid, tree["village_a"]).name == "甲村"
    # Not a VillageGrid database: refused.
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    res = runner.invoke(args=["restore", str(other)])
    assert res.exit_code != 0 and "不是村网格数据库" in res.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    res = runner.invoke(args=["restore", str(junk)])
    assert res.exit_code != 0 and "不是 SQLite 数据库" in res.output


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
