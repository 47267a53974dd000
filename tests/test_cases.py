"""Cases: intake with photos, the full workflow (escalation to the next desk, transfer, urge, extension,
return visit that reopens), notifications, action conflicts, lists, scope and printed forms."""
import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select, update

from app.cases import service as cs
from app.cases.models import Case, CaseEvent, CasePhoto, Department
from app.notifications.models import Notification
from app.core.timeutil import fmt_local, utcnow
from app.extensions import db
from app.grids.models import Grid
from tests.factories import act, case_id_from, category_id, photo_bytes, unread

PHONE = "13812345678"


def state(app, case_id):
    with app.app_context():
        c = db.session.get(Case, case_id)
        return c.state, c.current_grid_id, c.holder_user_id, c.holder_department_id


def test_worker_reports_with_photo_resized_and_served_in_scope(app, make_client, report, users):
    with app.app_context():
        case = db.session.get(Case, report)
        assert case.state == "reported" and case.source == "worker" and len(case.receipt_code) == 8
        assert case.deadline_at is not None and case.reporter_phone == PHONE
        photo = case.photos[0]
        assert max(photo.width, photo.height) == 1600  # resized from 2400×1800
        photo_id = photo.id
        assert [e.action for e in case.events] == ["report"]
    worker = make_client()
    worker.login("worker")
    page = worker.get(f"/cases/{report}").get_data(as_text=True)
    assert "村口路灯不亮" in page and cs.format_receipt(case.receipt_code) in page
    img = worker.get(f"/cases/{report}/photos/{photo_id}")
    assert img.status_code == 200 and img.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(img.data)).size == (1600, 1200)
    other = make_client()
    other.login("worker_b")
    assert other.get(f"/cases/{report}").status_code == 404
    assert other.get(f"/cases/{report}/photos/{photo_id}").status_code == 404
    # The village leader above hears of it.
    assert any("村口路灯不亮" in t for t in unread(app, users["leader"]))


def test_intake_refuses_bad_photos_and_missing_fields(app, make_client, tree, users):
    c = make_client()
    c.login("worker")
    c.get("/cases/new")
    with app.app_context():
        cat = category_id("环境")
    base = {"title": "路面塌陷", "grid_id": tree["cluster_a"], "category_id": cat, "handling_class": "general",
            "source": "worker"}
    resp = c.post("/cases/new", {**base, "photos": (io.BytesIO(b"%PDF-1.4 not an image"), "scan.pdf")})
    assert resp.status_code == 422 and "文件“scan.pdf”不是照片" in resp.get_data(as_text=True)
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    resp = c.post("/cases/new", {**base, "photos": (io.BytesIO(gif.getvalue()), "a.gif")})
    assert "是 GIF 格式" in resp.get_data(as_text=True)
    resp = c.post("/cases/new", {**base, "category_id": ""})
    assert "请选择事件类别" in resp.get_data(as_text=True)
    resp = c.post("/cases/new", {**base, "reporter_phone": "12345"})
    assert resp.status_code == 422 and "电话" in resp.get_data(as_text=True)
    resp = c.post("/cases/new", {**base, "grid_id": tree["cluster_b"]})
    assert "请选择您负责的网格" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Case.id)) is None and db.session.scalar(select(CasePhoto.id)) is None


