"""Work logs: the day's visits fill in by themselves, weekly checks close a week, amendments keep the
original, who has not filled in, the monthly PDF."""
import re
from datetime import date, datetime, timedelta

import pytest

from sqlalchemy import func, select

from app.accounts.models import User
from app.core.forms import ServiceError
from app.core.timeutil import local_today
from app.core.workdays import is_workday
from app.extensions import db
from app.visits.service import week_bounds
from app.worklogs import service as ws
from app.worklogs.models import WeekCheck, WorkLog, WorkLogAmendment
from tests.pdfcheck import check_pdf
from tests.factories import households
from tests.factories import add_visit


def test_log_shows_the_days_visits_and_saves_text(app, client, tree, users):
    today = local_today()
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
        add_visit(users["worker"], hid, today, "door")
    client.login("worker")
    page = client.get(f"/worklogs/day/{today.isoformat()}").get_data(as_text=True)
    assert "当天走访（1）" in page and "东庄1号" in page
    resp = client.post(f"/worklogs/day/{today.isoformat()}", {"content": "参加村两委例会；巡查河道。"})
    assert resp.status_code == 302
    assert "参加村两委例会" in client.get(resp.headers["Location"]).get_data(as_text=True)
    # one log per day: saving again rewrites it
    client.post(f"/worklogs/day/{today.isoformat()}", {"content": "参加村两委例会。"})
    with app.app_context():
        assert db.session.scalar(select(func.count(WorkLog.id))) == 1
    tomorrow = today + timedelta(days=1)
    assert client.get(f"/worklogs/day/{tomorrow.isoformat()}").status_code == 404
    assert client.get("/worklogs/day/2026-13-40").status_code == 404


def test_checked_week_refuses_edits_and_accepts_an_amendment(app, client, make_client, tree, users):
    monday, _ = week_bounds(local_today() - timedelta(days=7))
    with app.app_context():
        worker = db.session.get(User, users["worker"])
        ws.save_log(worker, monday, "走访三户，宣传医保政策。")
        db.session.commit()
    leader = make_client()
    leader.login("leader")
    month = monday.strftime("%Y-%m")
    page = leader.get(f"/worklogs/users/{users['worker']}/month/{month}").get_data(as_text=True)
    assert "完成周查" in page and "走访三户" in page
    resp = leader.post(f"/worklogs/users/{users['worker']}/check", {"week": monday.isoformat(), "comment": "记录完整。"})
    assert resp.status_code == 302
    again = leader.post(f"/worklogs/users/{users['worker']}/check", {"week": monday.isoformat(), "comment": "再查"})
    assert "已经检查过了" in leader.get(again.headers["Location"]).get_data(as_text=True)

    client.login("worker")
    day_page = client.get(f"/worklogs/day/{monday.isoformat()}").get_data(as_text=True)
    assert "不能修改" in day_page and "记录完整" in day_page
    assert client.post(f"/worklogs/day/{monday.isoformat()}", {"content": "改写"}).status_code == 409
    with app.app_context():
        with pytest.raises(ServiceError, match="不能再修改"):
            ws.save_log(db.session.get(User, users["worker"]), monday, "改写")
        db.session.rollback()
    resp = client.post(f"/worklogs/day/{monday.isoformat()}/amend", {"content": "补：下午还走访了东庄5号。"})
    assert resp.status_code == 302
    html = client.get(f"/worklogs/day/{monday.isoformat()}").get_data(as_text=True)
    assert "走访三户，宣传医保政策。" in html and "补：下午还走访了东庄5号。" in html
    empty = client.post(f"/worklogs/day/{monday.isoformat()}/amend", {"content": ""})
    assert empty.status_code == 422 and "请填写补充说明的内容" in empty.get_data(as_text=True)
    with app.app_context():
        log = db.session.scalar(select(WorkLog))
        assert log.content == "走访三户，宣传医保政策。"
        assert [a.content for a in log.amendments] == ["补：下午还走访了东庄5号。"]


