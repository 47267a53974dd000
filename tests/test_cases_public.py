"""The public intake from a notice board's QR code and the receipt-code status page:
rate-limited across worker processes, nothing personal shown, nothing else reachable."""
import io
import re

from sqlalchemy import select

from app.cases.models import Case, CaseEvent, Department
from app.core.ratelimit import RateCounter
from app.core import public
from app.extensions import db
from tests.factories import act, photo_bytes
from tests.factories import grid_public_code, public_report

PHONE = "13912345678"


def _anon(make_client):
    c = make_client()
    return c


def _receipt(resp):
    m = re.search(r'id="receipt">([A-Z0-9]{4}-[A-Z0-9]{4})<', resp.get_data(as_text=True))
    assert m, resp.get_data(as_text=True)
    return m.group(1)


def test_resident_reports_and_follows_progress(app, make_client, tree, users):
    code = grid_public_code(tree["cluster_a"])
    c = _anon(make_client)
    page = c.get(f"/q/{code}").get_data(as_text=True)
    assert "向东庄一组反映问题" in page
    resp = public_report(c, code, photos=(io.BytesIO(photo_bytes("JPEG", (800, 600))), "rubbish.jpg"))
    assert resp.status_code == 200
    receipt = _receipt(resp)
    with app.app_context():
        case = db.session.scalar(select(Case))
        assert case.source == "public" and case.grid_id == tree["cluster_a"] and case.state == "reported"
        assert case.reporter_phone == PHONE and case.created_by_id is None and len(case.photos) == 1
        assert case.category.name == "其他"
        case_id = case.id
    # The desk hears of it and handles it as any case.
    leader = make_client()
    leader.login("leader")
    assert "河道里有人倾倒垃圾" in leader.get("/notifications").get_data(as_text=True)
    act(app, leader, case_id, "accept", note="已受理")
    act(app, leader, case_id, "assign", assignee_id=users["worker"], note="请网格员张三处理，电话13800000000")
    # Status page: steps and dates, nothing personal.
    status = c.get(f"/q/r?receipt={receipt.lower()}")
    html = status.get_data(as_text=True)
    assert status.status_code == 200 and receipt in html
    for step in ("申报", "受理", "交办"):
        assert step in html
    for secret in (PHONE, "河道里有人倾倒垃圾", "西桥下", "张三", "13800000000", "leader", "网格长", "已受理"):
        assert secret not in html, secret
    # The anonymous resident reaches nothing else.
    assert c.get(f"/cases/{case_id}").status_code == 302
    with app.app_context():
        photo_id = db.session.scalar(select(Case).where(Case.id == case_id)).photos[0].id
    assert c.get(f"/cases/{case_id}/photos/{photo_id}").status_code == 302
    assert "没有找到这个回执码" in c.get("/q/r?receipt=ZZZZ-ZZZZ").get_data(as_text=True)


def test_forged_or_unknown_codes_are_404(app, make_client, tree):
    c = _anon(make_client)
    code = grid_public_code(tree["cluster_a"])
    forged = code[:-1] + ("y" if code[-1] != "y" else "z")
    assert c.get(f"/q/{forged}").status_code == 404
    assert c.get(f"/q/{tree['cluster_b']}-{code.split('-')[1]}").status_code == 404
    assert c.get("/q/99999-abcdefghij").status_code == 404


def test_form_errors_are_in_chinese_and_save_nothing(app, make_client, tree):
    c = _anon(make_client)
    code = grid_public_code(tree["cluster_a"])
    c.get(f"/q/{code}")
    html = c.post(f"/q/{code}", {"what": "", "reporter_phone": ""}).get_data(as_text=True)
    assert "请写明您要反映的问题" in html and "请留下手机号码" in html
    html = c.post(f"/q/{code}", {"what": "路灯坏了", "reporter_phone": "123"}).get_data(as_text=True)
    assert "“123”不是有效的手机号或固定电话：手机号应为 11 位，这里是 3 位（固定电话请带区号）。" in html
    html = c.post(f"/q/{code}", {"what": "路灯坏了", "reporter_phone": PHONE,
                                 "photos": (io.BytesIO(b"MZ\x90\x00 not a photo"), "virus.exe")}).get_data(as_text=True)
    assert "文件“virus.exe”不是照片" in html
    with app.app_context():
        assert db.session.scalar(select(Case.id)) is None


def test_intake_is_rate_limited_across_processes(app, make_client, tree, database_url):
    """Five reports an hour per address; a second worker process shares the count through the database."""
    from app import create_app

    code = grid_public_code(tree["cluster_a"])
    c = _anon(make_client)
    for i in range(3):
        assert public_report(c, code, what=f"第{i}件").status_code == 200
    other_process = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "CHECK_PRINT_STACK": False})
    oc = other_process.test_client()
    page = oc.get(f"/q/{code}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    for i in range(2):
        resp = oc.post(f"/q/{code}", data={"csrf_token": token, "what": f"另一进程{i}", "reporter_phone": PHONE},
                       follow_redirects=True)
        assert resp.status_code == 200 and "回执码" in resp.get_data(as_text=True)
    resp = oc.post(f"/q/{code}", data={"csrf_token": token, "what": "第六件", "reporter_phone": PHONE})
    assert resp.status_code == 429 and "提交太频繁" in resp.get_data(as_text=True)
    resp = public_report(c, code, what="第七件")
    assert resp.status_code == 429
    with other_process.app_context():
        db.session.remove()
        db.engine.dispose()
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Case.id))) == 5
        assert db.session.scalar(select(RateCounter.count).where(RateCounter.key.like("intake:ip:%"))) == 7


