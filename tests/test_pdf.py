"""The PDF groundwork: fonts, page numbers, running header, the restricted url_fetcher."""
import re

import pytest
from flask import render_template_string

from app.core import pdf as pdfmod
from tests.pdfcheck import check_pdf, pdf_pages

DOC = """{% extends "print/_base.html" %}{% block content %}<h1>{{ doc_title }}</h1>
{% for i in range(n) %}<p>第{{ i }}条：网格员上门走访，了解家庭情况。</p>{% endfor %}{{ extra|safe }}{% endblock %}"""


def _render(app, n=10, extra=""):
    with app.test_request_context():
        html = render_template_string(DOC, doc_title="测试文档", doc_header="甲村 · 2026年11月", n=n, extra=extra)
        return pdfmod.html_to_pdf(html)


def test_chinese_text_page_numbers_and_header(app, tree, tmp_path):
    pdf = _render(app, n=120)
    text = check_pdf(pdf, tmp_path, must_contain=["测试文档", "甲村 · 2026年11月", "第119条"])
    pages = pdf_pages(pdf)
    assert pages >= 2
    compact = re.sub(r"\s+", "", text)
    for n in range(1, pages + 1):
        assert f"第{n}页/共{pages}页" in compact
    # the running header is on every page, once (the hidden source element prints nothing)
    assert compact.count("甲村·2026年11月") == pages


def test_fetcher_allows_static_and_data_only(app):
    with app.test_request_context():
        ok = pdfmod.static_only_fetcher(pdfmod.PRINT_ORIGIN + "/static/css/print.css")
        assert b"@page" in ok["string"]
        for bad in ("http://example.com/x.png", "file:///etc/passwd", pdfmod.PRINT_ORIGIN + "/static/../app/config.py",
                    pdfmod.PRINT_ORIGIN + "/static/%2e%2e/wsgi.py", pdfmod.PRINT_ORIGIN + "/households/1"):
            with pytest.raises(pdfmod.FetchRefused):
                pdfmod.static_only_fetcher(bad)


def test_external_resources_are_not_fetched(app, tree, tmp_path, monkeypatch):
    asked = []
    real = pdfmod.static_only_fetcher

    def spy(url, *a, **kw):
        asked.append(url)
        return real(url, *a, **kw)

    monkeypatch.setattr(pdfmod, "static_only_fetcher", spy)
    pdf = _render(app, n=1, extra='<img src="http://127.0.0.1:9/leak.png"><link rel="stylesheet" href="file:///etc/passwd">')
    check_pdf(pdf, tmp_path, expect_pages=1, must_contain=["第0条"])
    assert "http://127.0.0.1:9/leak.png" in asked  # asked, and refused by the fetcher


def test_download_name_is_safe():
    with pytest.MonkeyPatch.context():
        from flask import Flask

        with Flask(__name__).test_request_context():
            resp = pdfmod.pdf_response(b"%PDF-1.7", "工作日志/张三:2026年11月")
            disp = resp.headers["Content-Disposition"]
            assert disp.startswith("attachment;")
            assert "/" not in disp.split("filename*=")[1].replace("%2F", "")
            assert resp.mimetype == "application/pdf"


def _fonts_in(pdf: bytes):
    import subprocess

    return subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_print_font_is_built_once_and_embedded(app, tree, tmp_path):
    from app.core import printfont

    pdf = _render(app, n=3, extra="<p><b>网格员：</b>张三，联系电话 13500000000。</p>")
    folder = pdfmod.Path(app.instance_path) / "fonts"
    built = sorted(p.name for p in folder.glob("villagegrid-print-*.otf"))
    assert [n.split("-")[2] for n in built] == ["bold", "regular"]
    fonts = _fonts_in(pdf)
    assert "VillageGrid-Print-Bold" in fonts and "VillageGrid-Print" in fonts
    assert "Noto-Sans-CJK-SC" not in fonts  # every character came from the print font
    check_pdf(pdf, tmp_path, must_contain=["网格员：张三", "第2条"])
    # the cut font is far smaller than the system font it comes from
    source, _ = printfont._source("Regular")
    assert (folder / built[1]).stat().st_size < pdfmod.Path(source).stat().st_size / 3
    # a second document reuses the files: nothing is rebuilt
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("*.otf")}
    printfont.forget()
    _render(app, n=1)
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*.otf")} == stamps


