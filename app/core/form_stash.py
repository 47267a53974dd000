"""What a user typed is not lost when the session ran out while the form was open.

A POST that arrives after the idle timeout ended its login session is refused as before (the user
must log in again), but its form fields — not its files — are kept in ``form_stash`` for that same
user, for at most ``STASH_MINUTES``. The login page then leads back to the form with
``?restore=<token>``; the base form (``core.forms.Form``) fills itself from the stash when the page
is opened by that user, and the stash is deleted once used. Another person logging in on the same
PC is sent to the same address and gets an empty form: the stash answers only to its owner. Keeping
and restoring are audited. (The page's script also keeps the session alive while a form has
unsaved typing, so this is the fallback, e.g. for a phone that slept.)
"""
import json
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import flash, g, request
from flask_login import current_user
from sqlalchemy import delete, select
from werkzeug.datastructures import MultiDict

from ..extensions import db
from . import audit
from .db import execute_write
from .timeutil import utcnow

STASH_MINUTES = 60
PARAM = "restore"
NOT_KEPT = {"csrf_token"}


class FormStash(db.Model):
    """The fields of a form its user sent after the session had timed out."""

    __tablename__ = "form_stash"
    id = db.Column(db.Integer, primary_key=True)
    token = db.Column(db.String(64), nullable=False, unique=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    path = db.Column(db.String(400), nullable=False)
    fields = db.Column(db.Text, nullable=False)
    had_files = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)


def keep(user_id):
    """Keep this refused POST's fields for ``user_id``; returns the address to reopen the form at, or None."""
    fields = [(k, v) for k, v in request.form.items(multi=True) if k not in NOT_KEPT]
    if not fields:
        return None
    had_files = any(f.filename for f in request.files.values())
    now = utcnow()
    token = secrets.token_urlsafe(24)
    db.session.execute(delete(FormStash).where(FormStash.created_at < now - timedelta(minutes=STASH_MINUTES)))
    # The page the form was on: the address it was posted to (forms post back to their own page).
    back = urlsplit(request.referrer or "")
    if back.path and back.netloc in ("", request.host):
        path, query = back.path, parse_qsl(back.query)
    else:
        path, query = request.path, list(request.args.items(multi=True))
    page = urlunsplit(("", "", path, urlencode([(k, v) for k, v in query if k != PARAM]), ""))
    db.session.add(FormStash(token=token, user_id=user_id, path=page[:400], fields=json.dumps(fields, ensure_ascii=False),
                             had_files=had_files, created_at=now))
    audit.record("form_kept", "user", user_id, f"登录超时，保存了提交到 {request.path} 的表单内容（1 小时内重新登录可恢复）",
                 actor=(user_id, ""))
    db.session.commit()
    return _reopen(page, token)


def _reopen(page, token):
    """The address of the form's page with the stash to restore."""
    return f"{page}{'&' if '?' in page else '?'}{urlencode([(PARAM, token)])}"


def pending(user):
    """The user's kept forms still in time, newest first: (address to reopen, minutes ago)."""
    now = utcnow()
    rows = db.session.scalars(select(FormStash).where(
        FormStash.user_id == user.id, FormStash.created_at >= now - timedelta(minutes=STASH_MINUTES))
        .order_by(FormStash.id.desc())).all()
    return [(_reopen(row.path, row.token), max(1, int((now - row.created_at).total_seconds() // 60))) for row in rows]


def restored_formdata():
    """For a form opened with ``?restore=<token>`` by the user who sent it: the kept fields (once), else None."""
    token = request.args.get(PARAM) if request.method == "GET" else None
    if not token:
        return None
    if "form_stash" in g.__dict__:
        return g.form_stash

    g.form_stash = None
    row = db.session.scalar(select(FormStash).where(FormStash.token == token[:64]))
    if (row is None or not current_user.is_authenticated or row.user_id != current_user.id
            or row.created_at < utcnow() - timedelta(minutes=STASH_MINUTES) or urlsplit(row.path).path != request.path):
        return None
    g.form_stash = MultiDict(json.loads(row.fields))
    flash("已恢复您登录超时前填写的内容，请核对后再保存。" + ("照片没有保存，请重新选择。" if row.had_files else ""), "warning")
    execute_write(delete(FormStash).where(FormStash.id == row.id))
    audit.record("form_restored", "user", row.user_id, f"重新登录后恢复了提交到 {row.path} 的表单内容")
    return g.form_stash
