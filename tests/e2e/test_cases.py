"""Cases in the browser, on the phone (390×844) and at the office PC (1366×768):

- a 网格员 (worker1) reports a problem with a photo from the bottom bar / top navigation;
- the 网格长 (leader1) sees the unread count, accepts the case and assigns it to worker1;
- worker1 signs for it and replies with the result;
- a resident without an account scans the grid's QR code, reports a problem, gets a receipt
  code, and the receipt code of the worker's case shows its progress and nothing personal.
"""
import io
import re

from flask import Flask
from PIL import Image
from playwright.sync_api import expect


def _png(color):
    buf = io.BytesIO()
    Image.new("RGB", (1200, 900), color).save(buf, "PNG")
    return buf.getvalue()


def _public_code(server, grid_id):
    """The code printed on the grid's notice board, from the server's own secret key."""
    from app.core.public import grid_public_code

    key = (server.server.workdir / "instance" / "secret_key").read_text().strip()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = key
    with app.app_context():
        return grid_public_code(grid_id)


def _nav(ui):
    return ui.page.locator("nav.bottombar" if ui.phone else "nav.mainnav")


def _open_action(page, label):
    page.locator("summary", has_text=re.compile(f"^{label}$")).click()


def test_report_assign_reply_and_public_progress(make_ui, demo_server, viewport):
    title = f"村口路灯不亮（{viewport}）"
    accounts = demo_server.accounts

    # The worker reports with a photo.
    worker = make_ui(demo_server.url)
    worker.login("worker1", accounts["worker1"])
    page = worker.page
    _nav(worker).get_by_role("link", name="事件").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("事件办理")
    worker.check("cases-list")
    page.get_by_role("link", name="上报事件").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("上报事件")
    page.get_by_label("问题概述").fill(title)
    page.get_by_label("详细描述").fill("三盏路灯晚上都不亮，老人走夜路不方便")
    page.get_by_label("地点").fill("村口大樟树旁")
    page.get_by_label("事件类别").select_option(label="其他")
    page.get_by_label("处理类别").select_option(label="需协调")
    page.get_by_label("反映人", exact=True).fill("李大爷")
    page.locator("#photos").set_input_files(files=[{"name": "light.png", "mimeType": "image/png", "buffer": _png((200, 40, 40))}])
    worker.check("case-new")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".flash-success")).to_contain_text("已登记事件，回执码")
    receipt = page.locator("dd.mono").first.inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", receipt)
    photo = page.locator("ul.photos img").first
    expect(photo).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", photo.element_handle()) == 1200
    case_url = page.url
    grid_id = int(re.search(r"/grids/(\d+)", page.locator(".crumbs a").nth(1).get_attribute("href")).group(1))
    worker.check("case-reported")

    # The leader: unread count, accept, assign.
    leader = make_ui(demo_server.url)
    leader.login("leader1", accounts["leader1"])
    lp = leader.page
    expect(lp.locator("#unread-count")).to_be_visible()
    lp.locator("a.bell").click()
    expect(lp.get_by_role("heading", level=1)).to_have_text("消息")
    leader.check("notifications")
    lp.get_by_role("button", name=re.compile(re.escape(title))).first.click()
    expect(lp.get_by_role("heading", level=1)).to_have_text(title)
    _open_action(lp, "受理")
    lp.get_by_role("button", name="确认受理").click()
    expect(lp.locator(".flash-success")).to_have_text("已受理。")
    _open_action(lp, "交办")
    worker_option = lp.locator("#assign-assignee_id option", has_text="（网格员）").first.get_attribute("value")
    lp.locator("#assign-assignee_id").select_option(value=worker_option)
    lp.locator("#assign-note").fill("请三个工作日内联系电工修复")
    leader.check("case-assign-form")
    lp.get_by_role("button", name="确认交办").click()
    expect(lp.locator(".flash-success")).to_have_text("已交办。")
    expect(lp.locator(".case-timeline")).to_contain_text("交办给")
    expect(lp.locator(".due").first).to_be_visible()
    leader.check("case-assigned")

    # The worker signs for it and replies.
    page.goto(case_url)
    _open_action(page, "签收办理")
    page.get_by_role("button", name="确认签收办理").click()
    expect(page.locator(".flash-success")).to_have_text("已签收办理。")
    _open_action(page, "反馈结果")
    page.locator("#reply-note").fill("已联系电工更换灯泡，三盏全部亮了")
    page.locator("#reply-photos").set_input_files(files=[{"name": "done.png", "mimeType": "image/png", "buffer": _png((40, 160, 40))}])
    page.get_by_role("button", name="确认反馈结果").click()
    expect(page.locator(".flash-success")).to_have_text("已反馈结果。")
    expect(page.locator("dl.facts")).to_contain_text("已反馈")
    expect(page.locator("ul.photos img")).to_have_count(2)
    worker.check("case-replied")

    # A resident: the notice board's QR code, a report, a receipt code; then the worker's receipt code.
    resident = make_ui(demo_server.url)
    rp = resident.page
    rp.goto(f"/q/{_public_code(demo_server, grid_id)}")
    expect(rp.get_by_role("heading", level=1)).to_contain_text("反映问题")
    rp.get_by_label("您要反映什么问题").fill("河边有人倾倒建筑垃圾")
    rp.get_by_label("在什么地方").fill("西桥下")
    rp.get_by_label("您的手机号码").fill("13912345678")
    resident.check("public-intake", logged_in=False)
    rp.get_by_role("button", name="提交").click()
    expect(rp.get_by_role("heading", level=1)).to_have_text("已收到您的反映")
    expect(rp.locator("#receipt")).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    resident.check("public-receipt", logged_in=False)
    rp.goto("/q/r")
    rp.get_by_label("回执码").fill(receipt.lower())
    rp.get_by_role("button", name="查询").click()
    progress = rp.locator("#progress")
    expect(progress).to_contain_text("已反馈")
    for step in ("申报", "受理", "交办", "签收办理", "反馈结果"):
        expect(progress).to_contain_text(step)
    text = progress.inner_text()
    assert "已联系电工更换灯泡，三盏全部亮了" in text  # the result is the resident's to read
    for private in ("李大爷", "村口大樟树旁", "三盏路灯", "请三个工作日内联系电工修复", title):  # never notes or names
        assert private not in text
    resident.check("public-progress", logged_in=False)


