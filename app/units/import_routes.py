"""Importing the unit register from the browser: upload → preview (columns, every problem) → confirm."""

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from ..accounts.permissions import require
from ..core.imports import (ImportSteps, mappings_for, pending_or_404, read_or_drop, remember_mapping,
                            upload_page)
from ..core.sheets import error_groups, header_key, rows_text
from ..core.web import render
from ..extensions import db
from ..grids.villages import default_village, village_choices, visible_village
from . import unit_import

bp = Blueprint("unit_import", __name__)
KIND = "units"


def _pending(token):
    return pending_or_404(token, KIND)


def _read(upload, data):
    village = visible_village(current_user, upload.village_id)
    remembered = mappings_for([village.id], KIND)[0].column_map if village and mappings_for([village.id], KIND) else {}
    columns = {int(k): v for k, v in upload.decided.get("columns", {}).items()}
    return unit_import.read_units(data, current_user, village, columns, remembered, filename=upload.filename)


@bp.route("/units/import", methods=["GET", "POST"])
@require("import_ledger")
def import_upload():
    """Upload a unit register (生产经营单位台账) in the village's own layout."""
    return upload_page(KIND, "units/import.html", "台账所属的村", "不指定（按表中的所属网格）",
                       default_village(current_user), lambda: village_choices(current_user),
                       lambda village_id: visible_village(current_user, village_id),
                       file_label="单位台账文件（.xlsx、.xls 或 .csv）")


@bp.route("/units/import/<token>")
@require("import_ledger")
def import_preview(token):
    """The columns as read, every problem, what the import will do."""
    upload, data = _pending(token)
    plan, refused = read_or_drop(upload, data, _read, url_for(".import_upload"))
    if refused:
        return refused
    return render("units/import_preview.html", plan=plan, token=token, filename=upload.filename,
                  error_groups=error_groups(plan), rows_text=rows_text,
                  fields=[("", "不导入")] + [(f.key, f.label) for f in unit_import.FIELDS],
                  mapping_name=f"{plan.village.name}单位台账" if plan.village else "",
                  columns_open=any(e[1] == "表头" for e in plan.errors) or bool(plan.mapping.ambiguous),
                  columns_url=url_for(".import_columns", token=token))


@bp.route("/units/import/<token>/columns", methods=["POST"])
@require("import_ledger")
def import_columns(token):
    """The clerk's column mapping, remembered for the village."""
    upload, data = _pending(token)
    plan = _read(upload, data)
    valid = set(unit_import.FIELD_BY_KEY) | {""}
    columns = {str(c.index): request.form[f"col_{c.index}"] for c in plan.table.columns
               if request.form.get(f"col_{c.index}") in valid}
    upload.decide(columns=columns)
    name = (request.form.get("mapping_name") or "").strip()[:60]
    plan = _read(upload, data)
    if name and plan.village is not None:
        remember_mapping(plan.village, KIND, name, {header_key(c.title): plan.mapping.by_column.get(c.index, "")
                                                    for c in plan.table.columns}, {})
    db.session.commit()
    flash("已按您的选择重新检查。", "success")
    return redirect(url_for(".import_preview", token=token))


ImportSteps("/units/import", KIND, require("import_ledger"), _read,
            lambda plan: unit_import.apply_units(plan, current_user), "unit", "单位台账",
            lambda plan, c: f"新增 {c['created']} 个单位，更新 {c['updated']} 个，{c['unchanged']} 个无变化",
            "units.index", "units-errors.xlsx", "已放弃导入“{filename}”，上传的文件已删除。").register(bp)
