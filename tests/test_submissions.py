"""A submitted form makes one record however often it arrives, simultaneous copies included (real
threads, on SQLite and PostgreSQL); what was typed survives a session timeout, for its user only."""
import re
import threading
from datetime import timedelta

from sqlalchemy import func, select, update

from app.core.timeutil import utcnow
from app.extensions import db
from tests.factories import category_id
from tests.factories import ledger_fixture

KEY_RE = re.compile(r'name="form_key" type="hidden" value="([0-9a-f]+)"')


def _key(client, url):
    page = client.get(url)
    assert page.status_code == 200
    return KEY_RE.search(page.get_data(as_text=True)).group(1)


def _at_once(make_client, role, url, data, n=2):
    """``n`` clients of the same user post the same form (same key) at the same moment: their answers."""
    clients = [make_client() for _ in range(n)]
    for c in clients:
        c.login(role)
        c.get("/")  # the CSRF token of the new login
    barrier, answers = threading.Barrier(n), [None] * n

    def post(i):
        barrier.wait()
        answers[i] = clients[i].post(url, dict(data), content_type="multipart/form-data")

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def _count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _case_form(app, tree):
    with app.app_context():
        cat = category_id("环境")
    return {"title": "村口路灯不亮", "description": "三盏路灯不亮", "grid_id": tree["cluster_a"], "category_id": cat,
            "handling_class": "coordination", "source": "worker"}


def test_a_case_report_sent_again_after_a_lost_answer_makes_no_second_case(app, make_client, tree, users):
    from app.cases.models import Case
    from app.notifications.models import Notification

    c = make_client()
    c.login("worker")
    data = {**_case_form(app, tree), "form_key": _key(c, "/cases/new")}
    first = c.post("/cases/new", data)
    assert first.status_code == 302
    notes = _count(app, Notification)
    again = c.post("/cases/new", data)  # the answer to the first never arrived: the user taps 保存 again
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    assert "已经保存过了，没有重复登记" in c.get(again.headers["Location"]).get_data(as_text=True)
    assert _count(app, Case) == 1 and _count(app, Notification) == notes


def test_simultaneous_identical_case_reports_make_one_case(app, make_client, tree, users):
    from app.cases.models import Case

    for round_ in range(3):
        probe = make_client()
        probe.login("worker")
        data = {**_case_form(app, tree), "title": f"路灯{round_}", "form_key": _key(probe, "/cases/new")}
        answers = _at_once(make_client, "worker", "/cases/new", data)
        assert [a.status_code for a in answers] == [302, 302], [a.get_data(as_text=True)[:300] for a in answers]
        assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert _count(app, Case) == 3


def test_simultaneous_identical_visits_and_work_logs_answer_like_one(app, make_client, tree, users):
    """On PostgreSQL the second of two simultaneous posts used to hit the unique index and answer 500."""
    from app.core.timeutil import local_today
    from app.grids.models import Grid
    from app.visits.models import Visit
    from app.worklogs.models import WorkLog
    from tests.factories import now_local

    with app.app_context():
        hid = ledger_fixture(db.session.get(Grid, tree["cluster_a"])).id
    probe = make_client()
    probe.login("worker")
    url = f"/visits/new?household_id={hid}"
    for n in range(3):
        data = {"household_id": str(hid), "method": "door", "learned": f"第{n}次走访",
                "visited_at": (now_local() - timedelta(minutes=n + 1)).strftime("%Y-%m-%dT%H:%M"),
                "form_key": _key(probe, url)}
        answers = _at_once(make_client, "worker", url, data)
        assert [a.status_code for a in answers] == [302, 302]
        assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert _count(app, Visit) == 3
    day = f"/worklogs/day/{local_today().isoformat()}"
    answers = _at_once(make_client, "worker", day, {"content": "整理台账", "form_key": _key(probe, day)})
    assert [a.status_code for a in answers] == [302, 302]
    assert _count(app, WorkLog) == 1


def test_simultaneous_work_logs_without_a_shared_key_and_week_checks_never_answer_500(app, make_client, tree, users):
    """Two tabs (each its own key, or a page from before keys) saving the same day's log at once, and two
    leaders checking the same week at once: one row each, and no 500 from the unique index on PostgreSQL."""
    from app.core.timeutil import local_today
    from app.visits.service import week_bounds
    from app.worklogs.models import WeekCheck, WorkLog

    today = local_today()
    day = f"/worklogs/day/{today.isoformat()}"
    for n in range(3):
        with app.app_context():
            db.session.execute(WorkLog.__table__.delete())
            db.session.commit()
        answers = _at_once(make_client, "worker", day, {"content": f"整理台账{n}", "form_key": ""})
        assert [a.status_code for a in answers] == [302, 302], [a.get_data(as_text=True)[:300] for a in answers]
        assert _count(app, WorkLog) == 1
    monday = week_bounds(today)[0] - timedelta(days=7)
    url = f"/worklogs/users/{users['worker']}/check"
    answers = _at_once(make_client, "leader", url, {"week": monday.isoformat(), "comment": "已查"})
    assert [a.status_code for a in answers] == [302, 302], [a.get_data(as_text=True)[:300] for a in answers]
    assert _count(app, WeekCheck) == 1


def test_a_key_sent_by_another_user_shows_nothing_of_theirs(app, make_client, tree, users):
    from app.cases.models import Case

    a, b = make_client(), make_client()
    a.login("worker")
    b.login("leader")
    data = {**_case_form(app, tree), "form_key": _key(a, "/cases/new")}
    first = a.post("/cases/new", data)
    b.get("/cases/new")
    other = b.post("/cases/new", data)
    assert other.status_code == 422 and "表单已过期" in other.get_data(as_text=True)
    assert first.headers["Location"] not in other.get_data(as_text=True) and _count(app, Case) == 1


