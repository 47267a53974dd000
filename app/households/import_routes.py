"""Importing a roster from the browser: upload → preview (map columns and groups, see every problem)
→ confirm, all or nothing; the problems download as the clerk's own file, marked."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..accounts.permissions import require
from ..core.imports import ImportSteps, pending_or_404, read_or_drop, upload_page
from ..core.sheets import error_groups, rows_text
from ..core.web import render
from ..extensions import db
from . import roster_import, roster_store
from ..grids.villages import default_village, leaf_choices, village_choices, visible_village
from .roster_import import FIELD_BY_KEY

bp = Blueprint("roster_import", __name__)

def _pending(token):
    return pending_or_404(token, roster_store.KIND)


def _read(upload, data):
    return roster_import.read_roster(data, current_user, roster_store.options_for(upload, current_user),
                                     filename=upload.filename)


@bp.route("/households/import", methods=["GET", "POST"])
@require("import_ledger")
def import_upload():
    """Upload a roster in the template or the village's own layout; it is checked and shown before anything is written."""
    return upload_page(roster_store.KIND, "households/import.html", "名册所属的村", "不指定（按表中的所属网格路径）",
                       default_village(current_user), lambda: village_choices(current_user),
                       lambda village_id: visible_village(current_user, village_id))


@bp.route("/households/import/<token>")
@require("import_ledger")
def import_preview(token):
    """The columns as read (and the mapping to change), 所属组 values to map, every problem, what the import will do."""
    upload, data = _pending(token)
    plan, refused = read_or_drop(upload, data, _read, url_for(".import_upload"))
    if refused:
        return refused
    village = plan.village
    return render("households/import_preview.html", plan=plan, token=token, filename=upload.filename,
                  error_groups=error_groups(plan), rows_text=rows_text,
                  fields=roster_store.field_choices(), field_label=lambda k: FIELD_BY_KEY[k].label if k else "不导入",
                  leaves=leaf_choices(village) if village is not None and plan.table.columns else [],
                  mapping_name=upload.decided.get("mapping_name") or (f"{village.name}名册" if village else ""),
                  columns_open=bool(plan.mapping and plan.mapping.ambiguous) or any(e[1] == "表头" for e in plan.errors),
                  columns_url=url_for(".import_columns", token=token))


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
    leaves = {gid for gid, _ in leaf_choices(plan.village)}
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


ImportSteps("/households/import", roster_store.KIND, require("import_ledger"), _read,
            lambda plan: roster_import.apply_plan(plan, current_user), "household", "名册",
            lambda plan, counts: roster_store.counts_text(counts), "households.index", "roster-errors.xlsx",
            "已放弃导入“{filename}”，上传的文件已删除，台账没有任何改动。").register(bp)
