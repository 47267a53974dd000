"""The household ledger (户籍台账) in the browser.

- the phone flow of a 网格员 (worker1, 390×844): bottom bar → 台账, active search as you
  type, a household, 添加成员 with an ID number typed with a lower-case x, masked
  numbers, 纳入类别 and 移出此类别 with the category history;
- the same at the office PC as a village admin (village1), plus the audited 查看
  (reveal) of a full ID number, checked in the audit log as admin;
- 导出当前列表 (the whole list and a search) opened with openpyxl: masked numbers;
- a wrong ID number in the add-member form: the Chinese error next to the field, and
  what was typed is kept;
- two categories at once, each 移出 form with its own fields and errors, and empty
  dates meaning today in China.
Households come from the ``ledger`` fixture (conftest.py, ledger_seed.py).
"""
import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from playwright.sync_api import expect

from .ledger_seed import id_number, masked

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # the app shows every time in China's time

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
MASKED_RE = re.compile(r"^\d{6}\*{8}\d{3}[\dX]$")
# The people the two flows add (one per flow: ID numbers are unique in the ledger).
PHONE_MEMBER = ("张小雨", id_number("20150612", 109))     # a boy; ends in X: typed with a lower-case x
DESKTOP_MEMBER = ("张君宝", id_number("20180305", 141))   # a boy; typed with full-width digits
assert PHONE_MEMBER[1].endswith("X")


def _mark_page(page):
    """Set a marker that only a real page load removes (htmx swaps and boosted links keep it)."""
    page.evaluate("window.__e2eNoReload = 'kept'")


def _assert_no_reload(page, what):
    assert page.evaluate("window.__e2eNoReload") == "kept", f"{what} loaded a whole new page"


