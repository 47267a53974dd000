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


def test_wrong_password_and_unknown_user_say_the_same(client, users):
    a = client.post("/login", {"username": "worker", "password": "wrong-password-1"}).get_data(as_text=True)
    b = client.post("/login", {"username": "nobody", "password": "wrong-password-1"}).get_data(as_text=True)
    assert "用户名或密码不正确" in a and "用户名或密码不正确" in b


def test_lockout_after_five_failures(client, users, app):
    for _ in range(4):
        html = client.post("/login", {"username": "worker", "password": "bad-password-x"}).get_data(as_text=True)
        assert "锁定" in html and "已锁定" not in html
    html = client.post("/login", {"username": "worker", "password": "bad-password-x"}).get_data(as_text=True)
    assert "已锁定 15 分钟" in html
    html = client.login("worker").get_data(as_text=True)
    assert "账号已锁定" in html
    assert "lockout" in audit_actions(app)
    # After the lock runs out, the right password works again.
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "worker"))
        user.locked_until = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert client.login("worker").status_code == 302


def test_lockout_is_configurable(app, client, users):
    app.config["LOGIN_MAX_FAILURES"] = 2
    try:
        client.post("/login", {"username": "leader", "password": "bad-password-x"})
        html = client.post("/login", {"username": "leader", "password": "bad-password-x"}).get_data(as_text=True)
        assert "连续错误 2 次" in html
    finally:
        app.config["LOGIN_MAX_FAILURES"] = 5


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
                         ("worker-2026-xyz", "不能包含用户名")):
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
