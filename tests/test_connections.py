"""Where the areas meet: a visit's problem and a meeting's decision become cases with one tap,
and a worker's case steps and patrols fill the day's work log and the monthly PDF."""

from sqlalchemy import select

from app.cases.models import Case
from app.core.timeutil import local_today
from app.extensions import db
from app.visits.models import VisitProblem
from tests.pdfcheck import check_pdf
from tests.factories import act, case_id_from
from tests.factories import households
from tests.factories import meeting_kind_id, meeting_staff, plan_meeting
from tests.factories import post_visit, visit_form


def _visit_with_problem(app, client, tree, users):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    resp = post_visit(client, hid, visit_form(client, hid), problems="村口水渠堵塞，雨天漫到路上")
    assert resp.status_code == 302
    with app.app_context():
        return hid, db.session.scalar(select(VisitProblem))


def test_a_visit_problem_becomes_a_case_once(app, client, make_client, tree, users):
    hid, problem = _visit_with_problem(app, client, tree, users)
    page = client.get(f"/visits/{problem.visit_id}").get_data(as_text=True)
    assert "转为事件" in page
    resp = client.post(f"/visits/problems/{problem.id}/case")
    case_id = case_id_from(resp)
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert (case.source, case.household_id, case.state) == ("visit", hid, "reported")
        assert case.title == "村口水渠堵塞，雨天漫到路上" and case.grid_id == tree["cluster_a"]
        assert db.session.get(VisitProblem, problem.id).case_id == case_id
    page = client.get(f"/visits/{problem.visit_id}").get_data(as_text=True)
    assert "已转事件" in page and f"/cases/{case_id}" in page
    again = client.post(f"/visits/problems/{problem.id}/case")
    assert "已经转为事件" in client.get(again.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Case.id))) == 1
    other = make_client()
    other.login("worker_b")
    other.get("/")
    assert other.post(f"/visits/problems/{problem.id}/case").status_code == 404


def test_case_steps_and_the_visit_fill_the_days_work_log(app, client, make_client, tree, users, tmp_path):
    hid, problem = _visit_with_problem(app, client, tree, users)
    case_id = case_id_from(client.post(f"/visits/problems/{problem.id}/case"))
    today = local_today()
    page = client.get(f"/worklogs/day/{today.isoformat()}").get_data(as_text=True)
    assert "当天办理的事件和巡查" in page and "申报：村口水渠堵塞" in page
    leader = make_client()
    leader.login("leader")
    assert act(app, leader, case_id, "accept").status_code == 302
    lpage = leader.get(f"/worklogs/day/{today.isoformat()}").get_data(as_text=True)
    assert "村口水渠堵塞" in lpage  # the leader's own step is in the leader's log
    pdf = leader.get(f"/worklogs/users/{users['worker']}/month/{today:%Y-%m}.pdf")
    check_pdf(pdf.data, tmp_path, must_contain=["申报：村口水渠堵塞", "村口水渠堵塞，雨天漫到路上"])


def test_a_meeting_decision_becomes_a_case(app, client, tree, users, tmp_path):
    meeting_staff(app, tree, users)
    client.login("leader")
    resp = plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly"))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    from app.meetings.models import Meeting, MeetingDecision

    with app.app_context():
        meeting = db.session.scalars(select(Meeting)).one()
        decision = MeetingDecision(meeting_id=meeting.id, seq=1, text="一周内修复村道路灯")
        db.session.add(decision)
        db.session.commit()
        mid, did = meeting.id, decision.id
    client.get(f"/meetings/{mid}")
    case_id = case_id_from(client.post(f"/meetings/{mid}/decisions/{did}/case"))
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert (case.source, case.grid_id, case.title) == ("meeting", tree["village_a"], "一周内修复村道路灯")
        assert db.session.get(MeetingDecision, did).case_id == case_id
    page = client.get(f"/meetings/{mid}").get_data(as_text=True)
    assert "已转事件 · 待受理" in page
    minutes = client.get(f"/meetings/{mid}/minutes.pdf")
    assert minutes.status_code == 200
    check_pdf(minutes.data, tmp_path, must_contain=["已转事件（待受理"])


def test_a_decision_with_a_follow_up_keeps_its_owner_and_deadline_as_a_case(app, client, make_client, tree, users,
                                                                              tmp_path):
    """The case is assigned to the follow-up's owner with its deadline, and the follow-up shows the
    case's state until the case is closed."""
    from datetime import timedelta

    from app.core.workdays import end_of_local_day
    from app.meetings.models import FollowUp, Meeting, MeetingDecision

    meeting_staff(app, tree, users)
    client.login("leader")
    assert plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly")).status_code == 302
    due = local_today() + timedelta(days=7)
    with app.app_context():
        meeting = db.session.scalars(select(Meeting)).one()
        decision = MeetingDecision(meeting_id=meeting.id, seq=1, text="修复东庄一组路灯")
        db.session.add(decision)
        db.session.flush()
        db.session.add(FollowUp(decision_id=decision.id, grid_id=meeting.grid_id, owner_name="worker",
                                owner_user_id=users["worker"], deadline=due))
        db.session.commit()
        mid, did = meeting.id, decision.id
    client.get(f"/meetings/{mid}")
    case_id = case_id_from(client.post(f"/meetings/{mid}/decisions/{did}/case"))
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.state == "assigned" and case.holder_user_id == users["worker"]
        assert case.deadline_at == end_of_local_day(due)
    assert "事件已交办" in client.get(f"/meetings/{mid}").get_data(as_text=True)
    worker = make_client()
    worker.login("worker")
    act(app, worker, case_id, "reply", note="已换灯")
    assert "事件已反馈" in client.get(f"/meetings/{mid}").get_data(as_text=True)
    act(app, client, case_id, "close")
    page = client.get(f"/meetings/{mid}").get_data(as_text=True)
    assert f"已办结 {local_today().isoformat()}（事件）" in page
    check_pdf(client.get(f"/meetings/{mid}/minutes.pdf").data, tmp_path, must_contain=["已办结", "见事件"])
