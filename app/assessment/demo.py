"""Demo activity for the assessment (all made up): the grids and accounts have existed for a year;
each village patrols and meets with its own diligence; the township scored the ledgers, took points
off once, and published the month before last."""
from datetime import datetime, timedelta

from sqlalchemy import select

from ..accounts.models import User
from ..core.db import starts_with
from ..core.timeutil import local_today, utcnow
from ..extensions import db
from ..grids.models import Grid, GridLevel
from ..households.contacts import workers_of
from ..meetings import service as meetings
from ..meetings.models import MeetingKind
from ..patrols.models import Patrol
from . import selfeval, service

REPORTS = ["各网格汇报本月走访和矛盾纠纷排查情况。", "通报上月事件办理和群众满意度。", "布置防汛和秸秆禁烧工作。"]


def build_demo_assessment(town, villages, diligence, rng):
    """Patrols and meetings of the last months in each village (``diligence``: 0–1 per village),
    manual scores for last month, and the month before last published for the township."""
    year_ago = utcnow() - timedelta(days=400)
    town.created_at = year_ago
    for village in villages:  # the township's other villages start keeping records today (未参评)
        for grid in db.session.scalars(select(Grid).where(starts_with(Grid.path, village.path))):
            grid.created_at = year_ago
    for user in db.session.scalars(select(User)):
        user.created_at = year_ago
    db.session.flush()
    today = local_today()
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    start = (start - timedelta(days=1)).replace(day=1)  # the first day of the month before last
    for village, care in zip(villages, diligence):
        _patrols(village, care, start, today, rng)
        _meetings(village, care, start, today, rng)
    township = db.session.scalar(select(User).where(User.username == "township"))
    last = service.period_of("month", today).previous()
    for kind in ("worker", "village"):
        scheme = service.scheme_for(town, kind)
        ledger = next(it for it in scheme.items if it.kind == "manual")
        demo_ids = {v.id for v in villages} if kind == "village" else {
            w.user.id for v in villages for w in workers_of(v)}
        for subject in [s for s in service.subjects_in(town, kind) if s.id in demo_ids]:
            points = rng.choice((100, 95, 90, 85, 80))
            service.enter_manual(township, subject, ledger, last, points, "检查台账：" + (
                "底数清、信息准" if points >= 95 else "个别户信息未及时更新"))
    worker = db.session.scalar(select(User).where(User.role == "worker").order_by(User.id))
    if worker is not None:
        deduction = next(it for it in service.scheme_for(town, "worker").items if it.kind == "deduction")
        service.enter_manual(township, service.worker_subject(worker), deduction, last, deduction.unit_points,
                             "镇督查组抽查：2户走访记录与实际不符")
    for kind in ("worker", "village"):
        service.freeze(township, town, kind, last.previous(), today)
    db.session.flush()
    build_demo_self_evaluations(villages, rng, today)


SELF_COMMENTS = {"走访": "重点户每月上门，普通户按季度走访", "巡查": "雨季前加密巡查", "例会": "按月召开网格例会",
                 "台账": "户情变化当月更新"}


def _typed(ev, rng, prefix_scores):
    """Scores near what the records propose (a grid rates itself a little generously), with comments."""
    typed = {}
    for ln in ev.lines:
        base = ln.proposed if ln.proposed is not None else 0
        score = min(ln.high, max(ln.low, base + prefix_scores(ln)))
        typed[ln.id] = selfeval.Typed(str(score), SELF_COMMENTS.get(ln.name, ""))
    return typed


