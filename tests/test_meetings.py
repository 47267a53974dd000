"""Meetings: planning from the grid's staff, the sign-in sheet, minutes with attendance, decisions → follow-ups,
the minutes PDF, meetings due and not held, problems reported up a level, a village's own kinds."""
import re
from datetime import date, datetime

from sqlalchemy import select

from app.extensions import db
from tests.pdfcheck import check_pdf
from tests.factories import meeting_kind_id, meeting_staff, plan_meeting


def _meeting(app, meeting_id=None):
    from app.meetings.models import Meeting

    return db.session.get(Meeting, meeting_id) if meeting_id else db.session.scalars(select(Meeting)).one()


def test_plan_sign_in_minutes_follow_up_and_pdfs(app, client, tree, users, tmp_path):
    meeting_staff(app, tree, users)
    client.login("village_admin")
    page = client.get(f"/meetings/new?grid_id={tree['village_a']}").get_data(as_text=True)
    assert "应参会人员（3 人" in page and "赵建国" in page and "钱村医" not in page
    resp = plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly"))
    assert resp.status_code == 302
    meeting_url = resp.headers["Location"]
    meeting_id = int(meeting_url.rsplit("/", 1)[1])
    with app.app_context():
        m = _meeting(app)
        assert m.start_time == "09:30" and m.status == "planned"
        attendees = {a.name: a.id for a in m.attendees}
        assert set(attendees) == {"leader", "王秀英", "赵建国"}
        assert next(a for a in m.attendees if a.name == "赵建国").role == "东庄自然村网格长"

    # the blank sign-in sheet, before the meeting
    sheet = client.get(f"/meetings/{meeting_id}/sign-in.pdf")
    assert sheet.status_code == 200 and sheet.mimetype == "application/pdf"
    check_pdf(sheet.data, tmp_path / "sign-in", expect_pages=1,
              must_contain=["行政村网格月例会签到表", "甲村", "2026年11月20日 09:30", "村部二楼会议室", "王秀英", "赵建国", "签到"])

    # minutes: everybody needs a mark, and nothing is saved until then
    bad = client.post(f"/meetings/{meeting_id}/minutes", {"att-%d" % attendees["leader"]: "present",
                                                          "reports": "十月走访 120 户。"})
    assert bad.status_code == 422
    assert "请为每位参会人员登记出席、缺席或请假（未登记：王秀英、赵建国）" in bad.get_data(as_text=True)
    with app.app_context():
        assert _meeting(app).status == "planned"
    ok = client.post(f"/meetings/{meeting_id}/minutes", {
        "att-%d" % attendees["leader"]: "present", "att-%d" % attendees["王秀英"]: "present",
        "att-%d" % attendees["赵建国"]: "leave", "reports": "十月走访 120 户，重点户全覆盖。",
        "problems": "村道路灯损坏 6 盏，夜间出行不便。", "escalation": "村道拓宽需要乡镇立项。"})
    assert ok.status_code == 302

    # a decision, then a follow-up with an owner from the attendees and a deadline
    assert client.post(f"/meetings/{meeting_id}/decisions", {"text": "一周内修复村道路灯"}).status_code == 302
    with app.app_context():
        decision = _meeting(app).decisions[0]
    prefix = f"d{decision.id}-"
    early = client.post(f"/meetings/{meeting_id}/decisions/{decision.id}/follow-up",
                        {prefix + "owner": attendees["王秀英"], prefix + "deadline": "2026-11-01"})
    assert "办结期限不能早于会议日期（2026-11-20）" in early.get_data(as_text=True)
    resp = client.post(f"/meetings/{meeting_id}/decisions/{decision.id}/follow-up",
                       {prefix + "owner": attendees["王秀英"], prefix + "deadline": "2026-11-27"})
    assert resp.status_code == 302
    page = client.get(meeting_url).get_data(as_text=True)
    assert "责任人 <strong>王秀英</strong> · 期限 2026-11-27" in page

    minutes = client.get(f"/meetings/{meeting_id}/minutes.pdf")
    text = check_pdf(minutes.data, tmp_path / "minutes", expect_pages=1, must_contain=[
        "行政村网格月例会纪要", "出席（2 人）：leader、王秀英", "请假（1 人）：赵建国", "十月走访 120 户",
        "村道路灯损坏 6 盏", "一周内修复村道路灯", "王秀英", "2026-11-27", "上报甲镇的问题", "村道拓宽需要乡镇立项"])
    assert re.search(r"办理中", text)

    # done: the minutes now say so
    resp = client.post(f"/meetings/{meeting_id}/decisions/{decision.id}/done",
                       {prefix + "result": "已更换 6 盏路灯。", prefix + "done_on": "2026-11-25"})
    assert resp.status_code == 302
    check_pdf(client.get(f"/meetings/{meeting_id}/minutes.pdf").data, tmp_path / "minutes2", expect_pages=1,
              must_contain=["已办结（2026-11-25）：已更换 6 盏路灯。"])


