"""The one-file release's start-up (app/core/release.py, app/dist_main.py): upgrades that back up
first and roll back, and the faults that must stop a start with a Chinese message, a non-zero
exit and nothing half-written."""
import errno
import fcntl
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from app.core import backups, release
from app.extensions import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@pytest.fixture
def sqlite_only(app):
    """The tests copying the test database need it in SQLite (the release's own database is always SQLite)."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("copies the SQLite test database")


def _live(tmp_path):
    return tmp_path / "data" / "villagegrid.db"


def _app(tmp_path, monkeypatch, migrations=None):
    """An app on ``tmp_path/data`` (its own instance folder and SQLite file), like the release's."""
    from app import create_app

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    monkeypatch.setenv("VG_INSTANCE_PATH", str(data))
    app = create_app({"TESTING": True, "CHECK_PRINT_STACK": False,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{_live(tmp_path)}"})
    if migrations:
        app.extensions["migrate"].directory = str(migrations)
    return app


def _rows(path):
    """Every table's rows, sorted, of the SQLite file at ``path``."""
    con = sqlite3.connect(path)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"'))) for n in names}
    finally:
        con.close()


def _row_ids(path):
    """Every table's row ids (rowid), of the SQLite file at ``path``."""
    con = sqlite3.connect(path)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND sql NOT LIKE "
                                           "'%WITHOUT ROWID%' AND name NOT LIKE 'sqlite_%'")]
        return {n: {r[0] for r in con.execute(f'SELECT rowid FROM "{n}"')} for n in names}
    finally:
        con.close()


def _revision(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()


def _populated_copy(app, dest):
    """A copy of the test database (with the grid tree and its accounts) at ``dest``."""
    dest.parent.mkdir(exist_ok=True)
    with app.app_context():
        backups.write_sqlite_backup(db.engine.url.database, dest)
    return dest


def _downgrade_one(tmp_path, monkeypatch):
    from flask_migrate import downgrade

    app = _app(tmp_path, monkeypatch)
    with app.app_context():
        downgrade(revision="-1")
        db.session.remove()
        db.engine.dispose()
    return _revision(_live(tmp_path))


def test_a_database_one_release_old_is_backed_up_and_upgraded_with_every_row_kept(app, tree, users, sqlite_only,
                                                                                  tmp_path, monkeypatch):
    live = _populated_copy(app, _live(tmp_path))
    head = release.migrations_head(MIGRATIONS)
    previous = _downgrade_one(tmp_path, monkeypatch)
    assert previous != head
    before = _rows(live)
    assert len(before["user"]) >= 3 and len(before["grid"]) >= 7

    before_rev, after_rev, saved = release.upgrade_database(_app(tmp_path, monkeypatch), "20261129-120000")
    assert (before_rev, after_rev) == (previous, head)
    assert saved.name == f"before-upgrade-{previous}-20261129-120000.db" and saved.parent.name == "backups"
    assert _rows(saved) == before  # the backup is the database as it was
    after = _rows(live)
    assert _revision(live) == head
    kept_before, kept_after = _row_ids(saved), _row_ids(live)
    for table, ids in kept_before.items():
        if table != "alembic_version" and table in kept_after:
            assert ids <= kept_after[table], table  # every row is still there (a migration may add defaults)
    for table in ("user", "grid", "setting", "audit_log", "grid_level"):
        assert after[table] == before[table], table  # untouched by the last migration: row for row
    # started again: nothing to do, no second backup
    assert release.upgrade_database(_app(tmp_path, monkeypatch), "20261129-120100") == (head, head, None)
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_a_failing_migration_puts_the_backup_back_and_refuses_to_start(app, tree, sqlite_only, tmp_path, monkeypatch):
    live = _populated_copy(app, _live(tmp_path))
    head = release.migrations_head(MIGRATIONS)
    broken = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, broken, ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "versions" / "9999_broken.py").write_text(
        '"""A migration that fails half-way."""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "9999"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade():\n"
        '    op.create_table("half_made", sa.Column("id", sa.Integer, primary_key=True))\n'
        '    op.execute("UPDATE grid SET name = \'被改坏\'")\n'
        '    raise RuntimeError("第 9999 号迁移出错")\n\n\n'
        "def downgrade():\n    pass\n", encoding="utf-8")
    before = _rows(live)

    with pytest.raises(release.StartRefused) as refused:
        release.upgrade_database(_app(tmp_path, monkeypatch, broken), "20261129-130000")
    message = str(refused.value)
    saved = tmp_path / "data" / "backups" / f"before-upgrade-{head}-20261129-130000.db"
    assert refused.value.exit_code == release.UPGRADE_FAILED
    assert "升级到 9999 失败" in message and "第 9999 号迁移出错" in message and str(saved) in message
    assert "拒绝启动" in message
    assert _rows(live) == before and _revision(live) == head  # as it was: no half-made table, no changed name
    assert not list(live.parent.glob("*.rollback")) and not Path(f"{live}-wal").exists()


