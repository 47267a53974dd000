"""Case screens: intake, the lists, a case's page with its actions and timeline, photos,
printed forms and where a message about a case leads. The workflow itself lives in service.perform."""
import click
from flask import Blueprint, abort, flash, g, request, url_for
from flask_login import current_user

from ..accounts.permissions import require
from ..core import audit, panels, photos
from ..core.forms import acted_first, run_form
from ..core.pagination import paginate
from ..core.pdf import pdf_response, render_pdf
from ..core.timeutil import fmt_local, utcnow
from ..core.web import render
from ..extensions import db
from ..grids import picker
from ..grids.models import Grid
from ..grids.scope import can_see_grid, get_grid_or_404
from ..grids.villages import place_names
from ..notifications import service as notifications
from ..units.service import grid_choices
from . import service
from .forms import ActionForm, CaseForm
from .models import PHOTO_FOLDER, CasePhoto
from .workflow import ACTIONS, PRINT_FORMS, SATISFACTION, STATES, event_label

bp = Blueprint("cases", __name__)


@bp.app_template_global()
def place_name(grid):
    """A grid named with its village (group names repeat between villages); cached for the request."""
    if grid is None:
        return ""
    cache = g.setdefault("place_names", {})
    if grid.id not in cache:
        cache.update(place_names([grid]))
    return cache[grid.id]


def _cache_place_names(grids):
    """Name the grids of a list in one query (the rows then find them in the request's cache)."""
    g.setdefault("place_names", {}).update(place_names(grids))


@bp.app_template_filter("receipt")
def _receipt(code):
    return service.format_receipt(code)


def _list_filters():
    args = request.args
    return {
        "state": args.get("state") if args.get("state") in service.LIST_STATES else "open",
        "due": args.get("due") if args.get("due") in service.DUE_FILTERS else "",
        "grid_id": args.get("grid_id", type=int),
        "mine": args.get("mine") == "1",
        "holder_id": args.get("holder_id", type=int),
    }


@bp.route("/cases/")
def index():
    """Cases in the user's grids: open, due soon, overdue; per grid or per person."""
    filters = _list_filters()
    grid = get_grid_or_404(current_user, filters["grid_id"]) if filters["grid_id"] else None
    now = utcnow()
    q = service.search_cases(current_user, grid, filters["state"], filters["due"], filters["mine"], filters["holder_id"], now)
    page = paginate(q)
    rows = [(c, service.due_state(c, now)) for c in page.items]
    _cache_place_names({c.grid for c in page.items} | {c.current_grid for c in page.items})
    return render("cases/index.html", "cases/_rows.html", filters=filters, page=page, rows=rows,
                  grid_options=picker.filter_options(current_user, filters["grid_id"]),
                  states=service.LIST_STATES, dues=service.DUE_FILTERS)


@bp.route("/cases/overview")
def overview():
    """Who holds what: open cases per person, department or grid, late and due-soon counts."""
    grid_id = request.args.get("grid_id", type=int)
    grid = get_grid_or_404(current_user, grid_id) if grid_id else None
    return render("cases/overview.html", rows=service.holder_overview(current_user, grid), grid=grid,
                  grid_options=picker.filter_options(current_user, grid_id))


def _grid_or_none(grid_id):
    grid = db.session.get(Grid, grid_id) if grid_id else None
    return grid if grid is not None and can_see_grid(current_user, grid) else None


