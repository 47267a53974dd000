"""Images from phones and from anyone: checked from the header before anything is decoded, decoded
and shrunk before the view touches the database (no write lock held meanwhile), with bounded
memory, refused in Chinese with 413/422 and the form shown again — never a 500 — on every path:
visits (new and corrected), cases (report and a step with photos), patrols, the public intake,
agreement scans and finger signatures."""
import base64
import io
import re
import sqlite3
import threading

import pytest
from flask import has_request_context
from PIL import Image, ImageDraw, ImageFile
from sqlalchemy import func, select

from app.core import uploads
from app.extensions import db
from bench.bomb import bomb_png
from tests.factories import agreement_setup, draft_agreement, issue_agreement, load_agreement
from tests.factories import case_id_from, category_id
from tests.factories import grid_public_code
from tests.factories import households
from tests.factories import now_local

BOMB = bomb_png(7000, 7000)  # 49 million pixels in about 6 KB
HUGE = bomb_png(20000, 20000)  # 400 million pixels in about 48 KB


def jpeg(size=(2400, 1800), quality=85):
    """A photo-like JPEG (smooth noise: a few pixels per byte, as a camera's)."""
    small = Image.effect_noise((max(1, size[0] // 20), max(1, size[1] // 20)), 60).convert("RGB")
    buf = io.BytesIO()
    small.resize(size, Image.BILINEAR).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def signature_png():
    img = Image.new("RGBA", (300, 120), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(10, 60), (120, 20), (280, 100)], fill=(0, 0, 0, 255), width=4)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class Paths:
    """Every way an image reaches the server, each as ``post(name, data) -> response``,
    with ``saved(name)`` counting what that path has stored."""

    def __init__(self, app, make_client, tree, users):
        self.app = app
        agreement_setup(app, tree, users)
        self.worker, self.admin, self.anon = make_client(), make_client(), make_client()
        self.worker.login("worker")
        self.admin.login("village_admin")
        self.tree = tree
        with app.app_context():
            (self.hid,) = households(tree["cluster_a"], 1)
        # a visit to correct, a general case to close on the spot, an issued agreement
        resp = self.visit_new(jpeg(), "first.jpg")
        assert resp.status_code == 302, resp.get_data(as_text=True)
        self.visit_id = int(re.search(r"/visits/(\d+)$", resp.headers["Location"]).group(1))
        self.worker.get("/cases/new")
        self.case_id = case_id_from(self.worker.post("/cases/new", {
            "title": "低保政策咨询", "grid_id": tree["cluster_a"], "category_id": category_id("民政"),
            "handling_class": "general", "source": "office"}))
        draft_agreement(self.admin, tree["cluster_a"], kind="village_worker")
        self.agreement_id = load_agreement(app).id
        issue_agreement(self.admin, self.agreement_id)
        self.code = grid_public_code(tree["cluster_a"])

    def visit_new(self, data, name):
        page = self.worker.get(f"/visits/new?household_id={self.hid}").get_data(as_text=True)
        key = re.search(r'id="form_key" name="form_key" type="hidden" value="([0-9a-f]+)"', page).group(1)
        return self.worker.post(f"/visits/new?household_id={self.hid}", {
            "household_id": str(self.hid), "method": "door", "visited_at": now_local().strftime("%Y-%m-%dT%H:%M"),
            "learned": "老人身体尚可，屋后排水沟堵塞。", "form_key": key, "photos": (io.BytesIO(data), name)},
            content_type="multipart/form-data")

    def visit_edit(self, data, name):
        self.worker.get(f"/visits/{self.visit_id}/edit")
        return self.worker.post(f"/visits/{self.visit_id}/edit", {
            "method": "door", "visited_at": now_local().strftime("%Y-%m-%dT%H:%M"),
            "learned": "老人身体尚可，屋后排水沟堵塞。", "photos": (io.BytesIO(data), name)},
            content_type="multipart/form-data")

    def case_new(self, data, name):
        self.worker.get("/cases/new")
        return self.worker.post("/cases/new", {
            "title": "村口路灯不亮", "grid_id": self.tree["cluster_a"], "category_id": category_id("环境"),
            "handling_class": "coordination", "source": "worker", "photos": (io.BytesIO(data), name)})

    def case_step(self, data, name):
        from app.cases.models import Case

        self.worker.get(f"/cases/{self.case_id}")
        with self.app.app_context():
            version = db.session.get(Case, self.case_id).version
        return self.worker.post(f"/cases/{self.case_id}/act", {
            "action": "solve_on_spot", "solve_on_spot-version": version, "solve_on_spot-note": "当场解释了政策",
            "solve_on_spot-photos": (io.BytesIO(data), name)})

    def patrol(self, data, name):
        self.worker.get("/patrols/new")
        return self.worker.post("/patrols/new", {
            "grid_id": self.tree["cluster_a"], "place": "后山山塘", "checked": "坝体、溢洪道、警示牌",
            "severity": "general", "photos": (io.BytesIO(data), name)})

    def intake(self, data, name):
        self.anon.get(f"/q/{self.code}")
        return self.anon.post(f"/q/{self.code}", {"what": "河道里有人倾倒垃圾", "where": "西桥下",
                                                  "reporter_phone": "13912345678", "photos": (io.BytesIO(data), name)},
                              follow_redirects=True)  # a saved report goes on to its receipt page

    def scan(self, data, name):
        self.admin.get(f"/agreements/{self.agreement_id}")
        return self.admin.post(f"/agreements/{self.agreement_id}/scans", {"file": (io.BytesIO(data), name)},
                               content_type="multipart/form-data")

    def signature(self, data, name):
        self.admin.get(f"/agreements/{self.agreement_id}/sign")
        return self.admin.post(f"/agreements/{self.agreement_id}/sign", {
            "party": "b", "signer_name": "王秀英", "signature": "data:image/png;base64," + base64.b64encode(data).decode()})

    def saved(self):
        """Rows of every kind of stored image."""
        from app.agreements.models import AgreementScan, AgreementSignature
        from app.cases.models import CasePhoto
        from app.patrols.models import PatrolPhoto
        from app.visits.models import VisitPhoto

        with self.app.app_context():
            return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
                    for m in (VisitPhoto, CasePhoto, PatrolPhoto, AgreementScan, AgreementSignature)}


PATHS = ["visit_new", "visit_edit", "case_new", "case_step", "patrol", "intake", "scan", "signature"]
# what each path stores an accepted image as (a signature is a PNG drawn on the phone)
GOOD = {name: (signature_png(), "签名.png") if name == "signature" else (jpeg(), "现场.jpg") for name in PATHS}


@pytest.fixture
def paths(app, make_client, tree, users):
    app.config["PUBLIC_INTAKE_PER_ADDRESS_HOUR"] = 50
    yield Paths(app, make_client, tree, users)
    app.config["PUBLIC_INTAKE_PER_ADDRESS_HOUR"] = 5


def _write_lock_free(app):
    """Whether another connection could take SQLite's write lock right now (PostgreSQL: True)."""
    if db.engine.dialect.name != "sqlite":
        return True
    con = sqlite3.connect(db.engine.url.database, timeout=0)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


@pytest.fixture
def decodes(app, monkeypatch):
    """Each pixel decode during a request: (request path, no transaction open in the request, write lock free)."""
    seen = []
    real = ImageFile.ImageFile.load

    def load(self):
        if has_request_context() and getattr(self, "_probed", False) is False:
            from flask import request

            self._probed = True
            seen.append((request.path, not db.session().in_transaction(), _write_lock_free(app)))
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return seen


def test_every_path_decodes_before_the_view_touches_the_database(app, paths, decodes):
    """While pixels are decoded the request holds no transaction, and on SQLite nobody holds the
    write lock, so other users' saves never wait behind a photo."""
    for name in PATHS:
        before = paths.saved()
        decodes.clear()
        resp = getattr(paths, name)(*GOOD[name])
        assert resp.status_code in (200, 302), (name, resp.get_data(as_text=True)[:3000])
        if name == "intake":
            assert "回执码" in resp.get_data(as_text=True)
        assert paths.saved() != before, name
        assert decodes, f"{name}: nothing was decoded"
        assert all(free and unlocked for _, free, unlocked in decodes), (name, decodes)


@pytest.mark.parametrize("bomb, status, message", [
    (BOMB, 422, "有 7000×7000 像素却只有 5 KB，不是正常拍摄的照片"),
    (HUGE, 413, "的尺寸过大（20000×20000），最多 5000 万像素"),
], ids=["7000x7000-in-6KB", "20000x20000-in-48KB"])
def test_bombs_are_refused_from_the_header_on_every_path(app, paths, decodes, bomb, status, message):
    before = paths.saved()
    for name in PATHS:
        decodes.clear()
        resp = getattr(paths, name)(bomb, "炸弹.png")
        html = resp.get_data(as_text=True)
        if name == "signature":
            assert resp.status_code == status and "签名图片尺寸过大" in html, name
            assert "王秀英" in html  # the form is shown again with what was typed
        elif name == "scan":
            assert resp.status_code == status and message in html, name
        else:
            assert resp.status_code == status, (name, resp.status_code)
            assert message in html and "炸弹.png" in html, name
            assert 'name="csrf_token"' in html  # the form again, not an error page
        assert decodes == [], f"{name}: the bomb was decoded"
    assert paths.saved() == before


def test_the_public_intake_counts_a_report_before_decoding(app, paths, decodes, monkeypatch):
    """A resident over the allowance is refused before any photo is looked at; one within it is
    counted (committed) before its photos are decoded."""
    from app.core.ratelimit import RateCounter

    counts = []
    real = uploads.prepare

    def prepare(data):
        with app.app_context():  # a connection of its own: sees only what is committed
            counts.append(db.session.scalar(select(func.sum(RateCounter.count))))
        return real(data)

    monkeypatch.setattr(uploads, "prepare", prepare)
    assert "回执码" in paths.intake(*GOOD["intake"]).get_data(as_text=True)
    assert counts and counts[0] is not None and counts[0] >= 2  # the address's and the grid's count
    app.config["PUBLIC_INTAKE_PER_ADDRESS_HOUR"] = 1
    decodes.clear()
    counts.clear()
    resp = paths.intake(*GOOD["intake"])
    assert resp.status_code == 429 and decodes == [] and counts == []


def test_a_large_photo_is_decoded_at_a_reduced_scale(app, decodes):
    """A 48-megapixel phone photo is accepted, and the JPEG decoder delivers it at a quarter of each side."""
    data = jpeg((8000, 6000), quality=80)
    sizes = []
    real = ImageFile.ImageFile.load

    def load(self):
        sizes.append(self.size)
        return real(self)

    ImageFile.ImageFile.load = load
    try:
        with app.app_context():
            img = uploads.image(data, "大照片.jpg")
    finally:
        ImageFile.ImageFile.load = real
    assert (img.width, img.height) == (8000, 6000) and (img.jpeg_width, img.jpeg_height) == (1600, 1200)
    assert sizes[0] == (2000, 1500)


def test_an_upright_photo_comes_from_the_exif_rotation(app):
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise when taken
    Image.open(io.BytesIO(jpeg((4000, 3000)))).save(buf, "JPEG", exif=exif.tobytes())
    with app.app_context():
        img = uploads.image(buf.getvalue(), "竖拍.jpg")
    assert (img.jpeg_width, img.jpeg_height) == (1200, 1600)
    stored = Image.open(io.BytesIO(img.jpeg))
    assert stored.size == (1200, 1600) and not stored.getexif()


def test_decoding_inside_an_open_transaction_is_refused_in_tests(app):
    """The safety net for a path that skipped the step before the view."""
    data = jpeg((400, 300))
    with app.test_request_context("/visits/new", method="POST"):
        db.session.execute(select(1))
        with pytest.raises(RuntimeError, match="inside an open database transaction"):
            uploads.prepare(data)
        db.session.rollback()
        assert isinstance(uploads.prepare(data), uploads.Prepared)


def test_concurrent_decodes_share_a_memory_budget(monkeypatch):
    """Decoded pixels held at once stay within the process's budget; a decode that cannot get
    room in time is refused as busy (503) rather than queued for ever."""
    budget = uploads._Budget(100)
    monkeypatch.setattr(uploads, "_budget", budget)
    peak, lock, release = [0], threading.Lock(), threading.Event()
    real = ImageFile.ImageFile.load

    def load(self):
        with lock:
            peak[0] = max(peak[0], budget.used)
        release.wait(5)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    img = jpeg((10, 5))  # 50 pixels: 200 bytes decoded, more than the whole budget, so one at a time
    results = []
    threads = [threading.Thread(target=lambda: results.append(uploads.prepare(img))) for _ in range(3)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join()
    assert peak[0] <= 100 and all(isinstance(r, uploads.Prepared) for r in results)
    monkeypatch.setattr(uploads, "DECODE_WAIT_SECONDS", 0.05)
    assert budget.acquire(100, 0.05) == 100
    try:
        refused = uploads.prepare(img)
    finally:
        budget.release(100)
    assert refused is uploads.BUSY and refused.status == 503


def test_other_formats_and_limits_are_named(app):
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    heic = b"\0\0\0\x18ftypheic" + b"\0" * 40
    big = b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024)
    with app.app_context():
        for data, words, status in ((gif.getvalue(), "是 GIF 格式", 422), (heic, "是 HEIC/AVIF 格式", 422),
                                    (big, "超过 10 MB 上限", 413), (b"", "是空文件", 422),
                                    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "不是照片或已损坏", 422)):
            with pytest.raises(uploads.ImageRefused) as err:
                uploads.image(data, "x")
            assert words in str(err.value) and err.value.status == status


def test_the_photo_limits_are_the_same_in_every_hint(app, client, users, tree):
    """The code's limit (10 MB, JPG/PNG/WebP) is what every photo field says."""
    from app.cases.forms import CaseForm, PublicReportForm
    from app.patrols.forms import PatrolForm
    from app.visits.forms import VisitForm

    assert uploads.MAX_PHOTO_BYTES == 10 * 1024 * 1024
    with app.test_request_context():
        for form in (CaseForm, PublicReportForm, PatrolForm, VisitForm):
            assert "10 MB（JPG、PNG、WebP）" in form().photos.description, form
    client.login("worker")
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    assert "每张不超过 10 MB（JPG、PNG、WebP）" in client.get(f"/visits/new?household_id={hid}").get_data(as_text=True)
