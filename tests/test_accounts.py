"""Login, lockout, sessions revoked on the server, passwords, user management."""
from datetime import timedelta

from sqlalchemy import select, update

from app.accounts.models import LoginSession, User
from app.core.models import AuditLog
from app.core.timeutil import utcnow
from app.extensions import db
from tests.conftest import PASSWORD


def audit_actions(app):
    with app.app_context():
        return [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_login_and_logout(client, users, app):
    resp = client.login("worker")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert "您好" in client.get("/").get_data(as_text=True)
    client.logout()
    assert client.get("/").status_code == 302
    assert {"login", "logout"} <= set(audit_actions(app))


def alert(resp):
    """The login page's message, exactly."""
    html = resp.get_data(as_text=True)
    return html.split('role="alert"><p>', 1)[1].split("</p>", 1)[0] if 'role="alert"><p>' in html else None


def login_from(client, ip, username, password):
    return client.post("/login", {"username": username, "password": password}, environ_base={"REMOTE_ADDR": ip})


def set_failures_back(app, minutes):
    """Pretend every recorded failure happened ``minutes`` earlier."""
    from app.accounts.models import LoginFailure

    with app.app_context():
        db.session.execute(update(LoginFailure).values(at=LoginFailure.at - timedelta(minutes=minutes)))
        db.session.commit()


def test_wrong_password_and_unknown_user_say_the_same(client, users):
    """Message by message and status by status, up to the lock and past it, a known name and an unknown one
    get the same answers: nobody learns which names exist."""
    known, unknown = [], []
    for _ in range(7):
        a = client.post("/login", {"username": "worker", "password": "wrong-password-1"})
        b = client.post("/login", {"username": "nobody", "password": "wrong-password-1"})
        known.append((a.status_code, alert(a)))
        unknown.append((b.status_code, alert(b)))
    assert known == unknown
    assert known[0] == (401, "用户名或密码不正确。再错 4 次账号将被锁定 15 分钟。")
    assert known[4] == (401, "用户名或密码连续错误，该账号已锁定 15 分钟。请稍后再试，或请管理员解除锁定。")
    assert known[5][1].startswith("登录失败次数过多，该账号暂时锁定，请 15 分钟后再试")


def test_an_unknown_name_costs_the_same_password_check(app, client, users, monkeypatch):
    """The time a login takes is the password hash: an unknown name is checked against a hash made
    with the same method and cost as the users' own."""
    import app.accounts.models as models

    checked = []
    real = models.check_password_hash
    monkeypatch.setattr(models, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    client.post("/login", {"username": "worker", "password": "wrong-password-1"})
    client.post("/login", {"username": "nobody", "password": "wrong-password-1"})
    assert len(checked) == 2
    method = [h.split("$", 1)[0] for h in checked]
    assert method[0] == method[1] and method[0].startswith("scrypt:")
    assert checked[0] != checked[1]


def test_lockout_is_per_name_and_address(client, make_client, users, app):
    """Five wrong passwords lock the name from that address only: the village PC elsewhere still logs in."""
    for attempt in range(5):
        resp = login_from(client, "203.0.113.9", "admin", f"bad-password-{attempt}")
    assert "已锁定 15 分钟" in alert(resp)
    # the right password from the attacker's address is refused too …
    assert "暂时锁定" in alert(login_from(client, "203.0.113.9", "admin", PASSWORD))
    # … but the administrator at the village PC is not locked out
    office = make_client()
    office.get("/login")
    assert login_from(office, "192.168.1.20", "admin", PASSWORD).status_code == 302
    assert {"login_failed", "lockout", "login"} <= set(audit_actions(app))
    with app.app_context():
        lock = db.session.scalar(select(AuditLog).where(AuditLog.action == "lockout"))
        assert "203.0.113.9" in lock.summary and lock.actor_name == "admin"
    # After the lock runs out, the right password works from there again, and the count starts afresh.
    set_failures_back(app, 16)
    assert login_from(client, "203.0.113.9", "admin", PASSWORD).status_code == 302


def test_lockout_is_configurable(app, client, users):
    app.config["LOGIN_MAX_FAILURES"] = 2
    try:
        client.post("/login", {"username": "leader", "password": "bad-password-x"})
        html = client.post("/login", {"username": "leader", "password": "bad-password-x"}).get_data(as_text=True)
        assert "已锁定 15 分钟" in html
    finally:
        app.config["LOGIN_MAX_FAILURES"] = 5


def test_many_addresses_lock_the_name_everywhere_until_an_admin_unlocks_it(app, client, make_client, users):
    app.config["LOGIN_ACCOUNT_MAX_FAILURES"] = 8
    try:
        for i in range(8):
            login_from(client, f"198.51.100.{i % 2}", "worker", f"bad-password-{i}")
        # a fresh address is refused as well: the account-wide ceiling
        office = make_client()
        office.get("/login")
        assert "暂时锁定" in alert(login_from(office, "192.168.1.20", "worker", PASSWORD))
        with app.app_context():
            assert "各地址均锁定" in db.session.scalar(
                select(AuditLog.summary).where(AuditLog.action == "lockout").order_by(AuditLog.id.desc()))
        admin = make_client()
        admin.login("admin")
        assert "锁定中" in admin.get("/users?q=worker").get_data(as_text=True)
        page = admin.get(f"/users/{users['worker']}").get_data(as_text=True)
        assert "从所有地址登录均已锁定" in page and "198.51.100.1" in page and "解除锁定" in page
        # unlocking is for those who manage users
        other = make_client()
        other.login("leader")
        other.get("/")
        assert other.post(f"/users/{users['worker']}/unlock").status_code == 403
        assert admin.post(f"/users/{users['worker']}/unlock").status_code == 302
        assert login_from(office, "192.168.1.20", "worker", PASSWORD).status_code == 302
        with app.app_context():
            unlock = db.session.scalar(select(AuditLog).where(AuditLog.action == "unlock"))
            assert unlock.actor_name == "admin" and unlock.entity_id == str(users["worker"])
        assert "解除锁定" not in admin.get(f"/users/{users['worker']}").get_data(as_text=True)
    finally:
        app.config["LOGIN_ACCOUNT_MAX_FAILURES"] = 25


def test_one_address_trying_many_names_is_locked(app, client, make_client, users):
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 6
    try:
        for name in ("a1", "a2", "a3", "worker", "leader", "admin"):
            login_from(client, "203.0.113.50", name, "bad-password-x")
        assert "暂时锁定" in alert(login_from(client, "203.0.113.50", "township", PASSWORD))
        office = make_client()
        office.get("/login")
        assert login_from(office, "192.168.1.20", "township", PASSWORD).status_code == 302
    finally:
        app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 30


def test_a_full_width_username_and_password_are_the_ascii_ones(client, users):
    """A phone's Chinese keyboard types full-width letters and digits: NFKC makes them the same."""
    assert client.post("/login", {"username": "ｗｏｒｋｅｒ", "password": "Ｇｒｉｄ－ｔｅｓｔ－ｐａｓｓ－２０２６"}).status_code == 302


def test_server_timing_only_for_admins_or_when_configured(app, make_client, users):
    anonymous, worker, admin = make_client(), make_client(), make_client()
    assert "Server-Timing" not in anonymous.get("/login").headers
    failed = anonymous.post("/login", {"username": "admin", "password": "wrong-password-1"})
    assert "Server-Timing" not in failed.headers
    worker.login("worker")
    assert "Server-Timing" not in worker.get("/households/").headers
    admin.login("admin")
    assert admin.get("/households/").headers["Server-Timing"].startswith("app;dur=")
    # The request's wall time, then its CPU time (what other processes on the machine do not lengthen).
    app_time, cpu_time = admin.get("/households/").headers.getlist("Server-Timing")
    assert app_time.startswith("app;dur=") and cpu_time.startswith("cpu;dur=")
    assert 0 <= float(cpu_time.split("=")[1]) <= float(app_time.split("=")[1]) + 0.1
    app.config["SERVER_TIMING"] = True
    try:
        assert "Server-Timing" in worker.get("/households/").headers
        assert "Server-Timing" in anonymous.get("/login").headers
    finally:
        app.config["SERVER_TIMING"] = False


def test_logout_revokes_the_old_cookie(client, users):
    client.login("worker")
    cookie = client.raw.get_cookie("vg_session").value
    client.logout()
    client.raw.set_cookie("vg_session", cookie)
    assert client.get("/").status_code == 302


def test_password_change_revokes_other_sessions(make_client, users):
    first, second = make_client(), make_client()
    first.login("worker")
    second.login("worker")
    first.get("/account/password")
    resp = first.post("/account/password", {"old_password": PASSWORD, "new_password": "Another-pass-2026",
                                            "confirm": "Another-pass-2026"})
    assert resp.status_code == 302
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 302


def test_password_rules(client, users):
    client.login("worker")
    client.get("/account/password")
    for new, message in (("short1", "至少需要 10 个字符"), ("password123", "常见密码"), ("aaaaaaaaaaaa", "同一两个字符"),
                         ("worker-2026-xyz", "不能包含用户名"), ("１２３４５６７８９０", "常见密码"),
                         ("ｐａｓｓｗｏｒｄ１２３", "常见密码"), ("ＷＯＲＫＥＲ-2026-xyz", "不能包含用户名"),
                         ("ａａａａａａａａａａａａ", "同一两个字符")):
        html = client.post("/account/password", {"old_password": PASSWORD, "new_password": new, "confirm": new}).get_data(as_text=True)
        assert message in html, new
    html = client.post("/account/password", {"old_password": "not-it-at-all", "new_password": "Fine-pass-2026x",
                                             "confirm": "Fine-pass-2026x"}).get_data(as_text=True)
    assert "当前密码不正确" in html


def test_disabling_a_user_ends_their_sessions(make_client, users):
    admin, worker = make_client(), make_client()
    admin.login("admin")
    worker.login("worker")
    admin.get(f"/users/{users['worker']}")
    assert admin.post(f"/users/{users['worker']}/disable").status_code == 302
    assert worker.get("/").status_code == 302
    assert "已停用" in worker.login("worker").get_data(as_text=True)
    admin.post(f"/users/{users['worker']}/enable")
    assert worker.login("worker").status_code == 302


def test_reset_password_forces_change(make_client, users, app):
    admin, worker = make_client(), make_client()
    admin.login("admin")
    admin.get(f"/users/{users['worker']}")
    html = admin.post(f"/users/{users['worker']}/reset-password").get_data(as_text=True)
    temp = html.split('<p class="secret">')[1].split("</p>")[0]
    assert len(temp) == 12
    resp = worker.login("worker", temp)
    assert resp.headers["Location"] == "/account/password"
    assert worker.get("/grids/").headers["Location"] == "/account/password"
    worker.get("/account/password")
    worker.post("/account/password", {"old_password": temp, "new_password": "Brand-new-2026",
                                      "confirm": "Brand-new-2026"})
    assert worker.get("/grids/").status_code == 200
    assert "password_reset" in audit_actions(app)


def test_idle_timeout(client, users, app):
    client.login("worker")
    with app.app_context():
        db.session.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
        db.session.commit()
    resp = client.get("/grids/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert "长时间未操作" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "session_expired" in audit_actions(app)


def test_remember_me_only_when_enabled(client, users, app):
    assert "保持登录" not in client.get("/login").get_data(as_text=True)
    app.config["REMEMBER_ME_ENABLED"] = True
    try:
        assert "保持登录" in client.get("/login").get_data(as_text=True)
    finally:
        app.config["REMEMBER_ME_ENABLED"] = False


def test_create_user_rules(client, users, tree, app):
    client.login("village_admin")
    client.get("/users/new")
    base = {"username": "newworker", "full_name": "新网格员", "phone": "13800001111", "role": "worker",
            "grids": [tree["cluster_a"]], "password": "Initial-pass-2026"}
    # A village admin cannot create a township account, nor bind a foreign grid.
    html = client.post("/users/new", {**base, "role": "township"}).get_data(as_text=True)
    assert "不是有效的选择" in html and "Not a valid" not in html
    html = client.post("/users/new", {**base, "grids": [tree["village_b"]]}).get_data(as_text=True)
    assert "不在您的管理范围内" in html
    assert client.post("/users/new", base).status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "newworker"))
        assert user.must_change_password and [g.id for g in user.grids] == [tree["cluster_a"]]
        assert user.password_hash.startswith("scrypt:")
    html = client.post("/users/new", base).get_data(as_text=True)
    assert "已被使用" in html


def test_user_list_is_scoped(client, users):
    client.login("township")
    html = client.get("/users").get_data(as_text=True)
    assert "village_admin" in html and "worker_b" not in html and ">admin<" not in html
    assert client.get(f"/users/{users['worker_b']}").status_code == 404