def test_status_lookups_are_rate_limited(app, make_client, tree):
    app.config["PUBLIC_LOOKUP_PER_ADDRESS_HOUR"] = 3
    try:
        c = _anon(make_client)
        for _ in range(3):
            assert c.get("/q/r?receipt=AAAA-AAAA").status_code == 200
        resp = c.get("/q/r?receipt=AAAA-AAAA")
        assert resp.status_code == 429 and "查询太频繁" in resp.get_data(as_text=True)
        assert c.get("/q/r").status_code == 200  # the empty form is not counted
    finally:
        app.config["PUBLIC_LOOKUP_PER_ADDRESS_HOUR"] = 60


def test_only_these_routes_are_public(app):
    """Everything a visitor without an account can reach: the two public case pages, the agreement
    check behind its QR code, and the basics."""
    public = {name for name, view in app.view_functions.items() if getattr(view, "is_public", False)}
    assert public == {"accounts.login", "main.setup", "main.healthz", "public_cases.intake", "public_cases.progress",
                      "public_cases.receipt", "public_cases.slip", "agreements.verify"}


def test_public_report_timeline_names_no_one(app, make_client, tree):
    code = grid_public_code(tree["cluster_a"])
    public_report(_anon(make_client), code)
    with app.app_context():
        ev = db.session.scalar(select(CaseEvent))
        assert ev.actor_id is None and ev.actor_name == "群众（扫码反映）"


def test_behind_a_proxy_each_resident_has_their_own_allowance(app, tree, database_url):
    """With VG_PROXY_HOPS=1 the address comes from X-Forwarded-For (one per resident); without it,
    forwarded headers are ignored and everyone behind the proxy shares its address."""
    from app import create_app

    code = grid_public_code(tree["cluster_a"])

    def report(client, token, forwarded):
        return client.post(f"/q/{code}", data={"csrf_token": token, "what": "路灯坏了", "reporter_phone": PHONE},
                           headers={"X-Forwarded-For": forwarded})

    for hops, expected in ((1, [303] * 5 + [303]), (0, [303] * 5 + [429])):
        proxied = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "CHECK_PRINT_STACK": False,
                              "PROXY_HOPS": hops})
        with proxied.app_context():
            db.session.execute(db.delete(RateCounter))
            db.session.commit()
        client = proxied.test_client()
        page = client.get(f"/q/{code}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        codes = [report(client, token, "203.0.113.7").status_code for _ in range(5)]
        codes.append(report(client, token, "198.51.100.23").status_code)  # a neighbour, same proxy
        assert codes == expected, hops
        with proxied.app_context():
            keys = set(db.session.scalars(select(RateCounter.key).where(RateCounter.key.like("intake:ip:%"))))
            db.session.remove()
            db.engine.dispose()
        assert any("203.0.113.7" in k for k in keys) == (hops == 1)


def test_receipt_survives_a_reload_and_prints_as_a_slip(app, make_client, tree):
    """The answer to the report is a page of its own: reloading it shows the same code, the browser
    remembers it on the intake page, and the slip is a PDF with the code; another browser cannot
    use the page to test codes."""
    code = grid_public_code(tree["cluster_a"])
    c = _anon(make_client)
    c.get(f"/q/{code}")
    resp = c.post(f"/q/{code}", {"what": "路灯坏了", "where": "桥头", "reporter_phone": PHONE})
    assert resp.status_code == 303
    done = resp.headers["Location"]
    receipt = _receipt(c.get(done))
    assert _receipt(c.get(done)) == receipt  # a reload: shown again, no second case
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Case.id))) == 1
    assert receipt in c.get(f"/q/{code}").get_data(as_text=True)  # remembered on this phone
    assert receipt in c.get("/q/r").get_data(as_text=True)
    stranger = _anon(make_client)
    assert stranger.get(done).status_code == 302  # not this browser's code: back to the form
    slip = c.get(f"/q/r/slip?receipt={receipt}")
    assert slip.status_code == 200 and slip.mimetype == "application/pdf"
    from tests.pdfcheck import pdf_text

    text = pdf_text(slip.data)
    assert receipt in text and "甲村 · 东庄一组" in text and PHONE not in text and "路灯坏了" not in text
    assert c.get("/q/r/slip?receipt=ZZZZ-ZZZZ").status_code == 404


def test_resident_sees_the_result_and_the_handling_unit_but_no_notes(app, make_client, tree, users):
    code = grid_public_code(tree["cluster_a"])
    c = _anon(make_client)
    receipt = _receipt(public_report(c, code))
    leader = make_client()
    leader.login("leader")
    with app.app_context():
        case = db.session.scalar(select(Case))
        dept = db.session.scalar(select(Department).where(Department.name == "环保站"))
        case_id, dept_id = case.id, dept.id
    act(app, leader, case_id, "accept", note="内部备注：先联系王五")
    html = c.get(f"/q/r?receipt={receipt}").get_data(as_text=True)
    assert 'id="result"' not in html
    act(app, leader, case_id, "transfer", department_id=dept_id, note="移交意见：请环保站查处")
    act(app, leader, case_id, "reply", note="已清理河道垃圾并设立警示牌")
    html = c.get(f"/q/r?receipt={receipt}").get_data(as_text=True)
    assert 'id="result"' in html and "已清理河道垃圾并设立警示牌" in html
    assert re.search(r'id="result-unit">环保站<', html)
    for secret in ("内部备注", "王五", "移交意见", "网格长", "leader"):
        assert secret not in html, secret
