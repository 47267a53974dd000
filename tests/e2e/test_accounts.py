"""Logging in and out on both devices, and the lock-out after repeated wrong passwords."""
import re

from playwright.sync_api import expect

from .conftest import LOCK_ACCOUNTS

LOGIN_USERS = {"phone": "leader1", "desktop": "leader2"}


def test_login_and_logout(ui, demo_server, viewport):
    page = ui.page
    username = LOGIN_USERS[viewport]

    page.goto("/grids/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)grids(/|%2F)"))
    expect(page.get_by_role("heading", level=1)).to_have_text("登录村网格")
    ui.check("login", logged_in=False)

    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码不正确")
    ui.check("login-wrong-password", logged_in=False)

    ui.login(username, demo_server.accounts[username])
    expect(page).to_have_url(re.compile(r"/grids/$"))  # back where the login started
    expect(page.get_by_role("heading", level=1)).to_have_text("网格树")
    ui.check("after-login")

    if ui.phone:
        expect(page.locator(".usermenu")).to_be_hidden()
        page.locator("nav.bottombar").get_by_role("link", name="我的").click()
        expect(page).to_have_url(re.compile(r"/me$"))
        expect(page.locator(".facts")).to_contain_text(username)
        ui.check("me")
        page.get_by_role("button", name="退出登录").click()
    else:
        page.locator(".topbar").get_by_role("button", name="退出").click()

    expect(page.locator(".flash-success")).to_have_text("您已安全退出。")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#username")).to_be_visible()
    ui.check("logged-out", logged_in=False)

    # The page before the logout is protected now: going back reloads it (no htmx history
    # cache, no-store) and the server sends the browser to the login page again.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)(me|grids)"))
    expect(page.locator("#username")).to_be_visible()
    expect(page.locator("nav.bottombar")).to_have_count(0)
    page.goto("/grids/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("登录村网格")


def _submit_login(page, username, password):
    """Submit the login form and return the status of the server's answer to the POST."""
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as answer:
        page.get_by_role("button", name="登录").click()
    return answer.value.status


def test_lockout_after_five_wrong_passwords(ui, demo_server, viewport):
    page = ui.page
    username = LOCK_ACCOUNTS[viewport]  # one account per viewport: the lock must not leak between tests
    page.goto("/login")
    for attempt in range(1, 6):
        assert _submit_login(page, username, f"wrong-password-{attempt}") == 401
        if attempt < 5:
            expect(page.get_by_role("alert")).to_contain_text(f"再错 {5 - attempt} 次")
    expect(page.get_by_role("alert")).to_contain_text("账号已锁定")
    ui.check("locked", logged_in=False)

    # Even the right password is refused while the account is locked.
    assert _submit_login(page, username, demo_server.accounts[username]) == 401
    expect(page.get_by_role("alert")).to_contain_text("锁定")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#username")).to_be_visible()
    expect(page.locator("nav.bottombar")).to_have_count(0)
    ui.check("locked-right-password", logged_in=False)

    # And the lock is not a property of this browser: a new visit is refused as well.
    page.context.clear_cookies()
    page.goto("/login")
    assert _submit_login(page, username, demo_server.accounts[username]) == 401
    expect(page.get_by_role("alert")).to_contain_text("锁定")
