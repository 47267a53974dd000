"""Assessment screens: one's own score explained, a worker's or a grid's score, rankings within a
grid with 评星定级, publishing (freezing) a period, corrections, manual entries, Excel and PDF."""
import io
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_login import current_user

from ..accounts.permissions import can, require
from ..core import audit, pdf, uploads
from ..core.forms import ServiceError, run_action
from ..core.sheets import report_workbook, xlsx_response
from ..core.timeutil import local_today
from ..core.web import render, value_or_back
from ..extensions import db
from ..grids.scope import chosen_grid_or_404, get_grid_or_404, get_scoped_or_404
from ..worklogs.service import get_worker_or_404
from . import party, service
from .forms import AdjustForm, FreezeForm, ManualForm
from .models import COMBINE, FORMULAS, ITEM_KINDS, SUBJECT_KINDS, TALLIES, TALLY_KINDS, AssessmentItem, ManualScore

bp = Blueprint("assessment", __name__)


def _period(text=None):
    """The period asked for (query string, or a form's); one that cannot be read or lies in the future
    is refused in words, and the page opens on the current month instead."""
    return value_or_back(lambda: service.parse_period(request.args.get("period", "") if text is None else text),
                         _without_period)


def _without_period():
    if request.method == "POST":
        return url_for("assessment.ranking", grid_id=request.view_args.get("grid_id"))
    # The path's own values win over a query string that repeats them (?grid_id=…).
    args = {k: v for k, v in request.args.items() if k != "period" and k not in request.view_args}
    return url_for(request.endpoint, **request.view_args, **args)


def _ranking_args(grid_id):
    """(grid, kind, period) of a ranking page or document, from the path and the query string."""
    grid = get_grid_or_404(current_user, grid_id)
    return grid, _kind(grid), _period()


def _kind(grid, text=None, counted=False):
    """The kind of subject asked for; ``counted``: party and team members (scored by counting records,
    published and corrected here too) are accepted as well."""
    kind = request.args.get("kind", "") if text is None else text
    if kind in service.RANKED_KINDS or (counted and kind in TALLY_KINDS):
        return kind
    if kind:
        abort(404)
    return "worker" if grid.level.key in ("village", "natural_village", "cluster") else "village"


def with_frozen(score, grid, period):
    """Put a published period's figures (and the corrections since) in place of the live ones."""
    frozen = service.frozen_for(grid, score.subject.kind, period) if grid is not None else None
    if frozen is None:
        return None
    row = next((r for r in service.frozen_rows(frozen) if r.id == score.subject.id), None)
    return frozen, row


@bp.route("/assessment/")
def index():
    """Leaders to the ranking of their grid, everyone else to their own score."""
    if can(current_user, "view_assessment"):
        return redirect(url_for("assessment.ranking", grid_id=chosen_grid_or_404(current_user, None).id))
    return redirect(url_for("assessment.mine"))


@bp.route("/assessment/me")
def mine():
    """The logged-in user's own score for a period, every item explained down to its records."""
    return _worker_page(current_user, own=True)


@bp.route("/assessment/workers/<int:user_id>")
@require("view_assessment")
def worker(user_id):
    """A worker's score, as the worker sees it (for the leaders who see the worker's grids)."""
    return _worker_page(get_worker_or_404(current_user, user_id), own=False)


def _worker_page(user, own):
    period = _period()
    subject = service.worker_subject(user)
    score = None
    published = None
    if subject.paths:
        (score,) = service.compute([subject], period, detail=True, paths=subject.paths, worker_mode=True)
        published = with_frozen(score, subject.home, period)
    return render("assessment/score.html", subject=subject, score=score, period=period, published=published,
                  own=own, choices=service.period_choices(), today=local_today(),
                  self_url=url_for("assessment.mine") if own else url_for("assessment.worker", user_id=user.id))


@bp.route("/assessment/grids/<int:grid_id>/score")
@require("view_assessment")
def grid_score(grid_id):
    """A village's (or any grid's) own score, explained."""
    grid = get_grid_or_404(current_user, grid_id)
    period = _period()
    kind = "village" if grid.level.key == "village" else "grid"
    subject = service.area_subject(grid, kind)
    (score,) = service.compute([subject], period, detail=True, paths=[grid.path])
    published = with_frozen(score, grid, period)
    return render("assessment/score.html", subject=subject, score=score, period=period, published=published,
                  own=False, choices=service.period_choices(), today=local_today(),
                  self_url=url_for("assessment.grid_score", grid_id=grid.id))


