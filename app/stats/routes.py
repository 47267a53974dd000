"""Statistics pages of a grid for a period, the leader's dashboard, and their Excel and PDF."""
from types import SimpleNamespace

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user

from ..accounts.permissions import require
from ..core import pdf
from ..core.sheets import report_workbook, xlsx_response
from ..core.timeutil import fmt_local, local_today
from ..core.web import render, value_or_back
from ..grids.scope import can_see_grid, chosen_grid_or_404, get_grid_or_404
from ..visits.charts import bar_chart
from . import charts, service, tables

bp = Blueprint("stats", __name__)

PAGES = {"cases": "事件统计", "work": "工作统计", "buildout": "网格建设检查"}


def _period():
    """The period asked for (``period``, or ``from`` and ``to``); a wrong one is refused in words and
    the page opens on this month."""
    return value_or_back(lambda: service.parse_period(request.args.get("period", ""), request.args.get("from", ""),
                                                      request.args.get("to", "")),
                         lambda: url_for(request.endpoint, **request.view_args))


def _grid_url(page, period):
    return lambda gid: url_for("stats.page", grid_id=gid, page=page, **period.query())


SHOWN_FINDINGS = 200  # per check on the page and the PDF; the Excel file lists them all


def _report(grid, page, period, limit=None):
    """The page's title lines and tables (the same for the page, Excel and PDF)."""
    title = f"{grid.name}{period.label}{PAGES[page]}"
    lines = [f"统计期间：{period.label}（{period.span}）" if period.kind != "range" else f"统计期间：{period.span}",
             f"统计单位：{grid.name}"]
    if period.running(local_today()) and page != "buildout":
        lines.append("本期尚未结束，数字截至今天。")
    if page == "cases":
        stats = service.case_stats(grid, period, grid_url=_grid_url("cases", period))
        lines.append(tables.UNITS_CASES)
        return tables.Report(title, lines, tables.case_tables(stats))
    if page == "work":
        rows, total = service.work_figures(grid, period, grid_url=_grid_url("work", period))
        lines.append(tables.UNITS_WORK)
        return tables.Report(title, lines, [tables.work_table(rows, total)])
    title = f"{grid.name}{PAGES[page]}（{local_today():%Y-%m-%d}）"
    checks = service.buildout(grid)
    lines = [f"检查日期：{local_today():%Y-%m-%d}", f"统计单位：{grid.name}",
             "依据：篇二、篇四的网格建设要求（网格长、网格员、服务团队、网格规模、联系户数、公示牌、责任状）"]
    return tables.Report(title, lines, tables.buildout_tables(
        checks, lambda gid: url_for("grids.show", grid_id=gid), limit))


def _load(grid_id, page, whole=False):
    """The grid (through the scope), the period asked for and the page's report (``whole``: every
    build-out finding, for Excel)."""
    grid = get_grid_or_404(current_user, grid_id)
    period = _period() if page != "buildout" else service.period_of("month", local_today())
    return grid, period, _report(grid, page, period, None if whole else SHOWN_FINDINGS)


@bp.route("/stats/")
@require("view_stats")
def index():
    """The dashboard of the user's (first) grid."""
    return redirect(url_for("stats.dashboard", grid_id=chosen_grid_or_404(current_user, None).id))


@bp.route("/stats/grids/<int:grid_id>/<any(cases, work, buildout):page>")
@require("view_stats")
def page(grid_id, page):
    """A statistics page of a grid's subtree for a period; each grid in it links to its own figures."""
    grid, period, report = _load(grid_id, page)
    return render("stats/page.html", grid=grid, page=page, pages=PAGES, period=period, report=report,
                  choices=service.period_choices(), today=local_today(), up=_up(grid))


@bp.route("/stats/grids/<int:grid_id>/<any(cases, work, buildout):page>.xlsx")
@require("view_stats")
def export_xlsx(grid_id, page):
    """The page as a township forwards it: title, period, unit, one sheet per table with its totals row."""
    grid, period, report = _load(grid_id, page, whole=True)
    wb = _workbook(report.title, report.lines, report.tables,
                   footer=["审核人：　　　　　　　　制表人：　　　　　　　　制表日期："])
    return xlsx_response(wb, f"{report.title}.xlsx", f"stats-{page}.xlsx")


