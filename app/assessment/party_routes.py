"""党员分类积分 screens: the party members of a village ranked by points for a month, quarter or year;
one member's points explained down to the households and meetings behind them; the leaders' entries
(志愿服务, 表彰, 违反纪律) with their reason and evidence."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..accounts.permissions import can, require
from ..core.forms import ServiceError
from ..core.sheets import report_workbook, xlsx_response
from ..core.timeutil import local_today
from ..core.web import render
from ..extensions import db
from ..grids.scope import get_grid_or_404, get_scoped_or_404
from ..households.models import Resident
from . import party, service
from .models import AssessmentItem

bp = Blueprint("party", __name__)


def _period(grid_url):
    try:
        return service.parse_period(request.args.get("period", ""))
    except ServiceError as exc:
        flash(str(exc), "error")
        abort(redirect(grid_url))


@bp.route("/assessment/grids/<int:grid_id>/party-members")
@require("view_assessment")
def ranking(grid_id):
    """The party members under a grid ranked by their points (within a village), with the entry form."""
    grid = get_grid_or_404(current_user, grid_id)
    self_url = url_for("party.ranking", grid_id=grid.id)
    period = _period(self_url)
    scores = party.ranking(grid, period)
    scheme = service.scheme_for(grid, party.KIND)
    return render("assessment/party_ranking.html", grid=grid, period=period, scores=scores, scheme=scheme,
                  entry_items=[it for it in scheme.items if it.kind in ("bonus", "deduction")],
                  may_enter=can(current_user, "score_party_members") and period.kind == "month",
                  choices=service.period_choices(), today=local_today(), self_url=self_url, keep={})


@bp.route("/assessment/grids/<int:grid_id>/party-members.xlsx")
@require("view_assessment")
def export_xlsx(grid_id):
    """The ranking as a village forwards or posts it: title, period, unit, one row per member, the average."""
    grid = get_grid_or_404(current_user, grid_id)
    period = _period(url_for("party.ranking", grid_id=grid.id))
    scores = party.ranking(grid, period)
    scheme = service.scheme_for(grid, party.KIND)
    headers = ["名次", "党员", "所在网格"] + [it.name for it in scheme.items] + ["积分", "等次"]
    rows = [[s.rank or "无记录", s.subject.name, s.subject.place] + [float(ln.score) for ln in s.lines]
            + [float(s.total), s.band] for s in scores]
    title = f"{grid.name}{period.label}党员分类积分"
    totals = None
    if rows:
        totals = ["平均", f"共 {len(rows)} 人", ""] + [round(sum(r[i] for r in rows) / len(rows), 1)
                                                     for i in range(3, len(headers) - 1)] + [""]
    wb = report_workbook(title, [f"期间：{period.label}（{period.start:%Y-%m-%d} 至 {period.end:%Y-%m-%d}）",
                                 f"单位：{grid.name}　　方案：{scheme.name}（第 {scheme.version} 版）　　计分单位：分"],
                         headers, rows, totals, footer=["审核人：　　　　　　　　制表人：　　　　　　　　制表日期："],
                         sheet="党员积分", widths={2: 12, 3: 18})
    return xlsx_response(wb, f"{title}.xlsx", f"party-points-{period.key}.xlsx")


@bp.route("/assessment/party-members/<int:resident_id>")
@require("view_assessment")
def member(resident_id):
    """One party member's points, every item explained down to the records and entries behind it."""
    resident = get_scoped_or_404(current_user, Resident, resident_id, grids_of=lambda r: (r.household.grid,))
    self_url = url_for("party.member", resident_id=resident.id)
    period = _period(self_url)
    if not resident.is_party_member:
        abort(404)
    (score,) = party.compute([party.member_subject(resident)], period)
    return render("assessment/party_member.html", resident=resident, score=score, period=period,
                  village=party.village_of(resident.household.grid),
                  choices=service.period_choices(), today=local_today(), self_url=self_url, keep={})


@bp.route("/assessment/grids/<int:grid_id>/party-members/entries", methods=["POST"])
@require("score_party_members")
def enter(grid_id):
    """A leader's entry for a party member in a month (志愿服务, 表彰, 违反纪律) with reason and evidence."""
    grid = get_grid_or_404(current_user, grid_id)
    form = request.form
    back = url_for("party.ranking", grid_id=grid.id, period=form.get("period", ""))
    try:
        period = service.parse_period(form.get("period", ""))
        resident_id = form.get("subject_id", type=int)
        subject = next((s for s in party.members_in(grid) if s.id == resident_id), None)
        item = db.session.get(AssessmentItem, form.get("item_id", type=int) or 0)
        if subject is None or item is None or item.scheme_id != service.scheme_for(subject.home, party.KIND).id:
            abort(404)
        upload = request.files.get("evidence")
        evidence = (upload.filename, upload.read()) if upload and upload.filename else None
        service.enter_manual(current_user, subject, item, period, _points(form.get("points", ""), item),
                             form.get("reason", ""), evidence)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    db.session.commit()
    flash(f"已为{subject.name}登记“{item.name}”。", "success")
    return redirect(back)


def _points(text, item):
    """The typed points, or the item's points per entry when left empty."""
    from decimal import Decimal, InvalidOperation

    text = (text or "").strip()
    if not text:
        if item.unit_points:
            return Decimal(item.unit_points)
        raise ServiceError(f"请填写“{item.name}”的分值。", "points")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ServiceError(f"“{item.name}”的分值“{text[:20]}”不是数字。", "points") from None
    if not value.is_finite():
        raise ServiceError(f"“{item.name}”的分值“{text[:20]}”不是数字。", "points")
    return value
