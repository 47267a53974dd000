"""PDFs under load on the real server (``flask serve``: waitress threads): eight requests at once of
every kind of printed document, for several rounds. The server stays up, every PDF is valid
(pdfinfo) with the right text, and its log has no GLib or Pango warning (the signs of memory
corruption that came before crashes when several threads rendered at once)."""
import re
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from http.cookiejar import CookieJar

import pytest

from app.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import Server
from tests.pdfcheck import pdf_pages, pdf_text
from tests.factories import agreement_setup, draft_agreement, issue_agreement, load_agreement
from tests.factories import case_id_from, category_id
from tests.factories import households
from tests.factories import meeting_kind_id, plan_meeting
from tests.factories import add_visit

AT_ONCE = 8
ROUNDS = 3
TROUBLE = re.compile(r"GLib|Pango|GObject|corrupted|double free|malloc\(\)|Segmentation|Traceback")


@pytest.fixture
def printable(app, make_client, tree, users):
    """One document of every kind the app prints: {kind: (url, words it must contain)}."""
    from app.worklogs.models import WorkLog

    agreement_setup(app, tree, users)  # staff of 甲村 and a household with residents
    admin, village, worker = make_client(), make_client(), make_client()
    admin.login("admin")
    village.login("village_admin")
    worker.login("worker")
    today = date.today()
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1, prefix="压力")
        add_visit(users["worker"], hid, today)
        db.session.add(WorkLog(user_id=users["worker"], log_date=today, content="整理台账，走访压力1号。"))
        db.session.commit()
    meeting_id = int(plan_meeting(village, tree["village_a"], meeting_kind_id(app, "village_monthly")).headers["Location"]
                     .rsplit("/", 1)[1])
    draft_agreement(village, tree["cluster_a"], kind="village_worker")
    agreement_id = load_agreement(app).id
    issue_agreement(village, agreement_id)
    worker.get("/cases/new")
    case_id = case_id_from(worker.post("/cases/new", {
        "title": "村口路灯不亮", "grid_id": tree["cluster_a"], "category_id": category_id("环境"),
        "handling_class": "coordination", "source": "worker"}))
    grid = tree["village_a"]
    return {
        "worklog": (f"/worklogs/users/{users['worker']}/month/{today:%Y-%m}.pdf", ["网格员工作日志", "走访压力1号"]),
        "visits": (f"/households/{hid}/visits.pdf", ["走访记录", "压力1号"]),
        "sign_in": (f"/meetings/{meeting_id}/sign-in.pdf", ["行政村网格月例会签到表", "村部二楼会议室"]),
        "minutes": (f"/meetings/{meeting_id}/minutes.pdf", ["行政村网格月例会纪要"]),
        "agreement": (f"/agreements/{agreement_id}.pdf", ["东庄一组网格化管理责任状"]),
        "board": (f"/grids/{grid}/notice-board.pdf", ["甲村", "公示"]),
        "cards": (f"/grids/{grid}/responsibility-cards.pdf", ["责任卡", "王秀英"]),
        "household_cards": (f"/grids/{tree['cluster_a']}/household-cards.pdf?kind=contact", ["联系卡"]),
        "case_form": (f"/cases/{case_id}/print/report", ["村口路灯不亮"]),
    }


def _login(base, username):
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    html = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    opener.open(base + "/login", urllib.parse.urlencode({"csrf_token": token, "username": username,
                                                         "password": PASSWORD}).encode()).read()
    return opener


def _comparable(pdf):
    """The document's text without white space and digits (a print time may differ by a minute)."""
    return re.sub(r"[\s\d]+", "", pdf_text(pdf))


def test_eight_at_once_of_every_kind_for_several_rounds(printable, database_url, tmp_path):
    server = Server(tmp_path, database_url).start()
    try:
        opener = _login(server.url, "admin")

        def fetch(kind):
            with opener.open(server.url + printable[kind][0], timeout=120) as resp:
                return kind, resp.status, resp.headers["Content-Type"], resp.read()

        reference = {}
        for kind, (_, words) in printable.items():  # one at a time first: what each document says
            _, status, ctype, body = fetch(kind)
            assert status == 200 and ctype == "application/pdf", kind
            text = pdf_text(body)
            compact = re.sub(r"\s+", "", text)
            assert all(w in compact for w in words), (kind, words, text[:500])
            reference[kind] = _comparable(body)
        for _ in range(ROUNDS):
            jobs = [kind for kind in printable for _ in range(AT_ONCE)]
            with ThreadPoolExecutor(AT_ONCE) as pool:
                results = list(pool.map(fetch, jobs))
            for kind, status, ctype, body in results:
                assert status == 200 and ctype == "application/pdf" and body.startswith(b"%PDF-"), kind
                assert pdf_pages(body) >= 1, kind
                assert _comparable(body) == reference[kind], kind
        assert server.proc.poll() is None, "the server died"
        with urllib.request.urlopen(server.url + "/healthz", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.stop()
    trouble = [line for line in server.log_path.read_text(errors="replace").splitlines() if TROUBLE.search(line)]
    assert trouble == [], "\n".join(trouble[:20])
