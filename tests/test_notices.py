"""Notice boards (A4, A3) with the intake QR, responsibility cards, contact and supervision cards 8 to a sheet."""
import re
import subprocess

from sqlalchemy import select

from app.extensions import db
from tests.pdfcheck import check_pdf, decode_qr_codes
from tests.factories import next_id


def _page_size(pdf):
    out = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return re.search(r"^Page size:\s+(.+)$", out, re.M).group(1)


def _setup(app, tree, users, households=9):
    """Staff in 甲村 and its house cluster, ``households`` households there, the first linked to the worker."""
    from app.accounts.models import User
    from app.grids import service as gs
    from app.grids.models import Grid
    from app.households import contacts
    from app.households import service as hs

    class Admin:
        is_admin = True
        is_authenticated = True

    with app.app_context():
        village = db.session.get(Grid, tree["village_a"])
        cluster = db.session.get(Grid, tree["cluster_a"])
        village.area_desc = "东至青山河，西至省道"
        worker = db.session.get(User, users["worker"])
        worker.full_name, worker.phone = "李网格", "13600001111"
        gs.assign_staff(village, "leader", None, "周书记", "13500002222", "全面负责")
        gs.assign_staff(cluster, "leader", None, "吴组长", "13500003333")
        gs.assign_staff(cluster, "worker", worker)
        gs.assign_staff(cluster, "team_member", None, "郑村医", "13500004444", "村医")
        numbers = []
        for n in range(households):
            number = next_id()
            numbers.append(number)
            h = hs.create_household(Admin(), cluster, f"东庄{n + 1}号", hs.ResidentData(name=f"户主{n + 1}", id_number=number))
            if n == 0:
                contacts.assign(h, worker)
        db.session.commit()
        return numbers


def test_notice_board_a4_and_a3_with_the_intake_qr(app, client, tree, users, tmp_path):
    from app.core.public import grid_intake_url

    numbers = _setup(app, tree, users)
    client.login("village_admin")
    with app.test_request_context(base_url="http://localhost"):
        intake = grid_intake_url(tree["village_a"])
    for size, paper in (("a4", "A4"), ("a3", "A3")):
        resp = client.get(f"/grids/{tree['village_a']}/notice-board.pdf?size={size}")
        assert resp.status_code == 200 and resp.mimetype == "application/pdf"
        text = check_pdf(resp.data, tmp_path / size, expect_pages=1, must_contain=[
            "甲村网格公示牌", "户数 9 户", "人数 9 人", "网格长", "周书记", "13500002222", "东至青山河，西至省道",
            "服务内容", "矛盾纠纷调解", "诉求办理流程", "网格员受理", "逐级上报", "回访评价", "监督电话", "扫码反映诉求"])
        assert paper in _page_size(resp.data)
        assert decode_qr_codes(resp.data, tmp_path / f"{size}-qr") == [intake]
        for number in numbers:
            assert number[-4:] + "\n" not in text
    assert client.get(f"/grids/{tree['village_a']}/notice-board.pdf?size=a5").status_code == 404


def test_services_and_complaint_phone_are_set_and_inherited(app, client, make_client, tree, users, tmp_path):
    _setup(app, tree, users, households=1)
    client.login("village_admin")
    url = f"/grids/{tree['village_a']}/notice"
    client.get(url)
    bad = client.post(url, {"services": "代办社保", "complaint_phone": "12345", "office_hours": ""})
    assert "“12345”不是有效的手机号或固定电话" in bad.get_data(as_text=True)
    ok = client.post(url, {"services": "代办社保医保\n\n调解邻里纠纷\n", "complaint_phone": "0572 6061234",
                           "office_hours": "工作日 8:30-17:00"})
    assert ok.status_code == 302
    page = client.get(f"/grids/{tree['cluster_a']}/notice").get_data(as_text=True)
    assert "目前沿用“甲村”的设置" in page
    pdf = client.get(f"/grids/{tree['cluster_a']}/notice-board.pdf").data
    text = check_pdf(pdf, tmp_path / "cluster", expect_pages=1, must_contain=[
        "东庄一组网格公示牌", "吴组长", "李网格", "13600001111", "服务团队（1 人）", "郑村医", "代办社保医保",
        "调解邻里纠纷", "监督电话：0572-6061234", "工作日 8:30-17:00"])
    assert "矛盾纠纷调解" not in text  # the village's own list replaces the default one
    w = make_client()
    w.login("worker")
    w.get(f"/grids/{tree['cluster_a']}/notice")
    assert w.post(f"/grids/{tree['cluster_a']}/notice", {"services": "x"}).status_code == 403


def test_responsibility_cards(app, client, tree, users, tmp_path):
    _setup(app, tree, users, households=0)
    client.login("village_admin")
    pdf = client.get(f"/grids/{tree['village_a']}/responsibility-cards.pdf").data
    text = check_pdf(pdf, tmp_path / "resp", expect_pages=1, must_contain=[
        "网格责任卡", "周书记", "甲村", "全面负责", "组织协调本网格工作", "吴组长", "东庄一组", "李网格", "13600001111",
        "信息采集、民情走访"])
    assert text.count("网格责任卡") == 3 + 1  # three cards, and the running title
    assert "郑村医" not in text  # service-team members carry no 责任卡


def test_contact_and_supervision_cards_eight_to_a_sheet(app, client, tree, users, tmp_path):
    from app.core.models import AuditLog
    from app.core.public import grid_intake_url

    numbers = _setup(app, tree, users, households=9)
    client.login("village_admin")
    with app.test_request_context(base_url="http://localhost"):
        intake = grid_intake_url(tree["cluster_a"])
    contact = client.get(f"/grids/{tree['village_a']}/household-cards.pdf?kind=contact")
    assert contact.status_code == 200
    text = check_pdf(contact.data, tmp_path / "contact", expect_pages=2, must_contain=[
        "网格联系卡", "户主：户主1", "门牌：东庄1号", "联系网格员：李网格", "13600001111", "网格长：吴组长", "户主9"])
    assert text.count("网格联系卡") == 9  # one a household
    for number in numbers:
        assert number not in text
    codes = decode_qr_codes(contact.data, tmp_path / "contact-qr")
    assert len(codes) == 9 and set(codes) == {intake}

    supervision = client.get(f"/grids/{tree['cluster_a']}/household-cards.pdf?kind=supervision")
    text = check_pdf(supervision.data, tmp_path / "supervision", expect_pages=2, must_contain=[
        "网格服务监督卡", "网格：东庄一组", "服务人员：网格长 吴组长、网格员 李网格", "监督电话"])
    assert client.get(f"/grids/{tree['cluster_a']}/household-cards.pdf?kind=other").status_code == 404
    with app.app_context():
        events = db.session.scalars(select(AuditLog.summary).where(AuditLog.action == "export")).all()
        assert "打印联系卡 9 户（甲村）" in events and "打印监督卡 9 户（东庄一组）" in events
