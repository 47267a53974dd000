"""Login, logout, one's own password; the server-side session behind every login."""
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, select, update

from ..core import audit
from ..core.db import execute_write
from ..core.forms import run_form
from ..core.inputs import clean_text
from ..core.timeutil import utcnow
from ..core.web import public, render
from ..extensions import db, login_manager
from . import service, throttle
from .forms import ChangePasswordForm, LoginForm
from .models import LoginSession, User
from .permissions import can, has_admin_menu

bp = Blueprint("accounts", __name__)
# A session's last-seen time is written at most this often (and a quarter of a shorter idle timeout).
TOUCH_EVERY = timedelta(seconds=60)



@bp.record_once
def _bind(state):
    """The login loader and the permission helpers of every template."""
    login_manager.user_loader(_session_user)


@bp.app_context_processor
def _permission_globals():
    return {"can": lambda perm: can(current_user, perm), "admin_menu": lambda: has_admin_menu(current_user)}


def _session_user(token):
    """Flask-Login loader: the session id is a LoginSession token, checked on the server."""
    # The session row and its user in one query (every request of a logged-in user runs it).
    found = db.session.execute(select(LoginSession, User).join(User, User.id == LoginSession.user_id)
                               .where(LoginSession.token == token)).first()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    idle = timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])
    if not row.remember and now - row.last_seen_at > idle:
        execute_write(delete(LoginSession).where(LoginSession.id == row.id))
        audit.record("session_expired", "user", row.user_id, "空闲超时", actor=(row.user_id, user.username))
        g.session_expired = True
        g.session_expired_user = row.user_id
        return None
    if user.is_disabled:
        return None
    if now - row.last_seen_at > min(TOUCH_EVERY, idle / 4):
        execute_write(update(LoginSession).where(LoginSession.id == row.id).values(last_seen_at=now))
    user.session_token = token
    return user


def _safe_next(target):
    """Only same-site relative targets are followed after login."""
    if not target:
        return None
    # A line break would split the Location header; a backslash is a slash to browsers ("/\\evil.example").
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Log in with username and password; locks after repeated failures."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    remember_allowed = current_app.config["REMEMBER_ME_ENABLED"]
    error = None
    if form.validate_on_submit():
        try:
            user = service.authenticate(form.username.data, form.password.data, request.remote_addr or "",
                                        throttle.Rules.from_config(current_app.config))
        except service.AccountError as exc:
            db.session.commit()  # keep the failure count and the audit rows
            error = str(exc)
        else:
            remember = bool(remember_allowed and form.remember.data)
            session.clear()
            service.start_session(user, request.remote_addr or "", clean_text(request.user_agent.string or ""), remember)
            db.session.commit()
            login_user(user, remember=remember)
            if user.must_change_password:
                flash("这是管理员设置的初始密码，请先修改密码。", "warning")
                return redirect(url_for("accounts.change_password"))
            return redirect(_safe_next(request.args.get("next")) or url_for("main.home"))
    return render("accounts/login.html", form=form, error=error, remember_allowed=remember_allowed,
                  status=401 if error else None)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out this browser: its server-side session is deleted."""
    token = current_user.session_token
    user_id = current_user.id
    db.session.execute(delete(LoginSession).where(LoginSession.token == token))
    audit.record("logout", "user", user_id, "退出登录")
    db.session.commit()
    logout_user()
    session.clear()
    flash("您已安全退出。", "success")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    """Change one's own password (forced after a reset)."""
    form = ChangePasswordForm()
    done = run_form(form, lambda: service.change_password(current_user, form.old_password.data, form.new_password.data,
                                                          current_app.config["PASSWORD_MIN_LENGTH"]),
                    "密码已修改，其他设备上的登录已失效。", url_for("main.home"))
    return done or render("accounts/password.html", form=form, min_length=current_app.config["PASSWORD_MIN_LENGTH"])
