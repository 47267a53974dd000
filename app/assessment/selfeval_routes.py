"""季度自评 screens: what waits for one's rating, a grid's quarter (fill in, submit, rate, return),
its print (PDF) and its Excel sheet. Who may take which step is the workflow table's business
(app/assessment/selfeval.py); every page loads the grid through the user's scope."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..core import pdf
from ..core.forms import ServiceError
from ..core.sheets import report_workbook, xlsx_response
from ..core.timeutil import local_today
from ..core.web import render, value_or_back
from ..extensions import db
from ..grids.scope import get_grid_or_404
from . import selfeval, service
from .models import SELF_EVAL_STATES

bp = Blueprint("self_eval", __name__)


def _quarter(text=None):
    """The quarter asked for (empty: this quarter); anything else is refused in words."""
    text = request.args.get("period", "") if text is None else text
    return value_or_back(lambda: _read_quarter(text), lambda: url_for("self_eval.show",
                                                                     grid_id=request.view_args["grid_id"]))


def _read_quarter(text):
    period = service.parse_period(text) if text else service.period_of("quarter", local_today())
    if period.kind != "quarter":
        raise ServiceError(f"季度自评按季度填写，请选择季度（例如 {local_today().year}-Q1），不能选“{period.label}”。")
    return period


def _quarter_choices(today=None, back=8):
    today = today or local_today()
    out, q = [], service.period_of("quarter", today)
    for _ in range(back):
        out.append((q.key, q.label))
        q = q.previous()
    return out


def _grid(grid_id):
    grid = get_grid_or_404(current_user, grid_id)
    if selfeval.rater_grid(grid) is None:
        abort(404)
    return grid


RECENT_QUARTERS = 4  # how many quarters of the user's own grids the list shows


@bp.route("/assessment/self-evaluations")
def index():
    """What waits for the user's rating, the user's own grids this quarter, and the rated results in scope."""
    quarters = [service.period_of("quarter", local_today())]
    while len(quarters) < RECENT_QUARTERS:
        quarters.append(quarters[-1].previous())
    grids = selfeval.own_grids(current_user)
    found = selfeval.of_quarters(grids, quarters)
    own = [(g, [(q, found.get((g.id, q.start))) for q in quarters]) for g in grids]
    state = request.args.get("state", "")
    if state and state not in SELF_EVAL_STATES:
        abort(404)
    return render("assessment/self_evals.html", waiting=selfeval.listing(current_user, waiting_for=current_user),
                  own=own, quarters=quarters, rows=selfeval.listing(current_user, state=state or None)[:200],
                  state=state, states=SELF_EVAL_STATES)


def _page(grid, period, ev, status=None, error=None, typed=None):
    proposed = None
    if ev is None:
        scheme, figures = selfeval.proposals(grid, period)
        proposed = [(it, figures.get(it.id)) for it in scheme.items]
    return render("assessment/self_eval.html", status=status, grid=grid, period=period, ev=ev, proposed=proposed,
                  actions=selfeval.available(current_user, ev) if ev is not None else [],
                  may_start=ev is None and selfeval.may_start(current_user, grid),
                  rater=selfeval.rater_grid(grid), error=error, typed=typed or {}, choices=_quarter_choices(),
                  today=local_today(), self_url=url_for("self_eval.show", grid_id=grid.id), keep={})


@bp.route("/assessment/grids/<int:grid_id>/self-evaluation")
def show(grid_id):
    """A grid's self-evaluation for a quarter, with the steps the user may take."""
    grid = _grid(grid_id)
    period = _quarter()
    return _page(grid, period, selfeval.find(grid, period))


@bp.route("/assessment/grids/<int:grid_id>/self-evaluation/start", methods=["POST"])
def start(grid_id):
    """Open the quarter's self-evaluation as a draft with the scores the records propose."""
    grid = _grid(grid_id)
    period = _quarter(request.form.get("period", ""))
    if selfeval.find(grid, period) is None:  # a repeated request finds the draft made by the first
        try:
            selfeval.start(current_user, grid, period)
        except ServiceError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("self_eval.show", grid_id=grid.id, period=period.key))
        db.session.commit()
        flash(f"已开始填写{period.label}自评，系统按记录测算的得分已列出，请逐项填写自评分和说明。", "success")
    return redirect(url_for("self_eval.show", grid_id=grid.id, period=period.key))


