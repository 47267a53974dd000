"""Served without nginx: compressed responses, content-hashed static files cached for a year."""
import gzip
import re
from pathlib import Path

import brotli

STATIC = Path(__file__).resolve().parent.parent / "static"


def _asset_urls(html):
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_pages_link_hashed_static_files_cached_for_a_year(client, users):
    client.login("worker")
    html = client.get("/").get_data(as_text=True)
    urls = _asset_urls(html)
    assert any(re.fullmatch(r"/static/js/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js", u) for u in urls), urls
    assert any(re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", u) for u in urls), urls
    for url in urls:
        resp = client.raw.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
        assert resp.status_code == 200, url
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        # Answered ahead of the app: no session touched, so no "Vary: Cookie" (which would make a
        # browser fetch every file again once the login cookie changes) and no cookie set.
        assert "Cookie" not in resp.headers.get("Vary", "") and "Set-Cookie" not in resp.headers
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        plain = (STATIC / re.sub(r"\.[0-9a-f]{12}(\.[a-z]+)$", r"\1", url[len("/static/"):])).read_bytes()
        if url.endswith((".css", ".js")):
            assert resp.headers["Content-Encoding"] == "br" and "Accept-Encoding" in resp.headers["Vary"]
            assert brotli.decompress(resp.data) == plain and len(resp.data) < len(plain) / 2
        elif resp.headers.get("Content-Encoding") == "br":
            assert brotli.decompress(resp.data) == plain
        else:
            assert resp.data == plain


def test_static_encodings_etags_and_old_names(client):
    from flask import url_for

    with client.app.test_request_context():
        url = url_for("static", filename="css/app.css")
    plain = (STATIC / "css" / "app.css").read_bytes()
    gz = client.raw.get(url, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and gzip.decompress(gz.data) == plain
    ident = client.raw.get(url)
    assert "Content-Encoding" not in ident.headers and ident.data == plain
    assert client.raw.get(url, headers={"Accept-Encoding": "br;q=0, gzip;q=0.5"}).headers["Content-Encoding"] == "gzip"
    again = client.raw.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # The plain name and a stale hash still answer (an old page, a bookmark), revalidated each time.
    for old in ("/static/css/app.css", "/static/css/app.000000000000.css"):
        resp = client.raw.get(old)
        assert resp.status_code == 200 and resp.data == plain and resp.headers["Cache-Control"] == "no-cache"
    assert client.raw.post(url).status_code == 405
    for missing in ("/static/css/nope.css", "/static/../app/__init__.py", "/static/%2e%2e/wsgi.py"):
        assert client.raw.get(missing).status_code == 404


def test_html_and_fragments_are_compressed_and_stay_uncached(client, users):
    client.login("worker")
    page = client.raw.get("/", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert page.headers["Content-Encoding"] == "br" and page.headers["Cache-Control"] == "no-store"
    assert "Accept-Encoding" in page.headers["Vary"] and "HX-Request" in page.headers["Vary"]
    html = brotli.decompress(page.data).decode()
    assert "<html" in html and len(page.data) < len(html.encode()) / 2
    frag = client.raw.get("/households/?q=张", headers={"Accept-Encoding": "gzip", "HX-Request": "true"})
    assert frag.status_code == 200 and frag.headers["Cache-Control"] == "no-store"
    body = gzip.decompress(frag.data) if frag.headers.get("Content-Encoding") == "gzip" else frag.data
    assert b"<html" not in body
    # An old browser that asks for nothing gets the page as it is.
    assert "Content-Encoding" not in client.raw.get("/").headers


def test_print_templates_read_static_files_by_hashed_names(app):
    from flask import url_for

    from app.core.pdf import PRINT_ORIGIN, static_only_fetcher

    with app.test_request_context():
        url = url_for("static", filename="css/print.css")
        assert url != "/static/css/print.css"
        got = static_only_fetcher(PRINT_ORIGIN + url)
    assert got["string"] == (STATIC / "css" / "print.css").read_bytes()