def test_the_public_intake_sent_twice_gives_one_receipt(app, make_client, tree, users):
    from app.cases.models import Case
    from app.core.public import grid_public_code

    c = make_client()
    with app.app_context():
        url = f"/q/{grid_public_code(tree['cluster_a'])}"
    data = {"what": "路灯坏了", "where": "活动室门口", "reporter_phone": "13700000000", "form_key": _key(c, url)}
    receipts = [re.search(r'id="receipt">([A-Z0-9]{4}-[A-Z0-9]{4})<', c.post(url, data, follow_redirects=True)
                          .get_data(as_text=True)).group(1) for _ in range(2)]
    assert receipts[0] == receipts[1] and _count(app, Case) == 1


# A session that timed out while the form was open

def _expire(app, username):
    from app.accounts.models import LoginSession, User

    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.username == username))
        db.session.execute(update(LoginSession).where(LoginSession.user_id == uid)
                           .values(last_seen_at=utcnow() - timedelta(hours=2)))
        db.session.commit()


def test_a_visit_typed_past_the_timeout_comes_back_after_logging_in_again(app, make_client, tree, users):
    from app.core.form_stash import FormStash
    from app.core.models import AuditLog
    from app.visits.models import Visit
    from tests.factories import now_local

    with app.app_context():
        from app.grids.models import Grid

        hid = ledger_fixture(db.session.get(Grid, tree["cluster_a"])).id
    c = make_client()
    c.login("worker")
    url = f"/visits/new?household_id={hid}"
    key = _key(c, url)
    _expire(app, "worker")  # 30 minutes talking to the family
    data = {"household_id": str(hid), "method": "door", "learned": "老人腿脚不便，希望帮忙申请轮椅",
            "visited_at": now_local().strftime("%Y-%m-%dT%H:%M"), "form_key": key}
    refused = c.post(url, data, content_type="multipart/form-data", headers={"Referer": f"http://localhost{url}"})
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    login_page = c.get(refused.headers["Location"]).get_data(as_text=True)
    assert "刚才填写的内容会还给您" in login_page
    assert _count(app, Visit) == 0 and _count(app, FormStash) == 1

    # Someone else logs in on the same PC and follows the same link: an empty form, the stash stays.
    other = make_client()
    other.raw.set_cookie("session", "", domain="localhost")  # a fresh browser session
    assert other.login("leader").status_code == 302
    back = refused.headers["Location"].split("next=", 1)[1]
    from urllib.parse import unquote

    back = unquote(back)
    assert "老人腿脚不便" not in other.get(back).get_data(as_text=True)
    assert _count(app, FormStash) == 1 and "继续填写" not in other.get("/").get_data(as_text=True)

    # The worker logs in again: sent back to the form, filled with what was typed, the stash used up.
    resp = c.post(refused.headers["Location"].replace("http://localhost", ""),
                  {"username": "worker", "password": "Grid-test-pass-2026"})
    assert resp.status_code == 302 and "restore=" in resp.headers["Location"]
    assert f"household_id={hid}" in resp.headers["Location"]
    assert "继续填写" in c.get("/").get_data(as_text=True)  # also offered on the home page
    page = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "老人腿脚不便，希望帮忙申请轮椅" in page and "已恢复您登录超时前填写的内容" in page and key in page
    assert _count(app, FormStash) == 0
    assert "老人腿脚不便" not in c.get(resp.headers["Location"]).get_data(as_text=True)  # once only
    assert "继续填写" not in c.get("/").get_data(as_text=True)
    with app.app_context():
        actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"form_kept", "form_restored"} <= actions


def test_a_kept_form_expires_within_the_hour(app, make_client, tree, users):
    from app.core.form_stash import FormStash

    c = make_client()
    c.login("worker")
    data = {**_case_form(app, tree), "description": "过期的内容", "form_key": _key(c, "/cases/new")}
    _expire(app, "worker")
    refused = c.post("/cases/new", data)
    with app.app_context():
        db.session.execute(update(FormStash).values(created_at=utcnow() - timedelta(minutes=61)))
        db.session.commit()
    resp = c.post(refused.headers["Location"].replace("http://localhost", ""),
                  {"username": "worker", "password": "Grid-test-pass-2026"})
    assert "过期的内容" not in c.get(resp.headers["Location"]).get_data(as_text=True)


def test_typing_keeps_the_session_alive(app, make_client, users):
    """The page's script asks /session/alive while a form has unsaved typing: the idle clock restarts."""
    from app.accounts.models import LoginSession

    c = make_client()
    c.login("worker")
    with app.app_context():
        db.session.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=20)))
        db.session.commit()
    assert c.get("/session/alive").status_code == 200
    with app.app_context():
        seen = db.session.scalar(select(LoginSession.last_seen_at))
    assert utcnow() - seen < timedelta(minutes=1)  # the idle clock starts again from the ping


def test_a_visit_problem_turned_into_a_case_by_two_taps_at_once_makes_one_case(app, make_client, tree, users):
    from app.cases.models import Case
    from app.grids.models import Grid
    from tests.factories import visit_fixture

    with app.app_context():
        visit = visit_fixture(ledger_fixture(db.session.get(Grid, tree["cluster_a"])), users["worker"])
        problem_id, visit_id = visit.problems[0].id, visit.id
    answers = _at_once(make_client, "worker", f"/visits/problems/{problem_id}/case", {})
    assert sorted(a.status_code for a in answers) == [302, 302]
    assert _count(app, Case) == 1
    assert f"/visits/{visit_id}" in " ".join(a.headers["Location"] for a in answers)  # the second: "已经转为事件"