def test_escalated_problem_shows_at_the_parent(app, client, tree, users):
    meeting_staff(app, tree, users)
    client.login("village_admin")
    resp = plan_meeting(client, tree["nv_a"], meeting_kind_id(app, "grid_quarterly"))
    meeting_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        marks = {f"att-{a.id}": "present" for a in _meeting(app).attendees}
    client.post(f"/meetings/{meeting_id}/minutes", {**marks, "reports": "走访完成。", "escalation": "东庄桥梁年久失修，需村里协调资金。"})
    page = client.get(f"/meetings/?grid_id={tree['village_a']}").get_data(as_text=True)
    assert "下级上报的问题" in page and "东庄桥梁年久失修" in page
    # the village's other pages do not see it as theirs
    assert "东庄桥梁" not in client.get(f"/meetings/?grid_id={tree['village_a2']}").get_data(as_text=True)


def test_meetings_due_and_not_held(app, ctx, tree, users):
    from app.grids.models import Grid
    from app.meetings import service as ms

    village = db.session.get(Grid, tree["village_a"])
    village.created_at = datetime(2025, 1, 1)
    for gid in (tree["village_a2"], tree["nv_a"], tree["cluster_a"], tree["town_a"]):
        db.session.get(Grid, gid).created_at = datetime(2025, 1, 1)
    db.session.commit()
    today = date(2026, 11, 20)
    kind = db.session.scalar(select(ms.MeetingKind).where(ms.MeetingKind.key == "village_monthly"))

    class Admin:
        is_admin = True
        is_authenticated = True
        id = None

    gaps = [(g.grid.name, g.kind.name, g.period, g.current) for g in ms.missing_meetings(village, today)]
    assert ("甲村", "行政村网格月例会", "2026年11月", True) in gaps
    assert ("甲村", "行政村网格月例会", "2026年10月", False) in gaps
    assert ("甲村", "行政村网格月例会", "2026年9月", False) in gaps
    assert ("东庄自然村", "网格季度例会", "2026年第4季度", True) in gaps
    assert ("东庄自然村", "网格季度例会", "2026年第3季度", False) in gaps
    assert not any(name == "甲二村" for name, *_ in gaps)  # another village is not this village's business

    # October's meeting held; November's only planned (a plan is not a meeting)
    held = ms.plan_meeting(Admin(), village, ms.PlanData(kind_id=kind.id, held_on=date(2026, 10, 9)))
    held.status = "held"
    ms.plan_meeting(Admin(), village, ms.PlanData(kind_id=kind.id, held_on=date(2026, 11, 25)))
    db.session.commit()
    gaps = [(g.grid.name, g.period) for g in ms.missing_meetings(village, today) if g.kind.id == kind.id]
    assert gaps == [("甲村", "2026年11月"), ("甲村", "2026年9月")]

    # a grid created last month owes nothing for September
    village.created_at = datetime(2026, 10, 15)
    db.session.commit()
    gaps = [g.period for g in ms.missing_meetings(village, today) if g.kind.id == kind.id]
    assert gaps == ["2026年11月"]


