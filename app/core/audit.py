"""The audit trail.

Every insert, update and delete of a model that sets ``__audit__ = True`` is
written to ``audit_log`` in the same transaction, by a flush hook, so no view
can forget it. Events that are not row changes (logins, lockouts, sensitive
reads, exports) are recorded with :func:`record`.
"""
import functools
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from types import SimpleNamespace

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from ..extensions import db
from .db import execute_write
from .models import AuditLog
from .timeutil import utcnow

ACTION_LABELS = {
    "create": "新增",
    "update": "修改",
    "delete": "删除",
    "login": "登录",
    "login_failed": "登录失败",
    "lockout": "账号锁定",
    "unlock": "解除锁定",
    "logout": "退出登录",
    "password_change": "修改密码",
    "password_reset": "重置密码",
    "session_expired": "超时退出",
    "reveal": "查看完整信息",
    "export": "导出",
    "import": "导入",
    "import_cancel": "放弃导入",
    "setup": "初始化",
    "backup": "备份",
    "restore": "恢复",
    "schedule_run": "定时任务",
}

_cli_actor = ContextVar("cli_actor", default=None)


@contextmanager
def acting_as(name, user_id=None):
    """Name the actor for changes made outside a request (CLI, scripts)."""
    token = _cli_actor.set((user_id, name))
    try:
        yield
    finally:
        _cli_actor.reset(token)


def _actor():
    cli = _cli_actor.get()
    if cli is not None:
        return cli
    if has_request_context():
        try:
            if current_user and current_user.is_authenticated:
                return current_user.id, current_user.username
        except Exception:  # the user loader itself may be running
            pass
        return None, "匿名"
    return None, "系统"


def _ip():
    if has_request_context():
        return (request.remote_addr or "")[:64]
    return ""


def _row(action, entity, entity_id, summary, actor=None):
    actor_id, actor_name = actor or _actor()
    return {
        "at": utcnow(),
        "actor_id": actor_id,
        "actor_name": (actor_name or "")[:80],
        "action": action,
        "entity": entity or "",
        "entity_id": "" if entity_id is None else str(entity_id)[:40],
        "summary": summary or "",
        "ip": _ip(),
    }


def record(action, entity="", entity_id=None, summary="", actor=None):
    """Append an event to the audit log.

    In a GET request it is committed at once on its own connection (see
    core.db.execute_write); otherwise it joins the current transaction.
    """
    execute_write(insert(AuditLog).values(**_row(action, entity, entity_id, summary, actor)))


def _fmt(value):
    if value is None:
        return "空"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (date, datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


@functools.lru_cache(maxsize=None)
def _audited_columns(cls):
    """The column attributes an audit row describes, and the masks of the sensitive ones."""
    exclude = set(getattr(cls, "__audit_exclude__", ())) | {"id", "created_at"}
    return [a for a in inspect(cls).column_attrs if a.key not in exclude], getattr(cls, "__audit_mask__", {})


def _value_parts(cls, get):
    """``key=value`` parts naming a new record of ``cls`` whose column values ``get(key)`` returns."""
    columns, masks = _audited_columns(cls)
    parts = []
    for attr in columns:
        key = attr.key
        value = get(key)
        if value is None or value == "":
            continue
        if key in masks:
            value = masks[key](value)
        parts.append(f"{key}={_fmt(value)}")
    return parts


def _describe(obj, action):
    """A short text naming the record and, for updates, what changed."""
    if action != "update":
        return _value_parts(type(obj), lambda key: getattr(obj, key))
    columns, masks = _audited_columns(type(obj))
    # Each access of state.attrs builds a new mapping: once per record, and only for updates.
    attrs = inspect(obj).attrs
    parts = []
    for attr in columns:
        key = attr.key
        hist = attrs[key].history
        if not hist.has_changes():
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if key in masks:
            old, new = masks[key](old), masks[key](new)
        parts.append(f"{key}: {_fmt(old)} → {_fmt(new)}")
    return parts


def _summary(label, parts):
    return (f"{label}；" if label else "") + "；".join(parts)


def created_row(cls, values, related=None, actor=None):
    """The audit row the flush hook writes for an inserted ``cls`` record with these column values
    (including its id), for code that inserts many rows without ORM objects. ``related`` supplies
    what the model's ``audit_label`` reads besides columns (e.g. ``{"category": category}``)."""
    label_property = getattr(cls, "audit_label", None)
    label = label_property.fget(SimpleNamespace(**values, **(related or {}))) if label_property else None
    return _row("create", cls.__tablename__, values["id"], _summary(label, _value_parts(cls, values.get)), actor)


def write_rows(rows):
    """Insert prepared audit rows (see created_row) in one executemany."""
    if rows:
        db.session.execute(insert(AuditLog.__table__), rows)


@event.listens_for(Session, "after_flush")
def _audit_after_flush(session, _flush_context):
    rows = []
    for action, objs in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objs:
            if not getattr(type(obj), "__audit__", False):
                continue
            if action == "update" and not session.is_modified(obj, include_collections=False):
                continue
            parts = _describe(obj, action)
            if action == "update" and not parts:
                continue  # only excluded bookkeeping fields changed
            label = getattr(obj, "audit_label", None)
            pk = inspect(obj).mapper.primary_key_from_instance(obj)
            rows.append(_row(action, obj.__tablename__, pk[0] if pk else None, _summary(label, parts)))
    if rows:
        session.connection().execute(insert(AuditLog), rows)
