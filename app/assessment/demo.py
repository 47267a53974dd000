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
from ..households.models import PARTY_MEMBER, ContactLink, Household, Resident
from ..meetings import service as meetings
from ..meetings.models import MeetingKind
from ..patrols.models import Patrol
from . import party, selfeval, service

VOLUNTEER_WORK = ["为独居老人打扫卫生、代购药品", "参加村道垃圾清理", "秸秆禁烧值守", "帮助返乡青年办理创业贷款（1+1帮带）",
                  "防汛巡堤值守"]
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
    for village in villages:
        build_demo_party_points(village, rng, today)
        build_demo_team_checks(village, rng, today)


def build_demo_team_checks(village, rng, today):
    """Last month the village administrator checked what half of the service-team members know (应知应会)."""
    checker = db.session.scalar(select(User).where(User.role == "village_admin", User.grids.any(Grid.id == village.id)))
    members = party.members_in(village, party.TEAM)
    if checker is None or not members:
        return
    last = service.period_of("month", today).previous()
    check = next(it for it in service.scheme_for(village, party.TEAM).items if it.kind == "manual")
    for member in rng.sample(members, max(1, len(members) // 2)):
        points = rng.choice((70, 65, 60, 55, 45))
        service.enter_manual(checker, member, check, last, points, "抽问村情户情、惠民政策" + (
            "，回答准确" if points >= 60 else "，对本组低保户情况不熟悉"))


def build_demo_party_points(village, rng, today):
    """Each party member of the village links two or three households of their house cluster (since a few
    months ago); the 网格长 registered last month's 志愿服务 of some of them."""
    members = _party_members(village)
    if not members:
        return
    leader = db.session.scalar(select(User).where(User.role == "leader", User.grids.any(Grid.id == village.id)))
    for member in members:
        taken = {link.household_id for link in db.session.scalars(select(ContactLink).where(
            ContactLink.resident_id == member.id))}
        others = db.session.scalars(select(Household).where(
            Household.grid_id == member.grid_id, Household.id != member.household_id, Household.status == "active",
            Household.id.not_in(taken or {0})).order_by(Household.id)).all()
        since = (today.replace(day=1) - timedelta(days=rng.choice((40, 70, 100)))).replace(day=1)
        for hh in rng.sample(others, min(len(others), rng.choice((2, 3)))):
            db.session.add(ContactLink(household_id=hh.id, resident_id=member.id, role="party_member", since=since))
    db.session.flush()
    last = service.period_of("month", today).previous()
    scheme = service.scheme_for(village, party.KIND)
    volunteer = next(it for it in scheme.items if it.name == "志愿服务")
    if leader is None:
        return
    for member in rng.sample(members, max(1, len(members) // 2)):
        for _ in range(rng.choice((1, 2))):
            service.enter_manual(leader, party.member_subject(member), volunteer, last, volunteer.unit_points,
                                 rng.choice(VOLUNTEER_WORK))


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


def _party_members(village):
    return db.session.scalars(select(Resident).join(Grid, Grid.id == Resident.grid_id).where(
        starts_with(Grid.path, village.path), Resident.political_status.in_(PARTY_MEMBER),
        Resident.status == "active").order_by(Resident.id)).all()


def _meetings(village, care, start, today, rng):
    host = db.session.scalar(select(User).where(User.role == "leader", User.grids.any(Grid.id == village.id)))
    members = _party_members(village)
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
                    if grid.id == village.id:  # the village's party members sit in its meetings
                        for member in members:
                            meetings.add_attendee(meeting, member, "党员")
                    attendance = {a.id: "present" if rng.random() < 0.9 else rng.choice(("absent", "leave"))
                                  for a in meeting.attendees}
                    if meeting.attendees and "present" not in attendance.values():
                        attendance[meeting.attendees[0].id] = "present"
                    meetings.record_minutes(meeting, meetings.MinutesData(attendance, reports=rng.choice(REPORTS)),
                                            utcnow())
                ps = meetings.previous_period(ps, -kind.cadence_months)
