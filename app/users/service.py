"""Who may manage whom (rank and grid scope), and the changes an actor makes to users."""
from sqlalchemy import func, select

from ..accounts import throttle
from ..accounts.models import ROLES, User, role_name, role_rank, user_grid
from ..accounts.service import AccountError, password_problems, revoke_sessions, temporary_password
from ..core import audit
from ..extensions import db
from ..grids.scope import can_see_grid, scope_paths, visible_grid_ids


def unlock(actor, user):
    """Lift every login lock on the user's name (all addresses), audited."""
    if not may_manage(actor, user):
        raise AccountError("您无权修改该用户。")
    throttle.clear(throttle.login_name(user.username))
    audit.record("unlock", "user", user.id, f"解除 {user.username} 的登录锁定")


def manageable_roles(actor):
    """Roles the actor may give: strictly lower ranks; auditors only by an admin."""
    if actor.is_admin:
        return list(ROLES)
    return [r for r in ROLES if role_rank(r) < role_rank(actor.role) and r != "auditor"]


def may_manage(actor, user):
    """Whether the actor may change this user (rank and grid scope)."""
    if actor.is_admin:
        return True
    if user.id == actor.id or user.role not in manageable_roles(actor):
        return False
    return bool(user.grids) and all(can_see_grid(actor, g) for g in user.grids)


def manageable_users_query(actor):
    """Users the actor may see in the user list."""
    q = select(User).order_by(User.username)
    if actor.is_admin:
        return q
    paths = scope_paths(actor)
    if not paths:
        return q.where(User.id == -1)
    in_scope = select(user_grid.c.user_id).where(user_grid.c.grid_id.in_(visible_grid_ids(actor)))
    out_of_scope = select(user_grid.c.user_id).where(user_grid.c.grid_id.not_in(visible_grid_ids(actor)))
    return q.where(User.id.in_(in_scope), User.id.not_in(out_of_scope), User.role.in_(manageable_roles(actor)))


def save_user(actor, user, *, username, full_name, phone, role, grids, min_length=None, password=None,
              department_id=None):
    """Create (user is None) or update a user after checking the actor's rights.

    A department account (role ``department``) names its department; its grid is the department's
    level (who manages the account), and it sees only the cases handed to the department."""
    if role not in manageable_roles(actor):
        raise AccountError(f"您不能设置“{role_name(role)}”角色。")
    if role == "department" and department_id is None and (user is None or user.department_id is None):
        raise AccountError("部门账号请在“事件类别与部门”页面的部门里添加。", "role")
    if role != "admin" and not grids:
        raise AccountError("请至少选择一个负责的网格。", "grids")
    if not all(can_see_grid(actor, grid) for grid in grids):
        # Not named: an id typed into the form must not tell another town's grid names.
        raise AccountError("所选网格中有不在您的管理范围内的，请重新选择。", "grids")
    clash = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if clash is not None and clash is not user:
        raise AccountError(f"用户名“{username}”已被使用。", "username")
    if user is None:
        problems = password_problems(password or "", min_length, username)
        if problems:
            raise AccountError(" ".join(problems), "password")
        user = User(username=username, must_change_password=True)
        user.set_password(password)
        db.session.add(user)
    elif not may_manage(actor, user):
        raise AccountError("您无权修改该用户。")
    user.full_name = full_name
    user.phone = phone
    user.role = role
    user.grids = list(grids)
    if role != "department":
        user.department_id = None
    elif department_id is not None:
        user.department_id = department_id
    return user


def set_disabled(actor, user, disabled):
    """Disable (and log out everywhere) or re-enable a user."""
    if user.id == actor.id:
        raise AccountError("不能停用自己的账号。")
    if not may_manage(actor, user):
        raise AccountError("您无权修改该用户。")
    user.is_disabled = disabled
    if disabled:
        revoke_sessions(user)
    else:
        throttle.clear(throttle.login_name(user.username))


def reset_password(actor, user):
    """Give the user a one-time password that must be changed at next login."""
    if not may_manage(actor, user) or user.id == actor.id:
        raise AccountError("您无权重置该用户的密码。")
    password = temporary_password()
    user.set_password(password)
    user.must_change_password = True
    throttle.clear(throttle.login_name(user.username))
    revoke_sessions(user)
    audit.record("password_reset", "user", user.id, f"重置 {user.username} 的密码")
    return password
