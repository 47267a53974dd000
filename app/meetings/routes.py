"""Meeting screens: a grid's meetings and what is due, planning, minutes, decisions and follow-ups, PDFs."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..accounts.permissions import can, require
from ..core import idempotency
from ..core.forms import ServiceError, run_action, run_form
from ..core.pagination import paginate
from ..core.pdf import pdf_response, render_pdf
from ..core.timeutil import local_today, utcnow
from ..core.web import render
from ..extensions import db
from ..grids.models import GridLevel
from ..grids.scope import chosen_grid_or_404, top_grids
from ..households.contact_routes import person_query
from ..households.contacts import find_people, person_in_reach
from . import service
from .forms import AttendeeForm, DecisionForm, DoneForm, FollowUpForm, KindForm, MinutesForm, PlanForm
from .models import ATTENDANCE

bp = Blueprint("meetings", __name__, url_prefix="/meetings")


def _chosen_grid():
    return chosen_grid_or_404(current_user, request.args.get("grid_id", type=int))


@bp.route("/")
def index():
    """A grid's meeting history, the due meetings not held, open follow-ups and problems reported up to it."""
    grid = _chosen_grid()
    page = paginate(service.meetings_query(grid))
    today = local_today()
    return render("meetings/index.html", grid=grid, page=page, gaps=service.missing_meetings(grid, today),
                  follow_ups=service.open_follow_ups(grid), escalations=service.escalations_to(grid), today=today,
                  tops=top_grids(current_user))


def _plan_data(form):
    return service.PlanData(kind_id=form.kind_id.data, held_on=form.held_on.data, start_time=form.start_time.data,
                            place=form.place.data, host=form.host.data, recorder=form.recorder.data,
                            agenda=form.agenda.data, guests=form.guests.data)


def _kind_choices(form, grid):
    form.kind_id.choices = [(0, "请选择例会类型")] + [
        (k.id, f"{k.name}（{k.cadence_name}）") for k in service.kinds_for(grid)]


@bp.route("/new", methods=["GET", "POST"])
@require("run_meetings")
def new():
    """Plan a meeting of a grid: the expected attendees are its staff and its sub-grids' leaders and workers."""
    grid = _chosen_grid()
    form = PlanForm()
    _kind_choices(form, grid)
    if request.method == "GET":
        form.held_on.data = local_today()
    done = run_form(form, lambda: service.plan_meeting(current_user, grid, _plan_data(form)),
                    "已计划例会，可打印签到表。", lambda m: url_for(".show", meeting_id=m.id))
    return done or render("meetings/plan_form.html", form=form, grid=grid, meeting=None,
                          expected=service.expected_attendees(grid), title=f"计划例会 · {grid.name}")


@bp.route("/<int:meeting_id>")
def show(meeting_id):
    """A meeting: plan, attendance, minutes, decisions with their follow-ups."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    return _show(meeting)


def _show(meeting, decision_form=None, fu_forms=None, done_forms=None, status=None):
    fu_forms, done_forms = fu_forms or {}, done_forms or {}
    owners = [(a.id, f"{a.name}（{a.role}）" if a.role else a.name) for a in meeting.attendees]
    for d in meeting.decisions:
        if d.follow_up is None and d.id not in fu_forms:
            fu_forms[d.id] = FollowUpForm(formdata=None, prefix=f"d{d.id}")
        elif d.follow_up is not None and d.follow_up.status == "open" and d.id not in done_forms:
            done_forms[d.id] = DoneForm(formdata=None, prefix=f"d{d.id}")
    for f in fu_forms.values():
        f.owner.choices = [(0, "请选择责任人")] + owners
    return render("meetings/show.html", meeting=meeting, decision_form=decision_form or DecisionForm(formdata=None),
                  fu_forms=fu_forms, done_forms=done_forms, today=local_today(),
                  may_run=can(current_user, "run_meetings"), linked_cases=service.decision_cases(meeting),
                  **_attendee_search(meeting), status=status)


@bp.route("/<int:meeting_id>/edit", methods=["GET", "POST"])
@require("run_meetings")
def edit(meeting_id):
    """Change the plan (date, place, host, agenda …)."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    form = PlanForm(obj=meeting)
    _kind_choices(form, meeting.grid)
    done = run_form(form, lambda: service.update_plan(meeting, _plan_data(form)), "已保存。",
                    url_for(".show", meeting_id=meeting.id))
    return done or render("meetings/plan_form.html", form=form, grid=meeting.grid, meeting=meeting, expected=None,
                          title="修改会议安排")