@bp.route("/cases/new", methods=["GET", "POST"])
@require("report_case")
def new():
    """Report a problem: on the phone in the field, or at the village office for a walk-in resident."""
    form = CaseForm()
    picker.setup(form.grid_id, current_user, lambda: grid_choices(current_user))
    form.category_id.choices = [(None, "请选择类别")] + [(c.id, c.name) for c in service.active_categories()]
    if request.method == "GET":
        form.grid_id.data = request.args.get("grid_id", type=int) or (
            current_user.grids[0].id if current_user.grids else None)
        form.household_id.data = request.args.get("household_id", type=int) or ""
        form.unit_id.data = request.args.get("unit_id", type=int) or ""
    concerned = service.concerned(current_user, form.household_id.data, form.unit_id.data)

    def action():
        data = service.CaseData(
            title=form.title.data, description=form.description.data, location=form.location.data,
            category_id=form.category_id.data, handling_class=form.handling_class.data,
            reporter_name=form.reporter_name.data, reporter_phone=form.reporter_phone.data,
            household_id=concerned[0].id if concerned[0] else None, unit_id=concerned[1].id if concerned[1] else None)
        source = form.source.data if form.source.data in ("worker", "office") else "worker"
        return service.create_case(current_user, _grid_or_none(form.grid_id.data), data,
                                   request.files.getlist(form.photos.name), source=source)

    done = run_form(form, action, lambda c: f"已登记事件，回执码 {service.format_receipt(c.receipt_code)}。",
                    lambda c: url_for("cases.show", case_id=c.id))
    return done or render("cases/new.html", form=form, household=concerned[0], unit=concerned[1])


def _action_forms(case, actions):
    """One prefixed form per action the user may take (unique field ids on one page)."""
    forms = {}
    for a in actions:
        form = ActionForm(prefix=a.key, formdata=None)
        _fill_choices(form, case, a)
        form.version.data = case.version
        forms[a.key] = form
    return forms


def _fill_choices(form, case, action):
    if "assignee" in action.needs:
        form.assignee_id.choices = [(None, "请选择承办人")] + [
            (u.id, f"{u.full_name}（{u.role_name}）") for u in service.assignee_choices(case)]
    if "department" in action.needs:
        choices = service.department_choices(case)
        default = case.category.department_id
        form.department_id.choices = [(None, "请选择部门")] + [(d.id, d.name) for d in choices]
        form.co_department_ids.choices = [(d.id, d.name) for d in choices]
        if form.department_id.data is None and default in {d.id for d in choices}:
            form.department_id.data = default
    if "co_department" in action.needs:
        choices = service.co_reply_departments(current_user, case)
        form.department_id.label.text = "会办部门"
        form.department_id.choices = [(d.id, d.name) for d in choices]
        if form.department_id.data is None and choices:
            form.department_id.data = choices[0].id
    if action.key == "accept":
        form.category_id.choices = [(c.id, c.name) for c in service.active_categories()]
        if form.category_id.data is None:
            form.category_id.data = case.category_id
        if not form.is_submitted():
            form.handling_class.data = case.handling_class


def _show(case, forms=None, status=None, refused=None):
    actions = service.available_actions(current_user, case)
    all_forms = _action_forms(case, actions)
    all_forms.update(forms or {})
    return render("cases/show.html", case=case, actions=actions, forms=all_forms, due=service.due_state(case),
                  event_label=event_label, print_forms=PRINT_FORMS, satisfaction=SATISFACTION, states=STATES,
                  refused=refused, status=status)


def _refused(case, action, form):
    """Someone acted on the case first: who, what and when, and what this user typed (not saved).

    The form is shown again under the message with the case's current version, so the user can
    still send it if the step is still open, or copy the note into another step."""
    latest = case.events[-1] if case.events else None
    return acted_first(latest, event_label(latest.action) if latest else "", action, form, case.version,
                       "其他人刚刚处理了这个事件")


@bp.route("/cases/<int:case_id>")
def show(case_id):
    """A case: facts, deadline colour, the actions the user may take, the timeline with photos."""
    case = service.get_case_or_404(current_user, case_id)
    return _show(case)


