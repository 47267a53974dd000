"""The lazily loaded grid tree, a grid's page, and putting a 网格员 into a grid."""
import re

from playwright.sync_api import expect

VILLAGE_ADMINS = {"phone": ("village1", "worker1", "水口村委会"), "desktop": ("village2", "worker2", "顾渚村委会")}


def _node(scope, name):
    """The tree node (li) whose own name is ``name``."""
    return scope.locator("li.node").filter(has=scope.page.locator(":scope > details > summary .gname, :scope > .leaf .gname",
                                                                       has_text=re.compile(f"^{name}$")))


def test_grid_tree(ui, demo_server, viewport):
    page = ui.page
    ui.login("admin", demo_server.accounts["admin"])
    if ui.phone:
        page.locator("nav.bottombar").get_by_role("link", name="网格").click()
    else:
        page.locator("nav.mainnav").get_by_role("link", name="网格").click()
    expect(page).to_have_url(re.compile(r"/grids/$"))
    ui.check("tree")

    county = page.locator("main ul.tree > li.node").first
    expect(county.locator(":scope > details > summary .gname")).to_have_text("长兴县")
    county_list = county.locator(":scope > details > ul.tree")
    county.locator(":scope > details > summary").click()
    town = county_list.locator(":scope > li.node").filter(
        has=page.locator(":scope > details > summary .gname", has_text=re.compile("^水口乡$")))
    expect(town).to_have_count(1)  # loaded by htmx on toggle
    expect(county_list.locator(":scope > li.loading")).to_have_count(0)
    expect(county.locator(":scope > details")).to_have_attribute("open", "")
    expect(page.locator("header.topbar")).to_have_count(1)  # a fragment came back, not a whole page
    ui.check("tree-county-open")

    town.locator(":scope > details > summary").click()
    town_list = town.locator(":scope > details > ul.tree")
    village = town_list.locator(":scope > li.node").filter(
        has=page.locator(":scope > details > summary .gname", has_text=re.compile("^水口村委会$")))
    expect(village).to_have_count(1)
    expect(town_list.locator(":scope > li.loading")).to_have_count(0)
    # One level deeper still works: the demo's natural villages under 水口村委会.
    village.locator(":scope > details > summary").click()
    expect(village.locator(":scope > details > ul.tree > li.node").first).to_contain_text("自然村")
    ui.check("tree-village-open")

    village.locator(":scope > a.open").click()
    expect(page).to_have_url(re.compile(r"/grids/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("水口村委会")
    expect(page.locator(".crumbs")).to_contain_text("水口乡")
    expect(page.locator("table.cards")).to_contain_text("网格长")
    ui.check("grid-page")


def test_assign_worker(ui, demo_server, viewport):
    page = ui.page
    village_admin, worker, village = VILLAGE_ADMINS[viewport]
    ui.login(village_admin, demo_server.accounts[village_admin])
    page.locator("#my-grids .linklist").get_by_role("link", name=re.compile(village)).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(village)
    grid_url = page.url
    ui.check("grid-page")

    page.get_by_role("link", name="安排人员").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"为“{village}”安排人员")
    ui.check("staff-form")

    page.locator("#role").select_option("worker")
    expect(page.locator("#role option:checked")).to_have_text("网格员")
    option = page.locator("#user_id option", has_text=f"（{worker}，")
    label = option.inner_text()
    full_name = label.split("（", 1)[0]
    page.locator("#user_id").select_option(option.get_attribute("value"))
    page.get_by_role("button", name="保存").click()

    expect(page).to_have_url(grid_url)
    expect(page.locator(".flash-success")).to_have_text("已安排岗位。")
    row = page.locator("table.cards tbody tr").filter(has_text=full_name).filter(has_text="网格员")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text("网格员")
    ui.check("grid-page-with-worker")