def test_an_older_program_refuses_a_newer_database(app, sqlite_only, tmp_path, monkeypatch):
    live = _populated_copy(app, _live(tmp_path))
    con = sqlite3.connect(live)
    con.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    con.commit()
    con.close()
    before = live.read_bytes()
    with pytest.raises(release.StartRefused) as refused:
        release.upgrade_database(_app(tmp_path, monkeypatch), "20261129-140000")
    assert refused.value.exit_code == release.TOO_NEW
    assert "0099_from_the_future" in str(refused.value) and "比本程序新" in str(refused.value)
    assert live.read_bytes() == before and not (tmp_path / "data" / "backups").exists()


def test_a_new_database_is_made_without_a_backup(tmp_path, monkeypatch):
    head = release.migrations_head(MIGRATIONS)
    assert release.upgrade_database(_app(tmp_path, monkeypatch), "x") == (None, head, None)
    assert _revision(_live(tmp_path)) == head


def test_a_full_disk_during_the_backup_leaves_nothing_and_changes_nothing(app, tree, sqlite_only, tmp_path, monkeypatch):
    live = _populated_copy(app, _live(tmp_path))
    _downgrade_one(tmp_path, monkeypatch)
    before = live.read_bytes()

    def full(src, dest):  # the disk fills up half-way through the copy
        Path(dest).write_bytes(b"SQLite format 3\x00" + b"\0" * 4000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backups, "_sqlite_copy", full)
    with pytest.raises(release.StartRefused) as refused:
        release.upgrade_database(_app(tmp_path, monkeypatch), "20261129-150000")
    assert refused.value.exit_code == release.BACKUP_FAILED
    assert "磁盘已满" in str(refused.value) and "数据库没有改动" in str(refused.value)
    assert list((tmp_path / "data" / "backups").iterdir()) == []  # no partial file, nothing named like a backup
    assert live.read_bytes() == before


@pytest.mark.parametrize("damage", ["garbage", "pages"])
def test_a_damaged_database_refuses_to_start_and_is_left_alone(app, sqlite_only, tmp_path, monkeypatch, damage):
    live = _populated_copy(app, _live(tmp_path))
    data = bytearray(live.read_bytes())
    if damage == "garbage":
        data[:100] = b"\x00" * 100
    else:
        page = int.from_bytes(data[16:18], "big")
        data[page * 2:page * 6] = b"\xa5" * (page * 4)
    live.write_bytes(bytes(data))
    with pytest.raises(release.StartRefused) as refused:
        release.upgrade_database(_app(tmp_path, monkeypatch), "20261129-160000")
    assert refused.value.exit_code == release.DAMAGED
    assert "已损坏" in str(refused.value) and "restore" in str(refused.value)
    assert live.read_bytes() == bytes(data) and not (tmp_path / "data" / "backups").exists()


def test_two_copies_on_one_data_folder_the_second_refuses(tmp_path):
    folder = release.prepare_data_folder(tmp_path / "data")
    other = open(folder / release.LOCK_NAME, "a+")  # another process's hold (flock is per open file)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other.write("4242")
        other.flush()
        with pytest.raises(release.StartRefused) as refused:
            with release.instance_lock(folder):
                pass
        assert refused.value.exit_code == release.LOCKED
        assert "进程 4242" in str(refused.value) and "只能运行一份" in str(refused.value)
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        other.close()
    with release.instance_lock(folder):
        with release.instance_lock(folder):  # re-entrant: the start-up and its serve command
            assert release.lock_holder(folder) is not None
        other = open(folder / release.LOCK_NAME, "a+")
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other.close()


