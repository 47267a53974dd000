"""What spreadsheet imports keep between the upload and the confirmation, and from one file to the next.

- PendingUpload: an uploaded file waiting for its uploader to confirm the import (or to
  drop it). The file lies under ``instance/imports/`` readable by the app's user only
  (0600), named by a random token; its row says whose it is, what it is for and what the
  clerk decided on the preview (column mapping, groups). Only the uploader can read it;
  it is deleted on import, on abandon, and once older than PENDING_HOURS (rows and files,
  whichever process finds them).
- ImportMapping: a village's remembered column mapping ({header: field}) and its answers
  for 所属组 values ({group: grid id}), named, so the next file of the same layout goes in
  without asking again (the CLI's --mapping NAME uses one too).
"""
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from wtforms import SelectField

from ..extensions import db
from . import audit
from .files import private_dir, write_private
from .forms import Form, ServiceError
from .sheets import extension, marked_workbook, raw_sheets, xlsx_response
from .timeutil import utcnow
from .web import render

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")   # secrets.token_urlsafe(32)
PENDING_HOURS = 24                             # an upload nobody confirmed is removed after this
SUFFIX = ".upload"
ACCEPT = (".xlsx,.xls,.csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,"
          "application/vnd.ms-excel,text/csv")


class UploadForm(Form):
    """A spreadsheet to import and the village it is for."""

    file = FileField("名册文件（.xlsx、.xls 或 .csv）", validators=[FileRequired("请选择要上传的文件。")],
                     render_kw={"accept": ACCEPT})
    village_id = SelectField("所属的村", coerce=int, default=0)


class PendingUpload(db.Model):
    """An uploaded file waiting for confirmation (the file itself is under instance/imports/)."""

    __tablename__ = "pending_upload"
    token = db.Column(db.String(43), primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = db.Column(db.String(20), nullable=False)          # households / units
    filename = db.Column(db.String(200), nullable=False)
    village_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="SET NULL"))
    choices = db.Column(db.Text, nullable=False, default="{}")  # JSON: the clerk's decisions on the preview
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)

    @property
    def decided(self):
        return json.loads(self.choices or "{}")

    def decide(self, **values):
        self.choices = json.dumps({**self.decided, **values}, ensure_ascii=False)


