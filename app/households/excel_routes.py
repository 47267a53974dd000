"""The household roster in Excel: template download, upload → preview → confirm import, export."""
import io
import re
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, abort, current_app, flash, make_response, redirect, request, url_for
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.exc import IntegrityError

from ..accounts.permissions import can, require
from ..core import audit
from ..core.forms import Form, ServiceError
from ..core.models import Setting
from ..core.pending import PendingUploads
from ..core.scope import get_grid_or_404, top_grids
from ..core.web import render
from ..extensions import db
from . import export as ledger_export
from . import roster_import, roster_template
from ..core.sheets import open_workbook
from .search import search
from .models import Household
from .routes import ledger_filters, ledger_query
from ..core.timeutil import local_today

bp = Blueprint("ledger_excel", __name__)

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_SEARCH_LIMIT = 10_000                   # people a search-filtered export takes at most
UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\s]+')


class ImportForm(Form):
    file = FileField("Excel 名册文件（.xlsx）", validators=[FileRequired("请选择要上传的 .xlsx 文件。")],
                     render_kw={"accept": ".xlsx," + XLSX_MIME})


def _xlsx_response(wb, filename, fallback):
    """The workbook as a download; the Chinese name as RFC 5987 filename*, an ASCII one for old clients."""
    buf = io.BytesIO()
    wb.save(buf)
    resp = make_response(buf.getvalue())
    resp.mimetype = XLSX_MIME
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return resp


@bp.route("/households/template.xlsx")
def template():
    """The roster template, with the categories and grids the user may fill in."""
    return _xlsx_response(roster_template.template_workbook(current_user), "户籍名册模板.xlsx", "roster-template.xlsx")


# --- import ---------------------------------------------------------------------

def _store():
    return PendingUploads(current_app.instance_path)


def _pending(token):
    """(xlsx path, metadata) of an upload of the current user, or 404 (also for anybody else's)."""
    found = _store().load(token, current_user.id)
    if found is None:
        abort(404)
    return found


def _discard(token):
    _store().discard(token)


@bp.route("/households/import", methods=["GET", "POST"])
@require("import_ledger")
def import_upload():
    """Upload a filled-in roster; it is checked and shown before anything is written."""
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        name = Path(upload.filename or "").name
        if not name.lower().endswith(".xlsx"):
            form.file.errors.append(f"只能上传 .xlsx 格式的 Excel 文件，“{name}”不是。旧版 .xls 或 WPS 的 .et 文件"
                                    "请先用 Excel 或 WPS“另存为 Excel 工作簿（.xlsx）”。")
        else:
            data = upload.read()
            try:
                open_workbook(io.BytesIO(data)).close()
            except ServiceError as exc:
                form.file.errors.append(f"“{name}”：{exc}")
            else:
                meta = {"user_id": current_user.id, "filename": name, "uploaded_at": local_today().isoformat()}
                token = _store().save(data, meta)
                return redirect(url_for(".import_preview", token=token))
    return render("households/import.html", form=form)


def _read(xlsx):
    with open(xlsx, "rb") as fh:
        return roster_import.read_roster(fh, current_user)


@bp.route("/households/import/<token>")
@require("import_ledger")
def import_preview(token):
    """Every bad row (row, column, what is wrong), or what the import will create and update."""
    xlsx, meta = _pending(token)
    try:
        plan = _read(xlsx)
    except ServiceError as exc:
        _discard(token)
        flash(f"“{meta['filename']}”：{exc}", "error")
        return redirect(url_for(".import_upload"))
    return render("households/import_preview.html", plan=plan, token=token, filename=meta["filename"])


