"""User administration: the list, create and edit, unlock, disable, reset password."""
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select

from ..accounts import throttle
from ..accounts.forms import UserForm
from ..accounts.models import User
from ..accounts.permissions import require
from ..accounts.service import AccountError
from ..cases import service as cases
from ..cases.forms import DepartmentUserForm
from ..core.forms import ServiceError, run_action, run_form
from ..core.pagination import paginate
from ..core.timeutil import utcnow
from ..core.web import render
from ..extensions import db
from ..grids import picker
from ..grids.models import Grid
from ..grids.scope import grid_clause
from . import service

bp = Blueprint("users", __name__)


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
    return render("users/index.html", "users/_rows.html", page=page, q=q, locked=locked)


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
                    url_for("users.users"))
    return done or render("users/form.html", form=form, user=None)


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
    done = run_form(form, lambda: _save(form, user), "用户信息已保存。", url_for("users.user_edit", user_id=user.id))
    name = throttle.login_name(user.username)
    lock = throttle.report([name], throttle.Rules.from_config(current_app.config), utcnow()).get(name)
    return done or render("users/form.html", form=form, user=user, lock=lock)


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
    return run_action(change, message, url_for("users.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@require("manage_users")
def user_reset_password(user_id):
    """Set a one-time password, shown once, to be changed at next login."""
    user = _load_user(user_id)
    try:
        password = service.reset_password(current_user, user)
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("users.user_edit", user_id=user.id))
    db.session.commit()
    return render("users/reset_done.html", user=user, password=password)


@bp.route("/users/departments/<int:department_id>", methods=["GET", "POST"])
@require("manage_department_users")
def department_users(department_id):
    """The accounts of a department: its staff sign for, answer and are urged on the cases handed to it."""
    row = cases.get_department_or_404(current_user, department_id)
    form = DepartmentUserForm()

    def create():
        if row.grid is None:
            raise ServiceError("请先为部门选择所属的乡镇或县，再添加账号。")
        try:
            return service.save_user(current_user, None, username=form.username.data.strip(),
                                     full_name=form.full_name.data.strip(), phone=(form.phone.data or "").strip(),
                                     role="department", grids=[row.grid], department_id=row.id,
                                     min_length=current_app.config["PASSWORD_MIN_LENGTH"], password=form.password.data)
        except AccountError as exc:
            raise ServiceError(str(exc), exc.field if exc.field != "role" else None) from None

    done = run_form(form, create, lambda u: f"已为{row.name}创建账号 {u.username}，首次登录时需修改密码。",
                    url_for("users.department_users", department_id=row.id))
    staff = db.session.scalars(select(User).where(User.department_id == row.id).order_by(User.username)).all()
    return done or render("users/department.html", department=row, form=form, staff=staff)
