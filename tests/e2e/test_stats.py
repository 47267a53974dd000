"""Statistics in the browser: a township leader opens the dashboard, drills into a village's case
statistics and exports them to Excel and PDF (phone and PC)."""
import io

from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.test_meetings import _download
from tests.e2e.test_tap_targets import _small
from tests.pdfcheck import check_pdf


def test_a_township_leader_reads_the_dashboard_and_a_villages_cases(ui, demo_server, viewport, tmp_path):
    page = ui.page
    ui.login("township", demo_server.accounts["township"])
    if ui.phone:
        page.locator("#dashboards a").first.click()
    else:
        page.locator("nav.mainnav").get_by_role("link", name="统计").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("网格工作概况")
    expect(page.locator("ul.dash-figures")).to_contain_text("受理事件")
    expect(page.locator("svg.colchart").first).to_be_visible()
    expect(page.locator("#h-attention")).to_have_text("需要关注的网格")
    ui.check("dashboard")
    if ui.phone:
        assert _small(page) == []
    page.locator("nav.stats-nav").get_by_role("link", name="事件统计").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("事件统计")
    page.get_by_label("统计期间").select_option(index=0)  # this month (the demo's cases)
    page.get_by_role("button", name="查看", exact=True).click()
    by_grid = page.locator("#t-grid")
    expect(by_grid).to_contain_text("合计")
    ui.check("township-cases")
    if ui.phone:
        assert _small(page) == []
    by_grid.get_by_role("link", name="徐旺村委会").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("事件统计 · 徐旺村委会")
    expect(page.locator("#t-category")).to_contain_text("合计")
    ui.check("village-cases")
    name, data = _download(page, page.get_by_role("link", name="导出 Excel"))
    assert name.endswith("事件统计.xlsx") and "徐旺村委会" in name
    wb = load_workbook(io.BytesIO(data))
    rows = list(wb["按类别"].iter_rows(values_only=True))
    assert rows[0][0].startswith("徐旺村委会") and rows[1][0].startswith("统计期间")
    assert any(r[0] == "合计" for r in rows)
    if not ui.phone:
        name, pdf = _download(page, page.get_by_role("link", name="打印（PDF）"))
        check_pdf(pdf, tmp_path / "cases", must_contain=["徐旺村委会", "事件统计", "按类别", "合计", "审核人"])


def test_a_village_sees_its_own_dashboard_only(ui, demo_server, viewport):
    page = ui.page
    ui.login("village1", demo_server.accounts["village1"])
    page.locator("#dashboards a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("网格工作概况")
    village_url = page.url
    ui.check("village-dashboard")
    # The township above is out of reach, so the breadcrumb starts at the village (its address answering
    # 404 is tests/test_stats.py's); the village's own statistics open.
    expect(page.locator("p.crumbs")).not_to_contain_text("水口乡")
    page.locator("nav.stats-nav").get_by_role("link", name="工作统计").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("工作统计")
    expect(page.locator("#t-work")).to_contain_text("合计")
    ui.check("village-work")
    assert "/stats/grids/" in village_url
