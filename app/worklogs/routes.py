"""Work-log screens: the day's log, a month of logs with weekly checks, the team view, the PDF."""
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..accounts.permissions import require
from ..cases.workflow import event_label
from ..core import pdf
from ..core.forms import run_action, run_form
from ..core.timeutil import local_today
from ..core.validators import PAST, InvalidValue
from ..core.web import error_response, render
from ..core.workdays import workdays_in
from ..grids.scope import get_grid_or_404, top_grids
from ..grids.service import village_name
from ..visits.service import day_visits, week_bounds
from . import service
from .forms import AmendForm, CheckForm, LogForm

bp = Blueprint("worklogs", __name__)
WEEKDAYS = "一二三四五六日"


def _parse_day(text):
    """A work-log day from the URL or a form: 2000-01-01 … today; any other is not found, and says why."""
    try:
        return PAST.parse(text, "工作日志的日期")
    except InvalidValue as exc:
        abort(error_response(404, "没有这一天的工作日志", str(exc)))


@bp.app_template_filter("weekday")
def weekday_name(day):
    return "周" + WEEKDAYS[day.weekday()]


@bp.app_template_global()
def case_step(event):
    """One line for a case step in a work log: 交办：村道路灯不亮（交办给 张三）."""
    detail = f"（{event.detail}）" if event.detail else ""
    return f"{event_label(event.action)}：{event.case.title}{detail}"


@bp.route("/worklogs/")
def index():
    """Today's log of the logged-in user."""
    return redirect(url_for("worklogs.day", day=local_today().isoformat()))


@bp.route("/worklogs/day/<day>", methods=["GET", "POST"])
@require("record_visits")
def day(day):
    """The user's log of one day: the day's visits (filled in by themselves) and free text."""
    d = _parse_day(day)
    log = service.get_log(current_user.id, d)
    check = service.week_check_for(current_user.id, d)
    form = LogForm(obj=log)
    if check is None:
        done = run_form(form, lambda: service.save_log(current_user, d, form.content.data),
                        f"{d.month}月{d.day}日的工作日志已保存。", url_for("worklogs.day", day=d.isoformat()))
        if done:
            return done
    elif request.method == "POST":
        abort(409)
    return _day_page(d, log, check, form, AmendForm(formdata=None))


def _day_page(d, log, check, form, amend_form):
    events, patrols = service.day_activity(current_user, d)
    return render("worklogs/day.html", d=d, log=log, check=check, form=form, amend_form=amend_form,
                  visits=day_visits(current_user, d), case_events=events, patrols=patrols, today=local_today(),
                  timedelta=timedelta)


@bp.route("/worklogs/day/<day>/amend", methods=["POST"])
@require("record_visits")
def amend(day):
    """Add a correction to a log whose week was checked."""
    d = _parse_day(day)
    form = AmendForm()
    done = run_form(form, lambda: service.amend(current_user, d, form.content.data), "补充说明已添加。",
                    url_for("worklogs.day", day=d.isoformat()))
    if done:
        return done
    return _day_page(d, service.get_log(current_user.id, d), service.week_check_for(current_user.id, d),
                     LogForm(formdata=None), form)


def _worker_month(user_id, month):
    """The worker (whose logs the user may see) and the first day of a month that has begun, or 404."""
    worker = service.get_worker_or_404(current_user, user_id)
    first = service.parse_month(month)
    if first is None:
        abort(404)
    try:
        PAST.check(first, "月份的第一天")
    except InvalidValue as exc:
        abort(error_response(404, "没有这个月的工作日志", str(exc)))
    return worker, first


@bp.route("/worklogs/users/<int:user_id>/month/<month>")
def month(user_id, month):
    """A month of one worker's logs, week by week, with the week checks (and the check form for leaders)."""
    worker, first = _worker_month(user_id, month)
    days = service.month_days(worker, first)
    weeks = service.month_weeks(worker, days)
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return render("worklogs/month.html", worker=worker, first=first, weeks=weeks, days=days,
                  may_check=service.may_check(current_user, worker), check_form=CheckForm(formdata=None),
                  prev_month=prev_month, next_month=next_month if next_month <= local_today() else None,
                  missing=sum(1 for d in days if d.workday and not d.filled and d.date < local_today()))


@bp.route("/worklogs/users/<int:user_id>/check", methods=["POST"])
@require("check_worklogs")
def check(user_id):
    """周查: mark a worker's week as checked, with a comment."""
    worker = service.get_worker_or_404(current_user, user_id)
    form = CheckForm()
    monday = _parse_day(form.week.data)
    target = url_for("worklogs.month", user_id=worker.id, month=monday.strftime("%Y-%m"))
    if not form.validate_on_submit():
        flash("检查意见太长。", "error")
        return redirect(target)
    return run_action(lambda: service.check_week(current_user, worker, monday, form.comment.data),
                      f"已完成 {worker.full_name} {monday.month}月{monday.day}日这一周的周查。", target)


@bp.route("/worklogs/users/<int:user_id>/month/<month>.pdf")
def month_pdf(user_id, month):
    """A worker's monthly work log as PDF: entries by day, week checks, signature lines."""
    worker, first = _worker_month(user_id, month)
    doc = render_month_pdf(worker, first)
    return pdf.pdf_response(doc, f"工作日志-{worker.full_name}-{first:%Y年%m月}.pdf")


def render_month_pdf(worker, first, today=None, with_pages=False):
    """The monthly work log document (also used by the benchmark)."""
    days = service.month_days(worker, first, today)
    weeks = service.month_weeks(worker, days)
    place = "、".join(g.name for g in worker.grids) or "—"
    village = "、".join(dict.fromkeys(village_name(g) for g in worker.grids)) or place
    return pdf.render_pdf("print/worklog_month.html", title=f"网格员工作日志（{first.year}年{first.month}月）",
                          header=f"{village} · {first.year}年{first.month}月", worker=worker, first=first,
                          weeks=weeks, days=days, place=place, with_pages=with_pages)


@bp.route("/worklogs/team")
@require("check_worklogs")
def team():
    """Who has (not) filled in their logs this week, and each week's check, for a grid's workers."""
    roots = top_grids(current_user)
    grid_id = request.args.get("grid_id", type=int) or (roots[0].id if roots else None)
    if grid_id is None:
        abort(404)
    grid = get_grid_or_404(current_user, grid_id)
    today = local_today()
    ref = today
    if request.args.get("week"):
        try:
            ref = PAST.parse(request.args["week"], "所查的周")
        except InvalidValue as exc:
            flash(f"{exc}已显示本周。", "warning")
    monday, sunday = week_bounds(min(ref, today))
    rows = service.missing_logs(service.team_members(grid), monday, sunday, today)
    days = [monday + timedelta(days=i) for i in range(7)]
    return render("worklogs/team.html", grid=grid, rows=rows, monday=monday, sunday=sunday, days=days, today=today,
                  prev_week=monday - timedelta(days=7), next_week=monday + timedelta(days=7) if sunday < today else None,
                  is_workday=set(workdays_in(monday, sunday)).__contains__)