def test_full_lifecycle_escalation_transfer_urge_return_visit(app, make_client, tree, users, report):
    leader, township, worker = make_client(), make_client(), make_client()
    leader.login("leader")
    township.login("township")
    worker.login("worker")
    # 上报 from 东庄一组 (whose desk is the village: nobody sits at the group or the natural village)
    # goes to the next level with a desk, 甲镇, in one step, on the acceptance clock it started with.
    with app.app_context():
        first_deadline = db.session.get(Case, report).deadline_at
    assert act(app, leader, report, "escalate", note="需镇里协调供电所").status_code == 302
    assert state(app, report)[:2] == ("reported", tree["town_a"])
    with app.app_context():
        assert db.session.get(Case, report).deadline_at == first_deadline
    assert any("上报至 甲镇" in t for t in unread(app, users["township"]))
    # Above the leader's grid now: the leader still follows it but can no longer act.
    page = leader.get(f"/cases/{report}").get_data(as_text=True)
    assert "确认受理" not in page and "上报至 甲镇" in page
    assert act(app, leader, report, "accept").status_code == 422  # refused, shown on the page
    assert state(app, report)[0] == "reported"
    # The township accepts and transfers to the 环保站.
    assert act(app, township, report, "accept", category_id=category_id("环境"), handling_class="coordination").status_code == 302
    with app.app_context():
        dept = db.session.scalar(select(Department).where(Department.name == "环保站"))
    assert act(app, township, report, "transfer", department_id=dept.id, note="请环保站核查").status_code == 302
    assert state(app, report) == ("assigned", tree["town_a"], None, dept.id)
    # The desk records the department's answer; urging is refused once it is answered.
    assert act(app, township, report, "urge", note="请加快").status_code == 302
    assert act(app, township, report, "start").status_code == 302
    resp = act(app, township, report, "reply", note="已更换灯泡", photos=(io.BytesIO(photo_bytes("JPEG")), "done.jpg"))
    assert resp.status_code == 302
    assert act(app, township, report, "close").status_code == 302
    # Return visit: the resident is not satisfied — the case reopens at the township's desk.
    assert act(app, township, report, "follow_up", satisfaction="unsatisfied", note="仍有一盏不亮").status_code == 302
    assert state(app, report)[0] == "accepted"
    # This time the township assigns the worker, urges, the worker asks for more time, gets it, and replies.
    assert act(app, township, report, "assign", assignee_id=users["worker"], note="请跟进").status_code == 302
    assert state(app, report)[2] == users["worker"]
    assert any("您有交办事件" in t for t in unread(app, users["worker"]))
    assert act(app, township, report, "urge", note="今天务必处理").status_code == 302
    assert any(t.startswith("催办") for t in unread(app, users["worker"]))
    assert "消息" in worker.get("/").get_data(as_text=True) and 'id="unread-count"' in worker.get("/").get_data(as_text=True)
    assert act(app, worker, report, "start").status_code == 302
    with app.app_context():
        old_deadline = db.session.get(Case, report).deadline_at
    later = (old_deadline + timedelta(days=10)).date().isoformat()
    assert act(app, worker, report, "request_extension", extend_to=later, note="灯具需订货").status_code == 302
    assert act(app, township, report, "approve_extension").status_code == 302
    with app.app_context():
        case = db.session.get(Case, report)
        assert case.deadline_at > old_deadline and case.extension_until is None
    assert act(app, worker, report, "reply", note="已全部修好").status_code == 302
    assert act(app, township, report, "close").status_code == 302
    assert act(app, township, report, "follow_up", satisfaction="satisfied", note="群众满意").status_code == 302
    assert act(app, township, report, "archive").status_code == 302
    with app.app_context():
        case = db.session.get(Case, report)
        assert case.state == "archived" and case.satisfaction == "satisfied"
        actions = [e.action for e in case.events]
    assert actions == ["report", "escalate", "accept", "transfer", "urge", "start", "reply",
                       "close", "follow_up", "assign", "urge", "start", "request_extension", "approve_extension",
                       "reply", "close", "follow_up", "archive"]
    page = worker.get(f"/cases/{report}").get_data(as_text=True)
    assert "已更换灯泡" in page and "群众不满意，重新办理" in page and "已归档" in page


def test_holder_returns_and_extension_refused(app, make_client, tree, users, report):
    leader, worker = make_client(), make_client()
    leader.login("leader")
    worker.login("worker")
    act(app, leader, report, "accept")
    assert act(app, leader, report, "assign", assignee_id=users["worker"]).status_code == 302
    resp = act(app, worker, report, "return")
    assert "请填写说明" in resp.get_data(as_text=True)
    assert act(app, worker, report, "return", note="不属于本组，请另派").status_code == 302
    assert state(app, report)[0] == "accepted" and state(app, report)[2] is None
    assert any("退回" in t for t in unread(app, users["leader"]))
    act(app, leader, report, "assign", assignee_id=users["worker"])
    with app.app_context():
        deadline = db.session.get(Case, report).deadline_at
    act(app, worker, report, "request_extension", extend_to=(deadline + timedelta(days=5)).date().isoformat(),
        note="等材料")
    assert act(app, leader, report, "refuse_extension", note="必须按期").status_code == 302
    with app.app_context():
        case = db.session.get(Case, report)
        assert case.deadline_at == deadline and case.extension_until is None
    # A worker cannot assign or close; an auditor cannot act at all.
    assert act(app, worker, report, "close").status_code == 422
    auditor = make_client()
    auditor.login("auditor")
    assert auditor.get(f"/cases/{report}").status_code == 200
    with app.app_context():
        version = db.session.get(Case, report).version
    assert auditor.post(f"/cases/{report}/act", {"action": "urge", "urge-version": version}).status_code == 403


