"""Login, passwords and user management, without Flask request objects."""
import secrets
import string
from functools import lru_cache
from pathlib import Path

from sqlalchemy import delete, func, select

from ..core import audit
from ..core.forms import ServiceError
from ..core.scope import can_see_grid, scope_paths
from ..core.timeutil import utcnow
from ..extensions import db
from .models import ROLES, LoginSession, User, role_name, role_rank

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[2] / "data" / "common-passwords.txt"


class AccountError(ServiceError):
    """A refusal about accounts, shown to the user."""


@lru_cache(maxsize=1)
def common_passwords():
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problems(password, min_length, username=""):
    """Reasons (Chinese) why a password is refused; empty when it is acceptable."""
    problems = []
    if len(password) < min_length:
        problems.append(f"密码至少需要 {min_length} 个字符。")
    lowered = password.lower()
    if lowered in common_passwords():
        problems.append("这是常见密码，很容易被猜到，请换一个。")
    elif len(set(password)) <= 2:
        problems.append("密码不能由同一两个字符重复组成。")
    if username and username.lower() in lowered:
        problems.append("密码不能包含用户名。")
    return problems


def start_session(user, ip="", user_agent="", remember=False):
    """Create the server-side login session and return its token."""
    token = LoginSession.new_token()
    db.session.add(LoginSession(token=token, user_id=user.id, ip=ip[:64], user_agent=user_agent[:200], remember=remember))
    user.session_token = token
    return token


def revoke_sessions(user, keep_token=None):
    """Log the user out everywhere (except, optionally, the current browser)."""
    stmt = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_token:
        stmt = stmt.where(LoginSession.token != keep_token)
    db.session.execute(stmt)


def authenticate(username, password, max_failures, lock_minutes):
    """Check a login; returns the user or raises AccountError with the reason.

    Counts failures per account and locks it after ``max_failures``. The
    message for an unknown user and a wrong password is the same.
    """
    now = utcnow()
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None:
        audit.record("login_failed", "user", None, f"用户名 {username[:40]} 不存在", actor=(None, username[:40]))
        raise AccountError("用户名或密码不正确。")
    actor = (user.id, user.username)
    if user.is_locked(now):
        audit.record("login_failed", "user", user.id, "账号锁定期间尝试登录", actor=actor)
        raise AccountError(f"登录失败次数过多，账号已锁定，请 {user.lock_minutes_left(now)} 分钟后再试，或联系管理员。")
    if not user.check_password(password):
        locked = user.register_failure(max_failures, lock_minutes, now)
        audit.record("login_failed", "user", user.id, "密码错误", actor=actor)
        if locked:
            audit.record("lockout", "user", user.id, f"连续 {max_failures} 次密码错误，锁定 {lock_minutes} 分钟", actor=actor)
            raise AccountError(f"密码连续错误 {max_failures} 次，账号已锁定 {lock_minutes} 分钟。请稍后再试，或联系管理员。")
        left = max_failures - user.failed_logins
        raise AccountError(f"用户名或密码不正确。再错 {left} 次账号将被锁定 {lock_minutes} 分钟。")
    if user.is_disabled:
        audit.record("login_failed", "user", user.id, "账号已停用", actor=actor)
        raise AccountError("该账号已停用，请联系管理员。")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record("login", "user", user.id, "登录成功", actor=actor)
    return user


def change_password(user, old, new, min_length):
    """Change one's own password; other browsers are logged out."""
    if not user.check_password(old):
        raise AccountError("当前密码不正确。", "old_password")
    if old == new:
        raise AccountError("新密码不能与当前密码相同。", "new_password")
    problems = password_problems(new, min_length, user.username)
    if problems:
        raise AccountError(" ".join(problems), "new_password")
    user.set_password(new)
    user.must_change_password = False
    revoke_sessions(user, keep_token=user.session_token)
    audit.record("password_change", "user", user.id, "本人修改密码")


def temporary_password():
    """A readable one-time password (no 0/O/1/l) for resets and the demo."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
    return "".join(secrets.choice(alphabet) for _ in range(12))


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
    from ..core.scope import visible_grid_ids
    from .models import user_grid

    paths = scope_paths(actor)
    if not paths:
        return q.where(User.id == -1)
    in_scope = select(user_grid.c.user_id).where(user_grid.c.grid_id.in_(visible_grid_ids(actor)))
    out_of_scope = select(user_grid.c.user_id).where(user_grid.c.grid_id.not_in(visible_grid_ids(actor)))
    return q.where(User.id.in_(in_scope), User.id.not_in(out_of_scope), User.role.in_(manageable_roles(actor)))


def save_user(actor, user, *, username, full_name, phone, role, grids, min_length=None, password=None):
    """Create (user is None) or update a user after checking the actor's rights."""
    if role not in manageable_roles(actor):
        raise AccountError(f"您不能设置“{role_name(role)}”角色。")
    if role != "admin" and not grids:
        raise AccountError("请至少选择一个负责的网格。", "grids")
    for grid in grids:
        if not can_see_grid(actor, grid):
            raise AccountError(f"网格“{grid.name}”不在您的管理范围内。")
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
        user.failed_logins = 0
        user.locked_until = None


def reset_password(actor, user):
    """Give the user a one-time password that must be changed at next login."""
    if not may_manage(actor, user) or user.id == actor.id:
        raise AccountError("您无权重置该用户的密码。")
    password = temporary_password()
    user.set_password(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    revoke_sessions(user)
    audit.record("password_reset", "user", user.id, f"重置 {user.username} 的密码")
    return password