@bp.route("/assessment/grids/<int:grid_id>/self-evaluation", methods=["POST"])
def act(grid_id):
    """Take one step: save the draft, submit, rate, or return with a reason."""
    grid = _grid(grid_id)
    period = _quarter(request.form.get("period", ""))
    ev = selfeval.find(grid, period)
    if ev is None:
        abort(404)
    key = request.form.get("action", "")
    prefix = "rate" if key == "rate" else "self"
    summary_field = "rating_summary" if key == "rate" else "summary"
    try:
        selfeval.act(current_user, ev, key, request.form.get("version", type=int),
                     note=request.form.get("note", ""), typed=selfeval.typed_from(request.form, ev, prefix),
                     summary=request.form.get(summary_field))
    except ServiceError as exc:
        db.session.rollback()
        ev = selfeval.find(grid, period)
        if key not in selfeval.SELF_EVALS.actions:
            abort(400)
        return _page(grid, period, ev, status=422, error=str(exc), typed=request.form)
    db.session.commit()
    flash({"save": "草稿已保存。", "submit": "自评已提交，等待上级评定。", "rate": "评定结果已保存并上报。",
           "return": "已退回，网格可以修改后重新提交。"}[key], "success")
    return redirect(url_for("self_eval.show", grid_id=grid.id, period=period.key))


def _doc_title(grid, period):
    return f"{grid.name}{period.label}网格运行情况自评表"


def _table(ev):
    headers = ["序号", "考核项", "计分方式", "分值", "系统测算", "自评分", "自评说明", "评定分", "评定意见"]
    rows = [[ln.seq, ln.name, ln.kind_name, ln.points, _num(ln.proposed), _num(ln.self_score), ln.self_comment,
             _num(ln.rated_score), ln.rated_comment] for ln in ev.lines]
    totals = ["合计", "", "", sum(ln.points for ln in ev.lines if ln.kind in ("auto", "manual")),
              _num(sum((ln.proposed or 0) for ln in ev.lines)), _num(ev.self_total), "", _num(ev.rated_total), ""]
    return headers, rows, totals


def _num(value):
    return "" if value is None else float(value)


def _found(grid_id):
    grid = _grid(grid_id)
    period = _quarter()
    ev = selfeval.find(grid, period)
    if ev is None:
        abort(404)
    return grid, period, ev


@bp.route("/assessment/grids/<int:grid_id>/self-evaluation.pdf")
def pdf_doc(grid_id):
    """The self-evaluation form as printed and filed (A4 landscape, signature lines)."""
    grid, period, ev = _found(grid_id)
    return pdf.pdf_response(render_pdf(ev), f"{_doc_title(grid, period)}.pdf")


def render_pdf(ev):
    """The printed self-evaluation (also used by tests)."""
    period = selfeval.period_of(ev)
    headers, rows, totals = _table(ev)
    return pdf.render_pdf("print/self_evaluation.html", title=_doc_title(ev.grid, period),
                          header=f"{ev.grid.name} · {period.label}", ev=ev, period=period, headers=headers,
                          rows=rows, totals=totals, today=local_today())


@bp.route("/assessment/grids/<int:grid_id>/self-evaluation.xlsx")
def xlsx(grid_id):
    """The self-evaluation as a sheet: title, period, unit, one row per item, the totals row."""
    grid, period, ev = _found(grid_id)
    headers, rows, totals = _table(ev)
    rated = f"，{ev.rated_by.full_name}于 {ev.rated_at:%Y-%m-%d} 评定" if ev.rated_at and ev.rated_by else ""
    wb = report_workbook(_doc_title(grid, period),
                         [f"考核期间：{period.label}（{period.start:%Y-%m-%d} 至 {period.end:%Y-%m-%d}）",
                          f"单位：{grid.name}　　评定单位：{ev.rater_grid.name}　　计分单位：分　　"
                          f"状态：{ev.state_name}{rated}　　方案：{ev.scheme_name}（第 {ev.scheme_version} 版）"],
                         headers, rows, totals, footer=["网格长（签字）：　　　　　　　　评定人（签字）：　　　　　　　　日期："],
                         sheet="季度自评", widths={2: 16, 7: 30, 9: 30})
    return xlsx_response(wb, f"{_doc_title(grid, period)}.xlsx", f"self-evaluation-{period.key}.xlsx")
