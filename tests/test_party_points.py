"""党员分类积分 (篇四): points per party member from the households they link and the meetings they
attended, plus leaders' entries with evidence; monthly, quarterly and yearly totals against figures
worked out by hand; ranking within a village; the member's breakdown; evidence served in scope only."""
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import select

from app.assessment import party
from app.assessment import service as asv
from app.assessment.models import ManualScore
from app.core.models import AuditLog
from app.extensions import db
from app.grids.models import Grid
from app.households.models import ContactLink, Household, Resident
from app.meetings.models import Meeting, MeetingAttendee, MeetingKind
from tests.factories import households, scheme_form


def _png():
    buf = io.BytesIO()
    Image.new("RGB", (60, 40), "red").save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def members(app, tree, users):
    """户主1 (中共党员) links 东庄2号 and 3号 since 2025-09-15 and attended meetings on 10-20 and 11-05;
    户主2 (预备党员) links 3号 since 2025-11-01 and was absent on 11-05; 户主3 is no party member."""
    with app.app_context():
        h1, h2, h3 = households(tree["cluster_a"], 3)
        heads = [db.session.get(Household, h).head for h in (h1, h2, h3)]
        heads[0].political_status, heads[1].political_status = "中共党员", "中共预备党员"
        db.session.add_all([ContactLink(household_id=h2, resident_id=heads[0].id, role="party_member", since=date(2025, 9, 15)),
                            ContactLink(household_id=h3, resident_id=heads[0].id, role="party_member", since=date(2025, 9, 15)),
                            ContactLink(household_id=h3, resident_id=heads[1].id, role="party_member", since=date(2025, 11, 1))])
        kind = db.session.scalar(select(MeetingKind))
        for day, marks in ((date(2025, 10, 20), {0: "present"}), (date(2025, 11, 5), {0: "present", 1: "absent"}),
                           (date(2025, 12, 1), {})):
            meeting = Meeting(grid_id=tree["village_a"], kind_id=kind.id, status="held", held_on=day, place="村部")
            db.session.add(meeting)
            for i, status in marks.items():
                meeting.attendees.append(MeetingAttendee(resident_id=heads[i].id, name=heads[i].name, status=status))
        # A planned meeting does not count, even with the member marked present.
        planned = Meeting(grid_id=tree["village_a"], kind_id=kind.id, status="planned", held_on=date(2025, 12, 10))
        planned.attendees.append(MeetingAttendee(resident_id=heads[0].id, name=heads[0].name, status="present"))
        db.session.add(planned)
        db.session.commit()
        return {"a": heads[0].id, "b": heads[1].id, "c": heads[2].id}


def _scores(tree, period):
    village = db.session.get(Grid, tree["village_a"])
    return {s.subject.id: s for s in party.ranking(village, asv.parse_period(period))}


def _enter(client, tree, members, **data):
    client.get(f"/assessment/grids/{tree['village_a']}/party-members?period=2025-11")
    name = data.pop("item")
    with client.app.app_context():
        item = next(it for it in asv.scheme_for(db.session.get(Grid, tree["village_a"]), "party_member").items
                    if it.name == name)
    form = {"period": "2025-11", "subject_id": members["b"], "item_id": item.id, "points": "", "reason": "为独居老人打扫卫生"}
    form.update(data)
    return client.post(f"/assessment/grids/{tree['village_a']}/party-members/entries", form, follow_redirects=True)


