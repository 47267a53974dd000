"""Every registered route × every role × the foreign grid.

The routes are read from the app's URL map, so a route added later is covered
without editing this file. A route whose URL takes an id must say here which
record of the *foreign* branch to put in it (FOREIGN_IDS); an unknown parameter
fails the test, so nobody can add an id route that escapes this check.
"""
import pytest
from sqlalchemy import select

from app.extensions import db
from tests.conftest import ROLE_HOME

# Endpoints reachable without logging in.
PUBLIC = {"static", "accounts.login", "main.setup", "main.healthz", "agreements.verify", "public_cases.intake",
          "public_cases.progress"}
# Reference data that belongs to no grid (guarded by permissions, not by scope): sampled, not foreign.
REFERENCE_ARGS = {"category_id", "department_id", "day_id"}


def _foreign_ids(app, tree, users):
    """Ids of records in branch B (乙镇), which no branch-A user may reach."""
    from app.grids import service as gs
    from app.grids.models import Grid, GridStaff

    with app.app_context():
        grid_b = db.session.get(Grid, tree["cluster_b"])
        staff = db.session.scalar(select(GridStaff).where(GridStaff.grid_id == grid_b.id))
        if staff is None:
            staff = gs.assign_staff(grid_b, "team_member", None, "乙组村医", "13900000000")
            db.session.commit()
        hh = ledger_fixture(grid_b)
        visit = visit_fixture(hh, users["worker_b"])
        case = case_fixture(grid_b, users["worker_b"])
        return {"grid_id": tree["cluster_b"], "user_id": users["worker_b"], "staff_id": staff.id,
                "household_id": hh.id, "resident_id": hh.head_id, "tag_id": hh.tags[0].id,
                "unit_id": unit_fixture(grid_b).id, "token": pending_import_fixture(app, users["worker_b"]),
                "visit_id": visit.id, "visit_photo_id": visit.photos[0].id, "rule_id": rule_fixture(grid_b).id,
                "problem_id": visit.problems[0].id,
                **meeting_fixture(grid_b), **agreement_fixture(grid_b),
                "case_id": case.id, "photo_id": case.photos[0].id,
                "notification_id": notification_fixture(case, users["worker_b"]), **reference_ids(grid_b),
                **patrol_fixture(grid_b, users["worker_b"])}


def visit_fixture(household, user_id):
    """A visit with a photo to ``household`` by ``user_id`` (committed)."""
    import io
    from datetime import datetime, timedelta

    from app.core.timeutil import LOCAL_TZ

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from app.accounts.models import User
    from app.visits import service as vs
    from app.visits.models import Visit

    existing = db.session.scalar(select(Visit).where(Visit.household_id == household.id))
    if existing is not None:
        return existing
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(buf, "PNG")
    buf.seek(0)
    visit, _ = vs.record_visit(db.session.get(User, user_id), household, method="door",
                               visited_at_local=datetime.now(LOCAL_TZ).replace(tzinfo=None, microsecond=0) - timedelta(hours=1),
                               learned="测试走访", problems=["路灯坏了"],
                               photos=[FileStorage(buf, filename="a.png", content_type="image/png")], key=f"fixture-{household.id}")
    db.session.commit()
    return visit


def rule_fixture(grid):
    """A visit rule of the grid's village (committed)."""
    from app.visits import service as vs
    from app.visits.models import VisitRule

    village = grid.parent.parent if grid.parent and grid.parent.parent else grid
    existing = db.session.scalar(select(VisitRule).where(VisitRule.grid_id == village.id))
    if existing is not None:
        return existing
    vs.customize_rules(village)
    db.session.commit()
    return db.session.scalar(select(VisitRule).where(VisitRule.grid_id == village.id))


def patrol_fixture(grid, user_id):
    """A patrol with a photo and a hazard in ``grid`` (committed): their ids."""
    from app.accounts.models import User
    from app.patrols import service as ps
    from app.patrols.models import Patrol
    from tests.test_cases import photo_upload

    patrol = db.session.scalar(select(Patrol).where(Patrol.grid_id == grid.id))
    if patrol is None:
        patrol = ps.record_patrol(db.session.get(User, user_id), grid, None,
                                  ps.PatrolData(checked="消防通道", hazard="通道堵塞"), [photo_upload("p.png")])
        db.session.commit()
    return {"patrol_id": patrol.id, "hazard_id": patrol.hazards[0].id}


def case_fixture(grid, user_id):
    """A case with a photo raised in ``grid`` by ``user_id`` (committed)."""
    from app.cases import service as cs
    from app.cases.models import Case
    from tests.test_cases import photo_upload

    existing = db.session.scalar(select(Case).where(Case.grid_id == grid.id))
    if existing is not None:
        return existing
    from app.accounts.models import User

    cat = cs.active_categories()[0]
    case = cs.create_case(db.session.get(User, user_id), grid, cs.CaseData(title=f"{grid.name}路灯不亮", category_id=cat.id),
                          [photo_upload("a.png")])
    db.session.commit()
    return case


