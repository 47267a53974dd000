"""Publicity in the browser: from a grid's page to its notice-board settings, the A4 board whose QR code
scans to the grid's intake address, and contact cards (phone and PC)."""
import re

from playwright.sync_api import expect

from tests.pdfcheck import check_pdf, decode_qr_codes


def test_notice_board_and_cards(ui, demo_server, viewport, tmp_path):
    page = ui.page
    ui.login("village1", demo_server.accounts["village1"])
    page.locator("section").filter(has_text="我的网格").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/grids/\d+$"))
    village = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("link", name="公示牌与卡片").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("公示牌与卡片")
    intake = page.locator(".facts dd").filter(has_text="/q/").inner_text().strip()
    assert intake.startswith(demo_server.url + "/q/"), intake
    ui.check("settings")

    page.get_by_label("监督（投诉）电话").fill("0572-6060000")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash-success")).to_contain_text("已保存公示内容")
    expect(page.get_by_label("监督（投诉）电话")).to_have_value("0572-6060000")

    with page.expect_download() as info:
        page.get_by_role("link", name="网格公示牌（A4）").click()
    with open(info.value.path(), "rb") as fh:
        board = fh.read()
    check_pdf(board, tmp_path / "board", expect_pages=1,
              must_contain=[f"{village}网格公示牌", "监督电话：0572-6060000", "诉求办理流程", "扫码反映诉求"])
    assert decode_qr_codes(board, tmp_path / "qr") == [intake]

    with page.expect_download() as info:
        page.get_by_role("link", name="网格员责任卡（每页 4 张）").click()
    with open(info.value.path(), "rb") as fh:
        check_pdf(fh.read(), tmp_path / "resp", must_contain=["网格责任卡"])
    ui.check("after-downloads")
