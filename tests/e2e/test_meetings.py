"""A village admin runs a meeting in the browser: plan it, print the sign-in sheet, record the minutes,
turn a decision into a follow-up, download the minutes (phone and PC)."""
import re

from playwright.sync_api import expect

from tests.pdfcheck import check_pdf


def _download(page, link):
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.failure() is None
    with open(download.path(), "rb") as fh:
        return download.suggested_filename, fh.read()


def test_plan_sign_in_minutes_follow_up(ui, demo_server, ledger, viewport, tmp_path):
    page = ui.page
    ui.login("village1", demo_server.accounts["village1"])
    if ui.phone:
        page.goto("/meetings/")  # the bottom bar keeps five places; the PC has 例会 in its top navigation
    else:
        page.locator("nav.mainnav").get_by_role("link", name="例会").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("例会 · ")
    ui.check("meetings")

    page.get_by_role("link", name="计划例会").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("计划例会")
    page.get_by_label("例会类型").select_option(label="行政村网格月例会（每月）")
    page.get_by_label("会议日期").fill("2026-11-20")
    page.get_by_label("开始时间").fill("09:30")
    page.get_by_label("会议地点").fill("村部会议室")
    page.get_by_label("主持人").fill("村书记")
    page.get_by_label("记录人").fill("村文书")
    page.get_by_label("会议议程").fill("一、通报走访情况\n二、研究路灯维修")
    ui.check("plan")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash-success")).to_contain_text("已计划例会")
    meeting_url = page.url
    assert re.search(r"/meetings/\d+$", meeting_url)
    ui.check("planned")

    # A registered person of the village (a 村民代表) joins the list: found by name, not from a list of everyone.
    page.locator("#attendee-add summary").click()
    add = page.locator("#attendee-add")
    add.get_by_role("searchbox").press_sequentially("李四")
    expect(add.get_by_role("radio", name=re.compile("李四"))).to_be_checked()
    add.get_by_label("身份").fill("村民代表")
    ui.check("attendee-picker")
    add.get_by_role("button", name="加入名单").click()
    expect(page.locator(".flash-success")).to_have_text("已将 李四 加入参会名单。")
    expect(page.locator("#attendees")).to_contain_text("村民代表")

    name, pdf = _download(page, page.get_by_role("link", name="打印签到表"))
    assert name.endswith("签到表.pdf")
    attendees = [t.strip() for t in page.locator("table.cards tbody td[data-label='姓名']").all_inner_texts()]
    assert attendees
    check_pdf(pdf, tmp_path / "sign-in", expect_pages=1, must_contain=["行政村网格月例会签到表", "村部会议室", *attendees])

    page.get_by_role("link", name="记录纪要").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("记录纪要")
    # forgetting one person's mark is refused, and what was typed stays
    rows = page.locator(".att-row")
    for i in range(rows.count()):
        if i:
            rows.nth(i).get_by_label("出席").check()
    page.get_by_label("汇报情况").fill("本月走访 86 户，重点户全覆盖。")
    page.get_by_role("button", name="保存纪要").click()
    expect(page.locator("#attendance-err")).to_contain_text("请为每位参会人员登记出席、缺席或请假")
    expect(page.get_by_label("汇报情况")).to_have_value("本月走访 86 户，重点户全覆盖。")
    ui.check("minutes-error")
    rows.nth(0).get_by_label("请假").check()
    page.get_by_label("研究的问题").fill("村道路灯坏了 6 盏。")
    page.get_by_role("button", name="保存纪要").click()
    expect(page.locator(".flash-success")).to_contain_text("会议纪要已保存")
    expect(page.locator(".facts")).to_contain_text("已召开")

    page.get_by_label("议定事项").fill("一周内修复村道路灯")
    page.get_by_role("button", name="添加议定事项").click()
    expect(page.locator(".flash-success")).to_contain_text("已添加议定事项")
    decision = page.locator("ol.decisions li").filter(has_text="一周内修复村道路灯")
    decision.locator("summary").filter(has_text="转为落实事项").click()
    owner_select = decision.get_by_label("责任人")
    owner = attendees[-1]
    owner_select.select_option(label=next(o for o in owner_select.locator("option").all_inner_texts() if o.startswith(owner)))
    decision.get_by_label("办结期限").fill("2026-11-27")
    ui.check("follow-up-form")
    decision.get_by_role("button", name="落实到人").click()
    expect(page.locator(".flash-success")).to_contain_text(f"已落实到 {owner}，期限 2026-11-27")
    expect(page.locator("ol.decisions")).to_contain_text(f"责任人 {owner} · 期限 2026-11-27")
    ui.check("follow-up")

    name, pdf = _download(page, page.get_by_role("link", name="下载纪要"))
    assert name.endswith("会议纪要.pdf")
    check_pdf(pdf, tmp_path / "minutes", expect_pages=1, must_contain=[
        "行政村网格月例会纪要", "本月走访 86 户", "村道路灯坏了 6 盏", "一周内修复村道路灯", owner, "2026-11-27"])

    # the meeting is in the village's history
    page.get_by_role("link", name=re.compile("^例会 · ")).click()
    expect(page.locator("section").filter(has_text="待落实事项")).to_contain_text("一周内修复村道路灯")
    ui.check("history")