@bp.route("/cases/<int:case_id>/act", methods=["POST"])
def act(case_id):
    """Take one workflow action (which one is in the form); refused actions re-show the page with the reason."""
    case = service.get_case_or_404(current_user, case_id)
    key = request.form.get("action", "")
    action = ACTIONS.get(key)
    if action is None:
        abort(400)
    form = ActionForm(prefix=key)
    _fill_choices(form, case, action)
    done = run_form(form, lambda: service.perform(
        current_user, case, key, form.version.data, note=form.note.data, assignee_id=form.assignee_id.data,
        department_id=form.department_id.data, deadline=form.deadline.data, satisfaction=form.satisfaction.data,
        extend_to=form.extend_to.data, category_id=form.category_id.data, handling_class=form.handling_class.data,
        photos=request.files.getlist(form.photos.name), co_department_ids=[i for i in form.co_department_ids.data or ()
                                                                            if i is not None]),
        f"已{action.label}。", url_for("cases.show", case_id=case_id))
    if done:
        warning = service.deadline_warning(form.deadline.data if "deadline" in action.needs else
                                           form.extend_to.data if "extend_to" in action.needs else None)
        if warning:
            flash(warning, "warning")
        return done
    case = service.get_case_or_404(current_user, case_id)  # reload after a rollback
    if service.CONFLICT in form.form_errors:
        return _show(case, {key: form}, status=409, refused=_refused(case, action, form))
    return _show(case, {key: form})


@bp.route("/cases/<int:case_id>/photos/<int:photo_id>")
def photo(case_id, photo_id):
    """A case photo, only for users who may see the case."""
    case = service.get_case_or_404(current_user, case_id)
    return photos.flat_response(CasePhoto, photo_id, "case_id", case.id, PHOTO_FOLDER)


@bp.route("/cases/<int:case_id>/print/<any(report, assign, urge, reply):form>")
def print_form(case_id, form):
    """申报单 / 交办单 / 催办单 / 反馈单 of a case as PDF: its data, the step it records, signature lines."""
    case = service.get_case_or_404(current_user, case_id)
    title, actions = PRINT_FORMS[form]
    events = [ev for ev in case.events if ev.action in actions]
    event_id = request.args.get("event_id", type=int)
    if event_id:
        events = [ev for ev in events if ev.id == event_id]
    if not events:
        abort(404)
    ev = events[-1]
    nth = sum(1 for e in events if e.id <= ev.id)  # the 催办单 says which urging it is
    # A printed form carries the resident's name and phone: who printed which is kept.
    audit.record("export", "cases", case.id, f"打印{title}（回执码 {service.format_receipt(case.receipt_code)}）")
    pdf = render_pdf("cases/print/form.html", title=title,
                     header=f"{place_name(case.current_grid)} · {title} · 回执码 {service.format_receipt(case.receipt_code)}",
                     case=case, event=ev, kind=form, form_title=title, event_label=event_label, nth=nth,
                     handling_deadline=service.handling_deadline(case, ev), printed_at=fmt_local(utcnow()))
    return pdf_response(pdf, f"{title}-{service.format_receipt(case.receipt_code)}.pdf")


@notifications.link_resolver
def _case_link(user, note):
    """A message about a case opens the case, while the user may still see it."""
    if note.case_id and service.can_see_case(user, note.case):
        return url_for("cases.show", case_id=note.case_id)
    return None


@bp.cli.command("urge-overdue")
def urge_overdue_command():
    """催办 every case whose step is past its deadline (run from cron, e.g. every 30 minutes)."""
    with audit.acting_as("系统（自动催办）"):
        count = service.urge_overdue()
        db.session.commit()
    click.echo(f"cases: {count} overdue case(s) urged")


@bp.app_template_global()
def my_open_cases():
    """For the home screen: the user's open and overdue cases and the first of them."""
    if not current_user.is_authenticated:
        return 0, 0, []
    total, late, rows = service.my_open_cases(current_user)
    _cache_place_names({c.grid for c, _ in rows})
    return total, late, rows


@panels.panel("grid", "cases")
def _case_counts(grid):
    """For the grid page: open and overdue cases that arose in or are held in the grid's subtree."""
    return {"case_counts": service.open_case_counts(grid)}
