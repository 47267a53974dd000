"""A village clerk at the office PC (1366×768) imports the village's own roster as it is: a title row,
a two-row header (成员信息 over 姓名 …), the head's name only on the head's row, a blank row between
households. One column the app does not know (家庭位置, the address) is mapped on the preview, one
所属组 (村东头) is mapped to an existing 村民小组, and the roster goes in."""
import io
import re

import pytest
from openpyxl import Workbook
from playwright.sync_api import expect

from .ledger_seed import id_number


def _village_file():
    wb = Workbook()
    ws = wb.active
    ws.append(["水口村户籍花名册"])
    ws.merge_cells("A1:I1")
    ws.append(["序号", "户主", "成员信息", None, None, None, None, "所属组", "家庭位置"])
    ws.merge_cells("C2:G2")
    ws.append([None, None, "姓名", "与户主关系", "性别", "出生日期", "身份证号码", None, None])
    ws.append([1, "钱塘江", "钱塘江", "户主", "男", "1956-07-17", id_number("19560717", 701), "村东头", "水口村东头1号"])
    ws.append([2, None, "孙秀兰", "妻子", "女", "1958-03-02", id_number("19580302", 702), None, None])
    ws.append([])
    ws.append([3, "钱江潮", "钱江潮", "本人", "男", "1980.05", id_number("19800511", 703).lower(), "村东头", "水口村东头2号"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_clerk_imports_the_villages_own_roster(ui, demo_server, viewport):
    page = ui.page
    ui.login("village1", demo_server.accounts["village1"])
    page.goto("/households/import")
    expect(page.get_by_role("heading", level=1)).to_have_text("导入户籍名册")
    ui.check("import-upload")
    page.locator("#file").set_input_files(files=[{"name": "水口村花名册.xlsx", "buffer": _village_file(),
                                                  "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.get_by_role("button", name="上传并检查").click()
    expect(page).to_have_url(re.compile(r"/households/import/[A-Za-z0-9_-]{43}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("导入预览：水口村花名册.xlsx")
    expect(page.get_by_text("没有“门牌地址”列")).to_be_visible()
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    ui.check("import-preview-columns")

    # The column: 家庭位置 holds the addresses.
    page.get_by_label("“家庭位置”导入为").select_option("address")
    page.get_by_role("button", name="按此对应重新检查").click()
    expect(page.get_by_text("已按您的选择重新检查")).to_be_visible()

    # The group: 村东头 is one of the village's 村民小组 under another name.
    select = page.get_by_label("“村东头”对应到")
    expect(select).to_be_visible()
    first_cluster = select.locator("option").nth(2)
    cluster_name = first_cluster.text_content()
    select.select_option(first_cluster.get_attribute("value"))
    ui.check("import-preview-groups")
    page.get_by_role("button", name="保存对应并重新检查").click()
    expect(page.get_by_text("检查通过")).to_be_visible()
    expect(page.get_by_role("cell", name="3", exact=True).first).to_be_visible()
    ui.check("import-preview-ready")

    page.get_by_role("button", name="确认导入").click()
    expect(page).to_have_url(re.compile(r"/households/$"))
    expect(page.get_by_text("已导入“水口村花名册.xlsx”：新建 2 户，新增 3 人")).to_be_visible()
    ui.check("import-done")

    # The households are in the 村民小组 chosen for 村东头, with their members.
    page.goto("/households/?q=钱塘江")
    page.get_by_role("link", name="钱塘江", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("水口村东头1号")
    expect(page.get_by_text(cluster_name.strip()).first).to_be_visible()
    expect(page.get_by_role("cell", name="孙秀兰", exact=True)).to_be_visible()
    expect(page.get_by_text("新增成员 孙秀兰（妻）")).to_be_visible()  # 妻子 is read as GB/T 4761's 妻