class ImportMapping(db.Model):
    """A village's remembered way of reading its files."""

    __tablename__ = "import_mapping"
    __audit__ = True
    id = db.Column(db.Integer, primary_key=True)
    grid_id = db.Column(db.Integer, db.ForeignKey("grid.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = db.Column(db.String(20), nullable=False)
    name = db.Column(db.String(60), nullable=False)
    columns = db.Column(db.Text, nullable=False, default="{}")   # JSON {header key: field key or ""}
    groups = db.Column(db.Text, nullable=False, default="{}")    # JSON {group key text: grid id}
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    grid = db.relationship("Grid")

    __table_args__ = (db.UniqueConstraint("grid_id", "kind", "name", name="uq_import_mapping_name"),)

    @property
    def audit_label(self):
        return self.name

    @property
    def column_map(self):
        return json.loads(self.columns or "{}")

    @property
    def group_map(self):
        return json.loads(self.groups or "{}")


# The pending store

def _folder():
    return private_dir(Path(current_app.instance_path) / "imports")


def _path(token):
    return _folder() / f"{token}{SUFFIX}"


def remove_stale(now=None):
    """Uploads older than PENDING_HOURS that were never confirmed: rows and files (and files without a
    row); returns how many uploads went."""
    cutoff = (now or utcnow()) - timedelta(hours=PENDING_HOURS)
    stale = db.session.scalars(select(PendingUpload.token).where(PendingUpload.created_at < cutoff)).all()
    if stale:
        db.session.execute(delete(PendingUpload).where(PendingUpload.token.in_(stale)))
    for token in stale:
        _path(token).unlink(missing_ok=True)
    known, orphans = None, 0
    oldest = cutoff.replace(tzinfo=timezone.utc).timestamp()
    for path in _folder().glob(f"*{SUFFIX}"):
        if TOKEN_RE.fullmatch(path.stem) and path.stat().st_mtime < oldest:
            if known is None:
                known = set(db.session.scalars(select(PendingUpload.token)))
            if path.stem not in known:
                path.unlink(missing_ok=True)
                orphans += 1
    return len(stale) + orphans


def save_upload(data, user, kind, filename, village=None):
    """Keep an upload until it is imported or dropped; returns its PendingUpload (flushed)."""
    remove_stale()
    token = secrets.token_urlsafe(32)
    write_private(_path(token), data)
    upload = PendingUpload(token=token, user_id=user.id, kind=kind, filename=filename[:200],
                           village_id=village.id if village is not None else None)
    db.session.add(upload)
    db.session.flush()
    return upload


def load_upload(token, user, kind):
    """(PendingUpload, the file's bytes) of this user's upload, or None (also for anybody else's or an expired one)."""
    if not TOKEN_RE.fullmatch(token or ""):
        return None
    upload = db.session.get(PendingUpload, token)
    if upload is None or upload.user_id != user.id or upload.kind != kind:
        return None
    if upload.created_at < utcnow() - timedelta(hours=PENDING_HOURS):
        return None
    try:
        return upload, _path(token).read_bytes()
    except OSError:
        return None


def discard_upload(upload):
    """Delete an upload's row and file (the caller commits)."""
    token = upload.token
    db.session.delete(upload)
    _path(token).unlink(missing_ok=True)


# The pages' shared steps

def accept_upload(form, kind, village):
    """The POST of an upload form: the file kept as a PendingUpload of the current user when it is a
    spreadsheet that can be read at all (committed), else None with the problem on the form."""
    if not form.validate_on_submit():
        return None
    upload = form.file.data
    name = Path(upload.filename or "").name
    if extension(name) is None:
        form.file.errors.append(f"只能上传 Excel（.xlsx、.xls）或 CSV 文件，“{name}”不是。WPS 的 .et 文件"
                                "请先“另存为 Excel 工作簿（.xlsx）”。")
        return None
    data = upload.read()
    try:
        raw_sheets(data, name)  # readable at all; the preview reads it as what it is
    except ServiceError as exc:
        form.file.errors.append(f"“{name}”：{exc}")
        return None
    pending = save_upload(data, current_user, kind, name, village)
    db.session.commit()
    return pending


def upload_page(kind, template, village_label, unspecified, default, choices, chosen, file_label=None):
    """An import's upload page and its POST: the file kept (then on to the blueprint's preview), or the
    form again. ``default`` is the user's own village (no choice offered then), ``choices()`` the
    villages to choose from, ``chosen(village_id)`` the one a POST names, through the user's scope."""
    form = UploadForm()
    if file_label:
        form.file.label.text = file_label
    form.village_id.label.text = village_label
    form.village_id.choices = [(0, unspecified)] + ([] if default is not None else choices())
    village = default or chosen(request.form.get("village_id", type=int))
    pending = accept_upload(form, kind, village)
    if pending is not None:
        return redirect(url_for(".import_preview", token=pending.token))
    return render(template, form=form, village=default)


def read_or_drop(upload, data, read, back):
    """(plan, None) of ``read(upload, data)``; or, when the file cannot be read as a whole (more rows than
    IMPORT_MAX_ROWS …), (None, a redirect to ``back`` saying why) and the upload is deleted at once."""
    try:
        return read(upload, data), None
    except ServiceError as exc:
        discard_upload(upload)
        db.session.commit()
        flash(f"“{upload.filename}”：{exc}", "error")
        return None, redirect(back)


def pending_or_404(token, kind):
    """(PendingUpload, file bytes) of the current user's upload, or 404 (also for anybody else's)."""
    found = load_upload(token, current_user, kind)
    if found is None:
        abort(404)
    return found


def marked_download(upload, data, plan, fallback):
    """The clerk's own file with a 错误说明 column and the bad cells marked, as a download."""
    return xlsx_response(marked_workbook(data, plan.table, plan.marks), f"{Path(upload.filename).stem}-错误说明.xlsx",
                         fallback)


def confirm_upload(upload, data, read, apply, entity, what, describe):
    """The confirm step: read the file again (the ledger may have changed since the preview), refuse it
    while it has errors, do nothing when it says nothing new, else apply it all or nothing, audit,
    delete the upload and commit. Returns (imported or nothing to do, message)."""
    filename = upload.filename
    try:
        plan = read(upload, data)
        if plan.errors:
            return False, f"“{filename}”还有 {len(plan.errors)} 处错误，没有导入。请改正后重新上传。"
        if plan.changes_nothing:
            discard_upload(upload)
            db.session.commit()
            return True, f"“{filename}”与台账完全一致，没有需要导入的改动。"
        counts = apply(plan)
        db.session.flush()
    except ServiceError as exc:
        db.session.rollback()
        return False, f"导入“{filename}”失败，没有导入任何数据：{exc}"
    except IntegrityError:
        db.session.rollback()
        return False, f"导入“{filename}”时，表中有号码刚被别人登记，没有导入任何数据。请重新预览后再确认。"
    text = describe(plan, counts)
    audit.record("import", entity, None, f"导入{what}“{filename}”：{text}")
    discard_upload(upload)
    db.session.commit()
    return True, f"已导入“{filename}”：{text}。"


def cancel_upload(upload, entity, what):
    """Drop an upload at once, audited; returns its file name (committed)."""
    filename = upload.filename
    discard_upload(upload)
    audit.record("import_cancel", entity, None, f"放弃导入{what}“{filename}”，上传的文件已删除")
    db.session.commit()
    return filename


@dataclass
class ImportSteps:
    """What an import's last three pages need: the errors download, confirm and cancel. The blueprint
    holds the upload page (``.import_upload``) and the preview (``.import_preview``)."""
    base: str  # the upload page's path; the steps sit under <base>/<token>/
    kind: str  # the PendingUpload kind
    guard: Callable  # the permission decorator
    read: Callable  # (upload, data) -> plan
    apply: Callable  # plan -> counts
    entity: str  # the audit entity
    what: str  # what the file is, in the messages (名册, 单位台账)
    describe: Callable  # (plan, counts) -> what was imported, in words
    done_endpoint: str  # where a finished import leads
    errors_file: str  # the marked file's ASCII fallback name
    dropped: str  # the message after cancelling ({filename})

    def register(self, bp):
        """Add the three routes to ``bp`` (endpoints import_errors, import_confirm, import_cancel)."""
        bp.add_url_rule(f"{self.base}/<token>/errors.xlsx", view_func=self.guard(self._errors_view()))
        bp.add_url_rule(f"{self.base}/<token>/confirm", view_func=self.guard(self._confirm_view()), methods=["POST"])
        bp.add_url_rule(f"{self.base}/<token>/cancel", view_func=self.guard(self._cancel_view()), methods=["POST"])

    def _errors_view(self):
        def import_errors(token):
            """The clerk's own file with a 错误说明 column and the bad cells marked, to fix in place and upload again."""
            upload, data = pending_or_404(token, self.kind)
            return marked_download(upload, data, self.read(upload, data), self.errors_file)
        return import_errors

    def _confirm_view(self):
        def import_confirm(token):
            """Import the previewed file, all or nothing (read once more: the ledger may have changed)."""
            upload, data = pending_or_404(token, self.kind)
            ok, message = confirm_upload(upload, data, self.read, self.apply, self.entity, self.what, self.describe)
            flash(message, "success" if ok else "error")
            return redirect(url_for(self.done_endpoint) if ok else url_for(".import_preview", token=token))
        return import_confirm

    def _cancel_view(self):
        def import_cancel(token):
            """Drop a previewed file without importing it: the uploaded file is deleted at once."""
            upload, _ = pending_or_404(token, self.kind)
            flash(self.dropped.format(filename=cancel_upload(upload, self.entity, self.what)), "success")
            return redirect(url_for(".import_upload"))
        return import_cancel


# Remembered mappings

def mappings_for(grid_ids, kind):
    """The mappings of these grids, the most recently used first."""
    if not grid_ids:
        return []
    return db.session.scalars(select(ImportMapping).where(ImportMapping.grid_id.in_(list(grid_ids)),
                                                          ImportMapping.kind == kind)
                              .order_by(ImportMapping.updated_at.desc(), ImportMapping.id.desc())).all()


def remember_mapping(grid, kind, name, columns, groups):
    """Save (or update) a village's named mapping."""
    mapping = db.session.scalar(select(ImportMapping).where(ImportMapping.grid_id == grid.id,
                                                           ImportMapping.kind == kind, ImportMapping.name == name))
    if mapping is None:
        mapping = ImportMapping(grid_id=grid.id, kind=kind, name=name)
        db.session.add(mapping)
    mapping.columns = json.dumps(columns, ensure_ascii=False, sort_keys=True)
    mapping.groups = json.dumps(groups, ensure_ascii=False, sort_keys=True)
    mapping.updated_at = utcnow()
    db.session.flush()
    return mapping
