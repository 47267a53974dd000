"""党员分类积分 and the service team's 应知应会 screens: the party (or team) members of a village ranked
by points for a month, quarter or year; one member's points explained down to the households and
meetings behind them; the leaders' entries (志愿服务, 应知应会, 表彰, 扣分) with their reason and evidence."""
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..accounts.permissions import can, require
from ..core.forms import ServiceError
from ..core.sheets import report_workbook, xlsx_response
from ..core.timeutil import local_today
from ..core import pdf
from ..core.web import render
from ..extensions import db
from ..grids.models import GridStaff
from ..grids.scope import get_grid_or_404, get_scoped_or_404
from ..households.models import Resident
from . import party, service
from .models import ITEM_KINDS, AssessmentItem
from .routes import ranking_context, ranking_table, render_report_pdf, with_frozen

bp = Blueprint("party", __name__)


def _period(grid_url):
    try:
        return service.parse_period(request.args.get("period", ""))
    except ServiceError as exc:
        flash(str(exc), "error")
        abort(redirect(grid_url))


# The two kinds of people scored by counting records: the URL's word for each, and its title.
PEOPLE = {"party-members": party.KIND, "team-members": party.TEAM}
TITLES = {party.KIND: "党员分类积分", party.TEAM: "服务团队应知应会考核"}


def _kind_of(people):
    if people not in PEOPLE:
        abort(404)
    return PEOPLE[people]


@bp.route("/assessment/grids/<int:grid_id>/<any('party-members', 'team-members'):people>")
@require("view_assessment")
def ranking(grid_id, people):
    """The party (or service-team) members under a grid ranked by their points, with the entry form."""
    grid, kind = get_grid_or_404(current_user, grid_id), _kind_of(people)
    self_url = url_for("party.ranking", grid_id=grid.id, people=people)
    period = _period(self_url)
    ctx = ranking_context(grid, kind, period)
    scheme = service.scheme_for(grid, kind)
    return render("assessment/party_ranking.html", grid=grid, period=period, scheme=scheme,
                  kind=kind, people=people, noun=party.NOUNS[kind], title=TITLES[kind], item_kinds=ITEM_KINDS,
                  entry_items=[it for it in scheme.items if it.kind in ("manual", "bonus", "deduction")],
                  may_enter=(can(current_user, "score_party_members") and period.kind == "month"
                             and ctx["frozen"] is None and not _frozen_above(grid, kind, period)),
                  choices=service.period_choices(), today=local_today(), self_url=self_url, keep={}, **ctx)


def _frozen_above(grid, kind, period):
    """Whether the quarter or the year holding a month is published (no more entries for it)."""
    return any(service.frozen_for(grid, kind, service.period_of(k, period.start)) is not None
               for k in ("quarter", "year"))


@bp.route("/assessment/grids/<int:grid_id>/<any('party-members', 'team-members'):people>.xlsx")
@require("view_assessment")
def export_xlsx(grid_id, people):
    """The ranking as a village forwards or posts it: title, period, unit, one row per member, the average."""
    grid, kind = get_grid_or_404(current_user, grid_id), _kind_of(people)
    period = _period(url_for("party.ranking", grid_id=grid.id, people=people))
    headers, rows, frozen, _ = ranking_table(grid, kind, period)
    title = f"{grid.name}{period.label}{TITLES[kind]}"
    totals = None
    if rows:
        totals = ["平均", f"共 {len(rows)} 人", ""] + [round(sum(r[i] for r in rows) / len(rows), 1)
                                                     for i in range(3, len(headers) - 1)] + [""]
    if frozen is not None:
        version = f"方案：{frozen.snapshot['scheme']['name']}（第 {frozen.scheme_version} 版）　　状态：已于 {frozen.frozen_at:%Y-%m-%d} 发布"
    else:
        scheme = service.scheme_for(grid, kind)
        version = f"方案：{scheme.name}（第 {scheme.version} 版）　　状态：未发布（按当前记录计算）"
    wb = report_workbook(title, [f"期间：{period.label}（{period.start:%Y-%m-%d} 至 {period.end:%Y-%m-%d}）",
                                 f"单位：{grid.name}　　{version}　　计分单位：分"],
                         headers, rows, totals, footer=["审核人：　　　　　　　　制表人：　　　　　　　　制表日期："],
                         sheet=TITLES[kind][:31], widths={2: 12, 3: 18})
    return xlsx_response(wb, f"{title}.xlsx", f"{people}-{period.key}.xlsx")


@bp.route("/assessment/grids/<int:grid_id>/<any('party-members', 'team-members'):people>.pdf")
@require("view_assessment")
def report_pdf(grid_id, people):
    """The ranking printed as a village or township posts it: A4 landscape, title, period, unit, the
    table with its 等次, the signature lines (the published figures once the period is published)."""
    grid, kind = get_grid_or_404(current_user, grid_id), _kind_of(people)
    period = _period(url_for("party.ranking", grid_id=grid.id, people=people))
    title = f"{grid.name}{period.label}{TITLES[kind]}通报"
    return pdf.pdf_response(render_report_pdf(grid, kind, period, title=title), f"{title}.pdf")


@bp.route("/assessment/party-members/<int:resident_id>")
@require("view_assessment")
def member(resident_id):
    """One party member's points, every item explained down to the records and entries behind it."""
    resident = get_scoped_or_404(current_user, Resident, resident_id, grids_of=lambda r: (r.household.grid,))
    if not resident.is_party_member:
        abort(404)
    return _person(party.member_subject(resident), resident.household.grid, "party-members",
                   url_for("party.member", resident_id=resident.id), resident.political_status)


@bp.route("/assessment/team-members/<int:staff_id>")
@require("view_assessment")
def team_member(staff_id):
    """One service-team member's points (meetings attended, the leaders' check), explained."""
    staff = get_scoped_or_404(current_user, GridStaff, staff_id)
    if staff.role != "team_member":
        abort(404)
    return _person(party.staff_subject(staff), staff.grid, "team-members",
                   url_for("party.team_member", staff_id=staff.id), staff.duty or "服务团队成员")


def _person(subject, grid, people, self_url, what):
    period = _period(self_url)
    (score,) = party.compute([subject], period)
    return render("assessment/party_member.html", subject=subject, what=what, score=score, period=period,
                  published=with_frozen(score, grid, period),
                  village=party.village_of(grid), people=people, title=TITLES[subject.kind],
                  choices=service.period_choices(), today=local_today(), self_url=self_url, keep={})


@bp.route("/assessment/grids/<int:grid_id>/<any('party-members', 'team-members'):people>/entries", methods=["POST"])
@require("score_party_members")
def enter(grid_id, people):
    """A leader's entry for a party or team member in a month (志愿服务, 应知应会, 表彰, 扣分) with reason
    and evidence."""
    grid, kind = get_grid_or_404(current_user, grid_id), _kind_of(people)
    form = request.form
    back = url_for("party.ranking", grid_id=grid.id, people=people, period=form.get("period", ""))
    try:
        period = service.parse_period(form.get("period", ""))
        subject_id = form.get("subject_id", type=int)
        subject = next((s for s in party.members_in(grid, kind) if s.id == subject_id), None)
        item = db.session.get(AssessmentItem, form.get("item_id", type=int) or 0)
        if subject is None or item is None or item.scheme_id != service.scheme_for(subject.home, kind).id:
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
