"""Assessment in the browser: a worker checks their own month's score down to the records (phone and PC);
a township leader compares the villages, publishes last month and prints and exports the 考核通报 (PC)."""
import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.test_meetings import _download
from tests.pdfcheck import check_pdf


def test_a_worker_checks_their_own_score(ui, demo_server, viewport):
    page = ui.page
    ui.login("worker3", demo_server.accounts["worker3"])
    if ui.phone:
        page.locator("nav.bottombar").get_by_role("link", name="我的").click()
        page.get_by_role("link", name="我的考核").click()
    else:
        page.locator("nav.mainnav").get_by_role("link", name="考核").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("我的考核")
    page.get_by_label("考核期间").select_option(index=1)  # last month: a whole month of records
    page.get_by_role("button", name="查看").click()
    expect(page.locator("table.score-lines")).to_contain_text("民情日记/工作日志")
    row = page.locator("table.score-lines tr").filter(has_text="走访").first
    expect(row).to_contain_text(re.compile(r"应走访 \d+ 户次，已走访 \d+ 户次"))
    ui.check("my-score")
    logs = page.locator("table.score-lines tr").filter(has_text="民情日记/工作日志")
    summary = logs.locator("summary")
    if summary.count():
        summary.click()
        expect(logs.locator("ul.details li").first).to_contain_text("未填写工作日志")
    ui.check("my-score-details")


def test_a_township_leader_publishes_and_prints_the_month(ui, demo_server, viewport, tmp_path):
    if ui.phone:
        pytest.skip("the township works at the office PC (the phone layout is checked by the worker's test)")
    page = ui.page
    ui.login("township", demo_server.accounts["township"])
    page.locator("nav.mainnav").get_by_role("link", name="考核").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("行政村考核排名")
    page.get_by_label("考核期间").select_option(index=1)
    page.get_by_role("button", name="查看").click()
    table = page.locator("table.ranking")
    for village in ("水口村委会", "顾渚村委会", "徐旺村委会"):
        expect(table).to_contain_text(village)
    ui.check("villages")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^发布.*考核结果$")).click()
    expect(page.locator(".flash-success")).to_contain_text("考核结果已发布")
    expect(page.locator("p.notice")).to_contain_text("之后的记录变化不影响发布的得分")
    ui.check("published")
    name, pdf = _download(page, page.get_by_role("link", name="打印考核通报（PDF）"))
    assert name.endswith("行政村考核通报.pdf")
    check_pdf(pdf, tmp_path / "report", expect_pages=1, must_contain=["行政村考核通报", "徐旺村委会", "审核人", "盖章"])
    name, data = _download(page, page.get_by_role("link", name="导出 Excel"))
    assert name.endswith(".xlsx")
    rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert rows[0][0].endswith("行政村考核通报") and rows[3][-2:] == ("总分", "星级")
    # The demo's three villages are ranked; the township's other villages keep no records yet (未参评).
    assert {r[1] for r in rows[4:7]} == {"水口村委会", "顾渚村委会", "徐旺村委会"}
    assert all(r[0] == "未参评" for r in rows[7:] if r[1] and r[1].endswith("村委会"))


def _top(locator):
    box = locator.bounding_box()
    return round(box["y"] + box["height"] / 2)


def test_the_period_picker_keeps_its_controls_together(ui, demo_server, viewport):
    """The list sits beside its label, and 查看, 上一期 and 下一期 share one line (a phone used to put
    下一期 alone on a line of its own)."""
    page = ui.page
    ui.login("worker3", demo_server.accounts["worker3"])
    page.goto("/assessment/me")
    page.get_by_label("考核期间").select_option(index=2)
    page.get_by_role("button", name="查看").click()
    picker = page.locator("form.period-picker")
    expect(picker.get_by_role("link", name="下一期")).to_be_visible()
    label, select = picker.locator("label"), picker.locator("select")
    view, prev, nxt = (picker.get_by_role("button", name="查看"), picker.get_by_role("link", name="上一期"),
                       picker.get_by_role("link", name="下一期"))
    assert abs(_top(label) - _top(select)) <= 4
    assert abs(_top(view) - _top(prev)) <= 4 and abs(_top(prev) - _top(nxt)) <= 4
    if not ui.phone:
        assert abs(_top(select) - _top(view)) <= 4  # one line on the PC
    for control in (select, view, prev, nxt):
        assert control.bounding_box()["height"] >= 44
    ui.check("period-picker")