def test_points_by_month_quarter_and_year(app, client, tree, users, members):
    client.login("leader")
    # Refusals name the item; nothing is saved.
    resp = _enter(client, tree, members, item="志愿服务", points="40")
    assert "“志愿服务”每次加分应大于 0、不超过上限 30 分" in resp.get_data(as_text=True)
    resp = _enter(client, tree, members, item="志愿服务", period="2099-01")
    assert "还没有开始" in resp.get_data(as_text=True)
    resp = _enter(client, tree, members, item="志愿服务", evidence=(io.BytesIO(b"not an image"), "x.txt"))
    assert "“x.txt”不是 JPEG/PNG 图片或 PDF 文件" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ManualScore)) is None
    # 志愿服务 with a photo as evidence: the item's 5 points per entry when no points are typed.
    resp = _enter(client, tree, members, item="志愿服务", evidence=(io.BytesIO(_png()), "服务照片.png"))
    assert "已为户主2登记“志愿服务”" in resp.get_data(as_text=True)
    with app.app_context():
        oct_, nov, q4, year = (_scores(tree, p) for p in ("2025-10", "2025-11", "2025-Q4", "2025"))
        assert members["c"] not in nov  # not a party member
        a, b = members["a"], members["b"]
        assert (oct_[a].total, oct_[b].total) == (30, 0)  # 2 households × 10 + 1 meeting × 10; nothing yet
        assert (nov[a].total, nov[b].total) == (30, 15)  # B: 1 household + 志愿服务 5
        assert (q4[a].total, q4[b].total) == (80, 25)  # A: 30 + 30 + 20 (December: links only)
        assert (year[a].total, year[b].total) == (100, 25)  # A's September: 2 households
        assert (nov[a].rank, nov[b].rank) == (1, 2)
        assert oct_[b].rank == 0  # nothing recorded: listed without a place
        links = next(ln for ln in nov[a].lines if ln.name == "联系户")
        assert links.note == "2 户 × 10 分 = 20 分" and "联系 东庄2号（2025-09-15起）" in links.details
        meetings = next(ln for ln in q4[a].lines if ln.name == "参加会议")
        assert meetings.score == 20 and meetings.note == "各月：10月 10.0、11月 10.0、12月 0.0"
    page = client.get(f"/assessment/grids/{tree['village_a']}/party-members?period=2025-Q4").get_data(as_text=True)
    assert "户主1" in page and "80.0" in page and "户主3" not in page
    from openpyxl import load_workbook

    sheet = client.get(f"/assessment/grids/{tree['village_a']}/party-members.xlsx?period=2025-Q4")
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "甲村2025年第4季度党员分类积分" and rows[3][:3] == ("名次", "党员", "所在网格")
    assert rows[4][1] == "户主1" and rows[4][rows[3].index("积分")] == 80 and any(r[0] == "平均" for r in rows)
    page = client.get(f"/assessment/party-members/{members['b']}?period=2025-11").get_data(as_text=True)
    assert "为独居老人打扫卫生" in page and "证据材料" in page and "联系 东庄3号（2025-11-01起）" in page


def test_evidence_is_served_in_scope_and_audited(app, client, make_client, tree, users, members):
    client.login("leader")
    _enter(client, tree, members, item="志愿服务", evidence=(io.BytesIO(_png()), "服务照片.png"))
    with app.app_context():
        entry = db.session.scalar(select(ManualScore))
        assert entry.evidence_file.endswith(".png") and asv.evidence_path(entry.evidence_file).is_file()
    resp = client.get(f"/assessment/evidence/{entry.id}")
    assert resp.status_code == 200 and resp.mimetype == "image/png" and resp.data == _png()
    with app.app_context():
        assert db.session.scalar(select(AuditLog).where(AuditLog.entity == "assessment_evidence"))
    other = make_client()
    other.login("worker_b")
    assert other.get(f"/assessment/evidence/{entry.id}").status_code == 404
    worker = make_client()
    worker.login("worker")
    assert worker.get(f"/assessment/grids/{tree['village_a']}/party-members").status_code == 403


def test_the_party_scheme_holds_together(app, tree, users):
    with app.app_context():
        items = [asv.ItemInput("联系户", "tally", "member_links", 60, 10), asv.ItemInput("参加会议", "tally", "member_meetings", 40, 10)]
        asv.check_scheme(100, items, [], "party_member")
        with pytest.raises(asv.ServiceError, match="“走访”的计分方式“自动计分”不能用于党员考核方案"):
            asv.check_scheme(100, items + [asv.ItemInput("走访", "auto", "visits_done", 10)], [], "party_member")
        with pytest.raises(asv.ServiceError, match="“联系户”的计分方式“按次计分”不能用于网格员考核方案"):
            asv.check_scheme(100, items, [], "worker")
        with pytest.raises(asv.ServiceError, match="“参加会议”的每次分值应在 1 到上限 40 之间"):
            asv.check_scheme(100, items[:1] + [asv.ItemInput("参加会议", "tally", "member_meetings", 40, 0)], [], "party_member")
        resident = db.session.scalar(select(Resident))
        assert resident is None or not resident.is_party_member


