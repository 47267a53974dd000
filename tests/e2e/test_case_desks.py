"""Cases between desks, departments and residents, on the phone (390×844) and at the PC (1366×768):

- the township adds a department with an account; the department user signs for a case handed
  to it, is urged, and replies — seeing nothing but its cases;
- a resident's receipt code survives a reload, comes as a slip, and later shows the result and
  the handling unit;
- a village escalates a case from a house cluster straight to the township.
"""
import re

from playwright.sync_api import expect

from tests.e2e.test_cases import _open_action, _public_code


def _report(ui, title, category="其他", klass="需协调"):
    """Report a case from the user's default grid; returns the case page's URL."""
    page = ui.page
    page.goto("/cases/new")
    page.get_by_label("问题概述").fill(title)
    page.get_by_label("事件类别").select_option(label=category)
    page.get_by_label("处理类别").select_option(label=klass)
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    return page.url


def test_a_department_user_receives_is_urged_and_replies(make_ui, demo_server, viewport):
    accounts = demo_server.accounts
    dept = f"城关水利站（{viewport}）"
    username, first, second = f"slz-{viewport}", "Shuili-first-2026!", "Shuili-second-2026!"
    township = make_ui(demo_server.url)
    township.login("township", accounts["township"])
    tp = township.page
    tp.goto("/cases/settings")
    tp.locator("#dept-name").fill(dept)
    tp.get_by_role("button", name="添加部门").click()
    expect(tp.locator(".flash-success")).to_contain_text(dept)
    tp.get_by_role("link", name=re.compile(rf"^账号\s*{re.escape(dept)}$")).click()
    expect(tp.get_by_role("heading", level=1)).to_have_text(f"{dept}的账号")
    tp.get_by_label("用户名").fill(username)
    tp.get_by_label("姓名").fill("周站长")
    tp.get_by_label("初始密码").fill(first)
    township.check("department-account")
    tp.get_by_role("button", name="添加账号").click()
    expect(tp.locator("table")).to_contain_text(username)

    # The township takes a case and hands it to the department.
    title = f"山塘溢洪道堵塞（{viewport}）"
    case_url = _report(township, title, category="水利")
    _open_action(tp, "受理")
    tp.get_by_role("button", name="确认受理").click()
    _open_action(tp, "移交部门")
    tp.locator("#transfer-department_id").select_option(label=dept)
    tp.locator("#transfer-note").fill("请水利站两天内到场疏通")
    township.check("case-transfer-form")
    tp.get_by_role("button", name="确认移交部门").click()
    expect(tp.locator(".flash-success")).to_have_text("已移交部门。")
    expect(tp.locator("dl.facts")).to_contain_text(dept)

    # The department user: first login changes the password, then sees exactly this case.
    staff = make_ui(demo_server.url)
    staff.login(username, first)
    sp = staff.page
    sp.get_by_label("当前密码").fill(first)
    sp.get_by_label("新密码", exact=True).fill(second)
    sp.get_by_label("再次输入新密码").fill(second)
    sp.get_by_role("button", name="保存新密码").click()
    expect(sp.locator(".flash-success")).to_contain_text("密码已修改")  # the home page
    expect(sp.locator("#my-cases")).to_contain_text(title)
    # The department's home: its cases to sign for, in hand and late; no grid card.
    counts = sp.locator("#department-cases")
    expect(counts.get_by_role("link", name="1 待签收")).to_be_visible()
    expect(counts.get_by_role("link", name="0 办理中")).to_be_visible()
    expect(sp.locator("#my-grids")).to_have_count(0)
    staff.check("department-home")
    sp.goto("/cases/")
    expect(sp.locator("table tbody tr")).to_have_count(1)
    sp.get_by_role("link", name=title).click()
    expect(sp.get_by_role("heading", level=1)).to_have_text(title)
    _open_action(sp, "签收办理")
    sp.get_by_role("button", name="确认签收办理").click()
    expect(sp.locator(".flash-success")).to_have_text("已签收办理。")
    staff.check("department-signed")
    sp.goto("/")
    expect(counts.get_by_role("link", name="1 办理中")).to_be_visible()
    expect(counts.get_by_role("link", name="0 待签收")).to_be_visible()

    # The township urges; the department hears of it and replies.
    tp.goto(case_url)
    expect(tp.get_by_role("button", name="确认反馈结果")).to_have_count(0)  # the department answers itself
    _open_action(tp, "催办")
    tp.locator("#urge-note").fill("汛期将至，请加快")
    tp.get_by_role("button", name="确认催办").click()
    expect(tp.locator(".flash-success")).to_have_text("已催办。")
    sp.goto("/notifications")
    expect(sp.locator("main")).to_contain_text("催办")
    staff.check("department-urged")
    sp.goto(case_url)
    _open_action(sp, "反馈结果")
    sp.locator("#reply-note").fill("已清理溢洪道杂物，过水正常")
    sp.get_by_role("button", name="确认反馈结果").click()
    expect(sp.locator(".flash-success")).to_have_text("已反馈结果。")
    expect(sp.locator("dl.facts")).to_contain_text("已反馈")
    staff.check("department-replied")


