"""Hostile and careless input: normalised in one place (app/core/inputs.py), never a 500,
nothing half-saved."""
import pytest
from sqlalchemy import select

from app.extensions import db

HUGE = str(2**63)


def test_ids_and_pages_out_of_range_are_not_found_or_the_first_page(client, users, tree):
    client.login("admin")
    for url in (f"/grids/{HUGE}", f"/grids/{2**31}", "/grids/-1", f"/cases/{HUGE}", f"/households/{HUGE}"):
        assert client.get(url).status_code == 404, url
    for url in (f"/households/?page={HUGE}", "/households/?page=-1", f"/admin/audit?page={HUGE}",
                f"/users?page={HUGE}", f"/cases/?grid_id={HUGE}", f"/patrols/hazards?grid_id={HUGE}"):
        assert client.get(url).status_code in (200, 404), url


def test_text_loses_nul_and_control_characters_and_keeps_line_breaks(app, client, users, tree):
    from app.core.inputs import clean_text

    assert clean_text("a\x00b\x07c\r\nd\re\tf\x7f\x85") == "ab c\nd\ne\tf".replace(" ", "")
    client.login("admin")
    client.get(f"/grids/{tree['cluster_a']}/staff/new")
    resp = client.post(f"/grids/{tree['cluster_a']}/staff/new",
                       {"role": "team_member", "user_id": "0", "name": "张\x00三\x1b", "phone": "13900001111"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    from app.grids.models import GridStaff

    with app.app_context():
        assert db.session.scalar(select(GridStaff.name).where(GridStaff.grid_id == tree["cluster_a"])) == "张三"


def test_invalid_utf8_and_overlong_values_are_refused_in_chinese(client, users, tree):
    client.login("admin")
    client.get("/users/new")
    resp = client.raw.post("/users/new", data=b"username=\xff\xfe&csrf_token=" + client.token.encode(),
                           content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400 and "UTF-8" in resp.get_data(as_text=True)
    resp = client.post("/users/new", {"username": "x" * 60_000})
    assert resp.status_code == 400 and "太长" in resp.get_data(as_text=True)
    resp = client.get("/users?q=" + "张" * 20_000)
    assert resp.status_code == 400 and "太长" in resp.get_data(as_text=True)
    resp = client.get("/admin/audit?actor=" + "张" * 900)
    assert resp.status_code == 200


def test_login_with_nul_and_a_line_break_in_next_is_safe(client, users):
    client.get("/login")
    resp = client.post("/login", {"username": "ad\x00min", "password": "x\x00"})
    assert resp.status_code == 401
    resp = client.post("/login?next=/cases/%0d%0aSet-Cookie:%20x=1", {"username": "admin",
                                                                       "password": "Grid-test-pass-2026"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/", resp.get_data(as_text=True)
    client.logout()
    client.get("/login")
    resp = client.post("/login?next=/%5Cevil.example", {"username": "admin", "password": "Grid-test-pass-2026"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/", resp.get_data(as_text=True)


def test_a_nul_in_a_path_segment_matches_no_route(app, client, users):
    from werkzeug.exceptions import NotFound

    adapter = app.url_map.bind("localhost")
    for path in ("/q/abc\x00def", "/v/abc\x00"):
        with pytest.raises(NotFound):
            adapter.match(path)
    assert adapter.match("/q/abc")[0] == "public_cases.intake"
    assert client.get("/q/abc%00def").status_code in (302, 404)  # anonymous: to the login page
    client.login("admin")
    assert client.get("/q/abc%00def").status_code == 404


def test_date_windows_are_stated_in_the_message(app, client, tree, users):
    from datetime import date

    from app.core.validators import DEADLINE, PAST, PLANNED, InvalidValue
    from app.meetings.models import Meeting

    today = date(2026, 11, 29)
    assert PLANNED.check(date(2028, 11, 29), today=today)
    with pytest.raises(InvalidValue, match="会议日期应在 2000-01-01 至 2028-11-30 之间，这里是 9999-12-31"):
        PLANNED.check(date(9999, 12, 31), "会议日期", today)
    with pytest.raises(InvalidValue, match="至今天之间"):
        PAST.check(date(2026, 11, 30), "工作日志的日期", today)
    with pytest.raises(InvalidValue, match="至 2027-11-30 之间"):
        DEADLINE.check(date(2027, 12, 1), "办理期限", today)

    from tests.test_meetings import _kind_id, _plan

    client.login("village_admin")
    for held_on in ("0001-01-01", "9999-12-31"):
        html = _plan(client, tree["village_a"], _kind_id(app, "village_monthly"), held_on=held_on).get_data(as_text=True)
        assert "会议日期应在 2000-01-01 至" in html and held_on in html
    with app.app_context():
        assert db.session.scalars(select(Meeting)).first() is None


def test_dates_in_urls_and_query_strings_answer_in_chinese(client, tree, users):
    client.login("worker")
    for day in ("0001-01-01", "9999-12-31", "1999-12-31"):
        resp = client.get(f"/worklogs/day/{day}")
        assert resp.status_code == 404 and "工作日志的日期应在 2000-01-01 至今天之间" in resp.get_data(as_text=True)
        resp = client.post(f"/worklogs/day/{day}", {"content": "补记"})
        assert resp.status_code == 404
    resp = client.get(f"/worklogs/users/{users['worker']}/month/0001-01")
    assert resp.status_code == 404 and "2000-01-01" in resp.get_data(as_text=True)
    client.logout()
    client.login("leader")
    for week in ("0001-01-01", "9999-12-31"):
        resp = client.get(f"/worklogs/team?grid_id={tree['village_a']}&week={week}")
        assert resp.status_code == 200 and "所查的周应在 2000-01-01 至今天之间" in resp.get_data(as_text=True)
    resp = client.post(f"/worklogs/users/{users['worker']}/check", {"week": "0001-01-01", "comment": "好"})
    assert resp.status_code == 404
    client.logout()
    client.login("admin")
    for value in ("0001-01-01", "9999-12-31"):
        resp = client.get(f"/admin/audit?start={value}&end={value}")
        assert resp.status_code == 200 and "开始日期应在 2000-01-01" in resp.get_data(as_text=True)