@bp.route("/assessment/grids/<int:grid_id>")
@require("view_assessment")
def ranking(grid_id):
    """The ranking of the workers, villages or child grids under a grid, with their bands."""
    grid, kind, period = _ranking_args(grid_id)
    ctx = ranking_context(grid, kind, period)
    scheme = service.scheme_for(grid, kind)
    manual_items = [it for it in scheme.items if it.kind != "auto"]
    return render("assessment/ranking.html", grid=grid, kind=kind, period=period, scheme=scheme,
                  kinds=SUBJECT_KINDS, ranked_kinds=service.RANKED_KINDS, choices=service.period_choices(),
                  today=local_today(), manual_items=manual_items, **ctx)


def _ranked(grid, kind, period):
    """The live ranked scores under ``grid`` (party and team members counted from their records)."""
    if kind in TALLY_KINDS:
        return party.ranking(grid, period, kind=kind)
    return service.rank(service.compute(service.subjects_in(grid, kind), period, paths=[grid.path]))


def ranking_context(grid, kind, period):
    """A ranking as published (with the corrections since) or, if not published, as the records stand."""
    frozen = service.frozen_for(grid, kind, period)
    if frozen is not None:
        snap = frozen.snapshot
        # The points of the period as published (a summed quarter's count item is worth three months').
        items = ([{"name": ln["name"], "points": ln["points"], "kind": ln["kind"]} for ln in snap["rows"][0]["lines"]]
                 if snap["rows"] else snap["scheme"]["items"])
        return {"frozen": frozen, "rows": service.frozen_rows(frozen, grid), "scores": None, "items": items}
    scores = _ranked(grid, kind, period)
    items = [{"name": ln.name, "points": ln.points, "kind": ln.kind} for ln in scores[0].lines] if scores else []
    return {"frozen": None, "rows": None, "scores": scores, "items": items}


# How a ranking's documents name their columns: scores and stars, or party and team members' points.
WORDS = {"score": ("未参评", "总分", "星级"), "points": ("无记录", "积分", "等次")}


def _words(kind):
    return WORDS["points" if kind in TALLY_KINDS else "score"]


def ranking_table(grid, kind, period):
    """(headers, rows, frozen, items) of a ranking, for Excel and PDF."""
    ctx = ranking_context(grid, kind, period)
    items = ctx["items"]
    unranked, total_word, band_word = _words(kind)
    headers = (["名次", SUBJECT_KINDS[kind], "所在网格"] + [f"{it['name']}（{it['points']}）" for it in items]
               + [total_word, band_word])
    rows = []
    if ctx["frozen"] is not None:
        for r in ctx["rows"]:
            scores = {ln["name"]: Decimal(ln["score"]) for ln in r.data["lines"]}
            for a in r.adjustments:
                scores[a.item_name] = scores.get(a.item_name, Decimal(0)) + Decimal(a.points)
            rows.append([r.rank or unranked, r.name, r.data["place"]] + [float(scores.get(it["name"], 0)) for it in items]
                        + [float(r.total), r.band])
    else:
        for s in ctx["scores"]:
            rows.append([s.rank or unranked, s.subject.name, s.subject.place] + [float(ln.score) for ln in s.lines]
                        + [float(s.total), s.band])
    return headers, rows, ctx["frozen"], items


def _doc_title(grid, kind, period):
    return f"{grid.name}{period.label}{SUBJECT_KINDS[kind]}考核通报"