def notification_fixture(case, user_id):
    """A message to ``user_id`` about ``case``: its id."""
    from app.cases.models import Notification

    note = Notification(user_id=user_id, case_id=case.id, kind="assign", text="测试消息")
    db.session.add(note)
    db.session.commit()
    return note.id


def reference_ids(grid):
    """A category, a department, a calendar entry, and the public code of ``grid``."""
    from datetime import date

    from app.cases.models import CaseCategory, Department
    from app.core.public import grid_public_code
    from app.core.workdays import CalendarDay

    day = db.session.scalar(select(CalendarDay)) or CalendarDay(day=date(2027, 10, 1), is_workday=False, name="国庆节")
    db.session.add(day)
    db.session.commit()
    return {"category_id": db.session.scalar(select(CaseCategory.id)), "department_id": db.session.scalar(select(Department.id)),
            "day_id": day.id, "code": grid_public_code(grid.id)}


def pending_import_fixture(app, user_id):
    """A roster uploaded by ``user_id`` and waiting for its preview/confirmation: its token."""
    import io
    import json
    import secrets
    from pathlib import Path

    from app.households.roster_template import template_workbook

    token = secrets.token_urlsafe(32)
    folder = Path(app.instance_path) / "imports"
    folder.mkdir(exist_ok=True)
    buf = io.BytesIO()
    template_workbook().save(buf)
    (folder / f"{token}.xlsx").write_bytes(buf.getvalue())
    (folder / f"{token}.json").write_text(json.dumps({"user_id": user_id, "filename": "乙村名册.xlsx"}), encoding="utf-8")
    return token


def ledger_fixture(grid):
    """A household with a head and a category tag in ``grid`` (committed)."""
    from datetime import date

    from app.households import service as hs
    from app.households.models import Household, HouseholdCategory

    existing = db.session.scalar(select(Household).where(Household.grid_id == grid.id))
    if existing is not None:
        return existing
    class _Admin:
        is_admin = True
        is_authenticated = True

    hh = hs.create_household(_Admin(), grid, f"{grid.name}1号", hs.ResidentData(name="乙户主", id_number=next_id()))
    hs.tag(hh, db.session.scalar(select(HouseholdCategory)), date(2026, 1, 1), "测试")
    db.session.commit()
    return hh


def unit_fixture(grid):
    """A key-supervision unit in ``grid`` (committed)."""
    from stdnum.cn import uscc

    from app.households.models import Unit

    existing = db.session.scalar(select(Unit).where(Unit.grid_id == grid.id))
    if existing is not None:
        return existing
    body = f"91330522MA2B{grid.id % 100000:05d}"
    unit = Unit(grid=grid, name=f"{grid.name}竹木加工厂", kind="生产经营单位", credit_code=body + uscc.calc_check_digit(body),
                risk_grade="较大风险", key_supervision=True)
    db.session.add(unit)
    db.session.commit()
    return unit


def meeting_fixture(grid):
    """A held meeting of ``grid`` with a decision (committed): {"meeting_id", "decision_id"}."""
    from datetime import date

    from app.meetings import service as ms
    from app.meetings.models import MeetingKind

    class _Admin:
        is_admin = True
        is_authenticated = True
        id = None

    kind = db.session.scalar(select(MeetingKind).where(MeetingKind.key == "team_monthly"))
    meeting = ms.plan_meeting(_Admin(), grid, ms.PlanData(kind_id=kind.id, held_on=date(2026, 11, 2), place="村部"))
    decision = ms.add_decision(meeting, "修缮村道路灯")
    db.session.commit()
    return {"meeting_id": meeting.id, "decision_id": decision.id}


def agreement_fixture(grid):
    """An issued agreement about ``grid`` with an attached scan (committed): {"agreement_id", "scan_id"}."""
    import io
    from datetime import date

    from PIL import Image

    from app.agreements import service as ags
    from app.core.timeutil import utcnow

    class _Admin:
        is_admin = True
        is_authenticated = True
        role = "admin"
        id = None

    a = ags.create_draft(_Admin(), grid, "village_worker", date(2026, 1, 1), date(2099, 12, 31))
    ags.issue(a, utcnow())
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buf, "PNG")
    scan = ags.attach_scan(_Admin(), a, "签字件.png", buf.getvalue(), utcnow(), date(2026, 6, 1))
    db.session.commit()
    return {"agreement_id": a.id, "scan_id": scan.id}


_serial = [0]


def next_id(year=1970):
    """A valid, unique 18-digit ID number for tests."""
    from stdnum.cn import ric

    _serial[0] += 1
    body = f"330522{year}0101{_serial[0] % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _sample(arg, rule, ids):
    converter = rule._converters.get(arg)
    if arg in ids:
        return ids[arg]
    if converter is not None and type(converter).__name__ == "AnyConverter":
        return sorted(converter.items)[0] if hasattr(converter, "items") else converter.regex.strip("()").split("|")[0]
    if arg == "code":  # a public verification code that does not exist
        return "no-such-code"
    if arg == "filename":
        return "css/app.css"
    if arg == "day":
        return "2026-11-02"
    if arg == "month":
        return "2026-11"
    if arg == "token":  # an upload that does not exist (string tokens: see pending_import_fixture)
        return "x" * 43
    raise AssertionError(f"route {rule.rule}: no sample value for <{arg}> — add it to FOREIGN_IDS in this test")


