"""季度自评 in the browser: a village's 网格长 finishes and submits last quarter's draft on the phone;
the township rates another village's submitted form at the office PC, prints it and exports it."""
import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.test_meetings import _download
from tests.pdfcheck import check_pdf


def _open(page, grid_name):
    page.locator("section").filter(has_text="范围内的自评").get_by_role("link", name=grid_name).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(grid_name)


def test_a_grid_leader_submits_the_quarter_on_the_phone(ui, demo_server, viewport):
    if not ui.phone:
        pytest.skip("the 网格长 fills the form on the phone (the PC layout is checked by the township's test)")
    page = ui.page
    ui.login("leader3", demo_server.accounts["leader3"])
    page.locator("nav.bottombar").get_by_role("link", name="我的").click()
    page.get_by_role("link", name="季度自评").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("季度自评")
    own = page.locator("#own-quarters")
    expect(own.locator("thead th")).to_have_count(5)  # the grid and its last four quarters
    expect(own).to_contain_text("徐旺村委会")
    ui.check("list")
    _open(page, "徐旺村委会")
    expect(page.locator("#self-eval-state")).to_have_text("草稿")
    ui.check("draft")
    # A score above the item's points is refused naming the item, and what was typed stays.
    page.get_by_label("走访自评分").fill("260")
    page.get_by_label("走访自评说明").fill("重点户每月上门")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#self-eval-error")).to_contain_text("“走访”的自评分 260 分超过该项分值 200 分")
    expect(page.get_by_label("走访自评说明")).to_have_value("重点户每月上门")
    ui.check("refused")
    page.get_by_label("走访自评分").fill("180")
    page.get_by_label("总体情况（本季度网格运行情况、存在问题和改进措施）").fill("走访、巡查按计划完成，个别户信息待核实。")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="提交", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("自评已提交")
    expect(page.locator("#self-eval-state")).to_have_text("已提交")
    expect(page.locator("tr#line-1")).to_contain_text("180")
    expect(page.get_by_role("button", name="提交", exact=True)).to_have_count(0)
    ui.check("submitted")


def test_the_township_rates_a_village_at_the_pc(ui, demo_server, viewport, tmp_path):
    if ui.phone:
        pytest.skip("the township rates at the office PC (the phone layout is checked by the 网格长's test)")
    page = ui.page
    ui.login("township", demo_server.accounts["township"])
    page.goto("/assessment/self-evaluations")
    waiting = page.locator("#waiting")
    expect(waiting).to_contain_text("顾渚村委会")
    ui.check("waiting")
    waiting.get_by_role("link", name=re.compile("顾渚村委会")).click()
    expect(page.locator("#self-eval-state")).to_have_text("已提交")
    # The township types its rating line by line, starting from the grid's own scores.
    rows = page.locator("table.self-eval tbody tr")
    for i in range(rows.count()):
        row = rows.nth(i)
        own = row.locator("td[data-label='自评'] strong").inner_text()
        row.locator("td[data-label='评定'] input").first.fill(own)
    page.get_by_label("走访评定分").fill("150")
    page.get_by_label("走访评定意见").fill("抽查 3 户，1 户未见走访记录")
    page.get_by_label("评定意见", exact=True).fill("自评基本属实。")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="评定", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("评定结果已保存并上报")
    expect(page.locator("#self-eval-state")).to_have_text("已评定")
    expect(page.locator("#rated-total")).not_to_be_empty()
    ui.check("rated")
    name, pdf = _download(page, page.get_by_role("link", name="打印自评表（PDF）"))
    assert name.endswith("网格运行情况自评表.pdf")
    check_pdf(pdf, tmp_path / "self-eval", expect_pages=1,
              must_contain=["顾渚村委会", "网格运行情况自评表", "抽查3户，1户未见走访记录", "评定人（签字）"])
    name, data = _download(page, page.get_by_role("link", name="导出 Excel"))
    rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    walk = next(r for r in rows if r[1] == "走访")
    assert walk[rows[3].index("评定分")] == 150
    page.goto("/assessment/self-evaluations?state=rated")
    expect(page.locator("table")).to_contain_text("顾渚村委会")
