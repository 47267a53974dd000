"""A grid field for a user with hundreds of grids: the county admin of the demo (335 grids, 307 of
them lowest-level) registers a household on the phone by typing part of a village's name in the
grid box and tapping a result, instead of scrolling a list of 307 entries."""
import pytest
from playwright.sync_api import expect

from .ledger_seed import id_number


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_admin_finds_the_grid_by_name(ui, demo_server, viewport):
    page = ui.page
    ui.login("admin", demo_server.accounts["admin"])
    page.goto("/households/new")  # waits for the page's load event
    expect(page.locator("select#grid_id")).to_have_count(0)
    box = page.get_by_label("所属网格（最低一级）")
    expect(box).to_be_visible()
    ui.check("grid-picker-empty")

    # Saving without a choice says what to do and keeps what was typed.
    page.locator("#address").fill("徐旺村 36 号")
    page.locator("#head_name").fill("沈秋云")
    page.locator("#head_id_number").fill(id_number("19720418", 224))
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".gridpick .error")).to_contain_text("从列表中点选一个网格")
    expect(page.locator("#address")).to_have_value("徐旺村 36 号")
    page.wait_for_load_state()  # the page's scripts (htmx) have run, as before a person starts typing

    box = page.get_by_label("所属网格（最低一级）")
    box.fill("徐旺")
    results = page.locator("#grid_id-results button.pick")
    expect(results.first).to_be_visible()
    first = results.first.inner_text()
    assert "徐旺" in first
    ui.check("grid-picker-results")
    results.first.click()
    expect(box).to_have_value(first)
    expect(page.locator("#grid_id-results button")).to_have_count(0)
    assert page.locator("#grid_id").input_value() != "0"
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash-success")).to_contain_text("已建档")
    expect(page.locator("main")).to_contain_text(first.split(" · ")[-1])
    ui.check("grid-picker-saved")


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_admin_reports_a_case_for_a_village_found_by_name(ui, demo_server, viewport):
    page = ui.page
    ui.login("admin", demo_server.accounts["admin"])
    page.goto("/cases/new")
    box = page.get_by_label("所在网格")
    expect(box).to_have_value("长兴县")  # the admin's own grid, named
    box.fill("顾渚")
    results = page.locator("#grid_id-results button.pick")
    expect(results.first).to_be_visible()
    ui.check("case-grid-picker")
    # from the keyboard: down into the results, Enter on the first (顾渚村委会 itself)
    box.press("ArrowDown")
    expect(results.first).to_be_focused()
    label = results.first.inner_text()
    assert label.endswith("顾渚村委会")
    page.keyboard.press("Enter")
    expect(box).to_have_value(label)
    expect(page.locator("#grid_id-results button")).to_have_count(0)
    page.get_by_label("问题概述").fill("顾渚村停车场护栏损坏")
    page.get_by_label("详细描述").fill("护栏被车辆撞倒两段，游客停车有坠落危险")
    page.get_by_label("地点").fill("村口停车场")
    page.get_by_label("事件类别").select_option(label="其他")
    page.get_by_label("处理类别").select_option(label="需协调")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("顾渚村停车场护栏损坏")
    expect(page.locator("main")).to_contain_text(label.split(" · ")[-1])
    ui.check("case-grid-picked")


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_admin_gives_a_new_user_grids_found_by_name(ui, demo_server, viewport):
    """The user form's 负责的网格 of a county admin: search boxes that add ticked boxes, not a 335-line list."""
    page = ui.page
    ui.login("admin", demo_server.accounts["admin"])
    page.goto("/users/new")
    expect(page.locator("select#grids")).to_have_count(0)
    expect(page.get_by_label("角色")).to_have_value("worker")  # the least privilege unless chosen
    box = page.get_by_label("添加网格")
    results = page.locator("#grids-results button.pick")
    chosen = page.locator("#grids input[type=checkbox]")
    picked = []
    for text in ("顾渚", "徐旺"):
        box.fill(text)
        expect(results.first).to_be_visible()
        picked.append(results.first.inner_text())
        results.first.click()
        expect(chosen).to_have_count(len(picked))
        expect(box).to_have_value("")
        expect(page.locator("#grids-results button")).to_have_count(0)
    ui.check("user-grids-picked")
    # unticking one drops it
    page.get_by_label(picked[0]).uncheck()
    page.get_by_label("用户名", exact=True).fill("gzworker")
    page.get_by_label("姓名").fill("顾小华")
    page.get_by_label("初始密码").fill("Cunwang-new-2026")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash-success")).to_contain_text("已创建用户 gzworker")
    row = page.locator("tr").filter(has_text="gzworker")
    expect(row).to_contain_text("网格员")
    expect(row).to_contain_text(picked[1].split(" · ")[-1])
    expect(row).not_to_contain_text(picked[0].split(" · ")[-1])