@bp.route("/assessment/grids/<int:grid_id>/ranking.xlsx")
@require("view_assessment")
def export_xlsx(grid_id):
    """The ranking as a township forwards it: title, period, unit, the table, the average row."""
    grid, kind, period = _ranking_args(grid_id)
    headers, rows, frozen, _ = ranking_table(grid, kind, period)
    ranked = [r for r in rows if r[0] != "未参评"]
    n = len(ranked)
    totals = None
    if n:
        avg = [round(sum(r[i] for r in ranked) / n, 1) for i in range(3, len(headers) - 1)]
        totals = ["平均", f"参评 {n} {'人' if kind == 'worker' else '个'}", ""] + avg + [""]
    state = f"已于 {frozen.frozen_at:%Y-%m-%d} 发布" if frozen else "未发布（按当前记录计算）"
    wb = report_workbook(_doc_title(grid, kind, period),
                         [f"考核期间：{period.label}（{period.start:%Y-%m-%d} 至 {period.end:%Y-%m-%d}）",
                          f"单位：{grid.name}　　计分单位：分　　状态：{state}"],
                         headers, rows, totals, footer=["审核人：　　　　　　　　制表人：　　　　　　　　制表日期："],
                         sheet="考核通报", widths={2: 14, 3: 16})
    name = f"{_doc_title(grid, kind, period)}.xlsx"
    return xlsx_response(wb, name, f"assessment-{period.key}.xlsx")


@bp.route("/assessment/grids/<int:grid_id>/report.pdf")
@require("view_assessment")
def report_pdf(grid_id):
    """The monthly 考核通报: ranking with bands, A4 landscape, with the signature lines."""
    grid, kind, period = _ranking_args(grid_id)
    doc = render_report_pdf(grid, kind, period)
    return pdf.pdf_response(doc, f"{_doc_title(grid, kind, period)}.pdf")


def render_report_pdf(grid, kind, period, with_pages=False, title=None):
    """The 考核通报 document (also used by tests and the benchmark); party and team members' rankings
    print the same way, under their own ``title``."""
    headers, rows, frozen, items = ranking_table(grid, kind, period)
    unranked, total_word, band_word = _words(kind)
    bands = {}
    for r in rows:
        bands[r[-1] or unranked] = bands.get(r[-1] or unranked, 0) + 1
    return pdf.render_pdf("print/assessment_report.html", title=title or _doc_title(grid, kind, period),
                          header=f"{grid.name} · {period.label}", grid=grid, period=period, kind_name=SUBJECT_KINDS[kind],
                          per_person=kind in ("worker",) + tuple(TALLY_KINDS), total_word=total_word,
                          band_word=band_word, headers=headers, items=items, rows=rows, frozen=frozen, bands=bands,
                          today=local_today(), with_pages=with_pages)


def _back_url(grid, kind, period):
    if kind in TALLY_KINDS:
        return url_for("party.ranking", grid_id=grid.id, people=PEOPLE_OF[kind], period=period.key)
    return url_for("assessment.ranking", grid_id=grid.id, kind=kind, period=period.key)


def _back(grid, kind, period):
    return redirect(_back_url(grid, kind, period))


PEOPLE_OF = {party.KIND: "party-members", party.TEAM: "team-members"}  # the URL word of each counted kind


def _act(grid, kind, period, action, message):
    """Run a change, commit it and say so; a refusal is said in words and nothing is kept."""
    return run_action(action, message, _back_url(grid, kind, period))


@bp.route("/assessment/grids/<int:grid_id>/freeze", methods=["POST"])
@require("assess")
def freeze(grid_id):
    """Publish a finished period of the grid: its figures and scheme version are kept as they are."""
    grid = get_grid_or_404(current_user, grid_id)
    form = FreezeForm()
    if not form.validate_on_submit():
        abort(400)
    period, kind = _period(form.period.data), _kind(grid, form.kind.data, counted=True)
    ranked = (lambda: _ranked(grid, kind, period)) if kind in TALLY_KINDS else None
    what = "积分" if kind in TALLY_KINDS else "考核结果"
    return _act(grid, kind, period, lambda: service.freeze(current_user, grid, kind, period, ranked=ranked),
                f"{grid.name}{period.label}{SUBJECT_KINDS[kind]}{what}已发布。")


@bp.route("/assessment/grids/<int:grid_id>/adjust", methods=["POST"])
@require("assess")
def adjust(grid_id):
    """Correct a published figure with a reason (kept beside the published one, audited)."""
    grid = get_grid_or_404(current_user, grid_id)
    form = AdjustForm()
    period, kind = _period(form.period.data or ""), _kind(grid, form.kind.data or "", counted=True)
    frozen = service.frozen_for(grid, kind, period)
    if frozen is None:
        abort(404)
    if not form.validate_on_submit():
        flash("；".join(e for errs in form.errors.values() for e in errs), "error")
        return _back(grid, kind, period)
    visible = {r.id for r in service.frozen_rows(frozen, grid)}
    if form.subject_id.data not in visible:
        abort(404)
    return _act(grid, kind, period, lambda: service.adjust(
        current_user, frozen, form.subject_id.data, form.item_name.data.strip(), form.points.data, form.reason.data),
        "更正已登记。")


