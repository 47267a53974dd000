"""需审批: a case of that class is approved by the level its category names before it is handled,
approved or refused with a reason on the timeline; 四必到: who must be on site at a 突发 case
records their arrival (time and who) on it."""
import io

from sqlalchemy import update

from app.cases.models import Case, CaseCategory
from app.extensions import db
from tests.factories import act, case_id_from, category_id, unread


def _new_case(app, make_client, tree, klass, title):
    worker = make_client()
    worker.login("worker")
    worker.get("/cases/new")
    resp = worker.post("/cases/new", {"title": title, "grid_id": tree["cluster_a"], "category_id": category_id("民政"),
                                      "handling_class": klass, "source": "worker"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return case_id_from(resp)


def _state(app, case_id):
    with app.app_context():
        return db.session.get(Case, case_id).state


def test_an_approval_case_is_approved_by_the_named_level_before_it_is_handled(app, make_client, tree, users):
    admin = make_client()
    admin.login("admin")
    page = admin.get(f"/cases/settings/categories/{category_id('民政')}").get_data(as_text=True)
    assert "需审批事件由哪一级审批" in page
    with app.app_context():
        db.session.execute(update(CaseCategory).where(CaseCategory.name == "民政").values(approval_level="town"))
        db.session.commit()
    case_id = _new_case(app, make_client, tree, "approval", "申请临时救助")
    leader = make_client()
    leader.login("leader")
    act(app, leader, case_id, "accept")
    page = leader.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "确认报请审批" in page and "确认交办" not in page and "确认移交部门" not in page
    assert act(app, leader, case_id, "request_approval", note="材料齐全").status_code == 302
    assert _state(app, case_id) == "approving"
    assert any(t.startswith("待审批：申请临时救助") for t in unread(app, users["township"]))
    # The village cannot approve its own request; the township (the level 民政 names) can.
    assert "确认审批同意" not in leader.get(f"/cases/{case_id}").get_data(as_text=True)
    township = make_client()
    township.login("township")
    assert "请填写" in act(app, township, case_id, "approve").get_data(as_text=True)  # a reason is required
    assert act(app, township, case_id, "approve", note="符合临时救助条件，同意").status_code == 302
    assert _state(app, case_id) == "accepted"
    page = leader.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "审批同意" in page and "符合临时救助条件，同意" in page and "确认交办" in page
    assert act(app, leader, case_id, "assign", assignee_id=users["worker"]).status_code == 302
    with app.app_context():
        steps = [e.action for e in db.session.get(Case, case_id).events]
    assert steps == ["report", "accept", "request_approval", "approve", "assign"]


def test_a_refusal_gives_its_reason_as_the_answer(app, make_client, tree, users):
    case_id = _new_case(app, make_client, tree, "approval", "申请宅基地")
    leader = make_client()
    leader.login("leader")
    act(app, leader, case_id, "accept")
    act(app, leader, case_id, "request_approval")
    township = make_client()  # no level named: the next level with a desk above the village
    township.login("township")
    assert act(app, township, case_id, "refuse_approval", note="不符合一户一宅规定").status_code == 302
    assert _state(app, case_id) == "replied"
    assert any("不符合一户一宅规定" in t for t in unread(app, users["worker"]))  # the reporter hears why
    with app.app_context():
        receipt = db.session.get(Case, case_id).receipt_code
    html = make_client().get(f"/q/r?receipt={receipt}").get_data(as_text=True)
    assert "不符合一户一宅规定" in html and "不予批准" in html


def test_four_must_arrive_record_their_arrival_on_an_emergency(app, make_client, tree, users):
    case_id = _new_case(app, make_client, tree, "emergency", "山体塌方堵路")
    leader, township = make_client(), make_client()
    leader.login("leader")
    township.login("township")
    assert act(app, leader, case_id, "arrive", note="已到现场，设置警戒",
               photos=(io.BytesIO(b""), "")).status_code == 302
    assert act(app, township, case_id, "arrive").status_code == 302
    page = leader.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="arrivals"' in page and "leader（网格长）" in page and "township（乡镇工作人员）" in page
    assert "确认到场" not in page  # once each
    with app.app_context():
        case = db.session.get(Case, case_id)
        arrivals = [(e.actor_id, e.detail) for e in case.events if e.action == "arrive"]
        assert arrivals == [(users["leader"], "leader 到场"), (users["township"], "township 到场")]
        assert case.state == "reported"  # arriving changes no state and no deadline
    # Not for an ordinary case.
    other = _new_case(app, make_client, tree, "coordination", "路灯不亮")
    assert "确认到场" not in leader.get(f"/cases/{other}").get_data(as_text=True)