def test_roles_and_refusals(app, client, make_client, tree, users):
    meeting_staff(app, tree, users)
    worker = make_client()
    worker.login("worker")
    assert worker.get(f"/meetings/new?grid_id={tree['cluster_a']}").status_code == 403
    assert worker.post(f"/meetings/new?grid_id={tree['cluster_a']}", {"kind_id": 1}).status_code == 403
    client.login("leader")
    assert plan_meeting(client, tree["village_b"], meeting_kind_id(app, "village_monthly")).status_code == 404
    resp = plan_meeting(client, tree["village_a"], 0, start_time="25:00")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "请选择例会类型" in text
    resp = plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly"), start_time="25:00")
    assert "开始时间“25:00”应写成 时:分" in resp.get_data(as_text=True)
    meeting_id = int(plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly")).headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        marks = {f"att-{a.id}": "absent" for a in _meeting(app).attendees}
    resp = client.post(f"/meetings/{meeting_id}/minutes", {**marks, "reports": "x"})
    assert "没有人出席的会议不能记为已召开" in resp.get_data(as_text=True)
    client.post(f"/meetings/{meeting_id}/decisions", {"text": "修路"})
    with app.app_context():
        decision_id = _meeting(app).decisions[0].id
    resp = client.post(f"/meetings/{meeting_id}/decisions/{decision_id}/follow-up",
                       {f"d{decision_id}-owner": 999999, f"d{decision_id}-deadline": "2026-12-01"})
    assert resp.status_code == 422 and "不是有效的选择" in resp.get_data(as_text=True)


def test_village_adds_its_own_kind(app, client, tree, users):
    client.login("village_admin")
    client.get(f"/meetings/kinds?grid_id={tree['village_a']}")
    resp = client.post(f"/meetings/kinds?grid_id={tree['village_a']}",
                       {"name": "党员联户月例会", "cadence_months": 1, "level_key": "natural_village", "attendees": "全体党员"})
    assert resp.status_code == 302
    assert "党员联户月例会" in client.get(f"/meetings/new?grid_id={tree['nv_a']}").get_data(as_text=True)
    dup = client.post(f"/meetings/kinds?grid_id={tree['village_a']}",
                      {"name": "党员联户月例会", "cadence_months": 1, "level_key": "", "attendees": ""})
    assert "已有名为“党员联户月例会”的例会类型" in dup.get_data(as_text=True)
    client.logout()
    client.login("township")
    assert "党员联户月例会" not in client.get(f"/meetings/new?grid_id={tree['village_a2']}").get_data(as_text=True)
    leader = client
    leader.logout()
    leader.login("leader")
    leader.get("/")
    assert leader.post(f"/meetings/kinds?grid_id={tree['village_a']}", {"name": "x", "cadence_months": 1}).status_code == 403


def test_the_village_meeting_expects_every_grid_worker_and_takes_registered_people(app, client, tree, users):
    from app.grids import service as gs
    from app.grids.models import Grid
    from tests.factories import households

    meeting_staff(app, tree, users)
    with app.app_context():
        # a house cluster's worker, two levels below the village
        gs.assign_staff(db.session.get(Grid, tree["cluster_a"]), "worker", None, "孙组员", "13800003333")
        (hid,) = households(tree["cluster_a"], 1)
        from app.households.models import Household
        head = db.session.get(Household, hid).head
        head.political_status = "中共党员"
        (foreign,) = households(tree["cluster_b"], 1, prefix="乙村")
        foreign_head = db.session.get(Household, foreign).head_id
        head_id, head_name = head.id, head.name
        db.session.commit()
    client.login("village_admin")
    page = client.get(f"/meetings/new?grid_id={tree['village_a']}").get_data(as_text=True)
    assert "孙组员" in page
    resp = plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly"))
    meeting_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        roles = {a.name: a.role for a in _meeting(app).attendees}
        assert roles["孙组员"] == "东庄一组网格员"
    page = client.get(f"/meetings/{meeting_id}").get_data(as_text=True)
    # Nobody is listed until searched for (a village has thousands): the picker is a search
    assert "增加参会人员" in page and head_name not in page and 'name="person_q"' in page
    # without JavaScript: the search form reloads the page with the matches as radio buttons
    page = client.get(f"/meetings/{meeting_id}?person_q=户主").get_data(as_text=True)
    assert f'value="{head_id}"' in page and f"{head_name}<small>（东庄1号，中共党员）" in page and "乙村" not in page
    # with htmx: the fragment, by pinyin initials too
    frag = client.get(f"/grids/{tree['village_a']}/people?person_q=hz&field=resident_id").get_data(as_text=True)
    assert f'name="resident_id" value="{head_id}"' in frag and "乙村" not in frag
    key = re.search(r'name="form_key" type="hidden" value="(\w+)"', page).group(1)
    data = {"resident_id": head_id, "role": "村民代表", "form_key": key}
    added = client.post(f"/meetings/{meeting_id}/attendees", data, follow_redirects=True).get_data(as_text=True)
    assert f"已将 {head_name} 加入参会名单" in added
    # the same form sent again (an answer lost on a bad connection): saved once, said so
    retry = client.post(f"/meetings/{meeting_id}/attendees", data, follow_redirects=True).get_data(as_text=True)
    assert "已经保存过了，没有重复登记" in retry
    again = client.post(f"/meetings/{meeting_id}/attendees", {"resident_id": head_id}, follow_redirects=True)
    assert f"{head_name} 已在参会名单中" in again.get_data(as_text=True)
    outsider = client.post(f"/meetings/{meeting_id}/attendees", {"resident_id": foreign_head}, follow_redirects=True)
    assert "请选择一名本村在册的人员" in outsider.get_data(as_text=True)
    with app.app_context():
        a = next(a for a in _meeting(app).attendees if a.name == head_name)
        assert (a.role, a.resident_id) == ("村民代表", head_id)


def test_sign_in_sheet_of_a_full_village_meeting_stays_on_one_page(app, client, tree, users, tmp_path):
    """Fourteen named attendees (some with roles that wrap) and the blank rows still fit one A4 page, and the
    note on who should attend is never left alone on a second page."""
    from app.meetings.models import MeetingAttendee
    from app.meetings.service import sign_in_blank_rows

    assert [sign_in_blank_rows(n) for n in (0, 3, 12, 14, 30)] == [14, 11, 2, 2, 2]
    meeting_staff(app, tree, users)
    client.login("village_admin")
    resp = plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly"))
    meeting_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        meeting = _meeting(app, meeting_id)
        for i in range(14 - len(meeting.attendees)):
            role = "网格员、东庄第%d村民小组网格员、服务团队成员" % (i + 1) if i % 3 == 0 else "村民代表"
            meeting.attendees.append(MeetingAttendee(name=f"参会{i + 1:02d}", role=role))
        db.session.commit()
    sheet = client.get(f"/meetings/{meeting_id}/sign-in.pdf")
    text = check_pdf(sheet.data, tmp_path / "full", expect_pages=1, must_contain=["参会01", "参会11", "应参会"])
    assert "16" in text.split("参会11", 1)[1]  # the two blank rows are numbered after the named ones