@bp.route("/assessment/grids/<int:grid_id>/manual", methods=["POST"])
@require("assess")
def manual(grid_id):
    """Enter a manual score, a deduction or a bonus for a subject of the grid in a month."""
    grid = get_grid_or_404(current_user, grid_id)
    form = ManualForm()
    period, kind = _period(form.period.data or ""), _kind(grid, form.kind.data or "")
    if not form.validate_on_submit():
        flash("；".join(e for errs in form.errors.values() for e in errs), "error")
        return _back(grid, kind, period)
    subject = next((s for s in service.subjects_in(grid, kind) if s.id == form.subject_id.data), None)
    item = db.session.get(AssessmentItem, form.item_id.data or 0)
    if subject is None or item is None or item.scheme_id != service.scheme_for(subject.home, kind).id:
        abort(404)
    upload = request.files.get("evidence")
    evidence = (upload.filename, upload.read()) if upload and upload.filename else None
    return _act(grid, kind, period, lambda: service.enter_manual(
        current_user, subject, item, period, form.points.data, form.reason.data, evidence),
        f"已为{subject.name}登记“{item.name}”。")


@bp.route("/assessment/evidence/<int:entry_id>")
def evidence(entry_id):
    """The photo or scan behind a manual score, for users who see the subject's grid (each view audited)."""
    entry = get_scoped_or_404(current_user, ManualScore, entry_id)
    if not entry.evidence_file:
        abort(404)
    path = service.evidence_path(entry.evidence_file)
    if not path.is_file():
        abort(404)
    audit.record("reveal", "assessment_evidence", entry.id, f"查看考核证据材料：{entry.audit_label}")
    ext = entry.evidence_file.rsplit(".", 1)[-1]
    mime = uploads.DOCUMENT_MIME.get(ext, "application/octet-stream")
    return send_file(io.BytesIO(path.read_bytes()), mimetype=mime, as_attachment=mime == "application/pdf",
                     download_name=f"{entry.item.name}证据材料.{ext}", max_age=0)


@bp.route("/assessment/schemes")
def schemes():
    """The schemes that apply at a grid of the user's scope, item by item."""
    grid = chosen_grid_or_404(current_user, request.args.get("grid_id", type=int))
    return render("assessment/schemes.html", grid=grid, rows=service.scheme_rows_for_grid(grid), combine=COMBINE,
                  may_customize=can(current_user, "manage_schemes") and service.is_township_or_above(grid))


SPARE_ROWS = 3  # blank item rows under the scheme's own, for new items


@bp.route("/assessment/grids/<int:grid_id>/schemes/<any(worker, village, grid, party_member, team):kind>",
          methods=["GET", "POST"])
@require("manage_schemes")
def edit_scheme(grid_id, kind):
    """A county's or township's own scheme for one kind of subject: items, points, formulas, bands.

    Saving makes the grid's own copy of the scheme it inherits (every change raises its version;
    published periods keep the version they used)."""
    grid = get_grid_or_404(current_user, grid_id)
    if not service.is_township_or_above(grid):
        abort(404)
    scheme = service.scheme_for(grid, kind)
    rows = len(scheme.items) + SPARE_ROWS
    error, typed = None, None
    if request.method == "POST":
        rows = min(request.form.get("rows", type=int) or rows, 60)
        try:
            saved = service.save_own_scheme(grid, kind, request.form, rows)
        except ServiceError as exc:
            db.session.rollback()
            error, typed = str(exc), request.form
        else:
            db.session.commit()
            flash(f"考核方案已保存（第 {saved.version} 版）。", "success")
            return redirect(url_for("assessment.schemes", grid_id=grid.id))
    return render("assessment/scheme_edit.html", status=422 if error else 200, grid=grid, kind=kind,
                  kind_name=SUBJECT_KINDS[kind], scheme=scheme, rows=rows, error=error, typed=typed,
                  item_kinds=ITEM_KINDS, formulas={**FORMULAS, **TALLIES}, combine_choices=COMBINE)
