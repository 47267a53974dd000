"""Login, sessions and passwords, without Flask request objects (user administration: app/users)."""
import secrets
import string
from functools import lru_cache
from pathlib import Path

from sqlalchemy import delete, func, select
from werkzeug.security import generate_password_hash

from ..core import audit
from ..core.forms import ServiceError
from ..core.timeutil import utcnow
from ..extensions import db
from . import throttle
from .models import LoginSession, User, normalise_password, verify_password

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[2] / "data" / "common-passwords.txt"


class AccountError(ServiceError):
    """A refusal about accounts, shown to the user."""


@lru_cache(maxsize=1)
def common_passwords():
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problems(password, min_length, username=""):
    """Reasons (Chinese) why a password is refused; empty when it is acceptable.

    Checked on the NFKC form, as it is hashed: full-width ``１２３４５６７８９０`` is ``1234567890``.
    """
    password = normalise_password(password)
    username = normalise_password(username)
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


@lru_cache(maxsize=1)
def _stand_in_hash():
    """A hash made like the users' ones: an unknown name costs the same check as a known one."""
    return generate_password_hash(secrets.token_hex(16))


def authenticate(username, password, ip, rules, now=None):
    """Check a login; returns the user or raises AccountError with the reason.

    Failures are counted per name typed and source address (accounts/throttle.py). Whether the
    name exists changes neither the messages nor the work done, so neither tells it.
    """
    now = now or utcnow()
    ip = (ip or "")[:64]
    name = throttle.login_name(username)
    until = throttle.locked_until(name, ip, rules, now)
    user = db.session.scalar(select(User).where(func.lower(User.username) == name))
    actor = (user.id, user.username) if user else (None, name)
    if until is not None:
        audit.record("login_failed", "user", user and user.id, "锁定期间尝试登录", actor=actor)
        minutes = max(1, -(-int((until - now).total_seconds()) // 60))
        raise AccountError(f"登录失败次数过多，该账号暂时锁定，请 {minutes} 分钟后再试，或请管理员解除锁定。")
    if not verify_password(user.password_hash if user else _stand_in_hash(), password) or user is None:
        failure = throttle.record_failure(name, ip, rules, now)
        audit.record("login_failed", "user", user and user.id, "密码错误" if user else f"用户名 {name} 不存在", actor=actor)
        for started, summary in (
            (failure.locked_here, f"从 {ip} 连续 {rules.per_address} 次登录失败，该地址锁定 {rules.minutes} 分钟"),
            (failure.locked_account, f"{rules.minutes} 分钟内登录失败 {rules.per_account} 次，各地址均锁定，可由管理员解除"),
            (failure.locked_source, f"{ip} 在 {rules.minutes} 分钟内登录失败 {rules.per_source} 次，该地址锁定"),
        ):
            if started:
                audit.record("lockout", "user", user and user.id, summary, actor=actor)
        if failure.locked_here or failure.locked_account or failure.locked_source:
            raise AccountError(f"用户名或密码连续错误，该账号已锁定 {rules.minutes} 分钟。请稍后再试，或请管理员解除锁定。")
        raise AccountError(f"用户名或密码不正确。再错 {failure.left} 次账号将被锁定 {rules.minutes} 分钟。")
    if user.is_disabled:
        audit.record("login_failed", "user", user.id, "账号已停用", actor=actor)
        raise AccountError("该账号已停用，请联系管理员。")
    throttle.clear(name, ip)
    user.last_login_at = now
    audit.record("login", "user", user.id, "登录成功", actor=actor)
    return user


def change_password(user, old, new, min_length):
    """Change one's own password; other browsers are logged out."""
    if not user.check_password(old):
        raise AccountError("当前密码不正确。", "old_password")
    if normalise_password(old) == normalise_password(new):
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