def test_deadline_must_not_be_in_the_past_and_assignee_in_scope(app, make_client, users, report):
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    resp = act(app, leader, report, "assign", assignee_id=users["worker"], deadline="2020-01-01")
    assert "办理期限不能早于今天" in resp.get_data(as_text=True)
    resp = act(app, leader, report, "assign", assignee_id=users["worker_b"])
    assert "请选择承办人" in resp.get_data(as_text=True)
    assert state(app, report)[0] == "accepted"


def _two_desks(app, make_client, report):
    """The leader and the village admin both have the case's page open: their clients and its version."""
    leader, village = make_client(), make_client()
    leader.login("leader")
    village.login("village_admin")
    for c in (leader, village):
        assert c.get(f"/cases/{report}").status_code == 200
    with app.app_context():
        return leader, village, db.session.get(Case, report).version


def test_action_conflict_second_user_gets_a_clear_message(app, make_client, users, report):
    leader, village, seen = _two_desks(app, make_client, report)
    first = leader.post(f"/cases/{report}/act", {"action": "accept", "accept-version": seen, "accept-note": "我来"})
    assert first.status_code == 302
    second = village.post(f"/cases/{report}/act", {"action": "escalate", "escalate-version": seen,
                                                    "escalate-note": "上报"})
    assert second.status_code == 409
    html = second.get_data(as_text=True)
    # Who acted first and what, and the refused form again with its note and the case's new version.
    assert "leader（网格长）于" in html and "已“受理”，您的“上报上级”没有保存" in html
    assert "上报</textarea>" in html
    with app.app_context():
        case = db.session.get(Case, report)
        assert case.state == "accepted" and [e.action for e in case.events] == ["report", "accept"]
        assert f'name="escalate-version" type="hidden" value="{case.version}"' in html


def test_the_same_action_pressed_twice_shows_who_did_it_and_keeps_the_note(app, make_client, users, report):
    """Both press 受理: the second sees who accepted first, and the note typed is shown to copy, not lost."""
    leader, village, seen = _two_desks(app, make_client, report)
    assert leader.post(f"/cases/{report}/act", {"action": "accept", "accept-version": seen}).status_code == 302
    second = village.post(f"/cases/{report}/act", {"action": "accept", "accept-version": seen,
                                                    "accept-note": "我村来办，已电话联系反映人"},
                          headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert second.status_code == 409
    html = second.get_data(as_text=True)
    assert 'id="case-refused"' in html and "“受理”没有保存" in html and "leader（网格长）于" in html
    assert "我村来办，已电话联系反映人</textarea>" in html


def test_simultaneous_writes_lose_nothing(app, users, report):
    """Both passed the version check; the slower UPDATE finds the version changed and saves nothing."""
    from app.accounts.models import User

    with app.app_context():
        case = db.session.get(Case, report)
        leader = db.session.get(User, users["leader"])
        seen = case.version
        assert case.current_grid is not None and leader.grids
        # End this session's read without forgetting what it read (SQLite allows one writer at a time).
        db.session().expire_on_commit = False
        db.session.commit()
        with db.engine.begin() as other:  # the other user's action lands in between
            other.execute(update(Case.__table__).where(Case.__table__.c.id == report)
                          .values(version=seen + 1, state="accepted"))
        with pytest.raises(cs.ServiceError) as err:
            cs.perform(leader, case, "escalate", seen, note="上报")
        assert str(err.value) == cs.CONFLICT
        db.session.rollback()
        assert db.session.get(Case, report).state == "accepted"
        assert db.session.scalar(select(CaseEvent.id).where(CaseEvent.action == "escalate")) is None


def test_timeline_is_append_only(app, report):
    with app.app_context():
        ev = db.session.scalar(select(CaseEvent))
        ev.note = "改写"
        with pytest.raises(RuntimeError):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.scalar(select(CaseEvent)))
        with pytest.raises(RuntimeError):
            db.session.flush()
        db.session.rollback()