def test_a_residents_receipt_survives_a_reload_and_later_shows_the_result(make_ui, demo_server, viewport):
    accounts = demo_server.accounts
    worker = make_ui(demo_server.url)
    worker.login("worker1", accounts["worker1"])
    hrefs = worker.page.eval_on_selector_all("a[href^='/grids/']", "links => links.map(a => a.getAttribute('href'))")
    grid_id = next(int(m.group(1)) for m in (re.fullmatch(r"/grids/(\d+)", h) for h in hrefs) if m)  # the worker's grid

    what = f"河边有人倾倒建筑垃圾（{viewport}）"
    resident = make_ui(demo_server.url)
    rp = resident.page
    rp.goto(f"/q/{_public_code(demo_server, grid_id)}")
    rp.get_by_label("您要反映什么问题").fill(what)
    rp.get_by_label("您的手机号码").fill("13912345678")
    rp.get_by_role("button", name="提交").click()
    expect(rp.get_by_role("heading", level=1)).to_have_text("已收到您的反映")
    receipt = rp.locator("#receipt").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", receipt)
    rp.reload()
    expect(rp.locator("#receipt")).to_have_text(receipt)
    slip = rp.request.get(rp.get_by_role("link", name="下载回执单（PDF）").get_attribute("href"))
    assert slip.ok and slip.headers["content-type"] == "application/pdf"
    resident.check("receipt-after-reload", logged_in=False)

    # The village desk takes it, hands it to the 环保站 (no accounts) and records its answer.
    leader = make_ui(demo_server.url)
    leader.login("leader1", accounts["leader1"])
    lp = leader.page
    lp.goto("/cases/")
    lp.get_by_role("link", name=what).first.click()
    _open_action(lp, "受理")
    lp.get_by_role("button", name="确认受理").click()
    _open_action(lp, "移交部门")
    lp.locator("#transfer-department_id").select_option(label="环保站")
    lp.locator("#transfer-note").fill("内部意见：请环保站查处")
    lp.get_by_role("button", name="确认移交部门").click()
    _open_action(lp, "反馈结果")
    lp.locator("#reply-note").fill("已清运建筑垃圾，并在河边设立禁倒警示牌")
    lp.get_by_role("button", name="确认反馈结果").click()
    expect(lp.locator(".flash-success")).to_have_text("已反馈结果。")

    # Days later, the same phone: the code is remembered, the answer is there, nothing internal.
    rp.goto(f"/q/{_public_code(demo_server, grid_id)}")
    rp.locator("#recent-receipts").get_by_role("link", name=re.compile(receipt)).click()
    expect(rp.locator("#result")).to_contain_text("已清运建筑垃圾，并在河边设立禁倒警示牌")
    expect(rp.locator("#result-unit")).to_have_text("环保站")
    assert "内部意见" not in rp.locator("main").inner_text()
    resident.check("progress-with-result", logged_in=False)


def test_a_village_escalates_straight_to_the_township(make_ui, demo_server, viewport):
    accounts = demo_server.accounts
    title = f"跨村水渠纠纷（{viewport}）"
    worker = make_ui(demo_server.url)
    worker.login("worker1", accounts["worker1"])
    case_url = _report(worker, title)
    village = make_ui(demo_server.url)
    village.login("village1", accounts["village1"])
    vp = village.page
    vp.goto(case_url)
    _open_action(vp, "上报上级")
    vp.locator("#escalate-note").fill("涉及两个村，需镇里协调")
    village.check("escalate-form")
    vp.get_by_role("button", name="确认上报上级").click()
    expect(vp.locator(".flash-success")).to_have_text("已上报上级。")
    facts = vp.locator("dl.facts")
    expect(facts).to_contain_text(re.compile(r"当前层级\s*\S+(镇|乡|街道)"))
    expect(vp.locator(".case-timeline")).to_contain_text(re.compile(r"上报至 \S+(镇|乡|街道)"))
    village.check("escalated")
    township = make_ui(demo_server.url)
    township.login("township", accounts["township"])
    township.page.goto("/")
    expect(township.page.locator("#my-cases")).to_contain_text(title)
    township.check("township-home")
