"""Importing a roster from the browser: upload → preview (map columns and groups, see every problem)
→ confirm, all or nothing; the problems download as the clerk's own file, marked."""
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.exc import IntegrityError
from wtforms import SelectField

from ..accounts.permissions import require
from ..core import audit
from ..core.forms import Form, ServiceError
from ..core.imports import discard_upload, load_upload, save_upload
from ..core.sheets import extension, marked_workbook
from ..core.web import render
from ..extensions import db
from . import roster_import, roster_store
from .excel_routes import xlsx_response
from .roster_import import FIELD_BY_KEY

bp = Blueprint("roster_import", __name__)

ACCEPT = ".xlsx,.xls,.csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,application/vnd.ms-excel,text/csv"


class ImportForm(Form):
    file = FileField("名册文件（.xlsx、.xls 或 .csv）", validators=[FileRequired("请选择要上传的名册文件。")],
                     render_kw={"accept": ACCEPT})
    village_id = SelectField("名册所属的村", coerce=int, default=0)


def _pending(token):
    """(PendingUpload, file bytes) of the current user's upload, or 404 (also for anybody else's)."""
    found = load_upload(token, current_user, roster_store.KIND)
    if found is None:
        abort(404)
    return found


def _read(upload, data):
    return roster_import.read_roster(data, current_user, roster_store.options_for(upload, current_user),
                                     filename=upload.filename)


@bp.route("/households/import", methods=["GET", "POST"])
@require("import_ledger")
def import_upload():
    """Upload a roster in the template or the village's own layout; it is checked and shown before anything is written."""
    form = ImportForm()
    default = roster_store.default_village(current_user)
    choices = [] if default is not None else roster_store.village_choices(current_user)
    form.village_id.choices = [(0, "不指定（按表中的所属网格路径）")] + choices
    if form.validate_on_submit():
        upload = form.file.data
        name = Path(upload.filename or "").name
        village = default or roster_store.visible_village(current_user, form.village_id.data)
        if extension(name) is None:
            form.file.errors.append(f"只能上传 Excel（.xlsx、.xls）或 CSV 文件，“{name}”不是。WPS 的 .et 文件"
                                    "请先“另存为 Excel 工作簿（.xlsx）”。")
        else:
            data = upload.read()
            try:
                roster_import.read_roster(data, current_user, roster_import.ImportOptions(village=village), filename=name)
            except ServiceError as exc:
                form.file.errors.append(f"“{name}”：{exc}")
            else:
                pending = save_upload(data, current_user, roster_store.KIND, name, village)
                db.session.commit()
                return redirect(url_for(".import_preview", token=pending.token))
    return render("households/import.html", form=form, village=default)


@bp.route("/households/import/<token>")
@require("import_ledger")
def import_preview(token):
    """The columns as read (and the mapping to change), 所属组 values to map, every problem, what the import will do."""
    upload, data = _pending(token)
    try:
        plan = _read(upload, data)
    except ServiceError as exc:
        discard_upload(upload)
        db.session.commit()
        flash(f"“{upload.filename}”：{exc}", "error")
        return redirect(url_for(".import_upload"))
    village = plan.village
    return render("households/import_preview.html", plan=plan, token=token, filename=upload.filename,
                  error_groups=roster_import.error_groups(plan), rows_text=roster_import.rows_text,
                  fields=roster_store.field_choices(), field_label=lambda k: FIELD_BY_KEY[k].label if k else "不导入",
                  leaves=roster_store.leaf_choices(village) if village is not None and plan.table.columns else [],
                  mapping_name=upload.decided.get("mapping_name") or (f"{village.name}名册" if village else ""),
                  columns_open=bool(plan.mapping and plan.mapping.ambiguous) or any(e[1] == "表头" for e in plan.errors))