def test_only_leaders_of_the_workers_grid_check(app, make_client, tree, users, make_user):
    monday, _ = week_bounds(local_today() - timedelta(days=7))
    other_leader = make_user("leader_b", "leader", [tree["village_b"]])
    w = make_client()
    w.login("worker")
    w.get("/")
    assert w.post(f"/worklogs/users/{users['worker']}/check", {"week": monday.isoformat()}).status_code == 403
    lb = make_client()
    lb.login("leader_b")
    lb.get("/")
    assert lb.get(f"/worklogs/users/{users['worker']}/month/{monday:%Y-%m}").status_code == 404
    assert lb.post(f"/worklogs/users/{users['worker']}/check", {"week": monday.isoformat()}).status_code == 404
    with app.app_context():
        leader = db.session.get(User, users["leader"])
        worker = db.session.get(User, users["worker"])
        with pytest.raises(ServiceError, match="周一"):
            ws.check_week(leader, worker, monday + timedelta(days=1), "")
        with pytest.raises(ServiceError, match="还没有开始"):
            ws.check_week(leader, worker, monday + timedelta(days=14), "")
        assert db.session.scalar(select(func.count(WeekCheck.id))) == 0


def test_missing_logs_use_the_working_day_calendar(ctx, tree, users):
    worker = db.session.get(User, users["worker"])
    # 2026 (official calendar): Sunday 09-20 and Saturday 10-10 are make-up working days (调休);
    # 09-27 (Mid-autumn) and 10-01..10-07 (National Day) are holidays
    ws.save_log(worker, date(2026, 9, 28), "日志")
    db.session.commit()
    (row,) = ws.missing_logs([worker], date(2026, 9, 20), date(2026, 10, 10), today=date(2026, 10, 20))
    assert date(2026, 9, 20) in row.days and date(2026, 10, 10) in row.days
    assert date(2026, 9, 28) not in row.days and date(2026, 9, 27) not in row.days
    assert not any(date(2026, 10, 1) <= d <= date(2026, 10, 7) for d in row.days)


def test_team_page_flags_who_has_not_filled_in(app, client, tree, users):
    client.login("leader")
    monday, _ = week_bounds(local_today() - timedelta(days=7))
    html = client.get(f"/worklogs/team?grid_id={tree['village_a']}&week={monday.isoformat()}").get_data(as_text=True)
    assert "worker" in html and "未填" in html
    client.logout()
    client.login("worker")
    assert client.get("/worklogs/team").status_code == 403


def test_the_week_overview_shows_a_sunday_with_a_log_and_visits(app, client, tree, users):
    monday, sunday = week_bounds(local_today() - timedelta(days=7))
    with app.app_context():
        hids = households(tree["cluster_a"], 8)
        for hid in hids:
            add_visit(users["worker"], hid, sunday, "door")
        ws.save_log(db.session.get(User, users["worker"]), sunday, "周日集中走访东庄一组")
        db.session.commit()
    client.login("leader")
    html = client.get(f"/worklogs/team?grid_id={tree['village_a']}&week={monday.isoformat()}").get_data(as_text=True)
    row = next(r for r in re.findall(r"<tr.*?</tr>", html, re.S) if ">worker<" in r)
    cell = re.search(rf'data-label="周日 {sunday.month}-{sunday.day}">(.*?)</td>', row, re.S).group(1)
    assert "已填" in cell and "走访 8" in cell, cell


def test_monthly_pdf(app, client, tree, users, tmp_path):
    today = local_today()
    first = today.replace(day=1) - timedelta(days=1)
    first = first.replace(day=1)  # last month: every day is in the past
    monday, _ = week_bounds(first + timedelta(days=7))
    with app.app_context():
        ids = households(tree["cluster_a"], 3)
        from app.households.models import Household

        full_id = db.session.get(Household, ids[0]).head.id_number
        worker = db.session.get(User, users["worker"])
        d = first
        n = 0
        while d.month == first.month:
            if is_workday(d):
                for hid in ids[:2]:
                    add_visit(users["worker"], hid, d, "door" if n % 2 else "phone")
                n += 1
                db.session.add(WorkLog(user_id=worker.id, log_date=d, content=f"第{n}天：整理台账，核对 {full_id if n == 1 else '信息'}。"))
            d += timedelta(days=1)
        db.session.add(WeekCheck(user_id=worker.id, week_start=monday, checker_id=users["leader"],
                                 comment="本周走访到位。", checked_at=datetime(first.year, first.month, 20)))
        db.session.commit()
        log = db.session.scalar(select(WorkLog).where(WorkLog.log_date >= monday).order_by(WorkLog.log_date))
        db.session.add(WorkLogAmendment(log_id=log.id, content="补充：当天还参加了安全生产培训。", author_id=worker.id))
        db.session.commit()
    client.login("leader")
    resp = client.get(f"/worklogs/users/{users['worker']}/month/{first:%Y-%m}.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = check_pdf(resp.data, tmp_path, must_contain=[
        f"网格员工作日志（{first.year}年{first.month}月）", "周查记录", "本周走访到位。", "网格员（签字）", "检查人（签字）",
        "补充：当天还参加了安全生产培训。", "东庄1号", "第1天"])
    from tests.pdfcheck import pdf_pages

    assert pdf_pages(resp.data) >= 2
    assert full_id not in text.replace(" ", "")