def test_a_manual_score_carries_a_scan_checked_like_agreement_scans(app, client, tree, users):
    """The township's 台账 score for a worker with a PDF as evidence; a cut-off PDF is refused by name."""
    url = f"/assessment/grids/{tree['town_a']}?kind=worker&period=2025-10"
    client.login("township")
    client.get(url)
    with app.app_context():
        ledger = next(it for it in asv.scheme_for(db.session.get(Grid, tree["town_a"]), "worker").items
                      if it.name == "台账")
    form = {"kind": "worker", "period": "2025-10", "subject_id": users["worker"], "item_id": ledger.id, "points": "90",
            "reason": "检查台账，2户信息未更新"}
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    resp = client.post(f"/assessment/grids/{tree['town_a']}/manual",
                       dict(form, evidence=(io.BytesIO(pdf[:-7]), "检查记录.pdf")), follow_redirects=True)
    assert "“检查记录.pdf”PDF 文件不完整" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ManualScore)) is None
        assert not list(asv.evidence_path("x").parent.glob("*.pdf"))
    resp = client.post(f"/assessment/grids/{tree['town_a']}/manual",
                       dict(form, evidence=(io.BytesIO(pdf), "检查记录.pdf")), follow_redirects=True)
    assert "登记“台账”" in resp.get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalar(select(ManualScore))
    page = client.get(f"/assessment/workers/{users['worker']}?period=2025-10").get_data(as_text=True)
    assert f"/assessment/evidence/{entry.id}" in page
    resp = client.get(f"/assessment/evidence/{entry.id}")
    assert resp.mimetype == "application/pdf" and resp.data == pdf
    assert "attachment" in resp.headers["Content-Disposition"]


def test_a_township_keeps_its_own_party_scheme(app, client, tree, users, members):
    """The party scheme is edited like the others: 联系户 worth 15 a household from the township's own copy."""

    url = f"/assessment/grids/{tree['town_a']}/schemes/party_member"
    client.login("township")
    data = scheme_form(client, url)
    assert data["kind_0"] == "tally" and data["formula_0"] == "member_links" and data["combine"] == "sum"
    resp = client.post(url, dict(data, unit_points_0="15", kind_5="auto", name_5="走访", formula_5="visits_done",
                                 points_5="10"))
    assert resp.status_code == 422 and "“走访”的计分方式“自动计分”不能用于党员考核方案" in resp.get_data(as_text=True)
    assert client.post(url, dict(data, unit_points_0="15")).status_code == 302
    with app.app_context():
        nov = _scores(tree, "2025-11")
        assert nov[members["a"]].total == 40  # 2 households × 15 + 1 meeting × 10
    assert "党员分类积分量化考评" in client.get(f"/assessment/schemes?grid_id={tree['town_a']}").get_data(as_text=True)