def test_emergency_alerts_village_and_township_at_once(app, make_client, tree, users, make_user):
    town_leader = make_user("zhenzhang", "leader", [tree["town_a"]])
    c = make_client()
    c.login("worker")
    c.get("/cases/new")
    with app.app_context():
        cat = category_id("安全生产")
    resp = c.post("/cases/new", {"title": "竹木加工厂起火", "location": "东庄一组", "grid_id": tree["cluster_a"],
                                 "category_id": cat, "handling_class": "emergency", "source": "worker"})
    case_id = case_id_from(resp)
    for uid in (users["leader"], users["village_admin"], users["township"], town_leader):
        assert any(t.startswith("【突发】竹木加工厂起火") for t in unread(app, uid)), uid
    assert not any("突发" in t for t in unread(app, users["worker_b"]))
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.deadline_at - case.created_at == timedelta(hours=2)
    # The phone and PC navigation both show the count; opening a message marks it read.
    lc = make_client()
    lc.login("leader")
    home = lc.get("/").get_data(as_text=True)
    assert re.search(r'id="unread-count"><span class="sr-only">未读 </span>\d+', home)
    with app.app_context():
        note_id = db.session.scalar(select(Notification.id).where(Notification.user_id == users["leader"]))
    resp = lc.post(f"/notifications/{note_id}/open")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/cases/{case_id}")
    lc.post("/notifications/read-all")
    assert unread(app, users["leader"]) == []
    # Someone else's message is a 404.
    other = make_client()
    other.login("worker")
    other.get("/")
    assert other.post(f"/notifications/{note_id}/open").status_code == 404


def test_solve_on_spot_only_for_general_cases(app, make_client, tree, users):
    c = make_client()
    c.login("worker")
    c.get("/cases/new")
    with app.app_context():
        cat = category_id("民政")
    case_id = case_id_from(c.post("/cases/new", {"title": "低保政策咨询", "grid_id": tree["cluster_a"],
                                                 "category_id": cat, "handling_class": "general", "source": "office"}))
    assert act(app, c, case_id, "solve_on_spot", note="当场解释了政策").status_code == 302
    assert state(app, case_id)[0] == "closed"
    case2 = case_id_from(c.post("/cases/new", {"title": "宅基地纠纷", "grid_id": tree["cluster_a"],
                                               "category_id": cat, "handling_class": "coordination", "source": "worker"}))
    assert "确认当场办结" not in c.get(f"/cases/{case2}").get_data(as_text=True)


