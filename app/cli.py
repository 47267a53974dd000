"""Operator commands: ``flask --app wsgi <command>``."""
import fcntl
import os
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from . import create_app
from .accounts.models import User
from .accounts.service import password_problems
from .core import audit, backups, printfont, release, schedules, serving
from .core.db import sqlite_path
from .core.forms import ServiceError
from .core.models import Setting
from .core.printing import print_stack_problems
from .core.public import PUBLIC_ADDRESS, record_address
from .core.sheets import decode_text
from .core.timeutil import LOCAL_TZ, fmt_local, to_local, utcnow
from .demo import build_demo
from .extensions import db
from .grids import service as grid_service
from .households import roster_import, roster_store
from .main import service as setup_service


def _lock_path():
    return Path(current_app.instance_path) / release.LOCK_NAME


def server_running():
    """Whether a `serve` process holds the instance lock right now."""
    path = _lock_path()
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def serve_address():
    """``http://$HOST:$PORT``, the address `serve` listens on (None for 0.0.0.0: no one address)."""
    host = os.environ.get("HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        return None
    return f"http://{'[' + host + ']' if ':' in host else host}:{int(os.environ.get('PORT', '5000'))}"


def init_app(app):
    """Register the commands."""
    for command in (create_admin, import_divisions, import_households, backup, restore, serve, demo_data, check,
                    schedules_group):
        app.cli.add_command(command)


@click.command("create-admin")
@with_appcontext
@click.option("--username", prompt="用户名")
@click.option("--full-name", prompt="姓名")
@click.option("--org-name", default=None, help="县或乡镇名称（首次初始化时需要）")
@click.option("--password", prompt="密码", hide_input=True, confirmation_prompt=True)
@click.option("--public-url", default=None,
              help="首次初始化时记录的访问地址（打印在二维码上），默认 http://$HOST:$PORT")
def create_admin(username, full_name, org_name, password, public_url):
    """Create a system administrator (on an empty database this completes the set-up)."""
    with audit.acting_as("命令行"):
        try:
            if not setup_service.is_set_up():
                if not org_name:
                    raise click.UsageError("首次初始化需要 --org-name（县或乡镇名称）")
                setup_service.run_setup(org_name=org_name, org_level="county", division_code="", username=username,
                                        full_name=full_name, phone="", password=password,
                                        min_length=current_app.config["PASSWORD_MIN_LENGTH"],
                                        public_address=public_url or serve_address())
            else:
                problems = password_problems(password, current_app.config["PASSWORD_MIN_LENGTH"], username)
                if problems:
                    raise ServiceError(" ".join(problems))
                if db.session.scalar(select(User).where(User.username == username)):
                    raise ServiceError(f"用户名 {username} 已存在")
                grid_service.ensure_reference_data()
                user = User(username=username, full_name=full_name, role="admin")
                user.set_password(password)
                db.session.add(user)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
    click.echo(f"admin {username} created")


@click.command("import-divisions")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_divisions(file):
    """Create or update grids from a code,name,level,parent_code CSV (all or nothing)."""
    with audit.acting_as("命令行"):
        try:
            # UTF-8, or GBK/GB18030 as Excel on a Chinese Windows saves a CSV; else a Chinese message.
            result = grid_service.import_divisions(decode_text(Path(file).read_bytes()))
        except ServiceError as exc:
            db.session.rollback()
            click.echo(str(exc), err=True)
            sys.exit(1)
        if result.errors:
            db.session.rollback()
            for err in result.errors:
                click.echo(err, err=True)
            click.echo(result.summary())
            sys.exit(1)
        audit.record("import", "grid", None, f"导入区划 {Path(file).name}：{result.created} 新增，{result.updated} 更新")
        db.session.commit()
    click.echo(result.summary())


@click.command("import-households")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--village", default=None, help="名册所属的村（区划代码或名称）；所属组按该村的网格对应")
@click.option("--create-groups", is_flag=True, help="所属组找不到对应网格时，在该村下新建村民小组")
@click.option("--mapping", "mapping_name", default=None, help="使用在网页上保存的列对应（名称）")
@click.option("--dry-run", is_flag=True, help="只检查，不导入")
@click.option("--as", "username", default=None, help="以哪个账号的名义和管理范围导入（默认：第一个系统管理员）")
def import_households(file, village, create_groups, mapping_name, dry_run, username):
    """Import a household roster (.xlsx, .xls, .csv; the template or a village's own layout), all or nothing.

    Errors and warnings go to standard error, one per line; the last line of standard
    output is the summary. Exit status 1 when anything is wrong (then nothing is written).
    """
    user = _cli_user(username)
    with audit.acting_as(f"{user.username}（命令行）", user.id):
        try:
            options = roster_store.cli_options(user, village, mapping_name, create_groups)
            plan = roster_import.read_roster(Path(file).read_bytes(), user, options, filename=Path(file).name)
        except ServiceError as exc:
            db.session.rollback()
            click.echo(f"{file}：{exc}", err=True)
            click.echo(("dry run, " if dry_run else "") + roster_import.RosterPlan(errors=[None]).summary())
            sys.exit(1)
        for row, column, message in plan.errors:
            click.echo(f"第 {row} 行 [{column}]：{message}", err=True)
        for row, column, message in plan.warnings:
            click.echo(f"第 {row} 行 [{column}]：提醒：{message}", err=True)
        if plan.errors or dry_run or plan.changes_nothing:
            db.session.rollback()
            click.echo(("dry run, " if dry_run else "") + plan.summary())
            sys.exit(1 if plan.errors else 0)
        try:
            counts = roster_import.apply_plan(plan, user)
            audit.record("import", "household", None,
                         f"命令行导入名册 {Path(file).name}：{roster_store.counts_text(counts)}")
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            click.echo(f"{file}：{exc}", err=True)
            click.echo(roster_import.RosterPlan(errors=[None]).summary())
            sys.exit(1)
    click.echo(plan.summary())


def _cli_user(username):
    """The account a command acts as: --as, else the first enabled administrator."""
    if username:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"找不到账号 {username}（--as）")
    else:
        user = db.session.scalar(select(User).where(User.role == "admin", User.is_disabled.is_(False)).order_by(User.id))
        if user is None:
            raise click.ClickException("还没有系统管理员账号，请先 create-admin，或用 --as 指定账号")
    if user.is_disabled:
        raise click.ClickException(f"账号 {user.username} 已停用")
    return user


