"""One submitted form makes one record, however often it arrives.

Every form that creates something carries a random key (``KeyedForm.form_key``, made when the
form is shown). The first request with a key *claims* it by inserting a ``form_submission`` row
in its own transaction, and says which record it made before committing. A second request with
the same key — a double tap, or a retry after the answer was lost on a bad connection — finds the
row and is sent to the record already made, with "已经保存过了，没有重复登记".

Two requests at the same moment: on SQLite every write transaction begins with ``BEGIN
IMMEDIATE``, so the second starts only after the first committed and simply finds the row. On
PostgreSQL the second one's insert waits on the unique index until the first commits, then fails;
that insert runs in a savepoint, so the request goes on and answers with the first one's record.
If the first request was refused (a ServiceError rolls back), its claim goes with it and the
same key may be sent again once the input is corrected.
"""
import uuid

from flask import flash
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField

from ..extensions import db
from .errors import ServiceError
from .timeutil import utcnow

ALREADY_SAVED = "这份内容已经保存过了，没有重复登记。"
EXPIRED = "表单已过期，请刷新页面后重新填写。"


class FormSubmission(db.Model):
    """A form key that made a record: which table and row (kept so a late retry still finds it)."""

    __tablename__ = "form_submission"
    id = db.Column(db.Integer, primary_key=True)
    key = db.Column(db.String(64), nullable=False, unique=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=True)  # None: the public intake
    endpoint = db.Column(db.String(80), nullable=False, default="")
    record_table = db.Column(db.String(40), nullable=False, default="")
    record_id = db.Column(db.Integer, nullable=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)


def new_key():
    return uuid.uuid4().hex


class KeyedForm:
    """Mixin for a form that creates a record: a hidden key made when the form is shown."""

    form_key = HiddenField(default=new_key)


def _key(value):
    return (value or "").strip()[:64]


def _load(row, user_id):
    if row.user_id != user_id:
        raise ServiceError(EXPIRED)  # someone else's key: never show their record
    model = _models().get(row.record_table)
    return db.session.get(model, row.record_id) if model is not None and row.record_id else None


def _models():
    return {m.class_.__tablename__: m.class_ for m in db.Model.registry.mappers
            if hasattr(m.class_, "__tablename__")}


def earlier(key, user_id):
    """The record this key already made, or None."""
    key = _key(key)
    if not key:
        return None
    row = db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    return _load(row, user_id) if row is not None else None


def claim(key, user_id, endpoint=""):
    """Hold ``key`` for this request's transaction; returns the record it already made, or None.

    On PostgreSQL this waits while another request holding the same key is still running.
    """
    key = _key(key)
    if not key:
        return None
    found = earlier(key, user_id)
    if found is not None:
        return found
    row = FormSubmission(key=key, user_id=user_id, endpoint=(endpoint or "")[:80])
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # A request with the same key committed while this one waited on the index.
        return earlier(key, user_id) or _refuse_pending()
    return None


def _refuse_pending():
    raise ServiceError(ALREADY_SAVED)


def made(key, record):
    """Say which record this request's key made (before the commit)."""
    key = _key(key)
    if not key or record is None or not hasattr(record, "__tablename__"):
        return
    db.session.flush()
    row = db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    if row is not None:
        row.record_table, row.record_id = record.__tablename__, record.id


def once(key, user_id, endpoint, action):
    """Run ``action()`` once for ``key``: (record, False) when it ran, (the earlier record, True) when
    this key already made one. For views that report by flash and redirect instead of ``run_form``."""
    found = claim(key, user_id, endpoint)
    if found is not None:
        return found, True
    record = action()
    made(key, record)
    return record, False


def flash_already_saved():
    flash(ALREADY_SAVED, "success")


def submission_key(form):
    """Template global: the hidden key of a form that creates a record (nothing for other forms)."""
    return form.form_key() if isinstance(form, KeyedForm) else Markup("")


def init_app(app):
    app.jinja_env.globals["submission_key"] = submission_key
