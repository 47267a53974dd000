"""Addresses printed for residents: QR codes on notice boards, agreement checks.

A printed URL must outlive the session that printed it and must not expose a
guessable id, so a grid's public code is its id plus an HMAC of it under the
app's secret key (no table needed; a leaked code reaches only that grid's
public intake).

The address in front of the path is never taken from a request's Host header
unless that header was checked against ``TRUSTED_HOSTS``: anybody can send
``Host: evil.example``, and a QR code printed on paper cannot be recalled. It is,
in this order: ``PUBLIC_BASE_URL`` (``VG_PUBLIC_BASE_URL``); the installation's
public address, recorded from the address the administrator used on the set-up
page and editable on the 系统设置 page; the request's own address when
``TRUSTED_HOSTS`` is configured (Flask has refused any other Host with 400).
Without any of these a printed code is refused with a message saying what to set.
"""
import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from flask import current_app, g, request

from .errors import ServiceError
from .models import Setting

PUBLIC_ADDRESS = "public_base_url"  # the Setting that holds the recorded public address

INTAKE_PREFIX = "/q/"


def _mac(purpose, value):
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest)[:10].decode().lower()


def grid_public_code(grid_id):
    """The code printed on a grid's notice board, e.g. ``17-k3j9x2mq4a``."""
    return f"{int(grid_id)}-{_mac('grid-intake', int(grid_id))}"


def grid_id_from_code(code):
    """The grid id of a public code, or None when the code is not genuine."""
    head, _, mac = (code or "").partition("-")
    if not head.isdigit() or not mac:
        return None
    return int(head) if hmac.compare_digest(mac, _mac("grid-intake", int(head))) else None


class NoPublicAddress(ServiceError):
    """No address to print: nothing configured or recorded, and no trusted Host."""

    def __init__(self):
        super().__init__("还没有设置本系统的访问地址，无法生成二维码。请系统管理员在“管理 › 系统设置”中填写群众手机能打开的地址。")


def normalise_address(text):
    """A public address as stored (``https://host[:port][/path]``, no trailing slash), or ServiceError."""
    text = (text or "").strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username
            or parts.password or parts.query or parts.fragment or "?" in text or "#" in text
            or any(c.isspace() for c in text) or port == 0):
        raise ServiceError("访问地址应形如 https://grid.example.gov.cn 或 http://192.168.1.10:5000，"
                           "只写协议、域名或 IP、端口（和路径），不带 ? 或 #。", "public_address")
    return text


def recorded_address():
    """The installation's recorded public address (read once per request), or ""."""
    if "_public_address" not in g:
        g._public_address = Setting.get(PUBLIC_ADDRESS, "")
    return g._public_address


def record_address(text):
    """Record the installation's public address (in the current transaction); returns it normalised."""
    value = normalise_address(text)
    Setting.put(PUBLIC_ADDRESS, value)
    g.pop("_public_address", None)
    return value


def public_base_url():
    """The address printed codes start with, or None (see the module's docstring for the order)."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    recorded = recorded_address()
    if recorded:
        return recorded
    if current_app.config.get("TRUSTED_HOSTS"):
        return request.host_url.rstrip("/")
    return None


_RAISE = object()


def public_url(path, missing=_RAISE):
    """An absolute URL for ``path`` that residents can open from a printed QR code.

    Without an address: NoPublicAddress (a print is refused), or ``missing`` (a page says so).
    """
    base = public_base_url()
    if base is None:
        if missing is _RAISE:
            raise NoPublicAddress()
        return missing
    return base + "/" + path.lstrip("/")


def grid_intake_url(grid_id, missing=_RAISE):
    """The public intake page of a grid (served by the cases area at /q/<code>)."""
    return public_url(INTAKE_PREFIX + grid_public_code(grid_id), missing)