@bp.route("/<int:meeting_id>/minutes", methods=["GET", "POST"])
@require("run_meetings")
def minutes(meeting_id):
    """Record the minutes: attendance of each expected person, what was reported and discussed, what goes up."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    form = MinutesForm(obj=meeting)
    marks = {a.id: request.form.get(f"att-{a.id}", a.status) if request.method == "POST" else a.status
             for a in meeting.attendees}
    done = run_form(form, lambda: service.record_minutes(meeting, service.MinutesData(
        attendance=marks, reports=form.reports.data, problems=form.problems.data, escalation=form.escalation.data),
        utcnow()), "会议纪要已保存。", url_for(".show", meeting_id=meeting.id))
    return done or render("meetings/minutes_form.html", form=form, meeting=meeting, marks=marks,
                          attendance=ATTENDANCE)


def _attendee_search(meeting):
    """The person picker of 增加参会人员: what was searched (``?person_q=``, the search without
    JavaScript) and the registered people it found."""
    if meeting.status != "planned" or not can(current_user, "run_meetings"):
        return {"person_q": "", "people_found": None, "attendee_form": None}
    q = person_query()
    return {"person_q": q, "people_found": find_people(current_user, meeting.grid, q) if q else None,
            "attendee_form": AttendeeForm(formdata=None)}


@bp.route("/<int:meeting_id>/attendees", methods=["POST"])
@require("run_meetings")
def add_attendee(meeting_id):
    """Add a person registered in the village (村民代表, 党员 …) to a planned meeting's list."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    form = AttendeeForm()
    if not form.validate_on_submit():
        abort(400)
    person = person_in_reach(current_user, meeting.grid, request.form.get("resident_id", type=int))
    try:
        a, again = idempotency.once(form.form_key.data, current_user.id, request.endpoint,
                                    lambda: service.add_attendee(meeting, person, form.role.data))
    except ServiceError as exc:
        db.session.rollback()
        flash(f"未添加：{exc}", "error")
    else:
        db.session.commit()
        if again:
            idempotency.flash_already_saved()
        else:
            flash(f"已将 {a.name} 加入参会名单。", "success")
    return redirect(url_for(".show", meeting_id=meeting.id, _anchor="attendees"))


@bp.route("/<int:meeting_id>/decisions", methods=["POST"])
@require("run_meetings")
def add_decision(meeting_id):
    """Add a decision (议定事项) to the minutes."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    form = DecisionForm()
    done = run_form(form, lambda: service.add_decision(meeting, form.text.data), "已添加议定事项。",
                    lambda d: url_for(".show", meeting_id=meeting.id, _anchor=f"decision-{d.id}"))
    return done or _show(meeting, decision_form=form)


@bp.route("/<int:meeting_id>/decisions/<int:decision_id>/follow-up", methods=["POST"])
@require("run_meetings")
def follow_up(meeting_id, decision_id):
    """Turn a decision into a follow-up with an owner (an attendee) and a deadline."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    decision = service.get_decision_or_404(meeting, decision_id)
    form = FollowUpForm(prefix=f"d{decision.id}")
    form.owner.choices = [(0, "")] + [(a.id, a.name) for a in meeting.attendees]
    done = run_form(form, lambda: service.make_follow_up(decision, form.owner.data, form.deadline.data, local_today()),
                    lambda fu: f"已落实到 {fu.owner_name}，期限 {fu.deadline:%Y-%m-%d}。",
                    url_for(".show", meeting_id=meeting.id, _anchor=f"decision-{decision.id}"))
    return done or _show(meeting, fu_forms={decision.id: form})