def test_a_data_folder_that_cannot_be_written_refuses(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(release.StartRefused) as refused:
        release.prepare_data_folder(blocker / "villagegrid-data")
    assert refused.value.exit_code == release.NOT_WRITABLE
    assert "无法创建或写入" in str(refused.value) and "VG_INSTANCE_PATH" in str(refused.value)
    made = release.prepare_data_folder(tmp_path / "new" / "villagegrid-data")
    assert made.is_dir() and (made.stat().st_mode & 0o777) == 0o700 and list(made.iterdir()) == []


def test_a_port_in_use_refuses(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(release.StartRefused) as refused:
            release.check_port("127.0.0.1", port)
        assert refused.value.exit_code == release.PORT_TAKEN
        assert f"端口 {port} 已被其他程序占用" in str(refused.value) and f"PORT={port + 1}" in str(refused.value)
    finally:
        taken.close()
    release.check_port("127.0.0.1", port)  # free again


def test_the_program_exits_non_zero_with_the_chinese_message(tmp_path, monkeypatch, capsys):
    """Through the entry point: a port in use stops the start before anything is made in the data folder."""
    from app import dist_main

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    monkeypatch.setenv("VG_INSTANCE_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", str(taken.getsockname()[1]))
    try:
        with pytest.raises(SystemExit) as exited:
            dist_main.main([])
    finally:
        taken.close()
    assert exited.value.code == release.PORT_TAKEN
    assert "错误：端口" in capsys.readouterr().err
    assert not (tmp_path / "data" / "villagegrid.db").exists()


def test_version_and_the_service_file(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from app import __version__, dist_main
    from app.core import service_install

    runner = CliRunner()
    out = runner.invoke(dist_main.version).output
    assert __version__ in out and release.migrations_head(MIGRATIONS) in out
    res = runner.invoke(dist_main.install_service, ["--print", "--data", str(tmp_path / "srv"), "--port", "8090"])
    assert res.exit_code == 0
    for line in ("User=villagegrid", f"Environment=VG_INSTANCE_PATH={tmp_path / 'srv'}", "Environment=PORT=8090",
                 "Restart=on-failure", "UMask=0077", "WantedBy=multi-user.target"):
        assert line in res.output
    assert not (tmp_path / "srv").exists()  # --print changes nothing

    monkeypatch.setattr(service_install.shutil, "which", lambda name: None)  # no systemd here
    res = runner.invoke(dist_main.install_service, ["--user", "root", "--data", str(tmp_path / "srv"),
                                                    "--unit-dir", str(tmp_path / "units")])
    assert res.exit_code == 0, res.output
    unit = (tmp_path / "units" / "villagegrid.service").read_text(encoding="utf-8")
    assert "ExecStart=" in unit and ((tmp_path / "srv").stat().st_mode & 0o777) == 0o700
    assert "已写入服务文件" in res.output and "systemctl enable --now villagegrid" in res.output


def test_the_release_fonts_are_configured_and_the_cut_faces_copied_once(tmp_path, monkeypatch):
    """Inside the release fontconfig reads only its own configuration (the bundled fallback faces),
    and the print faces cut at build time are copied into the data folder instead of being cut."""
    from app import dist_main
    from app.core import printfont

    bundle, data = tmp_path / "bundle", release.prepare_data_folder(tmp_path / "data")
    (bundle / "fonts" / "fallback").mkdir(parents=True)
    (bundle / "fonts" / "print").mkdir()
    for key in printfont.WEIGHTS:
        (bundle / "fonts" / "print" / f"villagegrid-print-{key}-0123456789ab.otf").write_bytes(key.encode())
    for name in ("FONTCONFIG_FILE", printfont.PREBUILT_ENV):  # both put back as they were after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    assert dist_main.configure_fonts(bundle, data)
    conf = (data / "cache" / "fonts.conf").read_text(encoding="utf-8")
    assert f"<dir>{bundle / 'fonts' / 'fallback'}</dir>" in conf and f"<cachedir>{data / 'cache' / 'fontconfig'}" in conf
    assert "/usr/share/fonts" not in conf and "<include" not in conf  # no font of the system
    import os

    assert os.environ["FONTCONFIG_FILE"] == str(data / "cache" / "fonts.conf")
    names = printfont.build(data / "fonts")
    assert names == {"regular": "villagegrid-print-regular-0123456789ab.otf",
                     "bold": "villagegrid-print-bold-0123456789ab.otf"}
    assert (data / "fonts" / names["bold"]).read_bytes() == b"bold"
    assert dist_main.configure_fonts(tmp_path / "source-checkout", data) is False  # no bundled fonts: system fonts


def test_the_database_is_read_through_only_after_an_unclean_stop_or_another_program(app, sqlite_only, tmp_path,
                                                                                      monkeypatch):
    """PRAGMA quick_check runs at the start after a crash or a change of program, not after a clean stop."""
    live = _populated_copy(app, _live(tmp_path))
    folder = live.parent
    data = bytearray(live.read_bytes())  # a damaged page the header check does not see
    page = int.from_bytes(data[16:18], "big")
    data[page * 2:page * 6] = b"\xa5" * (page * 4)
    live.write_bytes(bytes(data))
    assert not release.stopped_cleanly(folder, "1.0.0-aaaa")  # never started: read through
    release.mark_stopped(folder, "1.0.0-aaaa")
    assert release.stopped_cleanly(folder, "1.0.0-aaaa")
    assert not release.stopped_cleanly(folder, "1.0.1-bbbb")  # another program: read through
    # a clean stop by the same program: the damage is not looked for (the revision still is)
    assert release.database_revision(live, thorough=False) == _revision(live)
    with pytest.raises(release.StartRefused) as refused:
        release.database_revision(live, thorough=True)
    assert refused.value.exit_code == release.DAMAGED
    assert release.quick_check(live)  # what `check` always runs
    release.mark_running(folder)  # a crash from here on leaves no clean-stop
    assert not release.stopped_cleanly(folder, "1.0.0-aaaa")


def test_the_program_leaves_clean_stop_when_stopped_and_checks_after_a_crash(tmp_path, monkeypatch, capsys):
    """Through the entry point: the serve command ends (as on SIGTERM) and clean-stop names the program."""
    from app import dist_main

    calls = []

    def fake_serve(app, host, port, **kw):
        calls.append(port)

    monkeypatch.setattr("app.core.serving.serve", fake_serve)
    monkeypatch.setattr(dist_main, "warm_up_printing", lambda *a, **k: None)
    monkeypatch.setenv("VG_INSTANCE_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("VG_SCHEDULES_ENABLED", "0")

    def start():
        with pytest.raises(SystemExit) as exited:
            dist_main.main([])
        assert exited.value.code == 0
        return capsys.readouterr().out

    import gc

    gc.disable()  # as the release's entry script loads the program
    try:
        out = start()
        assert gc.isenabled()  # on again before serving
    finally:
        gc.enable()
        gc.unfreeze()
    assert calls == [0] and "村网格已停止" in out and "完整性检查" not in out  # a new database: nothing to check
    assert release.stopped_cleanly(tmp_path / "data", dist_main.program_id())
    assert "完整性检查" not in start()  # after a clean stop: not read through
    (tmp_path / "data" / release.CLEAN_STOP).unlink()  # as a crash leaves it
    assert "数据库完整性检查：正常" in start()


def test_unpacked_builds_are_kept_for_going_back_and_the_rest_removed(tmp_path):
    import os
    import time

    runtime = tmp_path / "data" / release.RUNTIME
    for age, name in enumerate(["1.0.2-cccc", "1.0.1-bbbb", "1.0.0-aaaa", ".partial-1.0.2-cccc-77"]):
        (runtime / name / "_internal").mkdir(parents=True)
        then = time.time() - 7200 * (age + 1)
        os.utime(runtime / name, (then, then))
    (runtime / ".partial-1.0.3-dddd-78").mkdir()  # being unpacked right now
    assert release.prune_runtimes(tmp_path / "data", "9.9.9-none") == []  # not unpacked here: nothing touched
    removed = release.prune_runtimes(tmp_path / "data", "1.0.0-aaaa")
    assert sorted(removed) == [".partial-1.0.2-cccc-77", "1.0.1-bbbb"]
    assert sorted(p.name for p in runtime.iterdir()) == [".partial-1.0.3-dddd-78", "1.0.0-aaaa", "1.0.2-cccc"]
    assert release.prune_runtimes(tmp_path / "data", "1.0.2-cccc") == []  # going back: the other is kept
