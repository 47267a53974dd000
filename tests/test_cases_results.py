"""Who hears of a case's answer: at 反馈 and 办结 the reporter (the worker, or the village for a
walk-in), the grid where it arose and, for 需协调, the township; a resident who left a phone gets
the receipt code and the result by text (the log only without a gateway; never before a commit)."""
import http.server
import logging
import threading
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from app.cases.models import Case
from app.extensions import db
from tests.factories import act, case_id_from, category_id, unread

PHONE = "13812345678"


def _walk_in(app, make_client, tree, klass="coordination"):
    """The village office records a walk-in resident's problem at 东庄一组."""
    office = make_client()
    office.login("village_admin")
    office.get("/cases/new")
    resp = office.post("/cases/new", {
        "title": "排水沟堵塞", "grid_id": tree["cluster_a"], "category_id": category_id("环境"),
        "handling_class": klass, "source": "office", "reporter_name": "王大妈", "reporter_phone": PHONE})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return office, case_id_from(resp)


def _assigned_to_worker(app, make_client, users, case_id):
    """The village leader accepts the case and assigns the group's worker; returns the worker's client."""
    leader = make_client()
    leader.login("leader")
    act(app, leader, case_id, "accept")
    act(app, leader, case_id, "assign", assignee_id=users["worker"])
    worker = make_client()
    worker.login("worker")
    return worker


def test_reply_and_close_tell_the_reporter_the_grid_and_the_township(app, make_client, tree, users, caplog):
    caplog.set_level(logging.INFO, logger="villagegrid.sms")
    office, case_id = _walk_in(app, make_client, tree)
    assert any("138****5678" in r.getMessage() and "回执码" in r.getMessage() for r in caplog.records)
    assert PHONE not in caplog.text
    leader = make_client()
    leader.login("leader")
    act(app, leader, case_id, "accept")
    act(app, leader, case_id, "assign", assignee_id=users["worker"], note="请清理")
    worker = make_client()
    worker.login("worker")
    assert act(app, worker, case_id, "reply", note="已清理排水沟").status_code == 302
    # The village (walk-in reporter and the desk of the group's grid) and the township (需协调).
    # (the village's desk already heard "worker 反馈" as the desk; the township hears the result)
    for who in ("village_admin", "leader", "township"):
        assert any("反馈" in t for t in unread(app, users[who])), who
    assert any(t.startswith("已反馈：排水沟堵塞") for t in unread(app, users["township"]))
    assert not any("已反馈" in t for t in unread(app, users["worker"]))  # the one who answered
    assert act(app, leader, case_id, "close").status_code == 302
    assert any(t.startswith("已办结：排水沟堵塞") for t in unread(app, users["township"]))
    assert any(t.startswith("已办结：排水沟堵塞") for t in unread(app, users["village_admin"]))
    texts = [r.getMessage() for r in caplog.records]
    assert any("已反馈：已清理排水沟" in t for t in texts) and any("已办结" in t for t in texts)


def test_an_ordinary_case_does_not_tell_the_township(app, make_client, tree, users):
    _, case_id = _walk_in(app, make_client, tree, klass="general")
    worker = _assigned_to_worker(app, make_client, users, case_id)
    act(app, worker, case_id, "reply", note="已清理")
    assert not any("已反馈" in t for t in unread(app, users["township"]))
    assert any("反馈" in t for t in unread(app, users["village_admin"]))


@pytest.fixture
def gateway():
    """A local HTTP server standing in for an SMS gateway; yields the list of requests it got."""
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            got.append(parse_qs(urlparse(self.path).query))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/send?to={{phone}}&msg={{text}}", got
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_gateway_gets_the_receipt_and_the_result_only_after_commit(app, make_client, tree, users, gateway):
    url, got = gateway
    app.config["SMS_GATEWAY_URL"] = url
    try:
        _, case_id = _walk_in(app, make_client, tree)
        assert len(got) == 1 and got[0]["to"] == [PHONE] and "回执码" in got[0]["msg"][0]
        with app.app_context():
            receipt = db.session.get(Case, case_id).receipt_code
        assert receipt[:4] in got[0]["msg"][0]
        # A step that is refused (no note on a reply) texts nobody.
        worker = _assigned_to_worker(app, make_client, users, case_id)
        assert act(app, worker, case_id, "reply", note="").status_code == 422
        assert len(got) == 1
        assert act(app, worker, case_id, "reply", note="已清理，身份证 330522199001011234 的户主已确认").status_code == 302
        assert len(got) == 2 and "已清理" in got[1]["msg"][0]
        assert "330522199001011234" not in got[1]["msg"][0]  # an ID number typed into the result is masked
    finally:
        app.config["SMS_GATEWAY_URL"] = ""
    with app.app_context():
        assert db.session.scalar(select(Case.state).where(Case.id == case_id)) == "replied"
