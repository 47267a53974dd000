"""The address printed in QR codes never comes from an unchecked Host header: it is configured
(VG_PUBLIC_BASE_URL), recorded at set-up and editable by the admin, or the request's own address
when TRUSTED_HOSTS has vetted it; an unknown Host gets 400 when TRUSTED_HOSTS is set."""
import pytest
from sqlalchemy import select

from app.core.models import AuditLog, Setting
from app.extensions import db
from tests.pdfcheck import decode_qr_codes
from tests.factories import load_agreement
from tests.factories import agreement_setup

EVIL = {"Host": "evil.example"}
EVIL_BASE = "http://evil.example"


def evil_login(client, username):
    """Log in (and stay) on the hostile Host, whose cookies the test client keeps apart."""
    from tests.conftest import PASSWORD

    client.get("/login", base_url=EVIL_BASE)
    assert client.post("/login", {"username": username, "password": PASSWORD}, base_url=EVIL_BASE).status_code == 302


@pytest.fixture
def config(app):
    """Set app.config keys for one test."""
    saved = {}

    def _set(**values):
        for key, value in values.items():
            saved.setdefault(key, app.config.get(key))
            app.config[key] = value

    yield _set
    app.config.update(saved)


def test_the_address_comes_from_configuration_the_record_or_a_trusted_host_only(app, config):
    from app.core.public import NoPublicAddress, grid_intake_url, grid_public_code, record_address

    with app.test_request_context(base_url="http://evil.example"):
        code = grid_public_code(17)
        with pytest.raises(NoPublicAddress):
            grid_intake_url(17)  # nothing set: the Host header is not taken
        assert grid_intake_url(17, missing=None) is None
    config(TRUSTED_HOSTS=["evil.example"])  # a Host vetted by TRUSTED_HOSTS may be used
    with app.test_request_context(base_url="http://evil.example"):
        assert grid_intake_url(17) == "http://evil.example/q/" + code
        record_address("http://192.168.1.10:5000/")  # the recorded address comes first
        db.session.commit()
        assert grid_intake_url(17) == "http://192.168.1.10:5000/q/" + code
    config(PUBLIC_BASE_URL="https://grid.example.gov.cn/")  # and the configured one before it
    with app.test_request_context(base_url="http://evil.example"):
        assert grid_intake_url(17) == "https://grid.example.gov.cn/q/" + code


def test_a_hostile_host_header_does_not_reach_printed_qr_codes(app, client, tree, users, tmp_path):
    from app.core.public import grid_public_code

    evil_login(client, "admin")
    board = client.get(f"/grids/{tree['village_a']}/notice-board.pdf", base_url=EVIL_BASE)
    assert board.status_code == 200
    with app.app_context():
        code = grid_public_code(tree["village_a"])
    assert decode_qr_codes(board.data, tmp_path / "board") == [f"http://localhost/q/{code}"]
    settings = client.get(f"/grids/{tree['village_a']}/notice", base_url=EVIL_BASE).get_data(as_text=True)
    assert "evil.example" not in settings and "http://localhost/q/" in settings

    agreement_setup(app, tree, users)
    township = client.__class__(app)
    evil_login(township, "township")
    township.get(f"/agreements/?grid_id={tree['village_a']}", base_url=EVIL_BASE)
    assert township.post(f"/agreements/new?grid_id={tree['village_a']}", {
        "kind": "town_village", "period_start": "2026-01-01", "period_end": "2026-12-31"}, base_url=EVIL_BASE).status_code == 302
    a = load_agreement(app)
    aid = a.id
    township.get(f"/agreements/{aid}", base_url=EVIL_BASE)
    assert township.post(f"/agreements/{aid}/issue", base_url=EVIL_BASE).status_code == 302
    a = load_agreement(app, aid)
    pdf = township.get(f"/agreements/{aid}.pdf", base_url=EVIL_BASE)
    assert decode_qr_codes(pdf.data, tmp_path / "agreement") == [f"http://localhost/v/{a.verify_code}"]
    page = township.get(f"/agreements/{aid}", base_url=EVIL_BASE).get_data(as_text=True)
    assert "evil.example" not in page and f"http://localhost/v/{a.verify_code}" in page


def test_without_an_address_prints_are_refused_and_pages_say_so(app, client, tree, users):
    with app.app_context():
        db.session.execute(db.delete(Setting).where(Setting.key == "public_base_url"))
        db.session.commit()
    client.login("admin")
    resp = client.get(f"/grids/{tree['village_a']}/notice-board.pdf")
    assert resp.status_code == 409 and "还没有设置本系统的访问地址" in resp.get_data(as_text=True)
    page = client.get(f"/grids/{tree['village_a']}/notice").get_data(as_text=True)
    assert "未设置本系统的访问地址" in page and 'href="/admin/settings"' in page
    leader = client.__class__(app)
    leader.login("leader")
    page = leader.get(f"/grids/{tree['village_a']}/notice").get_data(as_text=True)
    assert "请联系系统管理员设置" in page and 'href="/admin/settings"' not in page


