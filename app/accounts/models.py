"""Users, the grids they are bound to, their server-side login sessions and failed logins."""
import secrets
import unicodedata

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.timeutil import utcnow
from ..extensions import db

# Account roles, highest first. Rank decides who may manage whom.
ROLES = {
    "admin": ("系统管理员", 100),
    "township": ("乡镇工作人员", 80),
    "village_admin": ("村管理员", 60),
    "auditor": ("审计员（只读）", 50),
    "leader": ("网格长", 40),
    "department": ("部门工作人员", 30),
    "worker": ("网格员", 20),
}
ROLE_CHOICES = [(k, v[0]) for k, v in ROLES.items()]


def role_name(role):
    """Chinese name of an account role."""
    return ROLES.get(role, (role, 0))[0]


def role_rank(role):
    """Rank of a role; a user manages only lower ranks."""
    return ROLES.get(role, ("", 0))[1]


user_grid = db.Table(
    "user_grid",
    db.Column("user_id", db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    db.Column("grid_id", db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, db.Model):
    """A person who logs in. Sees and acts on the subtrees of their grids only."""

    __tablename__ = "user"
    __audit__ = True
    __audit_exclude__ = ("password_hash", "last_login_at", "created_at")
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(40), nullable=False, unique=True)
    full_name = db.Column(db.String(40), nullable=False)
    phone = db.Column(db.String(20), nullable=False, default="")
    role = db.Column(db.String(20), nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    must_change_password = db.Column(db.Boolean, nullable=False, default=False)
    is_disabled = db.Column(db.Boolean, nullable=False, default=False)
    last_login_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # A department user (role "department") answers the cases handed to this department; its grid
    # binding is the department's level, for who manages the account, not a scope of resident data.
    department_id = db.Column(db.Integer, db.ForeignKey("department.id"), index=True)

    grids = db.relationship("Grid", secondary=user_grid, lazy="selectin", order_by="Grid.path")

    @property
    def audit_label(self):
        return f"{self.username}（{self.full_name}）"

    @property
    def role_name(self):
        return role_name(self.role)

    @property
    def is_active(self):
        return not self.is_disabled

    # Set by the login loader: the LoginSession token this request runs under.
    session_token = None

    def get_id(self):
        """Flask-Login stores the server-side session token, not the user id."""
        return self.session_token

    @property
    def is_admin(self):
        return self.role == "admin"

    @property
    def read_only(self):
        return self.role == "auditor"

    @property
    def is_department(self):
        return self.role == "department"

    def set_password(self, password):
        """Hash with scrypt (werkzeug's default KDF), after NFKC normalisation (see normalise_password)."""
        self.password_hash = generate_password_hash(normalise_password(password))

    def check_password(self, password):
        return verify_password(self.password_hash, password)


def normalise_password(password):
    """NFKC: full-width digits and letters (a phone's Chinese keyboard) become the ASCII ones, so
    ``１２３４５６７８９０`` is the same password as ``1234567890`` for the rules and for the hash."""
    return unicodedata.normalize("NFKC", password or "")


def verify_password(password_hash, password):
    """Whether ``password`` matches the hash. A hash made before passwords were normalised matches
    the text as typed then, so an old password with full-width characters still works."""
    normal = normalise_password(password)
    if check_password_hash(password_hash, normal):
        return True
    return normal != password and check_password_hash(password_hash, password)


class LoginSession(db.Model):
    """A login on one browser. Deleting the row logs that browser out."""

    __tablename__ = "login_session"
    id = db.Column(db.Integer, primary_key=True)
    token = db.Column(db.String(64), nullable=False, unique=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_seen_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    ip = db.Column(db.String(64), nullable=False, default="")
    user_agent = db.Column(db.String(200), nullable=False, default="")
    # Remember-me logins (only when an admin enabled them) skip the idle timeout.
    remember = db.Column(db.Boolean, nullable=False, default=False)

    @staticmethod
    def new_token():
        return secrets.token_urlsafe(32)


class LoginFailure(db.Model):
    """One failed login: the name typed (whether or not such a user exists) and the address it came
    from. Lockouts are worked out from these rows (accounts/throttle.py); rows older than a day go."""

    __tablename__ = "login_failure"
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(40), nullable=False)
    ip = db.Column(db.String(64), nullable=False, default="")
    at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    __table_args__ = (
        db.Index("ix_login_failure_username_at", "username", "at"),
        db.Index("ix_login_failure_ip_at", "ip", "at"),
    )
