"""Visit screens: record a visit, the due list, coverage for leaders, rules, PDFs."""
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from ..accounts.permissions import can, require
from ..core import idempotency, panels, pdf, photos, uploads
from ..core.forms import ServiceError, run_action, run_form, show_error
from ..core.pagination import paginate
from ..grids.scope import get_grid_or_404, top_grids
from ..core.timeutil import LOCAL_TZ, local_today, to_local
from ..core.web import render
from ..extensions import db
from ..grids.service import village_name
from ..households import service as ledger
from ..households.contacts import my_households_query
from . import service
from .charts import bar_chart
from .forms import RuleForm, VisitEditForm, VisitForm
from .models import METHODS, PERIODS, VISITORS, Visit, VisitPhoto, VisitProblem, VisitRule

bp = Blueprint("visits", __name__)


def _now_local():
    return datetime.now(LOCAL_TZ).replace(tzinfo=None, second=0, microsecond=0)


@panels.panel("household", "visits")
def _household_visits(household):
    """A household's visits, newest first (the household page's 走访记录)."""
    return {"household_visits": service.household_visits(household)}


@bp.route("/visits/")
def index():
    """Visits recorded in the user's grids, newest first (one's own first for a worker)."""
    mine = request.args.get("mine", "1" if current_user.role == "worker" else "") == "1"
    q = service.visits_query(current_user).options(joinedload(Visit.household), joinedload(Visit.user))
    if mine:
        q = q.where(Visit.user_id == current_user.id)
    page = paginate(q.order_by(Visit.visited_at.desc(), Visit.id.desc()), per_page=30)
    return render("visits/index.html", page=page, mine=mine)


@bp.route("/visits/new", methods=["GET", "POST"])
@require("record_visits")
def new():
    """Record a visit. A retried submit with the same key shows the visit already saved."""
    form = VisitForm()
    household = None
    hid = request.values.get("household_id", type=int)
    if hid:
        household = ledger.get_household_or_404(current_user, hid)
        form.household_id.choices = [(household.id, f"{household.address} {household.head_name}")]
    else:
        form.household_id.choices = [(0, "请选择")] + [
            (h.id, f"{h.address} {h.head_name}") for h in db.session.scalars(my_households_query(current_user)).unique()]
    due = service.household_due(current_user, household) if household else None
    if request.method == "GET":
        form.visited_at.data = _now_local()
        if household:
            form.household_id.data = household.id
        # Open with the method that satisfies what is due (a 微宣讲 due opens as 微宣讲).
        method = request.args.get("method")
        form.method.data = method if method in METHODS else (due.method if due and due.method else "door")
    elif form.validate_on_submit():
        done = _save_visit(form, household)
        if done is not None:
            return done
    elif _earlier(form) is not None:
        return _saved(_earlier(form), False)
    if request.method == "POST" and (form.errors or form.form_errors):
        form.form_errors.append("未保存：请按提示修改后再提交，已填写的内容都还在（照片需要重新选择）。")
    return render("visits/form.html", form=form, household=household, due=due)


def _save_visit(form, household):
    """The POST half of the visit form; returns a redirect, or None to show the form again."""
    if household is None:
        if not form.household_id.data:
            form.household_id.errors = ["请选择走访的户。"]
            return None
        household = ledger.get_household_or_404(current_user, form.household_id.data)
    key = (form.form_key.data or "").strip()[:64]
    if not key:
        form.form_errors.append(idempotency.EXPIRED)
        return None
    try:
        visit, created = service.record_visit(
            current_user, household, method=form.method.data, visited_at_local=form.visited_at.data,
            companions=form.companions.data, learned=form.learned.data,
            problems=(form.problems.data or "").splitlines(), photos=request.files.getlist(form.photos.name), key=key)
    except ServiceError as exc:
        db.session.rollback()
        show_error(form, exc)
        return None
    if not created:
        db.session.rollback()  # nothing of this request is kept (its photo files are deleted)
    db.session.commit()
    return _saved(visit, created)


def _earlier(form):
    """The visit this form's key already saved (a retry whose first answer was lost), or None."""
    try:
        return idempotency.earlier(form.form_key.data, current_user.id)
    except ServiceError:
        return None


def _saved(visit, created):
    flash("走访已保存。" if created else "这次走访已经保存过了，没有重复登记。", "success")
    return redirect(url_for("visits.show", visit_id=visit.id))