@bp.route("/stats/grids/<int:grid_id>/<any(cases, work, buildout):page>.pdf")
@require("view_stats")
def export_pdf(grid_id, page):
    """The page printed: A4 landscape, the tables with their totals and the signature lines."""
    grid, period, report = _load(grid_id, page)
    doc = pdf.render_pdf("print/stats.html", title=report.title, header=f"{grid.name} · {PAGES[page]}",
                         report=report, grid=grid, today=local_today(), plain=tables.plain,
                         landscape=page == "work")
    return pdf.pdf_response(doc, f"{report.title}.pdf")


def _workbook(title, lines, report_tables, footer=()):
    """One sheet per table, each with the title, the lines, the table's heading and its totals row."""
    wb = None
    for t in report_tables:
        rows = [[tables.plain(v) for v in r] for r in t.rows]
        totals = [tables.plain(v) for v in t.totals] if t.totals else None
        wb = report_workbook(title, lines + [t.heading], t.headers, rows, totals, footer=footer, sheet=t.heading,
                             widths={1: 18}, into=wb)
    return wb


def _dashboard(grid):
    today = local_today()
    data = service.dashboard(grid, today)
    months = [f"{m.start.month}月" for m, _ in data["trends"]]
    counts = [c for _, c in data["trends"]]
    trend_cases = charts.column_chart("近 12 个月事件受理与办结", months, [
        ("受理", "col-a", [c["received"] for c in counts]), ("办结", "col-b", [c["closed"] for c in counts])])
    trend_work = charts.column_chart("近 12 个月走访与巡查记录", months, [
        ("走访", "col-a", [c["visits"] for c in counts]), ("巡查", "col-b", [c["patrols"] for c in counts])])

    coverage = bar_chart([SimpleNamespace(label=r.label, percent=round(r.pct("visits") or 0), visited=r.pair("visits")[1],
                                          total=r.pair("visits")[0],
                                          url=url_for("stats.page", grid_id=r.key, page="work") if r.key else "")
                          for r in data["work_rows"]], f"{data['month'].label}各网格走访覆盖率")
    return dict(data, trend_cases=trend_cases, trend_work=trend_work, coverage=coverage, today=today, grid=grid,
                title=f"{grid.name}{data['month'].label}网格工作概况")


def _up(grid):
    """The grid above, when the user may see its figures too (the breadcrumb's link)."""
    return grid.parent if grid.parent is not None and can_see_grid(current_user, grid.parent) else None


def _dashboard_of(grid_id):
    """The dashboard's context for a grid of the user's scope."""
    return _dashboard(get_grid_or_404(current_user, grid_id))


@bp.route("/stats/grids/<int:grid_id>/dashboard")
@require("view_stats")
def dashboard(grid_id):
    """The leader's dashboard: this month's figures, the last 12 months, the grids that need attention."""
    ctx = _dashboard_of(grid_id)
    return render("stats/dashboard.html", pages=PAGES, up=_up(ctx["grid"]), **ctx)


@bp.route("/stats/grids/<int:grid_id>/dashboard.xlsx")
@require("view_stats")
def dashboard_xlsx(grid_id):
    """The dashboard's figures as sheets: this month, the last 12 months with totals, the grids to watch."""
    ctx = _dashboard_of(grid_id)
    lines = [f"统计单位：{ctx['grid'].name}", f"数字截至：{fmt_local(ctx['made_at'])}"]
    return xlsx_response(_workbook(ctx["title"], lines, tables.dashboard_tables(ctx)), f"{ctx['title']}.xlsx",
                         "dashboard.xlsx")


@bp.route("/stats/grids/<int:grid_id>/dashboard.pdf")
@require("view_stats")
def dashboard_pdf(grid_id):
    """The dashboard on one A4 page (the charts as drawn on screen)."""
    ctx = _dashboard_of(grid_id)
    doc = pdf.render_pdf("print/stats_dashboard.html", header=f"{ctx['grid'].name} · {ctx['month'].label}", **ctx)
    return pdf.pdf_response(doc, f"{ctx['title']}.pdf")
