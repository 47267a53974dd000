"""First run: an empty database sends every visitor to the set-up page, which closes once done."""
import re

from playwright.sync_api import expect

from .conftest import PASSWORD


def test_first_run_setup(make_ui, fresh_server, viewport):
    ui = make_ui(fresh_server.url)
    page = ui.page
    org = "长兴县" if ui.phone else "水口乡"

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("欢迎使用村网格")
    ui.check("setup", logged_in=False)

    page.get_by_label("县或乡镇名称").fill(org)
    page.get_by_label("层级").select_option("county" if ui.phone else "town")
    page.get_by_label("区划代码").fill("330522000000" if ui.phone else "330522200000")
    page.get_by_label("管理员用户名").fill("chief")
    page.get_by_label("管理员姓名").fill("王建国")
    page.get_by_label("手机号").fill("13800001234")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("再次输入密码").fill(PASSWORD)
    # the address this browser came by is offered as the one printed in QR codes
    expect(page.get_by_label("本系统的访问地址")).to_have_value(fresh_server.url)
    page.get_by_role("button", name="完成初始化").click()

    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator(".flash-success")).to_contain_text("初始化完成")
    expect(page.locator(".brand")).to_contain_text(org)
    ui.check("login-after-setup", logged_in=False)

    ui.login("chief", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("您好，王建国")
    expect(page.locator("main")).to_contain_text("系统管理员")
    expect(page.locator("#my-grids .linklist")).to_contain_text(org)
    ui.check("home")

    # the recorded address, editable by the administrator
    page.goto("/admin/settings")
    expect(page.get_by_label("本系统的访问地址")).to_have_value(fresh_server.url)
    ui.check("settings")

    response = page.goto("/setup")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("页面不存在")
    ui.check("setup-gone")