def build_demo_self_evaluations(villages, rng, today):
    """Last quarter's 季度自评: each village's first house cluster (its worker fills it in) and each
    village (its 网格长): rated by the village and the township in the first village, submitted and
    waiting in the second, a draft in the third."""
    quarter = service.period_of("quarter", today).previous()
    township = db.session.scalar(select(User).where(User.username == "township"))
    for vi, village in enumerate(villages, start=1):
        worker = db.session.scalar(select(User).where(User.username == f"worker{vi}"))
        leader = db.session.scalar(select(User).where(User.username == f"leader{vi}"))
        vadmin = db.session.scalar(select(User).where(User.username == f"village{vi}"))
        for filler, grid, rater in ((worker, worker.grids[0] if worker and worker.grids else None, vadmin),
                                    (leader, village, township)):
            if filler is None or grid is None:
                continue
            ev = selfeval.start(filler, grid, quarter, today)
            typed = _typed(ev, rng, lambda ln: rng.choice((0, 0, 5, 10)) if ln.kind in ("auto", "manual") else 0)
            if vi == 3:
                selfeval.act(filler, ev, "save", ev.version, typed=typed, summary="")
                continue
            selfeval.act(filler, ev, "submit", ev.version, typed=typed,
                         summary="本季度网格运行正常，走访、巡查按计划完成；个别户信息更新不及时，下季度逐户核实。")
            if vi == 1:
                rated = {ln.id: selfeval.Typed(str(max(ln.low, min(ln.high, (ln.self_score or 0) - rng.choice(
                    (0, 0, 5))))), "与记录相符" if ln.kind == "auto" else "") for ln in ev.lines}
                selfeval.act(rater, ev, "rate", ev.version, typed=rated, summary="自评基本属实，走访记录需补充照片。")
    db.session.flush()


def _patrols(village, care, start, today, rng):
    levels = {lv.key: lv.id for lv in db.session.scalars(select(GridLevel))}
    grids = db.session.scalars(select(Grid).where(starts_with(Grid.path, village.path), Grid.level_id.in_(
        [levels.get("cluster", -1), levels.get("natural_village", -1)]))).all()
    patroller = db.session.scalar(select(User).where(User.role.in_(("worker", "leader")),
                                                     User.grids.any(starts_with(Grid.path, village.path))))
    if patroller is None:
        return
    for grid in grids:
        every = 7 if grid.level_id == levels.get("cluster") else 30
        day = start
        while day < today:
            if rng.random() < care:
                at = datetime(day.year, day.month, day.day, rng.randrange(1, 9))
                db.session.add(Patrol(grid_id=grid.id, patrolled_by_id=patroller.id, patrolled_at=at,
                                      place=f"{grid.name}村道沿线", checked="道路、河塘护栏、用电线路", findings="正常"))
            day += timedelta(days=every)


def _meetings(village, care, start, today, rng):
    host = db.session.scalar(select(User).where(User.role == "leader", User.grids.any(Grid.id == village.id)))
    kinds = db.session.scalars(select(MeetingKind).where(MeetingKind.grid_id.is_(None),
                                                         MeetingKind.cadence_months > 0)).all()
    grids = db.session.scalars(select(Grid).where(starts_with(Grid.path, village.path))).all()
    for kind in kinds:
        for grid in grids:
            if grid.level.key != kind.level_key:
                continue
            ps = meetings.period_start(start, kind.cadence_months)
            while ps <= today:
                held_on = ps + timedelta(days=rng.randrange(5, 20))
                if held_on < today and rng.random() < care:
                    meeting = meetings.plan_meeting(host, grid, meetings.PlanData(
                        kind_id=kind.id, held_on=held_on, start_time="09:00", place=f"{village.name}村委会会议室",
                        host=host.full_name if host else ""))
                    attendance = {a.id: "present" if rng.random() < 0.9 else rng.choice(("absent", "leave"))
                                  for a in meeting.attendees}
                    if meeting.attendees and "present" not in attendance.values():
                        attendance[meeting.attendees[0].id] = "present"
                    meetings.record_minutes(meeting, meetings.MinutesData(attendance, reports=rng.choice(REPORTS)),
                                            utcnow())
                ps = meetings.previous_period(ps, -kind.cadence_months)