def test_the_worker_is_told_when_a_week_is_checked(app, client, make_client, tree, users):
    from app.notifications.models import Notification

    monday, _ = week_bounds(local_today() - timedelta(days=7))
    leader = make_client()
    leader.login("leader")
    leader.get(f"/worklogs/users/{users['worker']}/month/{monday:%Y-%m}")
    leader.post(f"/worklogs/users/{users['worker']}/check", {"week": monday.isoformat(), "comment": "走访记录详实，继续保持。"})
    client.login("worker")
    home = client.get("/").get_data(as_text=True)
    assert re.search(r'id="unread-count"><span class="sr-only">未读 </span>1</span>', home)
    page = client.get("/notifications").get_data(as_text=True)
    assert f"已检查您 {monday.month}月{monday.day}日起一周的工作日志：走访记录详实，继续保持。" in page
    with app.app_context():
        note = db.session.scalar(select(Notification).where(Notification.user_id == users["worker"]))
        assert note.kind == "week_check" and note.case_id is None
    opened = client.post(f"/notifications/{note.id}/open")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(
        f"/worklogs/users/{users['worker']}/month/{monday:%Y-%m}")
    assert "走访记录详实" in client.get(opened.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Notification, note.id).read_at is not None
        # nobody else is told, the leader included
        assert db.session.scalar(select(func.count(Notification.id))) == 1


def test_the_admin_calendar_is_the_one_calendar_of_logs_cases_and_assessment(app, client, tree, users):
    """A day the admin declares a holiday is not due in the work logs, the team page, the assessment's
    log days, and a typed case deadline on it is flagged; a Saturday declared worked is due everywhere."""
    from app.assessment.activity import Activity
    from app.cases.service import deadline_warning
    from app.core.workdays import CalendarDay

    off, worked = date(2025, 10, 17), date(2025, 10, 18)  # a Friday and a Saturday
    with app.app_context():
        db.session.add_all([CalendarDay(day=off, is_workday=False, name="本地放假"),
                            CalendarDay(day=worked, is_workday=True, name="本地补班")])
        worker = db.session.get(User, users["worker"])
        worker.created_at = datetime(2025, 1, 1)
        db.session.commit()
        (row,) = ws.missing_logs([worker], date(2025, 10, 13), date(2025, 10, 19), today=date(2025, 11, 1))
        assert off not in row.days and worked in row.days
        days = {d.date: d.workday for d in ws.month_days(worker, date(2025, 10, 1), today=date(2025, 11, 1))}
        assert days[off] is False and days[worked] is True
        month = Activity([], date(2025, 10, 1), date(2025, 10, 31), date(2025, 11, 1), detail=True)
        due, _, missing = month.log_days([worker])[worker.id]
        assert off not in missing and worked in missing and due == 18  # 18 official ones, the 17th off, the 18th on
        assert Activity([], date(2025, 10, 1), date(2025, 10, 31), date(2025, 11, 1)).log_days([worker])[worker.id][:1] == (18,)
        assert "节假日" in deadline_warning(off) and deadline_warning(worked) is None
    client.login("leader")
    html = client.get(f"/worklogs/team?grid_id={tree['village_a']}&week=2025-10-13").get_data(as_text=True)
    row = next(r for r in re.findall(r"<tr.*?</tr>", html, re.S) if ">worker<" in r)
    assert "未填" in re.search(r'data-label="周六 10-18">(.*?)</td>', row, re.S).group(1)
    assert "休" in re.search(r'data-label="周五 10-17">(.*?)</td>', row, re.S).group(1)