def test_trusted_hosts_refuse_an_unknown_host_with_400(app, client, tree, users, config):
    config(TRUSTED_HOSTS=["grid.example.gov.cn", ".cunwang.cn"])
    for host in ("evil.example", "grid.example.gov.cn.evil.example"):
        resp = client.raw.get("/login", headers={"Host": host})
        assert resp.status_code == 400 and "不是本系统的地址" in resp.get_data(as_text=True), host
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert client.raw.post("/login", headers=EVIL, data={"username": "admin"}).status_code == 400
    for host in ("grid.example.gov.cn", "grid.example.gov.cn:8443", "xw.cunwang.cn"):
        assert client.raw.get("/login", headers={"Host": host}).status_code == 200, host


def test_behind_a_proxy_the_forwarded_host_is_the_one_checked(app, database_url, instance_path, tree, users):
    from app import create_app

    proxied = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "CHECK_PRINT_STACK": False,
                          "PROXY_HOPS": 1, "TRUSTED_HOSTS": ["grid.example.gov.cn"]})
    c = proxied.test_client()
    ok = c.get("/login", headers={"Host": "127.0.0.1:8000", "X-Forwarded-Host": "grid.example.gov.cn"})
    bad = c.get("/login", headers={"Host": "127.0.0.1:8000", "X-Forwarded-Host": "evil.example"})
    assert (ok.status_code, bad.status_code) == (200, 400)
    with proxied.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_admin_edits_the_recorded_address(app, client, make_client, tree, users, config):
    client.login("admin")
    html = client.get("/admin/settings").get_data(as_text=True)
    assert 'value="http://localhost"' in html and "未配置" in html
    for bad in ("grid.example.gov.cn", "ftp://grid.example.gov.cn", "https://grid.example.gov.cn/?x=1",
                "https://user:pw@grid.example.gov.cn", "http://192.168.1.10:99999", "https://grid example.cn",
                "https://grid.example.gov.cn/#top"):
        resp = client.post("/admin/settings", {"public_address": bad})
        assert resp.status_code == 422 and "访问地址应形如" in resp.get_data(as_text=True), bad
    assert client.post("/admin/settings", {"public_address": " https://grid.example.gov.cn/cunwang/ "}).status_code == 302
    with app.app_context():
        assert Setting.get("public_base_url") == "https://grid.example.gov.cn/cunwang"
        row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "setting"))
        assert row.summary == "访问地址：http://localhost → https://grid.example.gov.cn/cunwang" and row.actor_name == "admin"
    from app.core.public import grid_public_code

    with app.app_context():
        code = grid_public_code(tree["village_a"])
    assert f"https://grid.example.gov.cn/cunwang/q/{code}" in \
        client.get(f"/grids/{tree['village_a']}/notice").get_data(as_text=True)
    # a configured address wins and the page says where to change it
    config(PUBLIC_BASE_URL="https://county.example.gov.cn", TRUSTED_HOSTS=["localhost"])
    html = client.get("/admin/settings").get_data(as_text=True)
    assert "VG_PUBLIC_BASE_URL" in html and 'name="public_address"' not in html and "localhost" in html
    # only the system administrator reaches the page
    township = make_client()
    township.login("township")
    assert township.get("/admin/settings").status_code == 403


def test_check_warns_when_neither_base_url_nor_trusted_hosts_is_set(app, tree, config):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["check"]).output
    assert "警告：VG_PUBLIC_BASE_URL 和 VG_TRUSTED_HOSTS 都未设置" in out and "二维码地址：http://localhost" in out
    config(TRUSTED_HOSTS=["grid.example.gov.cn"])
    out = runner.invoke(args=["check"]).output
    assert "警告：VG_PUBLIC_BASE_URL" not in out and "允许的主机名：grid.example.gov.cn" in out
    config(TRUSTED_HOSTS=None, PUBLIC_BASE_URL="https://grid.example.gov.cn")
    out = runner.invoke(args=["check"]).output
    assert "警告：VG_PUBLIC_BASE_URL" not in out and "二维码地址：https://grid.example.gov.cn（VG_PUBLIC_BASE_URL）" in out


def test_the_command_line_set_up_records_the_serving_address(app, monkeypatch):
    monkeypatch.setenv("HOST", "192.168.1.10")
    monkeypatch.setenv("PORT", "8080")
    out = app.test_cli_runner().invoke(args=["create-admin", "--username", "chief", "--full-name", "王主任",
                                             "--org-name", "长兴县", "--password", "Changxing-2026"])
    assert out.exit_code == 0, out.output
    with app.app_context():
        assert Setting.get("public_base_url") == "http://192.168.1.10:8080"
