"""党员分类积分 in the browser: a village's 网格长 looks at the party members' points, opens one member's
breakdown, and enters a 志愿服务 with a photo as its evidence, which then opens from the breakdown."""
import re

from PIL import Image
from playwright.sync_api import expect


def test_a_leader_enters_volunteer_work_with_evidence(ui, demo_server, viewport, tmp_path):
    page = ui.page
    ui.login("leader3", demo_server.accounts["leader3"])
    if ui.phone:
        page.goto("/assessment/")
    else:
        page.locator("nav.mainnav").get_by_role("link", name="考核").click()
    page.get_by_role("link", name="党员积分").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("党员分类积分")
    table = page.locator("#party-ranking")
    expect(table.locator("tbody tr").first).to_contain_text(re.compile(r"\d+\.\d"))
    ui.check("ranking")
    photo = tmp_path / "服务照片.png"
    Image.new("RGB", (320, 240), "seagreen").save(photo)
    member = page.get_by_label("党员").locator("option").first.inner_text().split("（")[0]
    items = page.get_by_label("积分项")
    items.select_option(items.locator("option", has_text="志愿服务").get_attribute("value"))
    page.get_by_label("理由（检查、抽查的情况，服务内容或表彰的名称）").fill("为独居老人代购药品")
    page.get_by_label("证据材料（照片或扫描件，可不传）").set_input_files(str(photo))
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text(f"已为{member}登记“志愿服务”")
    table.get_by_role("link", name=member, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(member)
    lines = page.locator("#party-lines")
    expect(lines).to_contain_text("为独居老人代购药品")
    ui.check("member")
    evidence = lines.get_by_role("link", name="证据材料").last
    href = evidence.get_attribute("href")
    resp = page.request.get(href)
    assert resp.status == 200 and resp.headers["content-type"] == "image/png"