def test_rare_characters_fall_back_to_the_system_font(app, tree, tmp_path):
    # 堃 and 玥 are not in GB 2312: they come from Noto Sans CJK SC, the rest from the print font
    pdf = _render(app, n=1, extra="<p>户主：王堃，女儿王玥。</p>")
    check_pdf(pdf, tmp_path, must_contain=["户主：王堃，女儿王玥。"])
    fonts = _fonts_in(pdf)
    assert "VillageGrid-Print" in fonts and "Noto-Sans-CJK-SC" in fonts


def test_without_the_print_font_documents_use_the_system_font(app, tree, tmp_path, monkeypatch):
    from app.core import printfont

    monkeypatch.setattr(printfont, "_source", lambda style: None)
    monkeypatch.setattr(pdfmod, "_SHEETS", {})
    monkeypatch.setattr(pdfmod, "_FONT_CONFIG", None)  # a process that never loaded the print font
    printfont.forget()
    try:
        pdf = _render(app, n=2)
        check_pdf(pdf, tmp_path, must_contain=["第1条"])
        fonts = _fonts_in(pdf)
        assert "Noto-Sans-CJK-SC" in fonts and "VillageGrid" not in fonts
    finally:
        printfont.forget()


def test_fetcher_serves_only_the_built_print_fonts(app):
    from app.core import printfont

    with app.test_request_context():
        names = printfont.fonts(pdfmod.font_folder())
        ok = pdfmod.static_only_fetcher(pdfmod.PRINT_ORIGIN + pdfmod.FONT_PATH + names["regular"])
        assert ok["string"][:4] == b"OTTO"
        (pdfmod.font_folder() / "villagegrid-print-regular-000000000000.otf").write_bytes(b"OTTO")
        for bad in ("villagegrid-print-regular-000000000000.otf", "../secret_key", "%2e%2e/secret_key",
                    "villagegrid.db", names["regular"] + "/../../secret_key"):
            with pytest.raises(pdfmod.FetchRefused):
                pdfmod.static_only_fetcher(pdfmod.PRINT_ORIGIN + pdfmod.FONT_PATH + bad)


def test_documents_are_rendered_one_at_a_time(app, tree, monkeypatch):
    """Pango and GLib are not thread-safe: eight threads asking for PDFs at once enter WeasyPrint one by one.

    The first document to reach WeasyPrint waits there until every thread has asked for its
    document, so without the lock the others would join it."""
    import threading

    import weasyprint

    threads_n = 8
    state = {"asked": 0, "inside": 0, "most": 0}
    cond = threading.Condition()
    real_render = weasyprint.HTML.render

    def render(self, *args, **kwargs):
        with cond:
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
            cond.wait_for(lambda: state["asked"] == threads_n, timeout=10)
        try:
            return real_render(self, *args, **kwargs)
        finally:
            with cond:
                state["inside"] -= 1

    monkeypatch.setattr(weasyprint.HTML, "render", render)
    with app.test_request_context():
        html = render_template_string(DOC, doc_title="测试文档", doc_header="甲村", n=3, extra="")
    results, errors = [], []

    def one():
        with cond:
            state["asked"] += 1
            cond.notify_all()
        try:
            with app.app_context():
                results.append(pdfmod.html_to_pdf(html))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=one) for _ in range(threads_n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert errors == [] and len(results) == threads_n and all(r.startswith(b"%PDF-") for r in results)
    assert state["most"] == 1


def test_a_full_print_queue_answers_busy_at_once(app, client, tree, users, monkeypatch):
    """With the renderer taken and the queue full (or the wait over), a PDF request gets a Chinese 503, not a hang."""
    client.login("admin")
    url = f"/grids/{tree['village_a']}/notice-board.pdf"
    assert client.get(url).status_code == 200
    printer = pdfmod._printer
    with printer.turn():  # someone else's document is being rendered
        monkeypatch.setattr(pdfmod, "PRINT_QUEUE", 1)
        resp = client.get(url)
        assert resp.status_code == 503 and "打印繁忙，请稍后再试" in resp.get_data(as_text=True)
        monkeypatch.setattr(pdfmod, "PRINT_QUEUE", 16)
        monkeypatch.setattr(pdfmod, "PRINT_WAIT_SECONDS", 0.05)
        resp = client.get(url, headers={"HX-Request": "true"})
        assert resp.status_code == 503 and "打印繁忙" in resp.get_data(as_text=True)
    assert printer.queued == 0
    assert client.get(url).status_code == 200
