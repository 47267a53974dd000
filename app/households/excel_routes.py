"""The household roster in Excel: the template and the export (the import is import_routes.py)."""
import re

from flask import Blueprint, request
from flask_login import current_user

from ..accounts.permissions import can, require
from ..core import audit
from ..core.models import Setting
from ..grids.scope import get_grid_or_404, top_grids
from ..core.sheets import xlsx_response
from ..core.timeutil import local_today
from ..extensions import db
from . import export as ledger_export
from . import roster_template
from .models import Household
from .routes import ledger_filters, ledger_query
from .search import search

bp = Blueprint("ledger_excel", __name__)

EXPORT_SEARCH_LIMIT = 10_000                   # people a search-filtered export takes at most
UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\s]+')


@bp.route("/households/template.xlsx")
def template():
    """The roster template, with the categories and grids the user may fill in."""
    return xlsx_response(roster_template.template_workbook(current_user), "户籍名册模板.xlsx", "roster-template.xlsx")


# Export

def _export_scope_name(filters):
    if filters["grid_id"]:
        return get_grid_or_404(current_user, filters["grid_id"]).name
    tops = top_grids(current_user)
    if len(tops) == 1:
        return tops[0].name
    return Setting.get("org_name", "") or "全部"


@bp.route("/households/export", methods=["POST"])
@require("export_ledger")
def export():
    """The households of the ledger's current filter as .xlsx (masked unless revealing was asked and allowed)."""
    filters = ledger_filters(request.form)
    asked = request.form.get("reveal") == "1"
    reveal = asked and can(current_user, "reveal_id")
    if filters["q"]:
        result = search(current_user, filters["q"], filters["grid_id"], filters["category_id"], filters["status"],
                                limit=EXPORT_SEARCH_LIMIT)
        ids = list(dict.fromkeys([r.household_id for r in result.residents] + [h.id for h in result.households]))
    else:
        ids = db.session.scalars(ledger_query(current_user, filters).with_only_columns(Household.id)).all()
    status = filters["status"] if filters["status"] in ("active", "moved_out", "deceased") else None
    households = ledger_export.export_households(ids)
    wb = ledger_export.export_workbook(households, reveal, status)
    people = sum(len(ledger_export.members(h, status)) for h in households)
    scope = _export_scope_name(filters)
    described = "，".join(p for p in (f"网格 {scope}", f"搜索“{filters['q']}”" if filters["q"] else "",
                                      f"类别 {filters['category_id']}" if filters["category_id"] else "",
                                      f"状态 {filters['status']}") if p)
    audit.record("export", "household", None,
                 f"导出台账 {len(households)} 户 {people} 人（{described}），"
                 + ("身份证号完整显示" if reveal else "身份证号已脱敏")
                 + ("；要求完整显示但无权限，已脱敏" if asked and not reveal else ""))
    db.session.commit()
    filename = f"台账-{UNSAFE_NAME.sub('_', scope)}-{local_today().isoformat()}.xlsx"
    return xlsx_response(wb, filename, f"ledger-{local_today().isoformat()}.xlsx")
