"""The schedules the server runs by itself (app/core/schedules.py runs them): each calls the same
code as the operator's command for it, so cron and the built-in runner do the same thing."""
from datetime import time, timedelta, timezone

from flask import current_app
from sqlalchemy import and_, delete, or_

from ..accounts import throttle
from ..accounts.models import LoginFailure, LoginSession
from ..cases import service
from ..core import backups, imports, ratelimit, schedules
from ..core.timeutil import to_local
from ..extensions import db


def urge_overdue(now):
    """催办 every case past its deadline (as `flask cases urge-overdue`)."""
    return f"催办 {service.urge_overdue(now)} 件超期事件"


def nightly_backup(now):
    """A backup into backups/ (as `flask backup`), then the rotation of the scheduled ones."""
    cfg = current_app.config
    stamp = to_local(now).strftime("%Y%m%d-%H%M%S")
    try:
        dest = backups.backup_now(current_app.instance_path, stamp, prefix=backups.AUTO_PREFIX)
    except OSError as exc:  # a full disk: the partial file is gone, the message says why
        raise backups.BackupError(f"备份失败（{exc.strerror or exc}）") from None
    removed = backups.rotate(dest.parent, cfg["BACKUP_KEEP_DAILY"], cfg["BACKUP_KEEP_WEEKLY"],
                             cfg["BACKUP_KEEP_MONTHLY"])
    return f"备份到 {dest.name}" + (f"；按保留规则删除 {len(removed)} 份旧的自动备份" if removed else "")


def remove_leftovers(now):
    """Abandoned roster uploads (older than a day) and backups killed half-way."""
    uploads = imports.remove_stale(now)
    # A backup being written now is younger than six hours.
    partials = backups.remove_partials(backups.backup_dir(current_app.instance_path),
                                       (now - timedelta(hours=6)).replace(tzinfo=timezone.utc).timestamp())
    return f"删除 {uploads} 个放弃的上传文件、{partials} 个未完成的备份文件"


def expire_logins(now):
    """Login sessions past their idle time (or remember-me duration), old failed-login rows and rate counts."""
    cfg = current_app.config
    idle = timedelta(minutes=cfg["IDLE_TIMEOUT_MINUTES"])
    sessions = db.session.execute(delete(LoginSession).where(or_(
        and_(LoginSession.remember.is_(False), LoginSession.last_seen_at < now - idle),
        LoginSession.last_seen_at < now - max(cfg["REMEMBER_COOKIE_DURATION"], idle)))).rowcount
    failures = db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - throttle.KEEP)).rowcount
    counts = ratelimit.remove_old(now)
    return f"删除 {sessions} 个过期登录、{failures} 条过期的登录失败记录、{counts} 条过期的限流计数"


SCHEDULES = (
    schedules.Schedule("urge_overdue", "超期事件自动催办", time(9, 0), urge_overdue, workdays_only=True),
    schedules.Schedule("backup", "每晚备份", time(2, 0), nightly_backup),
    schedules.Schedule("cleanup", "清理放弃的上传和未完成的备份", time(3, 0), remove_leftovers),
    schedules.Schedule("expire_logins", "清理过期登录", time(3, 30), expire_logins),
)


def init_app(app):
    """Register the schedules (the runner is started by `flask serve` or the first request)."""
    for schedule in SCHEDULES:
        schedules.register(app, schedule)