def test_patrol_with_hazard_and_supervision(make_ui, demo_server, viewport):
    """worker1 records a patrol with a photo and a hazard; the township lists it 挂牌督办; it shows on the public page."""
    from datetime import date, timedelta

    accounts = demo_server.accounts
    hazard_text = f"河道护栏断裂（{viewport}）"
    worker = make_ui(demo_server.url)
    worker.login("worker1", accounts["worker1"])
    page = worker.page
    page.goto("/")
    page.get_by_role("link", name="记录巡查").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("记录巡查")
    page.get_by_label("地点").fill("西桥河道")
    page.get_by_label("检查内容").fill("护栏、警示牌、河岸")
    page.get_by_label("发现情况").fill("护栏一段断裂")
    page.get_by_label("发现的隐患（没有则不填）").fill(hazard_text)
    page.locator("#photos").set_input_files(files=[{"name": "rail.png", "mimeType": "image/png", "buffer": _png((90, 90, 200))}])
    worker.check("patrol-new")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("巡查记录")
    expect(page.locator("ul.photos img")).to_have_count(1)
    grid_id = int(re.search(r"/grids/(\d+)", page.locator(".crumbs a").nth(1).get_attribute("href")).group(1))
    page.get_by_role("link", name=re.compile(re.escape(hazard_text[:6]))).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("隐患")
    hazard_url = page.url
    worker.check("hazard-found")

    township = make_ui(demo_server.url)
    township.login("township", accounts["township"])
    tp = township.page
    tp.goto(hazard_url)
    _open_action(tp, "挂牌督办")
    tp.locator("#supervise-deadline").fill((date.today() + timedelta(days=7)).isoformat())
    tp.locator("#supervise-measures").fill("设置警示带，专人看守")
    tp.get_by_role("button", name="确认挂牌督办").click()
    expect(tp.locator(".flash-success")).to_have_text("已挂牌督办。")
    expect(tp.locator("dl.facts")).to_contain_text("挂牌督办中")
    township.check("hazard-supervised")
    tp.goto("/patrols/due")
    expect(tp.get_by_role("heading", level=1)).to_have_text("应巡未巡")
    township.check("patrols-due")
    tp.goto("/hazards/")
    expect(tp.locator("table")).to_contain_text(hazard_text[:6])
    township.check("hazards-list")

    resident = make_ui(demo_server.url)
    resident.page.goto(f"/q/{_public_code(demo_server, grid_id)}")
    expect(resident.page.get_by_role("heading", name="挂牌督办隐患（公示）")).to_be_visible()
    expect(resident.page.locator("body")).to_contain_text(hazard_text)
    resident.check("public-supervised", logged_in=False)