def test_service_team_members_are_checked(app, client, tree, users):
    """A team member: meetings attended as the grid's staff (10 each) and the 应知应会 check (of 70, the
    months not checked count full); a quarter is the mean of its months."""
    from app.grids import service as gs

    with app.app_context():
        cluster = db.session.get(Grid, tree["cluster_a"])
        doctor = gs.assign_staff(cluster, "team_member", None, "村医老李", "13900000009", "村医")
        gs.assign_staff(cluster, "team_member", None, "志愿者小王", "13900000008", "志愿者")
        kind = db.session.scalar(select(MeetingKind))
        meeting = Meeting(grid_id=cluster.id, kind_id=kind.id, status="held", held_on=date(2025, 10, 8), place="组活动室")
        meeting.attendees.append(MeetingAttendee(staff_id=doctor.id, name="村医老李", status="present"))
        db.session.add(meeting)
        db.session.commit()
        doctor_id = doctor.id
    client.login("village_admin")
    url = f"/assessment/grids/{tree['village_a']}/team-members"
    page = client.get(url + "?period=2025-10").get_data(as_text=True)
    assert "服务团队应知应会考核" in page and "村医老李" in page
    with app.app_context():
        check = next(it for it in asv.scheme_for(db.session.get(Grid, tree["village_a"]), "team").items
                     if it.name == "应知应会")
    form = {"period": "2025-10", "subject_id": doctor_id, "item_id": check.id, "points": "75", "reason": "村情户情抽问"}
    resp = client.post(url + "/entries", form, follow_redirects=True)
    assert "“应知应会”满分 70 分，评分应在 0 到 70 之间" in resp.get_data(as_text=True)
    resp = client.post(url + "/entries", dict(form, points="56"), follow_redirects=True)
    assert "已为村医老李登记“应知应会”" in resp.get_data(as_text=True)
    with app.app_context():
        village = db.session.get(Grid, tree["village_a"])
        oct_ = {s.subject.name: s for s in party.ranking(village, asv.parse_period("2025-10"), kind="team")}
        q4 = {s.subject.name: s for s in party.ranking(village, asv.parse_period("2025-Q4"), kind="team")}
    assert oct_["村医老李"].total == 66 and oct_["村医老李"].rank == 1  # 1 meeting × 10 + 56
    assert oct_["志愿者小王"].rank == 0  # nothing recorded, nothing checked: 无记录
    assert q4["村医老李"].total == round(Decimal(66 + 70 + 70) / 3, 1)  # November and December unchecked: full
    page = client.get(f"/assessment/team-members/{doctor_id}?period=2025-10").get_data(as_text=True)
    assert "村情户情抽问" in page and "2025-10-08 出席" in page