@bp.route("/households/import/<token>/columns", methods=["POST"])
@require("import_ledger")
def import_columns(token):
    """The clerk's column mapping for this file, remembered for the village under a name."""
    upload, data = _pending(token)
    plan = _read(upload, data)
    valid = set(FIELD_BY_KEY) | {""}
    columns = {}
    for col in plan.table.columns:
        value = request.form.get(f"col_{col.index}")
        if value is not None and value in valid:
            columns[str(col.index)] = value
    name = (request.form.get("mapping_name") or "").strip()[:60]
    upload.decide(columns=columns, **({"mapping_name": name} if name else {}))
    plan = _read(upload, data)
    if name and plan.village is not None:
        roster_store.remember(plan, name)
    db.session.commit()
    flash("已按您的选择重新检查。" + (f"这个村下次上传同样格式的名册会自动按“{name}”对应。" if name and plan.village else ""),
          "success")
    return redirect(url_for(".import_preview", token=token))


@bp.route("/households/import/<token>/groups", methods=["POST"])
@require("import_ledger")
def import_groups(token):
    """What to do with 所属组 values no grid has: an existing grid of the village, or a new 村民小组."""
    upload, data = _pending(token)
    plan = _read(upload, data)
    if plan.village is None:
        abort(404)
    leaves = {gid for gid, _ in roster_store.leaf_choices(plan.village)}
    decided = dict(upload.decided.get("groups", {}))
    for key in list(plan.groups) + list(plan.new_groups):
        value = request.form.get(f"group_{key}", "")
        if value == "new":
            decided[key] = "new"
        elif value.isdigit() and int(value) in leaves:
            decided[key] = int(value)
    upload.decide(groups=decided)
    name = upload.decided.get("mapping_name") or f"{plan.village.name}名册"
    roster_store.remember_groups(plan.village, name, decided)
    db.session.commit()
    flash("已记下所属组的对应，并重新检查。", "success")
    return redirect(url_for(".import_preview", token=token))


@bp.route("/households/import/<token>/errors.xlsx")
@require("import_ledger")
def import_errors(token):
    """The clerk's own file with a 错误说明 column and the bad cells marked, to fix in place and upload again."""
    upload, data = _pending(token)
    plan = _read(upload, data)
    wb = marked_workbook(data, plan.table, plan.marks)
    stem = Path(upload.filename).stem
    return xlsx_response(wb, f"{stem}-错误说明.xlsx", "roster-errors.xlsx")


@bp.route("/households/import/<token>/confirm", methods=["POST"])
@require("import_ledger")
def import_confirm(token):
    """Import the previewed roster, all or nothing (checked once more: the ledger may have changed)."""
    upload, data = _pending(token)
    filename = upload.filename
    try:
        plan = _read(upload, data)
        if plan.errors:
            flash(f"“{filename}”还有 {len(plan.errors)} 处错误，没有导入。请改正后重新上传。", "error")
            return redirect(url_for(".import_preview", token=token))
        if plan.changes_nothing:
            discard_upload(upload)
            db.session.commit()
            flash(f"“{filename}”与台账完全一致，没有需要导入的改动。", "success")
            return redirect(url_for("households.index"))
        counts = roster_import.apply_plan(plan, current_user)
        db.session.flush()
    except ServiceError as exc:
        db.session.rollback()
        flash(f"导入“{filename}”失败，没有导入任何数据：{exc}", "error")
        return redirect(url_for(".import_preview", token=token))
    except IntegrityError:
        db.session.rollback()
        flash(f"导入“{filename}”时，表中有身份证号刚被别人登记，没有导入任何数据。请重新预览后再确认。", "error")
        return redirect(url_for(".import_preview", token=token))
    audit.record("import", "household", None, f"导入名册“{filename}”：{plan.rows} 行，{roster_store.counts_text(counts)}")
    discard_upload(upload)
    db.session.commit()
    flash(f"已导入“{filename}”：{roster_store.counts_text(counts)}。", "success")
    return redirect(url_for("households.index"))


@bp.route("/households/import/<token>/cancel", methods=["POST"])
@require("import_ledger")
def import_cancel(token):
    """Drop a previewed roster without importing it: the uploaded file is deleted at once."""
    upload, _ = _pending(token)
    filename = upload.filename
    discard_upload(upload)
    audit.record("import_cancel", "household", None, f"放弃导入名册“{filename}”，上传的文件已删除")
    db.session.commit()
    flash(f"已放弃导入“{filename}”，上传的文件已删除，台账没有任何改动。", "success")
    return redirect(url_for(".import_upload"))
