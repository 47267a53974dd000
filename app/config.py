"""Configuration defaults.

Order of precedence (later wins): these defaults, ``instance/config.py``,
environment variables, the ``config`` mapping passed to ``create_app``.
"""
import os
from datetime import timedelta


class Defaults:
    """Values every deployment starts from."""

    # SQLite in instance/ unless DATABASE_URL says otherwise (filled in create_app).
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLITE_BUSY_TIMEOUT_MS = 15000

    # Sessions: the village PC is shared, so short idle time and no remember-me.
    IDLE_TIMEOUT_MINUTES = 30
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set True behind HTTPS
    SESSION_COOKIE_NAME = "vg_session"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    REMEMBER_ME_ENABLED = False
    REMEMBER_COOKIE_DURATION = timedelta(days=14)

    # Login protection (app/accounts/throttle.py): this many failures within LOGIN_LOCK_MINUTES lock
    # one name from one address; the second lock is the name from everywhere (an admin lifts it),
    # the third one address whatever names it tries.
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_MINUTES = 15
    LOGIN_ACCOUNT_MAX_FAILURES = 25
    LOGIN_ADDRESS_MAX_FAILURES = 30
    PASSWORD_MIN_LENGTH = 10

    # WTForms' built-in Chinese messages (app.core.forms.Form); no Flask-Babel needed.
    WTF_I18N_ENABLED = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_SSL_STRICT = False

    PAGE_SIZE = 50
    # Rows of data one roster or unit-register file may hold (a township's largest village is far below);
    # a longer file is refused before it is checked, with a message saying so.
    IMPORT_MAX_ROWS = 20_000
    # Lists count at most this many rows past the current page (then "超过 N 条").
    COUNT_CAP = 10_000
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024

    # The public intake (/q/<code>): reports per address and per grid per hour, status look-ups per address.
    PUBLIC_INTAKE_PER_ADDRESS_HOUR = 5
    PUBLIC_INTAKE_PER_GRID_HOUR = 30
    PUBLIC_LOOKUP_PER_ADDRESS_HOUR = 60
    # Text messages to residents who left a phone (core/sms.py): empty = written to the log only.
    # A URL template with {phone} and {text}, e.g. "https://sms.example.cn/send?to={phone}&msg={text}".
    SMS_GATEWAY_URL = ""
    SMS_GATEWAY_METHOD = "GET"  # or "POST": phone and text sent as a form body

    # The address printed in QR codes (notice boards, agreements). Unset: the address recorded at
    # set-up (editable on the 系统设置 page); never an unchecked Host header (app/core/public.py).
    PUBLIC_BASE_URL = None
    # Host names (and ".example.cn" for every sub-domain) this server answers to; a request for any
    # other Host gets 400. None: every Host is answered (then only PUBLIC_BASE_URL or the recorded
    # address is printed). Behind a proxy the name is the one in X-Forwarded-Host (VG_PROXY_HOPS).
    TRUSTED_HOSTS = None

    # Reverse proxies in front of the app (nginx: 1). Their X-Forwarded-For/-Proto/-Host are then
    # trusted for that many hops, so login lockout, audit rows and the public intake's limits see
    # each person's address rather than the proxy's. 0: nothing forwarded is trusted.
    PROXY_HOPS = 0

    # Send every response's server time (Server-Timing) to everybody, not only to logged-in
    # administrators: for the benchmark, never on a server the public can reach.
    SERVER_TIMING = False

    # Responses compressed by the app itself (Flask-Compress), as nginx would: a phone on a weak
    # signal gets HTML and htmx fragments as brotli (or gzip for an older browser). Static files
    # are compressed once and cached by content-hashed names (app/core/static_files.py).
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_ALGORITHM_STREAMING = ["br", "deflate"]
    COMPRESS_BR_LEVEL = 5
    COMPRESS_LEVEL = 6
    COMPRESS_MIN_SIZE = 500

    # Schedules run by the server itself (app/core/schedules.py, app/admin/jobs.py): 催办 of overdue
    # cases each working day, the nightly backup, removal of leftovers, expiry of old logins. False:
    # nothing runs by itself; run `flask schedules run` from cron instead.
    SCHEDULES_ENABLED = True
    # After start-up, work out this month's dashboard of the county and townships in the background
    # (app/core/warmup.py), so the first leader to open one does not wait seconds for it.
    STATS_WARMUP = True
    # The nightly backups kept: the newest of each of this many days, ISO weeks and months.
    BACKUP_KEEP_DAILY = 14
    BACKUP_KEEP_WEEKLY = 8
    BACKUP_KEEP_MONTHLY = 12

    # Checked at start-up; warns when CJK fonts or libharfbuzz-subset are missing.
    CHECK_PRINT_STACK = True


def _flag(value):
    """An on/off environment variable."""
    return value.lower() in ("1", "true", "yes")


ENV_KEYS = {
    "DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", str),
    "SECRET_KEY": ("SECRET_KEY", str),
    "VG_IDLE_TIMEOUT_MINUTES": ("IDLE_TIMEOUT_MINUTES", int),
    "VG_LOGIN_MAX_FAILURES": ("LOGIN_MAX_FAILURES", int),
    "VG_LOGIN_LOCK_MINUTES": ("LOGIN_LOCK_MINUTES", int),
    "VG_LOGIN_ACCOUNT_MAX_FAILURES": ("LOGIN_ACCOUNT_MAX_FAILURES", int),
    "VG_LOGIN_ADDRESS_MAX_FAILURES": ("LOGIN_ADDRESS_MAX_FAILURES", int),
    "VG_PASSWORD_MIN_LENGTH": ("PASSWORD_MIN_LENGTH", int),
    "VG_REMEMBER_ME_ENABLED": ("REMEMBER_ME_ENABLED", _flag),
    "VG_PUBLIC_BASE_URL": ("PUBLIC_BASE_URL", str),
    "VG_SMS_GATEWAY_URL": ("SMS_GATEWAY_URL", str),
    "VG_SMS_GATEWAY_METHOD": ("SMS_GATEWAY_METHOD", str),
    "VG_TRUSTED_HOSTS": ("TRUSTED_HOSTS", lambda v: [h.strip() for h in v.split(",") if h.strip()]),
    "VG_SESSION_COOKIE_SECURE": ("SESSION_COOKIE_SECURE", _flag),
    "VG_PROXY_HOPS": ("PROXY_HOPS", int),
    "VG_IMPORT_MAX_ROWS": ("IMPORT_MAX_ROWS", int),
    "VG_SERVER_TIMING": ("SERVER_TIMING", _flag),
    "VG_SCHEDULES_ENABLED": ("SCHEDULES_ENABLED", _flag),
    "VG_STATS_WARMUP": ("STATS_WARMUP", _flag),
    "VG_BACKUP_KEEP_DAILY": ("BACKUP_KEEP_DAILY", int),
    "VG_BACKUP_KEEP_WEEKLY": ("BACKUP_KEEP_WEEKLY", int),
    "VG_BACKUP_KEEP_MONTHLY": ("BACKUP_KEEP_MONTHLY", int),
}


def from_environ(environ=None):
    """Return the settings given by environment variables."""
    environ = os.environ if environ is None else environ
    out = {}
    for env_key, (key, conv) in ENV_KEYS.items():
        if environ.get(env_key):
            out[key] = conv(environ[env_key])
    return out
