"""Addresses printed for residents: QR codes on notice boards, agreement checks.

A printed URL must outlive the session that printed it and must not expose a
guessable id, so a grid's public code is its id plus an HMAC of it under the
app's secret key (no table needed; a leaked code reaches only that grid's
public intake). ``PUBLIC_BASE_URL`` (``VG_PUBLIC_BASE_URL``) is the address
residents' phones can reach; without it the address of the current request is used.
"""
import base64
import hashlib
import hmac

from flask import current_app, request

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


def public_url(path):
    """An absolute URL for ``path`` that residents can open from a printed QR code."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    return base.rstrip("/") + "/" + path.lstrip("/")


def grid_intake_url(grid_id):
    """The public intake page of a grid (served by the cases area at /q/<code>)."""
    return public_url(INTAKE_PREFIX + grid_public_code(grid_id))
