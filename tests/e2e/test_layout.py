"""Every main screen as an administrator: phone layout (no sideways scrolling, bottom bar),
PC layout (top navigation, no bottom bar), and axe on each."""

from playwright.sync_api import expect


def test_layout_of_main_pages(ui, demo_server, viewport):
    page = ui.page
    ui.login("admin", demo_server.accounts["admin"])
    ui.check("home")

    page.goto("/grids/")
    page.locator("main ul.tree > li.node").first.locator("a.open").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("长兴县")
    county_url = page.url
    ui.check("county")

    page.goto(county_url + "/staff/new")
    ui.check("staff-form")
    page.goto(county_url + "/new")
    ui.check("new-grid-form")

    for path, heading in [("/users", "用户"), ("/users/new", "新建用户"), ("/admin/audit", None),
                          ("/admin/reference", None), ("/account/password", None), ("/me", "我的账号"),
                          ("/manage", "管理")]:
        response = page.goto(path)
        assert response.status == 200, f"{path}: {response.status}"
        if heading:
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        ui.check(path.strip("/").replace("/", "-"))

    if ui.phone:
        expect(page.locator(".usermenu")).to_be_hidden()
    else:
        expect(page.locator(".usermenu").get_by_role("button", name="退出")).to_be_visible()
