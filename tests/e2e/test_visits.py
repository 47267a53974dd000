"""Field work in the browser.

- a 网格员 on the phone (worker3 of the demo village 徐旺村, 390×844): from the home screen's
  due list, a visit saved in at most 4 taps plus typing, corrected, then the same visit in the
  day's work log, where the day's other work is written down;
- a 网格长 at the PC (leader3): coverage as an SVG bar chart, the households nobody visited,
  a worker's month of logs, 周查 with a comment, and the monthly work log as a PDF.
"""
import io
import re
import subprocess

import pytest
from playwright.sync_api import expect


def _png():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 60)).save(buf, "PNG")
    return buf.getvalue()


class Taps:
    """Counts what a person taps (clicks and choices), not what they type."""

    def __init__(self):
        self.n = 0

    def tap(self, locator):
        self.n += 1
        locator.click()


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_worker_records_a_visit_in_four_taps(ui, demo_server, viewport):
    page = ui.page
    ui.login("worker3", demo_server.accounts["worker3"])
    expect(page.get_by_role("heading", name="待走访")).to_be_visible()
    ui.check("home")

    taps = Taps()
    first = page.locator("ul.duelist li").first
    address = first.locator(".due-main strong").inner_text()
    taps.tap(first.get_by_role("link", name="记走访"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(address)
    expect(page.locator("#visited_at")).not_to_have_value("")  # now, filled in
    taps.tap(page.get_by_role("group", name="走访方式").get_by_text("电话", exact=True))
    page.locator("#learned").fill("电话询问老人近况，身体尚好，提醒按时服药。")
    page.locator("#problems").fill("村口路灯不亮")
    ui.check("visit-form")
    taps.tap(page.get_by_role("button", name="保存走访"))
    expect(page.locator(".flash-success")).to_have_text("走访已保存。")
    assert taps.n <= 4, f"saving a visit took {taps.n} taps"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"电话走访 · {address}")
    expect(page.locator("ol.problems")).to_contain_text("村口路灯不亮")
    ui.check("visit-saved")

    # A slip of the thumb: the visitor corrects the record (the week is not checked yet).
    page.get_by_role("link", name="修改", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("修改走访记录")
    expect(page.locator("#learned")).to_have_value("电话询问老人近况，身体尚好，提醒按时服药。")
    page.locator("#learned").fill("电话询问老人近况，身体尚好，提醒按时服药；女儿下周回家。")
    page.locator("#photos").set_input_files(files=[{"name": "gate.png", "mimeType": "image/png", "buffer": _png()}])
    ui.check("visit-edit")
    page.get_by_role("button", name="保存修改").click()
    expect(page.locator(".flash-success")).to_have_text("走访记录已修改。")
    expect(page.locator("dl.facts")).to_contain_text("女儿下周回家")
    expect(page.locator("dl.facts")).to_contain_text("修改过")
    expect(page.locator("ul.photos img")).to_have_count(1)
    page.get_by_role("link", name="修改", exact=True).click()
    expect(page.get_by_label("删除这张")).to_be_visible()
    ui.check("visit-edit-photos")
    page.get_by_role("link", name="取消").click()

    page.get_by_role("link", name="当天工作日志").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("工作日志")
    day_visits = page.locator("section.card").filter(has=page.get_by_role("heading", name=re.compile("当天走访")))
    expect(day_visits).to_contain_text(address)
    expect(day_visits).to_contain_text("电话")
    page.locator("#content").fill("参加村两委例会；整理台账。")
    page.get_by_role("button", name=re.compile("保存")).click()
    expect(page.locator(".flash-success")).to_contain_text("工作日志已保存")
    expect(page.locator("#content")).to_have_value("参加村两委例会；整理台账。")
    ui.check("worklog")


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_leader_sees_coverage_and_checks_a_week(ui, demo_server, viewport, tmp_path):
    page = ui.page
    ui.login("leader3", demo_server.accounts["leader3"])
    page.goto("/visits/coverage")
    expect(page.get_by_role("heading", level=1)).to_contain_text("走访覆盖")
    chart = page.locator("svg.barchart").first
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar-fill").count() >= 1
    expect(page.get_by_role("heading", name=re.compile("本期无人走访的户"))).to_be_visible()
    ui.check("coverage")
    page.get_by_role("link", name="本季度").click()
    expect(page.locator("main")).to_contain_text("季度")
    ui.check("coverage-quarter")

    page.locator("td[data-label='工作日志'] a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("工作日志")
    forms = page.locator("form.checkform")
    if forms.count() == 0:  # the month has only checked weeks so far: go back a month
        page.get_by_role("link", name="上个月").click()
    form = page.locator("form.checkform").first
    form.get_by_label("检查意见").fill("走访记录完整，注意补写周五的日志。")
    ui.check("month-before-check")
    form.get_by_role("button", name="完成周查").click()
    expect(page.locator(".flash-success")).to_contain_text("周查")
    expect(page.locator("main")).to_contain_text("走访记录完整，注意补写周五的日志。")
    ui.check("month-checked")

    with page.expect_download() as info:
        page.get_by_role("link", name="下载 PDF").click()
    download = info.value
    assert download.failure() is None and download.suggested_filename.endswith(".pdf")
    path = tmp_path / "log.pdf"
    download.save_as(path)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "网格员工作日志" in text and "走访记录完整" in text.replace("\n", "")


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_a_lost_connection_keeps_the_visit_form(ui, demo_server, viewport):
    """The network drops as the worker taps 保存: the page stays, with what was typed, and says so;
    tapping again once the network is back saves exactly one visit."""
    page = ui.page
    ui.login("worker3", demo_server.accounts["worker3"])
    page.goto("/contacts/mine")
    page.locator("#my-households a.hh").first.click()
    expect(page).to_have_url(re.compile(r"/households/\d+$"))
    address = page.get_by_role("heading", level=1).inner_text()
    before = int(re.search(r"走访记录（(\d+)）", page.locator("#visits h2").inner_text()).group(1))
    page.get_by_role("link", name="记走访").first.click()
    page.locator("#learned").fill("上门了解春耕用工需求。")
    page.route("**/visits/new**", lambda route: route.abort("internetdisconnected")
               if route.request.method == "POST" else route.continue_())
    page.get_by_role("button", name="保存走访").click()
    expect(page.locator("#toasts .flash-error")).to_contain_text("网络连接中断，不确定内容是否已提交")
    expect(page.locator("#toasts .flash-error")).to_contain_text("不会重复登记")
    expect(page.locator("#learned")).to_have_value("上门了解春耕用工需求。")
    expect(page.get_by_role("button", name="保存走访")).to_be_enabled()
    ui.check("network-lost")
    page.unroute("**/visits/new**")
    page.get_by_role("button", name="保存走访").click()
    expect(page.locator(".flash-success")).to_have_text("走访已保存。")
    # the form opened with the method the household's due item asks for (上门, 微宣讲 …)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(rf"^\S+走访 · {re.escape(address)}$"))
    page.get_by_role("link", name="返回该户").click()
    expect(page.locator("#visits h2")).to_have_text(f"走访记录（{before + 1}）")

    # A double tap on 保存 saves one visit.
    page.get_by_role("link", name="记走访").first.click()
    page.locator("#learned").fill("再次上门，送去防汛宣传单。")
    page.get_by_role("button", name="保存走访").dblclick()
    expect(page.locator(".flash-success")).to_be_visible()
    page.get_by_role("link", name="返回该户").click()
    expect(page.locator("#visits h2")).to_have_text(f"走访记录（{before + 2}）")


def test_a_category_rule_puts_a_hardship_household_on_the_monthly_due_list(make_ui, demo_server, viewport):
    """The village sets up a monthly 微宣讲 for 困难户; a household the worker tags 困难户 is due at once, the
    item says what satisfies it, and 记走访 opens with the method of the most urgent item."""
    office = make_ui(demo_server.url)
    page = office.page
    office.login("village3", demo_server.accounts["village3"])
    page.goto("/visits/rules")
    if page.get_by_role("button", name=re.compile("单独设置规则")).count():
        page.get_by_role("button", name=re.compile("单独设置规则")).click()
        expect(page.locator(".flash-success")).to_contain_text("使用自己的走访规则")
    page.get_by_role("link", name="添加规则").click()
    name = f"困难户每月微宣讲（{viewport}）"
    page.get_by_label("规则名称").fill(name)
    page.get_by_label("适用于").select_option("categories")
    page.get_by_label("困难户/低保户（五必访）").check()
    page.get_by_label("微宣讲", exact=True).check()
    page.get_by_label("频次（至少一次）").select_option("month")
    office.check("category-rule")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash-success")).to_contain_text(name)
    expect(page.locator("table.cards")).to_contain_text("困难户/低保户")
    office.check("rules")

    field = make_ui(demo_server.url)
    page = field.page
    field.login("worker3", demo_server.accounts["worker3"])
    # a household without a 微宣讲 this quarter (so none this month either): its quarterly 微宣讲 is due
    page.goto("/visits/due")
    candidates = [li.locator(".due-main strong").inner_text()
                  for li in page.locator("ul.duelist li").filter(has_text="（需微宣讲）").all()]
    assert candidates, "the demo has no household without a 微宣讲 this quarter"
    address = candidates[0]
    page.goto("/contacts/mine")
    page.locator("#my-households a.hh").filter(has_text=address).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(address)
    page.get_by_label("类别", exact=True).select_option(label="困难户/低保户（五必访）")
    page.get_by_role("button", name="纳入").click()
    expect(page.locator(".taglist")).to_contain_text("困难户/低保户")  # tagged now (or already was)
    page.goto("/visits/due")
    item = page.locator("ul.duelist li").filter(has_text=address)
    expect(item).to_contain_text(f"{name}（需微宣讲）")
    field.check("due-list")
    link = item.get_by_role("link", name="记走访")
    method = re.search(r"method=(\w+)", link.get_attribute("href")).group(1)
    link.click()
    expect(page.locator(f'input[name="method"][value="{method}"]')).to_be_checked()
    expect(page.locator("#visit-due")).to_contain_text(name)
    field.check("visit-form")