def _go_to_ledger(ui):
    page = ui.page
    nav = page.locator("nav.bottombar" if ui.phone else "nav.mainnav")
    nav.get_by_role("link", name="台账").click()
    expect(page).to_have_url(re.compile(r"/households/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("户籍台账")
    expect(nav.get_by_role("link", name="台账")).to_have_attribute("aria-current", "page")


def _search(ui, text, expected_names, step):
    """Type into the search box as a person would and wait for the results (no page load)."""
    page = ui.page
    box = page.locator("#q")
    box.fill("")
    box.press_sequentially(text, delay=60)
    # hx-push-url: the address bar follows the box once the answer to the whole text is in.
    page.wait_for_function("(q) => new URLSearchParams(location.search).get('q') === q", arg=text)
    ui.settle()
    assert parse_qs(urlsplit(page.url).query)["q"] == [text]
    results = page.locator("#results")
    for name in expected_names:
        expect(results.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.locator("header.topbar")).to_have_count(1)  # a fragment came back, not a whole page
    _assert_no_reload(page, f"searching “{text}”")
    ui.check(step)
    return results


def _add_member(ui, name, typed_number, number, relation, flag, step):
    page = ui.page
    page.get_by_role("link", name="添加成员").click()
    expect(page).to_have_url(re.compile(r"/households/\d+/members/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("添加成员")
    page.locator("#name").fill(name)
    page.locator("#id_number").press_sequentially(typed_number, delay=10)
    page.locator("#relation").select_option(relation)
    page.get_by_role("group", name="标记").get_by_label(flag, exact=True).check()
    ui.check(f"{step}-form")
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(re.compile(r"/households/\d+$"))
    expect(page.locator(".flash-success")).to_have_text(f"已添加成员 {name}。")
    row = page.locator("table.cards tbody tr").filter(has=page.locator("td", has_text=re.compile(f"^{name}$")))
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label='身份证号'] .mono")).to_have_text(masked(number))
    expect(row.locator("td[data-label='关系']")).to_have_text(relation)
    expect(row.locator("td[data-label='面貌/标记'] .tag")).to_have_text(flag)
    sex = "男" if int(number[16]) % 2 else "女"
    expect(row.locator("td[data-label='性别/出生']")).to_have_text(f"{sex} · {number[6:10]}-{number[10:12]}-{number[12:14]}")
    # The full number is nowhere in the page: not in the text, not in the HTML.
    for text in (page.locator("body").inner_text(), page.content()):
        assert number not in text and number.lower() not in text
    ui.check(step)
    return row


def _tag_and_untag(ui, category, reason, end_reason, step):
    page = ui.page
    section = page.locator("#categories")
    expect(section.locator("ul.taglist")).not_to_contain_text(category)
    page.locator("#category_id").select_option(label=f"{category}（六类户）")
    page.locator("#reason").fill(reason)
    ui.check(f"{step}-tag-form")
    section.get_by_role("button", name="纳入").click()
    expect(page.locator(".flash-success")).to_have_text("已纳入类别。")
    item = page.locator("#categories ul.taglist > li").filter(has_text=category)
    expect(item).to_have_count(1)
    expect(item).not_to_have_class(re.compile(r"\bended\b"))
    expect(item).to_contain_text(f"起：{reason}")
    ui.check(f"{step}-tagged")

    item.locator("summary", has_text="移出此类别").click()
    reason_box = item.get_by_label("结束原因")  # the label points at this tag's own box
    expect(reason_box).to_be_visible()
    expect(item.get_by_label("结束日期")).to_have_value("")
    reason_box.fill(end_reason)
    ui.check(f"{step}-untag-form")
    item.get_by_role("button", name="确定移出").click()
    expect(page.locator(".flash-success")).to_have_text("已移出该类别。")
    item = page.locator("#categories ul.taglist > li").filter(has_text=category)
    expect(item).to_have_count(1)
    expect(item).to_have_class(re.compile(r"\bended\b"))
    expect(item).to_contain_text(f"起：{reason}")
    expect(item).to_contain_text(f"止：{end_reason}")
    expect(item.locator("summary", has_text="移出此类别")).to_have_count(0)
    # Both steps are in the household's history too.
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text(f"纳入“{category}”。{reason}")
    expect(timeline).to_contain_text(f"移出“{category}”：{end_reason}")
    ui.check(f"{step}-untagged")


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_phone_flow_worker(ui, demo_server, ledger, viewport):
    """A 网格员 on the phone: search, open a household, add a member, tag and untag a category."""
    page = ui.page
    name, number = PHONE_MEMBER
    ui.login("worker1", demo_server.accounts["worker1"])
    ui.check("home")

    _go_to_ledger(ui)
    list_rows = page.locator("#results table.cards tbody tr")
    for address, h in ledger.items():  # worker1 sees village1's households, never village2's
        expect(list_rows.filter(has_text=address)).to_have_count(1 if h["owner"] == "worker1" else 0)
    ui.check("ledger")

    _mark_page(page)
    results = _search(ui, "zs", ["张三", "张三丰"], "search-initials")
    expect(results.get_by_role("link", name="单雄信")).to_have_count(0)
    expect(results.get_by_role("link", name="张三妹")).to_have_count(0)  # another village
    expect(results).to_contain_text(masked(ledger["和平路1号"]["head_id_number"]))
    results = _search(ui, "张三", ["张三", "张三丰"], "search-name")
    expect(results.get_by_role("link", name="张三妹")).to_have_count(0)
    assert ledger["和平路1号"]["head_id_number"] not in results.inner_text()
    results = _search(ui, "sxx", ["单雄信"], "search-surname-reading")  # 单 read as a surname (shàn)
    expect(results.get_by_role("link", name="张三", exact=True)).to_have_count(0)

    _search(ui, "张三", ["张三"], "search-name-again")
    page.locator("#results").get_by_role("link", name="张三", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/households/{ledger['和平路1号']['id']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("和平路1号")
    expect(page.locator("dl.facts")).to_contain_text("张三")
    expect(page.get_by_role("button", name=re.compile("^查看"))).to_have_count(0)  # a worker cannot reveal
    ui.check("household")
    # Leaving the search box must not search again: that late answer used to push the list's
    # address over the household's (the form listened to every change event, the box's too).
    expect(page).to_have_url(re.compile(rf"/households/{ledger['和平路1号']['id']}$"))

    typed = number[:-1] + "x"
    _add_member(ui, name, typed, number, "孙子", "留守", "member")
    _tag_and_untag(ui, "留守儿童户", "父母在外务工", "父亲已返乡", "category")


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_desktop_flow_village_admin_with_reveal(ui, make_ui, demo_server, ledger, viewport):
    """A village admin at the PC: the same flow, then 查看 reveals a full number in place, audited."""
    page = ui.page
    name, number = DESKTOP_MEMBER
    household = ledger["和平路2号"]
    ui.login("village1", demo_server.accounts["village1"])
    ui.check("home")

    _go_to_ledger(ui)
    ui.check("ledger")
    _mark_page(page)
    _search(ui, "zs", ["张三", "张三丰"], "search-initials")
    results = _search(ui, "张三", ["张三", "张三丰"], "search-name")
    expect(results.get_by_role("link", name="张三妹")).to_have_count(0)  # village2's
    results.get_by_role("link", name="张三丰", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/households/{household['id']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("和平路2号")
    ui.check("household")

    row = _add_member(ui, name, number.translate(FULLWIDTH), number, "子", "外出务工", "member")
    _tag_and_untag(ui, "留守儿童户", "父母均在外地", "已随父母迁居", "category")

    # 查看: the full number replaces the masked one in place (an htmx swap, not a page load).
    row = page.locator("table.cards tbody tr").filter(has=page.locator("td", has_text=re.compile(f"^{name}$")))
    _mark_page(page)
    row.get_by_role("button", name=f"查看 {name} 的完整身份证号").click()
    revealed = row.locator(".mono.revealed")
    expect(revealed).to_have_text(number)
    expect(revealed).to_have_attribute("title", "已记录查看")
    expect(row.locator("td[data-label='身份证号']")).not_to_contain_text("*")
    _assert_no_reload(page, "查看")
    head_row = page.locator("table.cards tbody tr").filter(has=page.locator("td", has_text=re.compile("^张三丰$")))
    expect(head_row.locator("td[data-label='身份证号'] .mono")).to_have_text(masked(household["head_id_number"]))
    ui.check("revealed")
    # 查看 again still works (the swapped-in number keeps the id the button targets), and is recorded again.
    with page.expect_response(lambda r: r.url.endswith("/reveal")) as second:
        row.get_by_role("button", name=f"查看 {name} 的完整身份证号").click()
    assert second.value.status == 200
    ui.settle()
    expect(row.locator(".mono.revealed")).to_have_count(1)
    expect(row.locator(".mono.revealed")).to_have_text(number)
    _assert_no_reload(page, "查看 again")

    # The reveal is in the audit log (as the county admin), with the masked number only.
    admin = make_ui(demo_server.url)
    apage = admin.page
    admin.login("admin", demo_server.accounts["admin"])
    apage.locator("nav.mainnav").get_by_role("link", name="管理").click()
    apage.get_by_role("navigation", name="管理功能").get_by_role("link", name="审计日志").click()
    expect(apage.get_by_role("heading", level=1)).to_have_text("审计日志")
    _mark_page(apage)
    apage.locator("#f-action").select_option(label="查看完整信息")
    expect(apage).to_have_url(re.compile(r"[?&]action=reveal\b"))
    rows = apage.locator("#audit-rows table.cards tbody tr")
    expect(rows.first.locator("td[data-label='动作']")).to_have_text("查看完整信息")
    _assert_no_reload(apage, "filtering the audit log")
    for action in rows.locator("td[data-label='动作']").all_inner_texts():
        assert action == "查看完整信息"
    mine = rows.filter(has_text=f"查看 {name}（{masked(number)}）的完整身份证号")
    expect(mine).to_have_count(2)
    for who in mine.locator("td[data-label='操作人']").all_inner_texts():
        assert who == "village1"
    expect(mine.first.locator("td[data-label='对象']")).to_have_text(re.compile(r"^resident #\d+$"))
    assert number not in apage.locator("body").inner_text()
    admin.check("audit-reveal")


def _read_export(download):
    # Playwright keeps the file under a random name without a suffix, which openpyxl refuses by name.
    with open(download.path(), "rb") as fh:
        wb = openpyxl.load_workbook(fh, read_only=True)
        try:
            assert wb.sheetnames[0] == "户籍名册", wb.sheetnames
            rows = [list(r) for r in wb["户籍名册"].iter_rows(values_only=True)]
        finally:
            wb.close()
    header, body = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    return header, body


def _export(ui, step):
    page = ui.page
    button = page.get_by_role("button", name="导出当前列表")
    expect(button).to_be_visible()
    ui.check(step)
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.failure() is None
    assert re.fullmatch(r"台账-.+-\d{4}-\d{2}-\d{2}\.xlsx", download.suggested_filename), download.suggested_filename
    return _read_export(download)


def test_export_current_list(ui, demo_server, ledger, viewport):
    """导出当前列表 as a village admin: the village's households, ID numbers masked; a search exports its hits."""
    page = ui.page
    ui.login("village1", demo_server.accounts["village1"])
    _go_to_ledger(ui)
    mine = {a: h for a, h in ledger.items() if h["owner"] == "worker1"}
    header, rows = _export(ui, "ledger")
    assert header[:6] == ["所属网格", "门牌地址", "户主身份证号", "姓名", "身份证号", "与户主关系"], header
    addresses = {r["门牌地址"] for r in rows}
    assert set(mine) <= addresses, addresses
    assert "东山路1号" not in addresses  # village2's
    for address, h in mine.items():
        head_rows = [r for r in rows if r["门牌地址"] == address and r["与户主关系"] == "户主"]
        assert len(head_rows) == 1, head_rows
        assert head_rows[0]["姓名"] == h["head"]
        assert head_rows[0]["身份证号"] == head_rows[0]["户主身份证号"] == masked(h["head_id_number"])
        assert h["grid"] in head_rows[0]["所属网格"]
    for r in rows:
        assert MASKED_RE.match(r["身份证号"]) and MASKED_RE.match(r["户主身份证号"]), r
    all_text = repr(rows)
    for h in ledger.values():
        assert h["head_id_number"] not in all_text

    # The export follows the search box: only the hits' households.
    _mark_page(page)
    _search(ui, "张三", ["张三", "张三丰"], "search")
    _, rows = _export(ui, "search-export")
    assert {r["门牌地址"] for r in rows} == {"和平路1号", "和平路2号"}, rows
    assert {r["姓名"] for r in rows if r["与户主关系"] == "户主"} == {"张三", "张三丰"}
    for r in rows:
        assert MASKED_RE.match(r["身份证号"]), r

    # A village admin may ask for the full numbers (the export is audited either way).
    page.get_by_label("显示完整身份证号").check()
    _, rows = _export(ui, "search-export-full")
    heads = {r["姓名"]: r["身份证号"] for r in rows if r["与户主关系"] == "户主"}
    assert heads == {"张三": ledger["和平路1号"]["head_id_number"], "张三丰": ledger["和平路2号"]["head_id_number"]}


def test_wrong_id_number_keeps_input(ui, demo_server, ledger, viewport):
    """A bad checksum: the Chinese error next to the ID field, and everything typed is still there."""
    page = ui.page
    username = "worker1" if ui.phone else "village1"
    household = ledger["和平路4号"]
    good = id_number("20100401", 32)  # a girl
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")
    ui.login(username, demo_server.accounts[username])
    page.goto(f"/households/{household['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("和平路4号")
    page.get_by_role("link", name="添加成员").click()
    page.locator("#name").fill("李小四")
    page.locator("#id_number").fill(bad)
    page.locator("#relation").select_option("孙女")
    page.locator("#phone").fill("13905721234")
    page.get_by_label("残疾", exact=True).check()
    page.get_by_role("button", name="保存").click()

    expect(page).to_have_url(re.compile(rf"/households/{household['id']}/members/new$"))
    message = f"身份证号校验位不对（最后一位应为 {good[-1]}），请核对是否有数字录错。"
    field = page.locator(".field.has-error").filter(has=page.locator("#id_number"))
    expect(field).to_have_count(1)
    expect(field.locator("p.error")).to_have_text(message)
    expect(page.locator("#id_number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_number")).to_have_attribute("aria-describedby", "id_number-err id_number-hint")
    expect(page.locator("#id_number-err")).to_have_text(message)
    expect(page.locator("#id_number-err")).to_be_in_viewport()
    # What was typed is kept.
    expect(page.locator("#id_number")).to_have_value(bad)
    expect(page.locator("#name")).to_have_value("李小四")
    expect(page.locator("#relation")).to_have_value("孙女")
    expect(page.locator("#phone")).to_have_value("13905721234")
    expect(page.get_by_label("残疾", exact=True)).to_be_checked()
    expect(page.locator(".field.has-error")).to_have_count(1)  # nothing else is flagged
    ui.check("wrong-id-number")

    # Nothing was saved.
    page.locator(".crumbs").get_by_role("link", name="和平路4号").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("和平路4号")
    expect(page.locator("#members table.cards tbody")).not_to_contain_text("李小四")


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_two_categories_and_local_dates(ui, demo_server, ledger, viewport):
    """Two categories at once, each with its own 移出 form; dates left empty are today in China."""
    page = ui.page
    household = ledger["和平路5号"]
    ui.login("worker1", demo_server.accounts["worker1"])
    page.goto(f"/households/{household['id']}")
    for category in ("空巢老人户", "低保五保户"):
        page.locator("#category_id").select_option(label=f"{category}（六类户）")
        expect(page.locator("#start_date")).to_have_value("")
        page.locator("#categories").get_by_role("button", name="纳入").click()
        expect(page.locator(".flash-success")).to_have_text("已纳入类别。")
    items = page.locator("#categories ul.taglist > li")
    empty_nest, dibao = items.filter(has_text="空巢老人户"), items.filter(has_text="低保五保户")

    # The second form: its labels lead to its own boxes, and a refusal shows up in it alone.
    dibao.locator("summary", has_text="移出此类别").click()
    dibao.get_by_role("button", name="确定移出").click()
    expect(dibao.locator("details.end-tag")).to_have_attribute("open", "")
    error = dibao.locator(".field.has-error p.error")
    expect(error).to_have_text("请填写结束原因。")
    expect(dibao.get_by_label("结束原因")).to_have_attribute("aria-describedby", error.get_attribute("id"))
    expect(empty_nest.locator(".error")).to_have_count(0)
    # The page that comes back still offers every category to 纳入 (it once had an empty select).
    expect(page.locator("#category_id option", has_text="留守儿童户（六类户）")).to_have_count(1)
    ui.check("refused-untag")
    dibao.get_by_label("结束原因").fill("已纳入特困供养")
    dibao.get_by_role("button", name="确定移出").click()
    expect(page.locator(".flash-success")).to_have_text("已移出该类别。")
    expect(dibao).to_have_class(re.compile(r"\bended\b"))
    expect(empty_nest).not_to_have_class(re.compile(r"\bended\b"))
    empty_nest.locator("summary", has_text="移出此类别").click()
    empty_nest.get_by_label("结束原因").fill("子女已返乡照料")
    empty_nest.get_by_role("button", name="确定移出").click()
    expect(page.locator(".flash-success")).to_have_text("已移出该类别。")
    expect(empty_nest).to_have_class(re.compile(r"\bended\b"))
    ui.check("both-ended")

    china_today = datetime.now(LOCAL_TZ).date().isoformat()
    history_day = page.locator("ol.timeline li time").first.inner_text()[:10]
    days = set()
    for item in (empty_nest, dibao):
        days.update(re.search(r"(\d{4}-\d{2}-\d{2}) 起.*?(\d{4}-\d{2}-\d{2}) 止", item.inner_text(), re.S).groups())
    # Not the server's own calendar day (UTC on most servers: the day before China's until 08:00).
    assert days == {china_today} and history_day == china_today, (days, history_day)


def test_a_contact_is_found_by_name_with_and_without_javascript(make_ui, demo_server, ledger, viewport):
    """添加其他联系人: the registered person is searched for (pinyin initials as one types), never picked
    from a list of the whole village; without JavaScript the 查找 button does the same search."""
    household = ledger["和平路1号"] if viewport == "phone" else ledger["和平路2号"]
    ui = make_ui(demo_server.url)
    ui.login("village1", demo_server.accounts["village1"])
    page = ui.page
    page.goto(f"/households/{household['id']}")
    page.locator("#contact-other summary").click()
    form = page.locator("#contact-other")
    expect(form.locator('input[type="radio"]')).to_have_count(0)  # nobody listed before a search
    form.get_by_label("联系身份").select_option(label="村民代表")
    form.get_by_role("searchbox").press_sequentially("sxx")  # 单雄信, 单 read as a surname
    choice = form.get_by_role("radio", name=re.compile("单雄信"))
    expect(choice).to_be_checked()  # the only match is chosen
    expect(form.get_by_role("radio")).to_have_count(1)
    ui.check("picker-typed")
    form.get_by_role("button", name="添加").click()
    expect(page.locator(".flash-success")).to_have_text("已添加村民代表 单雄信。")
    expect(page.locator("#contacts")).to_contain_text("单雄信")
    ui.check("contact-added")

    # Without scripts, by keyboard (the phone's fixed bottom bar would catch a tap the test's browser
    # cannot scroll clear of when it runs no script): type, Enter searches, Space picks, Enter adds.
    plain = make_ui(demo_server.url, javascript=False)
    plain.login("village1", demo_server.accounts["village1"])
    page = plain.page
    page.goto(f"/households/{household['id']}")
    page.locator("#contact-other summary").focus()
    page.keyboard.press("Enter")  # opens the <details>
    form = page.locator("#contact-other")
    expect(form.get_by_role("button", name="查找")).to_be_visible()
    form.get_by_role("searchbox").fill("张三")
    form.get_by_role("searchbox").press("Enter")
    expect(page).to_have_url(re.compile(r"person_q="))
    form = page.locator("#contact-other")
    expect(form).to_have_attribute("open", "")
    expect(form.get_by_role("radio", name=re.compile("张三丰"))).to_have_count(1)
    expect(form.get_by_role("radio", name=re.compile("张三妹"))).to_have_count(0)  # another village
    plain.check("picker-without-js")
    form.get_by_label("联系身份").select_option(label="党员")
    form.get_by_role("radio", name=re.compile("张三丰")).focus()
    page.keyboard.press("Space")
    expect(form.get_by_role("radio", name=re.compile("张三丰"))).to_be_checked()
    form.get_by_role("button", name="添加").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash-success")).to_have_text("已添加党员 张三丰。")
    plain.check("contact-added-without-js")