@bp.route("/<int:meeting_id>/decisions/<int:decision_id>/done", methods=["POST"])
def follow_up_done(meeting_id, decision_id):
    """Mark a follow-up done: by whoever runs meetings, or by its owner."""
    if not can(current_user, "run_meetings") and not service.owns_follow_ups(current_user):
        abort(403)
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    decision = service.get_decision_or_404(meeting, decision_id)
    fu = decision.follow_up
    if fu is None:
        abort(404)
    if not (can(current_user, "run_meetings") or fu.owner_user_id == current_user.id):
        abort(403)
    form = DoneForm(prefix=f"d{decision.id}")
    done = run_form(form, lambda: service.complete_follow_up(fu, form.result.data, form.done_on.data, local_today()),
                    "已办结。", url_for(".show", meeting_id=meeting.id, _anchor=f"decision-{decision.id}"))
    return done or _show(meeting, done_forms={decision.id: form})


@bp.route("/<int:meeting_id>/decisions/<int:decision_id>/case", methods=["POST"])
@require("run_meetings")
def decision_case(meeting_id, decision_id):
    """Hand a decision to the case workflow; the case page opens."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    decision = service.get_decision_or_404(meeting, decision_id)
    return run_action(lambda: service.decision_to_case(current_user, decision), "已转为事件，按事件流程受理、交办和督办。",
                      lambda case: url_for("cases.show", case_id=case.id),
                      back=url_for(".show", meeting_id=meeting.id, _anchor=f"decision-{decision.id}"))


@bp.route("/<int:meeting_id>/sign-in.pdf")
def sign_in_pdf(meeting_id):
    """The blank sign-in sheet (签到表) to print before the meeting."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    title = f"{meeting.kind.name}签到表"
    pdf = render_pdf("print/meeting_sign_in.html", title=title, header=_header(meeting), meeting=meeting,
                     blank_rows=service.sign_in_blank_rows(len(meeting.attendees)))
    return pdf_response(pdf, f"{meeting.grid.name}{meeting.held_on:%Y%m%d}签到表.pdf")


@bp.route("/<int:meeting_id>/minutes.pdf")
def minutes_pdf(meeting_id):
    """The minutes (会议纪要) as PDF, with each decision's follow-up and its status."""
    meeting = service.get_meeting_or_404(current_user, meeting_id)
    pdf = render_pdf("print/meeting_minutes.html", title=f"{meeting.kind.name}纪要", header=_header(meeting),
                     meeting=meeting, today=local_today(), attendance=ATTENDANCE,
                     linked_cases=service.decision_cases(meeting))
    return pdf_response(pdf, f"{meeting.grid.name}{meeting.held_on:%Y%m%d}会议纪要.pdf")


def _header(meeting):
    return f"{meeting.grid.name} · {meeting.held_on.year}年{meeting.held_on.month}月"


@bp.route("/kinds", methods=["GET", "POST"])
def kinds():
    """Kinds of meeting usable at a grid; a village adds its own."""
    if request.method == "POST" and not can(current_user, "manage_meeting_kinds"):
        abort(403)
    grid = _chosen_grid()
    form = KindForm()
    levels = db.session.scalars(select(GridLevel).order_by(GridLevel.rank)).all()
    form.level_key.choices = [("", "任意一级")] + [(lv.key, lv.name) for lv in levels]
    done = run_form(form, lambda: service.add_kind(grid, form.name.data, form.cadence_months.data,
                                                   form.level_key.data, form.attendees.data),
                    lambda k: f"已添加例会类型“{k.name}”。", url_for(".kinds", grid_id=grid.id))
    return done or render("meetings/kinds.html", grid=grid, form=form, kinds=service.kinds_for(grid),
                          level_names={lv.key: lv.name for lv in levels})