def _backup_dir():
    return backups.backup_dir(current_app.instance_path)


def _stamp():
    return to_local(utcnow()).strftime("%Y%m%d-%H%M%S")


@click.command("backup")
@with_appcontext
def backup():
    """Write a consistent copy of the database to instance/backups/ and print its path."""
    try:
        dest = backups.backup_now(current_app.instance_path, _stamp())
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    with audit.acting_as("命令行"):
        audit.record("backup", "database", None, f"备份到 {dest.name}")
        db.session.commit()
    click.echo(str(dest))


@click.command("restore")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="即使服务正在运行也恢复（在线用户的操作可能丢失）")
def restore(file, force):
    """Replace the database with a backup file, checked first (the current one is saved as a safety copy)."""
    path = sqlite_path()
    if not path:
        raise click.ClickException("PostgreSQL 请用 pg_restore --clean --dbname=… 恢复 backup 生成的 .dump 文件")
    if server_running() and not force:
        raise click.ClickException("服务正在运行。请先停止服务再恢复，或加 --force 强制恢复。")
    testing = current_app.testing
    db.session.remove()
    db.engine.dispose()
    try:
        done = backups.restore_sqlite(
            file, path, _backup_dir() / f"before-restore-{_stamp()}.db",
            lambda url: create_app({"SQLALCHEMY_DATABASE_URI": url, "CHECK_PRINT_STACK": False, "TESTING": testing}))
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    saved = f"恢复前的数据库已另存为 {done.safety}" if done.safety else "此前没有数据库"
    try:
        with audit.acting_as("命令行"):
            audit.record("restore", "database", None, f"从 {Path(file).name} 恢复")
            db.session.commit()
    except Exception as exc:
        db.session.rollback()
        raise click.ClickException(f"已从 {file} 恢复，但写入审计日志失败（{exc}）；{saved}。") from None
    upgraded = (f"（备份的数据库版本 {done.from_revision} 已升级到 {done.to_revision}）"
                if done.from_revision != done.to_revision else "")
    click.echo(f"已从 {file} 恢复{upgraded}；{saved}。")


@click.command("serve")
@with_appcontext
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="127.0.0.1 或 $HOST")
@click.option("--port", default=lambda: int(os.environ.get("PORT", "5000")), type=int, show_default="5000 或 $PORT")
@click.option("--threads", default=serving.WAITRESS["threads"], type=int, show_default=True)
def serve(host, port, threads):
    """Serve the app with waitress (holds instance/server.lock while running; sizing in core/serving.py)."""
    try:
        with release.instance_lock(current_app.instance_path):
            click.echo(f"村网格 running on http://{host}:{port}/  (Ctrl+C to stop)")
            app = current_app._get_current_object()
            if schedules.start(app):
                click.echo("定时任务：由本服务运行（SCHEDULES_ENABLED）")
            serving.serve(app, host, port, threads=threads)
    except release.StartRefused as exc:
        raise click.ClickException(str(exc)) from None


