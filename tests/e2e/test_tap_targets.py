"""On a phone every link and button a field worker or leader uses is at least 44 px tall (the size a
thumb hits), and 我的联系户 is a compact list (one short line per household)."""
import pytest
from playwright.sync_api import expect

TAP = 44
SMALL = """() => [...document.querySelectorAll('main a[href], main button, main summary')]
  .filter(e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
                 return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'
                        && !e.closest('p, td.prewrap, .pre, svg') && r.height < %d; })
  .map(e => `${e.tagName.toLowerCase()} "${e.innerText.trim().slice(0, 20)}" ${Math.round(e.getBoundingClientRect().height)}px`)""" % (TAP - 0.5)


def _small(page):
    return page.evaluate(SMALL)


@pytest.mark.parametrize("viewport", ["phone"], indirect=True)
def test_links_are_a_thumb_high_and_my_households_compact(make_ui, demo_server, viewport):
    worker = make_ui(demo_server.url)
    page = worker.page
    worker.login("worker3", demo_server.accounts["worker3"])
    problems = {}
    for path in ("/", "/visits/due", "/contacts/mine", "/visits/", "/visits/rules", "/households/", "/grids/"):
        page.goto(path)
        worker.check(path.strip("/").replace("/", "-") or "home")
        problems[path] = _small(page)
    page.goto("/contacts/mine")
    rows = page.locator("#my-households li")
    expect(rows.first).to_be_visible()
    n = rows.count()
    heights = [rows.nth(i).bounding_box()["height"] for i in range(min(n, 10))]
    assert max(heights) <= 80, f"我的联系户: a household takes {max(heights)} px"
    rows.first.locator("a.hh").click()
    worker.check("household")
    problems["household"] = _small(page)
    page.locator("a", has_text="记走访").first.click()
    worker.check("visit-form")
    problems["visit-form"] = _small(page)

    leader = make_ui(demo_server.url)
    page = leader.page
    leader.login("leader3", demo_server.accounts["leader3"])
    for path in ("/worklogs/team", "/visits/coverage", "/meetings/"):
        page.goto(path)
        leader.check(path.strip("/").replace("/", "-"))
        problems[path] = _small(page)
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, f"links under {TAP} px on a phone: {bad}"
