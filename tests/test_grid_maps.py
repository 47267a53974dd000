"""The grid area map: uploading the village's drawn map (checked and re-encoded), marking house clusters
by tapping it (relative points), showing it on the grid pages and printing it on the A3 board and the cards."""
import io

from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.grids import service as gs
from app.grids.models import Grid, GridMap, GridMapMark
from tests.pdfcheck import render_png


def drawn_map(w=1200, h=800):
    """A "scan" of a map: pale paper with a green field in its left half (easy to find in a PNG)."""
    img = Image.new("RGB", (w, h), (250, 248, 240))
    img.paste((40, 160, 60), (0, 0, w // 2, h))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    return buf


def upload(client, grid_id, data, name="map.png"):
    client.get(f"/grids/{grid_id}/map")
    return client.post(f"/grids/{grid_id}/map", {"map": (data, name)}, content_type="multipart/form-data",
                       follow_redirects=True)


def test_a_village_puts_up_its_map_and_marks_house_clusters(app, client, make_client, tree, users):
    village, cluster = tree["village_a"], tree["cluster_a"]
    client.login("village_admin")
    refused = upload(client, village, io.BytesIO(b"not an image at all"), "map.pdf")
    assert "不是照片或已损坏" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(GridMap)) is None
    page = upload(client, village, drawn_map()).get_data(as_text=True)
    assert "已上传区域图" in page and 'data-tap-form="mark-form"' in page and "东庄一组" in page
    with app.app_context():
        area_map = db.session.scalar(select(GridMap))
        assert (area_map.grid_id, area_map.width, area_map.height) == (village, 1200, 800)
    image = client.get(f"/grids/{village}/map.jpg")
    assert image.status_code == 200 and image.data[:3] == b"\xff\xd8\xff"  # re-encoded as JPEG

    def mark(**point):
        return client.post(f"/grids/{village}/map/marks", {"target_id": cluster, **point},
                           follow_redirects=True).get_data(as_text=True)

    # a tap on the map: the point relative to the image
    assert "已在图上标注 东庄一组" in mark(x="0.25", y="0.5")
    assert "点选的位置在图片之外" in mark(x="1.4", y="0.5")
    assert "请在图上点一下" in mark(x="", y="")
    assert client.post(f"/grids/{village}/map/marks", {"target_id": tree["cluster_b"], "x": "0.1",
                                                        "y": "0.1"}).status_code == 404
    client.post(f"/grids/{village}/map/marks", {"target_id": cluster, "x": "0.3", "y": "0.6"})  # moved, not doubled
    with app.app_context():
        marks = db.session.scalars(select(GridMapMark)).all()
        assert [(m.grid_id, m.x, m.y) for m in marks] == [(cluster, 0.3, 0.6)]

    # without scripts: the small map is an image button sending the pixel clicked, shown 300 × 200
    page = client.get(f"/grids/{village}/map").get_data(as_text=True)
    assert 'type="image"' in page and 'name="at"' in page and 'width="300" height="200"' in page
    assert "已在图上标注 东庄一组" in mark(**{"at.x": "74", "at.y": "149"})
    with app.app_context():
        (m,) = db.session.scalars(select(GridMapMark)).all()
        assert (m.x, m.y) == (0.2483, 0.7475)  # the middle of pixel (74, 149) of 300 × 200
    assert "点选的位置在图片之外" in mark(**{"at.x": "400", "at.y": "10"})
    assert "请在图上点一下" in mark(**{"at.x": "x", "at.y": "1"})
    client.post(f"/grids/{village}/map/marks", {"target_id": cluster, "x": "0.3", "y": "0.6"})

    # shown on the grid pages: the village's, and the cluster's (the village map with the cluster in red)
    grid_page = client.get(f"/grids/{village}").get_data(as_text=True)
    assert "网格区域图" in grid_page and "<svg" in grid_page and f"/grids/{village}/map.jpg" in grid_page
    worker = make_client()
    worker.login("worker")
    cluster_page = worker.get(f"/grids/{cluster}").get_data(as_text=True)
    assert f"/grids/{cluster}/map.jpg" in cluster_page and 'class="mark here"' in cluster_page
    assert worker.get(f"/grids/{cluster}/map.jpg").status_code == 200
    assert worker.get(f"/grids/{village}/map.jpg").status_code == 404  # the worker's scope is the cluster
    assert worker.post(f"/grids/{cluster}/map/marks", {"target_id": cluster, "x": "0.1", "y": "0.1"}).status_code == 403
    other = make_client()
    other.login("worker_b")
    assert other.get(f"/grids/{cluster}/map.jpg").status_code == 404


def test_the_stylesheet_shows_the_small_map_at_the_width_the_server_reads_clicks_on():
    from pathlib import Path

    from app.grids.maps import CLICK_WIDTH

    css = (Path(__file__).resolve().parents[1] / "static" / "css" / "app.css").read_text(encoding="utf-8")
    rule = css[css.index("input.mapclick {"):].split("}", 1)[0]
    assert f"width: {CLICK_WIDTH}px;" in rule


def _green_share(png_path):
    img = Image.open(png_path).convert("RGB")
    w, h = img.size
    px = [img.getpixel((x, y)) for x in range(0, w, 2) for y in range(0, h, 2)]
    return sum(1 for r, g, b in px if g > 120 and r < 90 and b < 100) / len(px)


def test_the_map_prints_on_the_a3_board_and_the_cards(app, client, tree, users, tmp_path):
    village, cluster = tree["village_a"], tree["cluster_a"]
    with app.app_context():
        gs.assign_staff(db.session.get(Grid, cluster), "worker", None, "王网格", "13900000001")
        db.session.commit()
    client.login("village_admin")
    upload(client, village, drawn_map())
    client.post(f"/grids/{village}/map/marks", {"target_id": cluster, "x": "0.7", "y": "0.4"})
    a3 = client.get(f"/grids/{village}/notice-board.pdf?size=a3")
    assert a3.status_code == 200
    (page,) = render_png(a3.data, tmp_path, "a3", dpi=40)
    assert _green_share(page) > 0.03, "the map is not on the A3 board"
    cards = client.get(f"/grids/{village}/responsibility-cards.pdf")
    first = render_png(cards.data, tmp_path, "cards", dpi=40)[0]
    assert _green_share(first) > 0.003, "the map is not on the responsibility card"
