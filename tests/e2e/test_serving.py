"""Served without nginx: a worker's phone gets compressed pages and hashed static files that the
browser keeps (the next page loads none of them again); the administrator sees the schedules."""
import re

from playwright.sync_api import expect

HASHED = re.compile(r"/static/.+\.[0-9a-f]{12}\.[a-z]+$")


def _resources(page):
    """(url, bytes over the network, body size) of every file the page loaded (0 bytes: from the cache)."""
    return page.evaluate("performance.getEntriesByType('resource')"
                         ".map(e => [e.name, e.transferSize, e.encodedBodySize])")


def test_first_load_compressed_and_files_kept(make_ui, demo_server, viewport):
    ui = make_ui(demo_server.url)
    page = ui.page
    documents = []
    page.on("response", lambda r: documents.append(r) if r.request.resource_type == "document" else None)
    ui.login("worker1", demo_server.accounts["worker1"])
    ui.check("home")
    home = documents[-1]
    assert home.headers.get("content-encoding") in ("br", "gzip"), home.headers
    assert home.headers["cache-control"] == "no-store"
    files = [r for r in _resources(page) if "/static/" in r[0]]
    assert files and all(HASHED.search(url) for url, *_ in files), files
    for url in (url for url, *_ in files):
        resp = page.request.get(url)
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable", url
        if url.endswith((".css", ".js")):
            assert resp.headers.get("content-encoding") in ("br", "gzip"), (url, resp.headers)
    # Another page: every file comes from the browser's cache, nothing is asked for again.
    page.goto("/visits/")
    ui.check("visits")
    again = [r for r in _resources(page) if "/static/" in r[0]]
    assert again and all(sent == 0 for _, sent, _ in again), again


def test_admin_sees_the_schedules(make_ui, demo_server, viewport):
    demo_server.server.flask(("schedules", "run", "backup", "cleanup"))  # as cron would (the second viewport: already done)
    ui = make_ui(demo_server.url)
    page = ui.page
    ui.login("admin", demo_server.accounts["admin"])
    page.goto("/admin/settings")
    section = page.locator("#schedules")
    expect(section.get_by_role("heading", level=2)).to_have_text("定时任务")
    expect(section.locator("tr", has_text="每晚备份")).to_contain_text("成功：备份到 auto-")
    expect(section.locator("tr", has_text="清理放弃的上传")).to_contain_text("成功")
    expect(section).to_contain_text("自动运行已关闭")  # the browser tests' servers run with schedules off
    # the others have not run yet: said so, not shown as late
    expect(section.locator("tr", has_text="清理过期登录")).to_contain_text("尚未运行（由 cron 运行 flask schedules run 时运行）")
    expect(section).not_to_contain_text("超过两天没有成功运行")
    section.scroll_into_view_if_needed()
    ui.check("settings-schedules")