def test_lists_due_overdue_per_person_and_overview(app, make_client, tree, users, report):
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    act(app, leader, report, "assign", assignee_id=users["worker"])
    with app.app_context():
        case = db.session.get(Case, report)
        # A 5-working-day limit turns yellow for its last quarter.
        assert case.deadline_at - case.warn_at >= (case.deadline_at - case.step_started_at) / 4 - timedelta(seconds=1)
    assert "村口路灯不亮" not in leader.get("/cases/?due=warn").get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(Case).where(Case.id == report).values(warn_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    warn = leader.get("/cases/?due=warn").get_data(as_text=True)
    assert "村口路灯不亮" in warn and "due-warn" in warn
    assert "村口路灯不亮" not in leader.get("/cases/?due=late").get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(Case).where(Case.id == report).values(deadline_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    late = leader.get("/cases/?due=late").get_data(as_text=True)
    assert "村口路灯不亮" in late and "due-late" in late
    assert "村口路灯不亮" not in leader.get("/cases/?due=warn").get_data(as_text=True)
    worker = make_client()
    worker.login("worker")
    assert "村口路灯不亮" in worker.get("/cases/?mine=1").get_data(as_text=True)
    overview = leader.get("/cases/overview").get_data(as_text=True)
    assert "worker" in overview and 'class="due due-late">1<' in overview
    assert "村口路灯不亮" in leader.get(f"/cases/?grid_id={tree['nv_a']}").get_data(as_text=True)
    assert leader.get(f"/cases/?grid_id={tree['village_b']}").status_code == 404


def test_automatic_urging_command(app, make_client, users, report):
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    act(app, leader, report, "assign", assignee_id=users["worker"])
    with app.app_context():
        db.session.execute(update(Case).where(Case.id == report).values(deadline_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cases", "urge-overdue"])
    assert result.exit_code == 0 and "1 overdue" in result.output
    assert "0 overdue" in runner.invoke(args=["cases", "urge-overdue"]).output  # once a day, not every run
    assert any(t.startswith("超期催办") for t in unread(app, users["worker"]))
    with app.app_context():
        assert db.session.scalar(select(CaseEvent.actor_name).where(CaseEvent.action == "auto_urge")) == "系统"


def test_create_case_for_other_areas(app, tree, users):
    """What the visits area calls when a visit finds a problem."""
    from app.accounts.models import User

    with app.app_context():
        user = db.session.get(User, users["worker"])
        grid = db.session.get(Grid, tree["cluster_a"])
        case = cs.create_case(user, grid, cs.CaseData(title="空巢老人屋顶漏雨", category_id=category_id("民政")),
                              source="visit", source_ref="visit:17")
        db.session.commit()
        assert case.source == "visit" and case.source_ref == "visit:17" and case.source_name == "走访发现"
        with pytest.raises(cs.ServiceError):
            cs.create_case(user, db.session.get(Grid, tree["cluster_b"]),
                           cs.CaseData(title="x", category_id=category_id("民政")), source="visit")


@pytest.mark.parametrize("form,title,needle", [("report", "申报单", "反映人"), ("assign", "交办单", "承办人（签收）"),
                                               ("urge", "催办单", "催办人"), ("reply", "反馈单", "审核人")])
def test_printed_forms(app, make_client, users, report, tmp_path, form, title, needle):
    from tests.pdfcheck import check_pdf

    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    act(app, leader, report, "assign", assignee_id=users["worker"], note="请三天内修好")
    act(app, leader, report, "urge", note="抓紧")
    worker = make_client()
    worker.login("worker")
    act(app, worker, report, "reply", note="已修复路灯")
    with app.app_context():
        receipt = cs.format_receipt(db.session.get(Case, report).receipt_code)
    resp = leader.get(f"/cases/{report}/print/{form}")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = check_pdf(resp.data, tmp_path, expect_pages=1, must_contain=[title, "村口路灯不亮", receipt, needle, "签"])
    # The group is named with its village (group names repeat between villages), the labels on one line.
    assert "甲村 · 东庄一组" in text and "发生网格" in text
    if form == "report":  # who registered it and the time to accept it, not an empty 办理期限
        assert "登记人" in text and "小时内受理" in text and "办理期限" not in text
    if form == "urge":  # which urging this is, and whether the step was already late
        assert "第1次" in text.replace(" ", "") and "催办时未超期" in text and "催办意见" in text
    if form == "reply":
        assert "已修复路灯" in text
        with app.app_context():
            case = db.session.get(Case, report)
            handling = next(ev.deadline_at for ev in case.events if ev.action == "assign")
            review = case.events[-1].deadline_at
        # The 反馈单 prints the deadline the work was due by, not the desk's review deadline.
        assert fmt_local(handling) in text and fmt_local(review) != fmt_local(handling)
        assert fmt_local(review) not in text
    (tmp_path / f"{form}.pdf").write_bytes(resp.data)
    with app.app_context():
        from app.core.models import AuditLog

        assert db.session.scalar(select(AuditLog.summary).where(AuditLog.action == "export", AuditLog.entity == "cases")) \
            == f"打印{title}（回执码 {receipt}）"
    other = make_client()
    other.login("worker_b")
    assert other.get(f"/cases/{report}/print/{form}").status_code == 404




def test_the_case_list_names_the_village_with_the_group(app, make_client, report):
    township = make_client()
    township.login("township")
    html = township.get("/cases/").get_data(as_text=True)
    assert "甲村 · 东庄一组" in html


def test_home_screens_show_each_users_open_and_overdue_cases(app, make_client, users, report):
    """The worker's home lists what they hold; the village leader's what waits at the village's desk."""
    def home(name):
        c = make_client()
        c.login(name)
        return c, c.get("/").get_data(as_text=True)

    leader, html = home("leader")
    assert 'id="my-cases"' in html and "村口路灯不亮" in html and "未办结 <strong>1</strong> 件" in html
    act(app, leader, report, "accept")
    act(app, leader, report, "assign", assignee_id=users["worker"], note="请修好")
    _, html = home("leader")
    assert "未办结 <strong>0</strong> 件" in html  # now the worker's to do
    with app.app_context():
        db.session.execute(update(Case).where(Case.id == report).values(deadline_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    _, html = home("worker")
    assert "村口路灯不亮" in html and "未办结 <strong>1</strong> 件" in html and "已超期 1 件" in html
    _, html = home("worker_b")
    assert "村口路灯不亮" not in html and "未办结 <strong>0</strong> 件" in html


def test_a_rest_day_deadline_typed_by_hand_warns(app, make_client, users, report):
    from app.core.timeutil import local_today
    from app.core.workdays import is_workday

    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    with app.app_context():
        day = next(local_today() + timedelta(days=n) for n in range(1, 30)
                   if (local_today() + timedelta(days=n)).weekday() == 5
                   and not is_workday(local_today() + timedelta(days=n)))
    resp = act(app, leader, report, "assign", assignee_id=users["worker"], deadline=day.isoformat())
    assert resp.status_code == 302  # saved, and said
    page = leader.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"所填期限 {day.isoformat()}（星期六）是周末，不是工作日" in page
    with app.app_context():
        workday = next(local_today() + timedelta(days=n) for n in range(1, 30) if is_workday(local_today() + timedelta(days=n)))
        assert cs.deadline_warning(workday) is None