@bp.route("/visits/<int:visit_id>")
def show(visit_id):
    """One visit with its problems and photos."""
    visit = service.get_visit_or_404(current_user, visit_id)
    refusal = service.edit_refusal(current_user, visit) if visit.user_id == current_user.id else None
    return render("visits/show.html", v=visit, editable=visit.user_id == current_user.id and not refusal
                  and can(current_user, "record_visits"), edit_refusal=refusal)


@bp.route("/visits/<int:visit_id>/edit", methods=["GET", "POST"])
@require("record_visits")
def edit(visit_id):
    """The visitor corrects a visit until the week is checked (problems already cases stay)."""
    visit = service.get_visit_or_404(current_user, visit_id)
    refusal = service.edit_refusal(current_user, visit)
    if refusal:
        flash(refusal, "error")
        return redirect(url_for("visits.show", visit_id=visit.id))
    form = VisitEditForm(obj=visit)
    if request.method == "GET":
        form.visited_at.data = to_local(visit.visited_at).replace(tzinfo=None)
        form.problems.data = "\n".join(p.description for p in visit.problems if not p.case_id)
    done = run_form(form, lambda: service.update_visit(
        current_user, visit, method=form.method.data, visited_at_local=form.visited_at.data,
        companions=form.companions.data, learned=form.learned.data,
        problems=(form.problems.data or "").splitlines(),
        remove_photo_ids=request.form.getlist("remove_photo", type=int), photos=request.files.getlist("photos")),
        "走访记录已修改。", url_for("visits.show", visit_id=visit.id))
    if done is not None:
        return done
    if request.method == "POST":
        form.form_errors.append("未保存：请按提示修改后再提交，已填写的内容都还在（新选的照片需要重新选择）。")
    return render("visits/edit.html", form=form, v=visit, photo_hint=uploads.PHOTO_HINT,
                  photo_accept=uploads.PHOTO_ACCEPT,
                  removing=set(request.form.getlist("remove_photo", type=int)))


@bp.route("/visits/<int:visit_id>/delete", methods=["POST"])
@require("record_visits")
def delete(visit_id):
    """The visitor deletes a visit recorded by mistake (until the week is checked)."""
    visit = service.get_visit_or_404(current_user, visit_id)
    household_id = visit.household_id
    return run_action(lambda: service.delete_visit(current_user, visit), "走访记录已删除。",
                      url_for("households.show", household_id=household_id),
                      back=url_for("visits.show", visit_id=visit_id))


@bp.route("/visits/problems/<int:problem_id>/case", methods=["POST"])
@require("report_case")
def problem_case(problem_id):
    """Turn a problem found on a visit into a case (one tap); the case page opens."""
    problem = db.session.get(VisitProblem, problem_id)
    if problem is None:
        abort(404)
    service.get_visit_or_404(current_user, problem.visit_id)
    return run_action(lambda: service.problem_to_case(current_user, problem), "已转为事件，待村里受理时确定类别和处理方式。",
                      lambda case: url_for("cases.show", case_id=case.id),
                      back=url_for("visits.show", visit_id=problem.visit_id))


@bp.route("/visits/photos/<int:visit_photo_id>")
def photo(visit_photo_id):
    """A visit photo, only for users who may see the household (thumbnail with ?size=thumb)."""
    p = db.session.get(VisitPhoto, visit_photo_id)
    if p is None:
        abort(404)
    service.get_visit_or_404(current_user, p.visit_id)
    return photos.send_photo(p.file_name, thumb=request.args.get("size") == "thumb")


@bp.route("/visits/due")
def due():
    """Everything due or overdue among the households the user links, nearest first."""
    today = local_today()
    overdue, this_week, later = service.split_due(service.my_due(current_user, today), today)
    return render("visits/due.html", overdue=overdue, this_week=this_week, later=later, today=today)


def _period(today):
    period = request.args.get("period", "month")
    if period not in ("month", "quarter"):
        period = "month"
    start, end = service.period_bounds(period, today)
    return period, start, end


