"""Responsibility agreements: generated from the grid's data, edited, issued, printed with a QR code that
decodes to the public verification page, new versions replacing old ones, signed scans, finger signatures."""
import base64
import io
import re
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from app.extensions import db
from tests.pdfcheck import check_pdf, decode_qr_codes
from tests.factories import agreement_setup, draft_agreement, issue_agreement, load_agreement

BASE = "https://grid.example.gov.cn"


@pytest.fixture
def public_base(app):
    app.config["PUBLIC_BASE_URL"] = BASE
    yield BASE
    app.config["PUBLIC_BASE_URL"] = None


def _edit(client, agreement_id, **changes):
    a = load_agreement(client.app, agreement_id)
    data = {k: getattr(a, k) for k in ("title", "party_a", "party_a_rep", "party_b", "party_b_rep", "area", "people",
                                       "duties", "tasks", "rewards")}
    data.update(period_start=a.period_start.isoformat(), period_end=a.period_end.isoformat())
    data.update(changes)
    client.get(f"/agreements/{agreement_id}/edit")
    return client.post(f"/agreements/{agreement_id}/edit", data)


def test_generated_issued_printed_and_verified_by_qr(app, client, make_client, tree, users, public_base, tmp_path):
    agreement_setup(app, tree, users)
    client.login("township")
    resp = draft_agreement(client, tree["village_a"])
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/edit")
    a = load_agreement(app)
    # generated from the grid's real data
    assert a.party_a == "甲镇人民政府" and a.party_b == "甲村村民委员会"
    assert a.party_a_rep == "孙镇长" and a.party_b_rep == "leader"
    assert "东至青山河" in a.area and "在册1户、1人" in a.area
    assert "网格长：leader" in a.people and "网格员：王秀英（13912345678）" in a.people
    assert a.status == "draft" and a.version == 1
    assert _edit(client, a.id, tasks=a.tasks + "\n6. 年内完成村道路灯改造。").status_code == 302
    assert issue_agreement(client, a.id).status_code == 302
    a = load_agreement(app, a.id)
    assert a.status == "issued" and len(a.fingerprint) == 64
    assert _edit(client, a.id, title="改标题").status_code == 302  # refused: back to the page
    assert load_agreement(app, a.id).title != "改标题"

    pdf = client.get(f"/agreements/{a.id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    short = " ".join(a.fingerprint[:16].upper()[i:i + 4] for i in range(0, 16, 4))
    text = check_pdf(pdf.data, tmp_path / "agreement", expect_pages=2, must_contain=[
        "甲村网格化管理责任状", "甲方：甲镇人民政府", "乙方：甲村村民委员会", "2026年1月1日至2026年12月31日",
        "一、定区域", "二、定人员", "三、定职责", "四、定任务", "五、定奖惩", "年内完成村道路灯改造",
        "甲方（盖章）", "乙方（盖章）", "代表签字", "扫码核验", short])
    # the two parties' seal and signature blocks side by side, as signed agreements are laid out
    seal_line = next(line for line in text.splitlines() if "甲方（盖章）" in line)
    assert "乙方（盖章）" in seal_line, seal_line
    assert sum(1 for line in text.splitlines() if "代表签字" in line) == 1
    codes = decode_qr_codes(pdf.data, tmp_path / "agreement-qr")
    assert codes == [f"{BASE}/v/{a.verify_code}"]

    # the public page, for anybody with the printed code
    anon = make_client()
    page = anon.get(codes[0].removeprefix(BASE))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "现行有效" in text and "已下发，待双方签订" in text
    assert "甲镇人民政府" in text and "甲村村民委员会" in text and "2026-01-01 至 2026-12-31" in text and short in text
    for private in ("13912345678", "王秀英", "东至青山河", "年内完成村道路灯改造", "退出"):
        assert private not in text
    assert anon.get("/v/not-a-code").status_code == 404


def test_a_changed_agreement_no_longer_verifies_as_current(app, client, make_client, tree, users, public_base, tmp_path):
    agreement_setup(app, tree, users)
    client.login("village_admin")
    draft_agreement(client, tree["cluster_a"], kind="village_worker")
    v1 = load_agreement(app)
    assert v1.party_a == "甲村村民委员会"
    issue_agreement(client, v1.id)
    v1 = load_agreement(app, v1.id)
    old_pdf = client.get(f"/agreements/{v1.id}.pdf").data
    [old_url] = decode_qr_codes(old_pdf, tmp_path / "v1")

    resp = client.post(f"/agreements/{v1.id}/new-version")
    assert resp.status_code == 302
    v2 = load_agreement(app)
    assert v2.version == 2 and v2.series_id == v1.id and v2.status == "draft"
    again = client.post(f"/agreements/{v1.id}/new-version")
    assert "已有未下发的第2版草稿" in again.get_data(as_text=True)
    anon = make_client()
    assert "现行有效" in anon.get(old_url.removeprefix(BASE)).get_data(as_text=True)  # a draft replaces nothing yet

    _edit(client, v2.id, rewards="完成任务的，年终奖励 2000 元。")
    issue_agreement(client, v2.id)
    v1, v2 = load_agreement(app, v1.id), load_agreement(app, v2.id)
    assert v1.status == "replaced" and v1.replaced_by_id == v2.id and v2.status == "issued"
    assert v1.fingerprint != v2.fingerprint
    old = anon.get(old_url.removeprefix(BASE)).get_data(as_text=True)
    assert "已被取代" in old and "已被第2版取代，不是现行版本" in old and "现行有效" not in old
    [new_url] = decode_qr_codes(client.get(f"/agreements/{v2.id}.pdf").data, tmp_path / "v2")
    assert new_url != old_url and "现行有效" in anon.get(new_url.removeprefix(BASE)).get_data(as_text=True)
    # a replaced version takes no signature
    assert client.post(f"/agreements/{v1.id}/new-version").status_code == 422


def test_expired_and_draft_codes(app, ctx, tree, users):
    from app.agreements import service as ags
    from app.core.timeutil import utcnow
    from app.grids.models import Grid

    class Township:
        role = "township"
        is_admin = False
        is_authenticated = True
        id = users["township"]
        grids = [db.session.get(Grid, tree["town_a"])]

    a = ags.create_draft(Township(), db.session.get(Grid, tree["village_a"]), "town_village", date(2025, 1, 1), date(2025, 12, 31))
    assert ags.verify(a.verify_code, date(2026, 1, 5)).state == "draft"
    ags.issue(a, utcnow())
    assert ags.verify(a.verify_code, date(2025, 6, 1)).state == "current"
    v = ags.verify(a.verify_code, date(2026, 1, 5))
    assert v.state == "expired" and "2025年12月31日" in v.message
    with pytest.raises(ags.ServiceError, match="结束日期"):
        ags.create_draft(Township(), db.session.get(Grid, tree["village_a"]), "town_village", date(2026, 5, 1), date(2026, 1, 1))


def test_who_drafts_what(app, client, make_client, tree, users):
    agreement_setup(app, tree, users)
    client.login("village_admin")
    resp = draft_agreement(client, tree["village_a"], kind="town_village")
    assert resp.status_code == 422 and "“乡镇与行政村”责任状由乡镇起草" in resp.get_data(as_text=True)
    worker = make_client()
    worker.login("worker")
    worker.get("/")
    assert worker.post(f"/agreements/new?grid_id={tree['cluster_a']}", {"kind": "village_worker"}).status_code == 403
    assert worker.get(f"/agreements/?grid_id={tree['cluster_a']}").status_code == 200


def _png(draw=True, size=(300, 120)):
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    if draw:
        ImageDraw.Draw(img).line([(10, 60), (120, 20), (280, 100)], fill=(0, 0, 0, 255), width=4)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_signed_scan_is_checked_stored_and_served_in_scope(app, client, make_client, tree, users, monkeypatch):
    from app.agreements import service as ags

    agreement_setup(app, tree, users)
    client.login("village_admin")
    draft_agreement(client, tree["cluster_a"], kind="village_worker")
    a = load_agreement(app)
    client.get(f"/agreements/{a.id}")
    early = client.post(f"/agreements/{a.id}/scans", {"file": (io.BytesIO(b"%PDF-1.4 x %%EOF"), "签字件.pdf")},
                        content_type="multipart/form-data")
    assert "只有已下发、尚未被取代的责任状可以签订" in early.get_data(as_text=True)
    issue_agreement(client, a.id)

    def upload(data, name):
        client.get(f"/agreements/{a.id}")
        return client.post(f"/agreements/{a.id}/scans", {"file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")

    resp = upload(b"MZ\x90\x00 not an image", "签字件.jpg")
    assert resp.status_code == 422 and "“签字件.jpg”不是 JPEG/PNG 图片或 PDF 文件" in resp.get_data(as_text=True)
    resp = upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "坏图.png")
    assert "图片已损坏" in resp.get_data(as_text=True)
    monkeypatch.setattr(ags, "SCAN_MAX_BYTES", 1000)
    big = io.BytesIO()
    Image.effect_noise((200, 200), 50).convert("RGB").save(big, "JPEG", quality=95)
    assert "超过了" in upload(big.getvalue(), "大图.jpg").get_data(as_text=True)
    monkeypatch.undo()
    assert load_agreement(app, a.id).status == "issued"  # nothing half-saved

    photo = io.BytesIO()
    Image.new("RGB", (800, 600), "white").save(photo, "JPEG")
    resp = upload(photo.getvalue(), "责任状签字页.jpg")
    assert resp.status_code == 302
    a = load_agreement(app, a.id)
    assert a.status == "signed" and a.signed_at is not None
    with app.app_context():
        from app.agreements.models import AgreementScan

        scan = db.session.scalars(select(AgreementScan)).one()
        stored = Path(app.instance_path) / "agreements" / scan.stored_name
        assert stored.read_bytes() == photo.getvalue()
        assert not list(Path(app.static_folder).rglob(scan.stored_name))
    got = client.get(f"/agreements/{a.id}/scans/{scan.id}")
    assert got.status_code == 200 and got.data == photo.getvalue() and got.mimetype == "image/jpeg"
    assert "责任状签字页.jpg" in client.get(f"/agreements/{a.id}").get_data(as_text=True)
    outsider = make_client()
    outsider.login("worker_b")
    assert outsider.get(f"/agreements/{a.id}/scans/{scan.id}").status_code == 404


def test_finger_signature_is_stored_and_printed(app, client, tree, users, tmp_path):
    agreement_setup(app, tree, users)
    client.login("village_admin")
    draft_agreement(client, tree["cluster_a"], kind="village_worker")
    a = load_agreement(app)
    issue_agreement(client, a.id)
    page = client.get(f"/agreements/{a.id}/sign").get_data(as_text=True)
    assert 'class="sigpad"' in page and "<script" not in page.split("</head>")[1]

    def sign(party, name, png):
        client.get(f"/agreements/{a.id}/sign")
        data_url = "data:image/png;base64," + base64.b64encode(png).decode() if png is not None else ""
        return client.post(f"/agreements/{a.id}/sign", {"party": party, "signer_name": name, "signature": data_url})

    assert "请先在签名框内手写签名" in sign("b", "王秀英", None).get_data(as_text=True)
    assert "签名框是空的" in sign("b", "王秀英", _png(draw=False)).get_data(as_text=True)
    resp = client.post(f"/agreements/{a.id}/sign", {"party": "b", "signer_name": "王秀英",
                                                   "signature": "data:image/jpeg;base64,AAAA"})
    assert "签名数据格式不对" in resp.get_data(as_text=True)
    assert sign("b", "王秀英", _png()).status_code == 302
    assert load_agreement(app, a.id).status == "issued"  # one party so far
    assert sign("a", "leader", _png()).status_code == 302
    a = load_agreement(app, a.id)
    assert a.status == "signed"
    with app.app_context():
        from app.agreements.models import AgreementSignature

        sigs = db.session.scalars(select(AgreementSignature).order_by(AgreementSignature.id)).all()
        assert [(s.party, s.signer_name, s.recorded_by_id) for s in sigs] == [
            ("b", "王秀英", users["village_admin"]), ("a", "leader", users["village_admin"])]
        assert (Path(app.instance_path) / "signatures" / sigs[0].stored_name).read_bytes() == _png()
    pdf = client.get(f"/agreements/{a.id}.pdf").data
    text = check_pdf(pdf, tmp_path / "signed", must_contain=["王秀英 手写签名", "leader 手写签名"])
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
    from pypdf import PdfReader

    images = [img for p in PdfReader(io.BytesIO(pdf)).pages for img in p.images]
    assert len(images) >= 2  # both signatures are on the paper


def _wording_form(**texts):
    base = {"duties": "乙方负责{网格名}的网格化管理。", "tasks": "1. 联系{户数}户；\n2. 重点户{重点户数}户每月上门。",
            "rewards": "按{乡镇名}考核办法奖惩。"}
    base.update(texts)
    return base


def test_a_township_keeps_its_own_wording_with_the_grids_figures(app, client, make_client, tree, users):
    agreement_setup(app, tree, users)
    client.login("township")
    page = client.get(f"/agreements/wording?grid_id={tree['town_a']}&kind=village_worker")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "目前使用系统默认文本" in html and "{户数}" in html and "联系本网格{户数}户" in html
    # an unknown placeholder is refused, with where, and nothing is kept
    bad = client.post(f"/agreements/wording?grid_id={tree['town_a']}&kind=village_worker",
                      _wording_form(tasks="1. 联系{户口数}户；"))
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "四、定任务：不认识占位符 {户口数}" in text and "联系{户口数}户" in text
    unpaired = client.post(f"/agreements/wording?grid_id={tree['town_a']}&kind=village_worker",
                           _wording_form(rewards="按{乡镇名考核"))
    assert "大括号 { } 要成对使用" in unpaired.get_data(as_text=True)
    ok = client.post(f"/agreements/wording?grid_id={tree['town_a']}&kind=village_worker", _wording_form())
    assert ok.status_code == 302
    # a village admin below drafts an agreement for a house cluster: the town's wording, the cluster's figures
    village = make_client()
    village.login("village_admin")
    assert draft_agreement(village, tree["cluster_a"], kind="village_worker").status_code == 302
    a = load_agreement(app)
    assert a.duties == "乙方负责东庄一组的网格化管理。"
    assert a.tasks == "1. 联系1户；\n2. 重点户1户每月上门。"  # the household is in a 六类户 category
    assert a.rewards == "按甲镇考核办法奖惩。"
    # the village keeps its own; its drafts use it, the town's other villages keep the town's
    shown = village.get(f"/agreements/wording?grid_id={tree['village_a']}&kind=village_worker").get_data(as_text=True)
    assert "目前沿用“甲镇”的文本" in shown and "乙方负责甲村的网格化管理。" in shown  # preview with 甲村's figures
    assert village.post(f"/agreements/wording?grid_id={tree['village_a']}&kind=village_worker",
                        _wording_form(duties="本村自定：{村名}{网格名}网格员职责。")).status_code == 302
    draft_agreement(village, tree["cluster_a"], kind="village_worker")
    assert load_agreement(app).duties == "本村自定：甲村东庄一组网格员职责。"
    # village admins do not set the wording of township → village agreements
    refused = village.post(f"/agreements/wording?grid_id={tree['village_a']}&kind=town_village", _wording_form())
    assert refused.status_code == 422 and "由乡镇起草" in refused.get_data(as_text=True)
    # reset: back to the town's wording; agreements already drafted keep their text
    village.post(f"/agreements/wording/reset?grid_id={tree['village_a']}&kind=village_worker")
    draft_agreement(village, tree["cluster_a"], kind="village_worker")
    assert load_agreement(app).duties == "乙方负责东庄一组的网格化管理。"
    from app.agreements.models import Agreement, AgreementWording
    from app.core.models import AuditLog

    with app.app_context():
        kept = db.session.scalars(select(Agreement.duties).order_by(Agreement.id)).all()
        assert kept[1] == "本村自定：甲村东庄一组网格员职责。"
        assert [w.grid_id for w in db.session.scalars(select(AgreementWording))] == [tree["town_a"]]
        assert db.session.scalar(select(db.func.count(AuditLog.id)).where(AuditLog.entity == "agreement_wording")) == 3


def test_wording_of_another_town_is_out_of_reach(client, make_client, tree, users):
    client.login("township")
    assert client.get(f"/agreements/wording?grid_id={tree['town_b']}").status_code == 404
    worker = make_client()
    worker.login("worker")
    assert worker.get(f"/agreements/wording?grid_id={tree['cluster_a']}").status_code == 403