def _pdf_text(data, tmp_path, name="doc"):
    import subprocess

    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_party_points_are_published_and_corrected(app, client, make_client, tree, users, members, tmp_path):
    """The township publishes a quarter of party points: the figures and the scheme version stay when the
    records and the scheme change; an entry for a published month is refused; corrections carry a reason."""
    client.login("township")
    town = tree["town_a"]
    url = f"/assessment/grids/{town}/party-members"
    page = client.get(url + "?period=2025-Q4").get_data(as_text=True)
    assert "发布2025年第4季度积分" in page
    # A running period cannot be published.
    running = asv.period_of("month", asv.local_today()).key
    resp = client.post(f"/assessment/grids/{town}/freeze", {"kind": "party_member", "period": running},
                       follow_redirects=True)
    assert "尚未结束" in resp.get_data(as_text=True)
    resp = client.post(f"/assessment/grids/{town}/freeze", {"kind": "party_member", "period": "2025-Q4"},
                       follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "甲镇2025年第4季度党员积分已发布" in page and "本期积分已于" in page and "更正已发布的得分" in page
    # The records change after publishing: 户主2 attends a meeting in December, the scheme changes.
    with app.app_context():
        kind = db.session.scalar(select(MeetingKind))
        meeting = Meeting(grid_id=tree["village_a"], kind_id=kind.id, status="held", held_on=date(2025, 12, 3))
        b = db.session.get(Resident, members["b"])
        meeting.attendees.append(MeetingAttendee(resident_id=b.id, name=b.name, status="present"))
        db.session.add(meeting)
        db.session.commit()
        live = _scores(tree, "2025-Q4")
        assert live[members["b"]].total == 30  # 1 household in each of November and December + 1 meeting
        frozen = asv.frozen_for(db.session.get(Grid, tree["village_a"]), "party_member", asv.parse_period("2025-Q4"))
        assert frozen.scheme_version == 1 and frozen.grid_id == town
        rows = {r.id: r for r in asv.frozen_rows(frozen)}
        assert (rows[members["a"]].total, rows[members["b"]].total) == (80, 20)
    scheme_url = f"/assessment/grids/{town}/schemes/party_member"
    assert client.post(scheme_url, dict(scheme_form(client, scheme_url), unit_points_0="15")).status_code == 302
    village_page = client.get(f"/assessment/grids/{tree['village_a']}/party-members?period=2025-Q4").get_data(as_text=True)
    assert "方案第 1 版" in village_page and "<strong>20.0</strong>" in village_page and "<strong>80.0</strong>" in village_page
    # No entry for a month of the published quarter; the entry form is not offered.
    leader = make_client()
    leader.login("leader")
    assert "登记志愿服务" not in leader.get(
        f"/assessment/grids/{tree['village_a']}/party-members?period=2025-11").get_data(as_text=True)
    resp = _enter(leader, tree, members, item="志愿服务")
    assert "2025年第4季度的考核结果已经发布，不能再登记" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ManualScore)) is None
    # A correction: a reason is required, a count item stays within its points, then it is kept and audited.
    adjust = {"kind": "party_member", "period": "2025-Q4", "subject_id": members["b"], "item_name": "参加会议",
              "points": "10", "reason": ""}
    resp = client.post(f"/assessment/grids/{town}/adjust", adjust, follow_redirects=True)
    assert "请填写更正的原因" in resp.get_data(as_text=True)
    resp = client.post(f"/assessment/grids/{town}/adjust", dict(adjust, points="-5", reason="误登"),
                       follow_redirects=True)
    assert "更正后“参加会议”为 -5.0 分，应在 0 到" in resp.get_data(as_text=True)
    resp = client.post(f"/assessment/grids/{town}/adjust", dict(adjust, reason="12月3日会议补登出席"),
                       follow_redirects=True)
    assert "更正已登记" in resp.get_data(as_text=True)
    with app.app_context():
        log = db.session.scalar(select(AuditLog).where(AuditLog.entity == "assessment_adjustment"))
        assert log is not None and "12月3日会议补登出席" in (log.summary or "")
    page = client.get(f"/assessment/party-members/{members['b']}?period=2025-Q4").get_data(as_text=True)
    assert "发布得分 <strong>20.0</strong>" in page and "更正后 <strong>30.0</strong>" in page
    assert "12月3日会议补登出席" in page
    # Publishing twice is refused; a village leader may not publish.
    resp = client.post(f"/assessment/grids/{town}/freeze", {"kind": "party_member", "period": "2025-Q4"},
                       follow_redirects=True)
    assert "不能再次发布" in resp.get_data(as_text=True)
    assert leader.post(f"/assessment/grids/{tree['village_a']}/freeze",
                       {"kind": "party_member", "period": "2025-10"}).status_code == 403
    # The published figures print and export.
    text = _pdf_text(client.get(url + ".pdf?period=2025-Q4").data, tmp_path)
    assert "甲镇2025年第4季度党员分类积分通报" in text and "审核人（签字）" in text and "已于" in text
    assert "户主1" in text and "80.0" in text and "30.0" in text and "积分" in text and "等次" in text
    assert re.search(r"联系户\s+参加会议", text) and re.search(r"180\s+120", text)  # a quarter: three months' points
    from openpyxl import load_workbook

    sheet = client.get(url + ".xlsx?period=2025-Q4")
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert "已于" in rows[2][0] and "第 1 版" in rows[2][0]
    assert [r[rows[3].index("积分")] for r in rows[4:6]] == [80, 30]


def test_team_points_are_published_and_printed(app, client, tree, users, tmp_path):
    from app.grids import service as gs

    with app.app_context():
        gs.assign_staff(db.session.get(Grid, tree["cluster_a"]), "team_member", None, "村医老李", "13900000009", "村医")
        db.session.commit()
    client.login("township")
    village = tree["village_a"]
    assert "发布2025年10月积分" in client.get(f"/assessment/grids/{village}/team-members?period=2025-10").get_data(as_text=True)
    resp = client.post(f"/assessment/grids/{village}/freeze", {"kind": "team", "period": "2025-10"},
                       follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "甲村2025年10月服务团队积分已发布" in page and "本期积分已于" in page and "村医老李" in page
    text = _pdf_text(client.get(f"/assessment/grids/{village}/team-members.pdf?period=2025-10").data, tmp_path)
    assert "甲村2025年10月服务团队应知应会考核通报" in text and "村医老李" in text and "制表人（签字）" in text
    assert client.post(f"/assessment/grids/{village}/freeze", {"kind": "nobody", "period": "2025-10"}).status_code == 404