@click.command("demo-data")
@with_appcontext
def demo_data():
    """Fill an empty database with the 长兴县 divisions and synthetic demo content; prints the accounts."""
    with audit.acting_as("演示数据"):
        accounts = build_demo()
        address = serve_address()
        if address:
            record_address(address)  # `make demo` serves at $HOST:$PORT
        db.session.commit()
    click.echo("演示账号（密码只显示这一次）：")
    for username, role, password, where in accounts:
        click.echo(f"  {username:<14} {password:<14} {role}  {where}")


def _check_addresses():
    """Say where printed QR codes point, and warn when any Host header is answered."""
    configured, trusted = current_app.config.get("PUBLIC_BASE_URL"), current_app.config.get("TRUSTED_HOSTS")
    recorded = Setting.get(PUBLIC_ADDRESS, "")
    click.echo("二维码地址：" + (f"{configured}（VG_PUBLIC_BASE_URL）" if configured else
                                f"{recorded}（初始化时记录，可在“系统设置”中修改）" if recorded else "未设置"))
    if trusted:
        click.echo("允许的主机名：" + "、".join(trusted))
    if not configured and not trusted:
        click.echo("警告：VG_PUBLIC_BASE_URL 和 VG_TRUSTED_HOSTS 都未设置。本系统会应答任何主机名（Host）；"
                   "二维码只用记录的访问地址" + ("" if recorded else "，而它也未设置，打印二维码将被拒绝") +
                   "。对外服务时请设置 VG_TRUSTED_HOSTS（如 grid.example.gov.cn），或 VG_PUBLIC_BASE_URL。")


def _check_schedules():
    """Say whether the server runs the schedules, and warn about any without a success in two days."""
    app = current_app._get_current_object()
    if app.config.get("SCHEDULES_ENABLED"):
        click.echo("定时任务：由服务进程运行")
    else:
        click.echo("定时任务：已关闭（SCHEDULES_ENABLED），需由 cron 运行 flask schedules run")
    for warning in schedules.late_warnings(app):
        click.echo(warning)


@click.group("schedules")
def schedules_group():
    """The schedules the server runs by itself (催办, nightly backup, clean-ups)."""


@schedules_group.command("run")
@with_appcontext
@click.argument("names", nargs=-1)
def schedules_run(names):
    """Run the schedules that are due and have not run for their period (for cron: every 10 minutes)."""
    app = current_app._get_current_object()
    known = {s.name for s in schedules.registered(app)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.UsageError(f"没有这个定时任务：{'、'.join(unknown)}（可选：{'、'.join(sorted(known))}）")
    rows = schedules.run_due(app, names=set(names) or None)
    for row in rows:
        click.echo(f"{row.name} {row.period}: {schedules.STATUS_LABELS[row.status]}：{row.result}")
    if not rows:
        click.echo("没有到期的定时任务")
    if any(row.status == "failed" for row in rows):
        sys.exit(1)


@schedules_group.command("status")
@with_appcontext
def schedules_status():
    """Each schedule's time, last run and result."""
    app = current_app._get_current_object()
    for item in schedules.overview(app):
        last = item["last"]
        line = f"{item['schedule'].name:<14} {item['schedule'].when}  {item['status']}"
        if last:
            line += f"  {fmt_local(last.started_at)}  {last.result}"
        click.echo(line)
    for warning in schedules.late_warnings(app):
        click.echo(warning)


@click.command("check")
@with_appcontext
def check():
    """Check the print stack and the database; exit 1 when something is missing."""
    problems = print_stack_problems()
    for p in problems:
        click.echo(f"缺少：{p}")
    revision = db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar()
    click.echo(f"database: {db.engine.dialect.name}, schema revision {revision}")
    path = sqlite_path()
    if path:  # every page read through, whatever the start-up skipped
        began = time.monotonic()
        damage = release.quick_check(path)
        click.echo(f"数据库完整性检查（quick_check，{time.monotonic() - began:.1f} 秒）："
                   + ("正常" if not damage else "；".join(damage[:5])))
        problems += [f"数据库已损坏：{d}" for d in damage[:5]]
    click.echo(f"time zone for display: {LOCAL_TZ.key}")
    _check_addresses()
    _check_schedules()
    if not problems:
        fonts = printfont.fonts(Path(current_app.instance_path) / "fonts")
        click.echo("打印字体：" + ("、".join(sorted(fonts.values())) if fonts else "未能生成，PDF 直接使用系统字体（见上方日志）"))
    if problems:
        sys.exit(1)
    click.echo("ok")
