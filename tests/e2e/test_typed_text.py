"""Nothing a field worker types is lost, on the phone (390×844), with the idle timeout at one minute:

- typing keeps the session alive while the visit form is open: after more than a minute of
  typing (the page asks /session/alive), 保存 still saves;
- when the session ran out anyway, the refused save is kept for that worker: another user logging
  in on the same phone gets an empty form, the worker gets the text back after logging in again;
- saving with a photo shows 保存中… on a disabled button and a progress bar while the upload runs.
"""
import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, _build_demo


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory, make_database):
    """The demo on a server whose idle timeout is one minute."""
    server = Server(tmp_path_factory.mktemp("idle-server"), make_database("idle"))
    server.env["VG_IDLE_TIMEOUT_MINUTES"] = "1"
    demo = _build_demo(server)
    yield demo
    server.stop()


def _open_visit_form(ui, server):
    page = ui.page
    ui.login("worker3", server.accounts["worker3"])
    page.goto("/contacts/mine")
    page.locator("#my-households a.hh").first.click()
    expect(page).to_have_url(re.compile(r"/households/\d+$"))
    page.get_by_role("link", name="记走访").first.click()
    expect(page.locator("#learned")).to_be_visible()
    return page


def _expire_sessions(server):
    """The worker put the phone away: their session is past the idle timeout (set on the server's database)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server.server.env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE login_session SET last_seen_at = :t"), {"t": datetime.utcnow() - timedelta(minutes=5)})
    engine.dispose()


@pytest.mark.parametrize("viewport", ["phone"])
def test_typing_keeps_the_session_alive_past_the_timeout(make_ui, idle_server, viewport):
    ui = make_ui(idle_server.url)
    page = _open_visit_form(ui, idle_server)
    started = datetime.now()
    text = "老人说"
    page.locator("#learned").fill(text)
    # Keep typing as the conversation goes on; each time the page tells the server (every 20 s here).
    while datetime.now() - started < timedelta(seconds=70):
        with page.expect_request("**/session/alive", timeout=30_000):
            page.locator("#learned").press_sequentially("，")
        text += "，"
    page.get_by_role("button", name="保存走访").click()
    expect(page.locator(".flash-success")).to_have_text("走访已保存。")
    expect(page.locator("dd.pre").first).to_contain_text(text)
    ui.check("saved-after-70s-of-typing")


@pytest.mark.parametrize("viewport", ["phone"])
def test_a_save_after_the_timeout_is_kept_for_that_worker_only(make_ui, idle_server, viewport):
    ui = make_ui(idle_server.url)
    page = _open_visit_form(ui, idle_server)
    typed = "邻居反映老人独居，需要每周电话问候。"
    page.locator("#learned").fill(typed)
    _expire_sessions(idle_server)
    page.get_by_role("button", name="保存走访").click()
    expect(page.locator("#username")).to_be_visible()
    expect(page.locator(".flash-warning")).to_contain_text("刚才填写的内容会还给您")
    ui.check("login-after-timeout", logged_in=False)

    # Someone else takes the phone and logs in: sent to the same address, they find nothing of it.
    ui.login("leader3", idle_server.accounts["leader3"])
    expect(page).to_have_url(re.compile(r"restore="))
    expect(page.locator("body")).not_to_contain_text("邻居反映老人独居")
    page.goto("/")
    expect(page.locator("body")).not_to_contain_text("继续填写")
    page.context.clear_cookies()  # a new browser session on the shared phone

    # The worker logs in again: the home page offers the kept text, and the form gets it back.
    ui.login("worker3", idle_server.accounts["worker3"])
    page.goto("/")
    page.get_by_role("link", name="继续填写").click()
    expect(page.locator("#learned")).to_have_value(typed)
    expect(page.locator(".flash-warning")).to_contain_text("已恢复您登录超时前填写的内容")
    ui.check("restored")
    page.get_by_role("button", name="保存走访").click()
    expect(page.locator(".flash-success")).to_have_text("走访已保存。")


@pytest.mark.parametrize("viewport", ["phone"])
def test_saving_with_a_photo_shows_progress(make_ui, idle_server, viewport, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (1600, 1200), "green").save(photo, "JPEG", quality=95)
    ui = make_ui(idle_server.url)
    page = _open_visit_form(ui, idle_server)
    page.locator("#learned").fill("屋顶漏雨，拍照留存。")
    page.locator("#photos").set_input_files(str(photo))
    held = []
    page.route("**/visits/new**", lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    button = page.locator("form.visit-form button[type=submit]")
    button.click()
    # The slow link: the upload is on its way and the answer has not come.
    expect(button).to_have_text("保存中…")
    expect(button).to_be_disabled()
    expect(page.locator("progress.upload-progress")).to_be_visible()
    ui.page.screenshot(path=str(ui_artifact(ui, "uploading")), full_page=True, caret="initial")
    assert held, "the save never left the page"
    held[0].continue_()
    expect(page.locator(".flash-success")).to_have_text("走访已保存。")
    page.unroute("**/visits/new**")


def ui_artifact(ui, step):
    from tests.e2e.conftest import ARTIFACTS

    return ARTIFACTS / f"{ui.test_name}-{ui.viewport}-{step}.png"
