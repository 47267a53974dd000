"""Login, logout, own password, and user administration."""
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, or_, select

from ..core import audit
from ..core.forms import run_form
from ..core.pagination import paginate
from ..core.scope import grid_clause
from ..core.inputs import clean_text
from ..core.web import public, render
from ..extensions import db
from ..grids import picker
from ..grids.models import Grid
from ..core.timeutil import utcnow
from . import service, throttle
from .forms import ChangePasswordForm, LoginForm, UserForm
from .models import LoginSession, User
from .permissions import require

bp = Blueprint("accounts", __name__)


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
                  status=200 if error is None else 401)


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


def _grid_choices(actor):
    rows = db.session.execute(
        select(Grid.id, Grid.name, Grid.depth).where(grid_clause(actor)).order_by(Grid.path)
    ).all()
    base = min((r.depth for r in rows), default=0)
    return [(r.id, "　" * (r.depth - base) + r.name) for r in rows]


def _load_user(user_id):
    """A user the current actor may manage, else 404."""
    user = db.session.get(User, user_id)
    if user is None or not service.may_manage(current_user, user):
        abort(404)
    return user


@bp.route("/users")
@require("manage_users")
def users():
    """Users the current actor manages, with search by name or username."""
    q = (request.args.get("q") or "").strip()
    query = service.manageable_users_query(current_user)
    if q:
        like = f"%{q}%"
        query = query.where(or_(User.username.ilike(like), User.full_name.ilike(like), User.phone.ilike(like)))
    page = paginate(query)
    locks = throttle.report([throttle.login_name(u.username) for u in page.items],
                            throttle.Rules.from_config(current_app.config), utcnow())
    locked = {u.id for u in page.items if (r := locks.get(throttle.login_name(u.username))) and r.locked}
    return render("accounts/users.html", "accounts/_user_rows.html", page=page, q=q, locked=locked)


def _save(form, user):
    grids = [g for g in db.session.scalars(select(Grid).where(Grid.id.in_(form.grids.data or [])))]
    return service.save_user(
        current_user, user,
        username=form.username.data.strip(), full_name=form.full_name.data.strip(),
        phone=(form.phone.data or "").strip(), role=form.role.data, grids=grids,
        min_length=current_app.config["PASSWORD_MIN_LENGTH"], password=form.password.data,
    )


@bp.route("/users/new", methods=["GET", "POST"])
@require("manage_users")
def user_new():
    """Create a user with an initial password that must be changed."""
    form = UserForm()
    # Department accounts are added on their department's page (they name the department).
    form.role.choices = [(r, c) for r, c in form.role.choices
                         if r in service.manageable_roles(current_user) and r != "department"]
    picker.setup_multi(form.grids, current_user, lambda: _grid_choices(current_user))
    done = run_form(form, lambda: _save(form, None), lambda u: f"已创建用户 {u.username}，首次登录时需修改密码。",
                    url_for("accounts.users"))
    return done or render("accounts/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require("manage_users")
def user_edit(user_id):
    """Edit a user's name, phone, role and grids; disable, enable, reset password."""
    user = _load_user(user_id)
    form = UserForm(obj=user if request.method == "GET" else None)
    form.role.choices = [(r, c) for r, c in form.role.choices if r in service.manageable_roles(current_user)
                         and (r != "department" or user.role == "department")]
    if request.method == "GET":
        form.grids.data = [g.id for g in user.grids]
    picker.setup_multi(form.grids, current_user, lambda: _grid_choices(current_user))
    done = run_form(form, lambda: _save(form, user), "用户信息已保存。", url_for("accounts.user_edit", user_id=user.id))
    name = throttle.login_name(user.username)
    lock = throttle.report([name], throttle.Rules.from_config(current_app.config), utcnow()).get(name)
    return done or render("accounts/user_form.html", form=form, user=user, lock=lock)


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@require("manage_users")
def user_unlock(user_id):
    """Lift the user's login locks, from every address (audited)."""
    user = _load_user(user_id)
    return _act_on(user, lambda: service.unlock(current_user, user), f"已解除 {user.username} 的登录锁定。")


@bp.route("/users/<int:user_id>/<any(disable, enable):action>", methods=["POST"])
@require("manage_users")
def user_toggle(user_id, action):
    """Disable a user (all their logins end) or enable them again."""
    user = _load_user(user_id)
    return _act_on(user, lambda: service.set_disabled(current_user, user, action == "disable"),
                   f"已{'停用' if action == 'disable' else '启用'}用户 {user.username}。")


def _act_on(user, change, message):
    """Make one change to a user, commit it and say so (or say why not), back on the user's page."""
    try:
        change()
    except service.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("accounts.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@require("manage_users")
def user_reset_password(user_id):
    """Set a one-time password, shown once, to be changed at next login."""
    user = _load_user(user_id)
    try:
        password = service.reset_password(current_user, user)
    except service.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("accounts.user_edit", user_id=user.id))
    db.session.commit()
    return render("accounts/reset_done.html", user=user, password=password)