def _routes(app, ids):
    out = []
    for rule in app.url_map.iter_rules():
        values = {arg: _sample(arg, rule, ids) for arg in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule, method, url))
    return out


def test_anonymous_users_are_sent_to_login(app, client, tree, users):
    ids = _foreign_ids(app, tree, users)
    checked = 0
    for rule, method, url in _routes(app, ids):
        if rule.endpoint in PUBLIC:
            continue
        resp = client.raw.open(url, method=method, data={"csrf_token": client.token or ""})
        assert resp.status_code in (302, 400), f"{method} {url} answered {resp.status_code} to an anonymous user"
        if method == "GET":
            assert "/login" in resp.headers["Location"], f"{method} {url} did not send to the login page"
        # htmx requests get a 401 with HX-Redirect to the login page
        hx = client.raw.open(url, method="GET", headers={"HX-Request": "true"}) if method == "GET" else None
        if hx is not None:
            assert hx.status_code == 401 and "/login" in hx.headers["HX-Redirect"], url
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("role", sorted(r for r in ROLE_HOME if r != "admin"))
def test_no_role_reaches_the_foreign_grid(app, make_client, tree, users, role):
    """Each non-admin role, bound to branch A, gets 403/404 for every branch-B record, GET and POST, htmx or not."""
    ids = _foreign_ids(app, tree, users)
    c = make_client()
    assert c.login(role).status_code == 302
    c.get("/")
    checked = 0
    for rule, method, url in _routes(app, ids):
        if rule.endpoint in PUBLIC or not rule.arguments or "filename" in rule.arguments:
            continue
        if not (set(rule.arguments) - REFERENCE_ARGS) & set(ids):
            continue
        for headers in ({}, {"HX-Request": "true"}):
            data = {"csrf_token": c.token} if method == "POST" else None
            resp = c.raw.open(url, method=method, data=data, headers=headers)
            assert resp.status_code in (403, 404), f"{role}: {method} {url} {headers} answered {resp.status_code}"
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("role", sorted(ROLE_HOME))
def test_every_page_renders_for_every_role(app, make_client, tree, users, role):
    """GET of every route with the role's own records: a page (200), a redirect or a refusal, never a crash."""
    from app.grids.models import Grid, GridStaff

    with app.app_context():
        home = tree[ROLE_HOME[role]]
        staff = GridStaff(grid_id=home, role="team_member", name="本组志愿者")
        db.session.add(staff)
        db.session.commit()
        hh = ledger_fixture(db.session.get(Grid, tree["cluster_a"]))
        visit = visit_fixture(hh, users["worker"])
        own = {"grid_id": home, "user_id": users["worker"], "staff_id": staff.id,
               "household_id": hh.id, "resident_id": hh.head_id, "tag_id": hh.tags[0].id,
               "unit_id": unit_fixture(db.session.get(Grid, tree["cluster_a"])).id,
               "visit_id": visit.id, "visit_photo_id": visit.photos[0].id, "problem_id": visit.problems[0].id,
               "rule_id": rule_fixture(db.session.get(Grid, tree["cluster_a"])).id,
               **meeting_fixture(db.session.get(Grid, tree["cluster_a"])),
               **agreement_fixture(db.session.get(Grid, tree["cluster_a"]))}
        case = case_fixture(db.session.get(Grid, tree["cluster_a"]), users["worker"])
        own.update(case_id=case.id, photo_id=case.photos[0].id, **reference_ids(db.session.get(Grid, home)),
                   notification_id=notification_fixture(case, users[role]),
                   **patrol_fixture(db.session.get(Grid, tree["cluster_a"]), users["worker"]))
    c = make_client()
    c.login(role)
    seen = 0
    for rule, method, url in _routes(app, own):
        if method != "GET" or rule.endpoint == "static":
            continue
        resp = c.get(url)
        assert resp.status_code in (200, 302, 403, 404), f"{role}: GET {url} answered {resp.status_code}"
        if rule.endpoint == "main.setup":
            assert resp.status_code == 404
        seen += 1
    assert seen >= 10


def test_post_without_csrf_token_is_refused(client, users):
    client.login("admin")
    resp = client.post("/logout", csrf=False)
    assert resp.status_code == 400
    assert "页面已过期" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still logged in


def test_auditor_cannot_change_anything(make_client, tree, users):
    c = make_client()
    c.login("auditor")
    c.get("/")
    assert c.get(f"/grids/{tree['village_a']}").status_code == 200
    assert c.post(f"/grids/{tree['village_a']}/new", {"name": "x", "level_id": 1, "kind_id": 1}).status_code == 403
    assert c.post(f"/grids/{tree['village_a']}/staff/new", {"role": "worker", "user_id": 0, "name": "x"}).status_code == 403
    assert c.get("/admin/audit").status_code == 200