@bp.route("/households/import/<token>/confirm", methods=["POST"])
@require("import_ledger")
def import_confirm(token):
    """Import the previewed roster, all or nothing (checked once more: the ledger may have changed)."""
    xlsx, meta = _pending(token)
    try:
        plan = _read(xlsx)
        if plan.errors:
            flash(f"“{meta['filename']}”还有 {len(plan.errors)} 处错误，没有导入。请改正后重新上传。", "error")
            return redirect(url_for(".import_preview", token=token))
        counts = roster_import.apply_plan(plan, current_user)
        db.session.flush()
    except ServiceError as exc:
        db.session.rollback()
        flash(f"导入“{meta['filename']}”失败，没有导入任何数据：{exc}", "error")
        return redirect(url_for(".import_preview", token=token))
    except IntegrityError:
        db.session.rollback()
        flash(f"导入“{meta['filename']}”时，表中有身份证号刚被别人登记，没有导入任何数据。请重新预览后再确认。", "error")
        return redirect(url_for(".import_preview", token=token))
    audit.record("import", "household", None,
                 f"导入名册“{meta['filename']}”：{counts['rows']} 行，新增 {counts['created']} 人、"
                 f"更新 {counts['updated']} 人，新建 {plan.households_created} 户")
    db.session.commit()
    _discard(token)
    flash(f"已导入“{meta['filename']}”：新增 {counts['created']} 人，更新 {counts['updated']} 人，"
          f"新建 {plan.households_created} 户。", "success")
    return redirect(url_for("households.index"))


@bp.route("/households/import/<token>/cancel", methods=["POST"])
@require("import_ledger")
def import_cancel(token):
    """Drop a previewed roster without importing it: the uploaded file is deleted at once."""
    _, meta = _pending(token)
    _discard(token)
    audit.record("import_cancel", "household", None, f"放弃导入名册“{meta['filename']}”，上传的文件已删除")
    db.session.commit()
    flash(f"已放弃导入“{meta['filename']}”，上传的文件已删除，台账没有任何改动。", "success")
    return redirect(url_for(".import_upload"))


# --- export ---------------------------------------------------------------------

def _export_scope_name(f):
    if f["grid_id"]:
        return get_grid_or_404(current_user, f["grid_id"]).name
    tops = top_grids(current_user)
    if len(tops) == 1:
        return tops[0].name
    return Setting.get("org_name", "") or "全部"


@bp.route("/households/export", methods=["POST"])
@require("export_ledger")
def export():
    """The households of the ledger's current filter as .xlsx (masked unless revealing was asked and allowed)."""
    f = ledger_filters(request.form)
    asked = request.form.get("reveal") == "1"
    reveal = asked and can(current_user, "reveal_id")
    if f["q"]:
        result = search(current_user, f["q"], f["grid_id"], f["category_id"], f["status"],
                                limit=EXPORT_SEARCH_LIMIT)
        ids = list(dict.fromkeys([r.household_id for r in result.residents] + [h.id for h in result.households]))
    else:
        ids = db.session.scalars(ledger_query(current_user, f).with_only_columns(Household.id)).all()
    status = f["status"] if f["status"] in ("active", "moved_out", "deceased") else None
    households = ledger_export.export_households(ids)
    wb = ledger_export.export_workbook(households, reveal, status)
    people = sum(len(ledger_export.members(h, status)) for h in households)
    scope = _export_scope_name(f)
    filters = "，".join(p for p in (f"网格 {scope}", f"搜索“{f['q']}”" if f["q"] else "",
                                    f"类别 {f['category_id']}" if f["category_id"] else "", f"状态 {f['status']}") if p)
    audit.record("export", "household", None,
                 f"导出台账 {len(households)} 户 {people} 人（{filters}），"
                 + ("身份证号完整显示" if reveal else "身份证号已脱敏")
                 + ("；要求完整显示但无权限，已脱敏" if asked and not reveal else ""))
    db.session.commit()
    filename = f"台账-{UNSAFE_NAME.sub('_', scope)}-{local_today().isoformat()}.xlsx"
    return _xlsx_response(wb, filename, f"ledger-{local_today().isoformat()}.xlsx")