@bp.route("/visits/coverage")
@require("oversee_visits")
def coverage():
    """Visit coverage per grid and per worker for this month or quarter, and who nobody visited."""
    today = local_today()
    roots = top_grids(current_user)
    grid_id = request.args.get("grid_id", type=int) or (roots[0].id if roots else None)
    if grid_id is None:
        abort(404)
    grid = get_grid_or_404(current_user, grid_id)
    period, start, end = _period(today)
    grids = service.grid_coverage(grid, start, end)
    workers = service.worker_coverage(grid, start, end)
    for row in grids:
        row.url = url_for("visits.coverage", grid_id=row.grid.id, period=period) if row.grid.id != grid.id else ""
    page = paginate(service.unvisited_query(current_user, grid, start, end), per_page=50)
    return render("visits/coverage.html", grid=grid, period=period, start=start, end=end, grids=grids, workers=workers,
                  grid_chart=bar_chart(grids, "各网格走访覆盖率"), worker_chart=bar_chart(workers, "各网格员联系户走访覆盖率"),
                  page=page, label=service.period_label(period, today), periods=PERIODS, roots=roots)


# Rules

def _rules_grid():
    roots = top_grids(current_user)
    grid_id = request.values.get("grid_id", type=int) or (roots[0].id if roots else None)
    if grid_id is None:
        abort(404)
    return get_grid_or_404(current_user, grid_id)


@bp.route("/visits/rules")
def rules():
    """The visit rules that apply to a grid, where they come from, and (for village admins) editing."""
    grid = _rules_grid()
    owner_id = service.rules_owner_id(grid)
    owner = db.session.get(type(grid), owner_id) if owner_id else None
    return render("visits/rules.html", grid=grid, owner=owner, rules=service.rules_of(owner_id, active_only=False),
                  own=owner_id == grid.id, may_edit=can(current_user, "manage_visit_rules"),
                  target_label=service.category_label, PERIODS=PERIODS, VISITORS=VISITORS)


@bp.route("/visits/rules/customize", methods=["POST"])
@require("manage_visit_rules")
def rules_customize():
    """Give the grid its own copy of the rules to change."""
    return _rules_change(service.customize_rules, "{} 现在使用自己的走访规则，可以逐条修改。")


@bp.route("/visits/rules/reset", methods=["POST"])
@require("manage_visit_rules")
def rules_reset():
    """Drop the grid's own rules and follow the level above again."""
    return _rules_change(service.reset_rules, "{} 已恢复使用上级（或默认）的走访规则。")


def _rules_change(change, message):
    grid = _rules_grid()
    change(grid)
    db.session.commit()
    flash(message.format(grid.name), "success")
    return redirect(url_for("visits.rules", grid_id=grid.id))


@bp.route("/visits/rules/new", methods=["GET", "POST"])
@bp.route("/visits/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@require("manage_visit_rules")
def rule_edit(rule_id=None):
    """Add a rule to the grid's own set, or change one."""
    rule = None
    if rule_id is not None:
        rule = db.session.get(VisitRule, rule_id)
        if rule is None or rule.grid_id is None and not current_user.is_admin:
            abort(404)
        grid = get_grid_or_404(current_user, rule.grid_id) if rule.grid_id else None
    else:
        grid = _rules_grid()
    form = RuleForm(obj=rule)
    form.categories.choices = service.category_choices(grid)
    if request.method == "GET" and rule is not None:
        form.methods.data = sorted(rule.method_set)
        form.categories.data = rule.category_keys
    done = run_form(form, lambda: service.save_rule(grid, rule, form.name.data, form.target.data,
                                                    form.methods.data or [], form.period.data, form.visitor.data,
                                                    form.active.data, form.categories.data or []),
                    lambda saved: f"已保存规则“{saved.name}”。",
                    url_for("visits.rules", grid_id=grid.id) if grid else url_for("visits.rules"))
    return done or render("visits/rule_form.html", form=form, rule=rule, grid=grid)


# PDF

@bp.route("/households/<int:household_id>/visits.pdf")
def household_pdf(household_id):
    """A household's visit history as PDF (no ID numbers)."""
    h = ledger.get_household_or_404(current_user, household_id)
    visits = service.household_visits(h)
    village = village_name(h.grid)
    doc = pdf.render_pdf("print/household_visits.html", title="走访记录（民情日记）",
                         header=f"{village} · {h.address}", h=h, visits=visits, printed_on=local_today())
    return pdf.pdf_response(doc, f"走访记录-{h.address}.pdf")
