"""The grid area map in the browser (phone and PC): a village admin puts up the village's drawn map,
marks a house cluster by tapping the map (and, in a browser without scripts, by clicking the small
map under the form), sees it on the grid page, and prints the A3 notice board
with the map on it (the board is looked at as PNG, kept in the artifacts)."""
import re
import shutil

from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.pdfcheck import check_pdf, render_png


def _drawn_map(path):
    """A "photo" of a drawn map: pale paper, a green field on the left, a river across."""
    img = Image.new("RGB", (1200, 800), (250, 248, 240))
    img.paste((40, 160, 60), (0, 0, 600, 800))
    img.paste((60, 120, 220), (0, 380, 1200, 420))
    img.save(path, "JPEG", quality=90)
    return path


def _green_share(png):
    img = Image.open(png).convert("RGB")
    w, h = img.size
    px = [img.getpixel((x, y)) for x in range(0, w, 3) for y in range(0, h, 3)]
    return sum(1 for r, g, b in px if g > 120 and r < 90 and b < 100) / len(px)


def test_house_clusters_on_the_grid_map_and_the_a3_board(ui, make_ui, demo_server, viewport, tmp_path):
    page = ui.page
    ui.login("village1", demo_server.accounts["village1"])
    page.locator("section").filter(has_text="我的网格").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/grids/\d+$"))
    village = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("link", name="区域图").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"网格区域图 · {village}")
    ui.check("map-page")

    page.get_by_label("区域图照片或扫描件").set_input_files(str(_drawn_map(tmp_path / "map.jpg")))
    page.get_by_role("button", name="上传").click()
    expect(page.locator(".flash-success")).to_contain_text("区域图")
    svg = page.locator("svg[data-tap-form]")
    expect(svg).to_be_visible()

    # choose a house cluster, then tap where it lies on the map
    target = page.get_by_label("要标注的网格")
    cluster = target.locator("option:checked").inner_text().replace("（已标注）", "")
    box = svg.bounding_box()
    if ui.phone:
        svg.tap(position={"x": box["width"] * 0.75, "y": box["height"] * 0.3})
    else:
        svg.click(position={"x": box["width"] * 0.75, "y": box["height"] * 0.3})
    expect(page.locator(".flash-success")).to_have_text(f"已在图上标注 {cluster}。")
    mark = page.locator("svg[data-tap-form] g.mark").filter(has_text=cluster)
    expect(mark).to_have_count(1)
    circle = mark.locator("circle")
    cx, cy = float(circle.get_attribute("cx")), float(circle.get_attribute("cy"))
    assert abs(cx / 1200 - 0.75) < 0.03 and abs(cy / 800 - 0.3) < 0.03, (cx, cy)
    ui.check("marked")

    # Without scripts: the small map under the form is an image button; a click there marks the cluster.
    plain = make_ui(demo_server.url, javascript=False)
    plain.login("village1", demo_server.accounts["village1"])
    pp = plain.page
    pp.goto(page.url.split("#")[0])
    pp.get_by_label("要标注的网格").select_option(label=f"{cluster}（已标注）")
    small = pp.get_by_role("button", name="在此图上点选所选网格的位置")
    expect(small).to_be_visible()
    sbox = small.bounding_box()
    assert round(sbox["width"]) == 300 and round(sbox["height"]) == 200, sbox  # the size the server reads it at
    small.click(position={"x": sbox["width"] * 0.2, "y": sbox["height"] * 0.6})
    expect(pp.locator(".flash-success")).to_have_text(f"已在图上标注 {cluster}。")
    circle = pp.locator("svg g.mark").filter(has_text=cluster).locator("circle")
    cx, cy = float(circle.get_attribute("cx")), float(circle.get_attribute("cy"))
    assert abs(cx / 1200 - 0.2) < 0.03 and abs(cy / 800 - 0.6) < 0.03, (cx, cy)
    plain.check("marked-without-js")

    page.get_by_role("link", name=village).first.click()
    expect(page.locator("#grid-map svg")).to_be_visible()
    expect(page.locator("#grid-map g.mark").filter(has_text=cluster)).to_have_count(1)
    # readable on a phone too: the map pans sideways there, its labels as tall as body text
    label = page.locator("#grid-map g.mark").filter(has_text=cluster).locator("text").bounding_box()
    assert label["height"] >= 12, label
    if ui.phone:
        expect(page.get_by_text("左右滑动查看全图")).to_be_visible()
    ui.check("grid-page")

    page.get_by_role("link", name="公示牌与卡片").click()
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("A3")).first.click()
    with open(info.value.path(), "rb") as fh:
        board = fh.read()
    check_pdf(board, tmp_path / "board", expect_pages=1, must_contain=[f"{village}网格公示牌", "网格区域管理图", cluster])
    (png,) = render_png(board, tmp_path / "board-png", "a3", dpi=50)
    shutil.copy(png, ARTIFACTS / f"test_house_clusters_on_the_grid_map_and_the_a3_board-{viewport}-board-a3.png")
    assert _green_share(png) > 0.02, "the map is not on the A3 board"
    ui.check("after-download")
