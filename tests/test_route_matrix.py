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
from tests.factories import ledger_fixture, unit_fixture, visit_fixture

# Endpoints reachable without logging in.
PUBLIC = {"static", "accounts.login", "main.setup", "main.healthz", "agreements.verify", "public_cases.intake",
          "public_cases.progress", "public_cases.receipt", "public_cases.slip"}
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
                "contact_id": contact_fixture(hh).id,
                "visit_id": visit.id, "visit_photo_id": visit.photos[0].id, "rule_id": rule_fixture(grid_b).id,
                "problem_id": visit.problems[0].id,
                **meeting_fixture(grid_b), **agreement_fixture(grid_b),
                "case_id": case.id, "photo_id": case.photos[0].id,
                "notification_id": notification_fixture(case, users["worker_b"]), **reference_ids(grid_b),
                **patrol_fixture(grid_b, users["worker_b"]), "entry_id": evidence_fixture(app, grid_b, users["worker_b"])}


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
    from tests.factories import photo_upload

    patrol = db.session.scalar(select(Patrol).where(Patrol.grid_id == grid.id))
    if patrol is None:
        patrol = ps.record_patrol(db.session.get(User, user_id), grid, None,
                                  ps.PatrolData(checked="消防通道", hazard="通道堵塞"), [photo_upload("p.png")])
        db.session.commit()
    return {"patrol_id": patrol.id, "hazard_id": patrol.hazards[0].id}


def evidence_fixture(app, grid, user_id):
    """A manual score with a photo as its evidence for a worker of ``grid`` (committed): its id."""
    from datetime import date

    from app.assessment import service as asv
    from app.assessment.models import ManualScore
    from app.core.files import write_private

    existing = db.session.scalar(select(ManualScore).where(ManualScore.grid_id == grid.id))
    if existing is not None:
        return existing.id
    item = next(it for it in asv.scheme_for(grid, "worker").items if it.kind == "manual")
    path = asv.evidence_path(f"fixture{grid.id}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # the instance folder outlives each test's database
        write_private(path, b"\x89PNG\r\n\x1a\n")
    entry = ManualScore(item_id=item.id, subject_kind="worker", subject_id=user_id, grid_id=grid.id,
                        period_start=date(2026, 10, 1), points=90, reason="检查台账",
                        evidence_file=path.name, entered_by_id=user_id)
    db.session.add(entry)
    db.session.commit()
    return entry.id


def case_fixture(grid, user_id):
    """A case with a photo raised in ``grid`` by ``user_id`` (committed)."""
    from app.cases import service as cs
    from app.cases.models import Case
    from tests.factories import photo_upload

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
    from app.notifications.models import Notification

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


def contact_fixture(household):
    """A registered person (the household's head) as the household's 村民代表 contact (committed)."""
    from datetime import date

    from app.households.models import ContactLink

    existing = db.session.scalar(select(ContactLink).where(ContactLink.household_id == household.id,
                                                           ContactLink.resident_id == household.head_id))
    if existing is None:
        existing = ContactLink(household_id=household.id, resident_id=household.head_id, role="representative",
                               since=date(2026, 1, 1))
        db.session.add(existing)
        db.session.commit()
    return existing


def meeting_fixture(grid):
    """A held meeting of ``grid`` with a decision (committed): {"meeting_id", "decision_id"}."""
    from datetime import date

    from app.meetings import service as ms
    from app.meetings.models import FollowUp, MeetingKind

    class _Admin:
        is_admin = True
        is_authenticated = True
        id = None

    kind = db.session.scalar(select(MeetingKind).where(MeetingKind.key == "team_monthly"))
    meeting = ms.plan_meeting(_Admin(), grid, ms.PlanData(kind_id=kind.id, held_on=date(2026, 11, 2), place="村部"))
    decision = ms.add_decision(meeting, "修缮村道路灯")
    # a follow-up owned by someone without an account: only those who run meetings may close it
    db.session.add(FollowUp(decision=decision, grid_id=grid.id, owner_name="村医", deadline=date(2026, 12, 1)))
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
    client.get("/login")  # a valid CSRF token, so that POSTs meet the login check and not the CSRF one
    checked = 0
    for rule, method, url in _routes(app, ids):
        if rule.endpoint in PUBLIC:
            continue
        resp = client.raw.open(url, method=method, data={"csrf_token": client.token})
        assert resp.status_code == 302, f"{method} {url} answered {resp.status_code} to an anonymous user"
        assert resp.headers["Location"].startswith("/login"), f"{method} {url} did not send to the login page"
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


# Permissions: every route × every role, the status accounts/permissions.py implies

LOGIN = "login"  # any logged-in user; what the view shows is then a matter of scope
# What each endpoint asks of the user, per method when GET and POST differ: written out here rather
# than read from the views, so that a view that loses its check fails the matrix. A new endpoint
# must be added here (the matrix refuses one it does not know).
NEEDS = {
    "accounts.change_password": LOGIN, "accounts.logout": LOGIN, "keepalive": LOGIN,
    "users.users": "manage_users", "users.user_new": "manage_users", "users.user_edit": "manage_users",
    "users.user_toggle": "manage_users", "users.user_reset_password": "manage_users",
    "users.user_unlock": "manage_users",
    "admin.audit_log": "view_audit", "admin.reference": "manage_reference", "admin.settings": "manage_installation",
    "admin.rename": "manage_installation",
    "assessment.index": LOGIN, "assessment.mine": LOGIN, "assessment.schemes": LOGIN,
    "assessment.worker": "view_assessment", "assessment.grid_score": "view_assessment",
    "assessment.ranking": "view_assessment", "assessment.export_xlsx": "view_assessment",
    "assessment.report_pdf": "view_assessment",
    "assessment.edit_scheme": "manage_schemes",
    "assessment.freeze": "assess", "assessment.adjust": "assess", "assessment.manual": "assess",
    "stats.index": "view_stats", "stats.page": "view_stats", "stats.export_xlsx": "view_stats",
    "stats.export_pdf": "view_stats", "stats.dashboard": "view_stats", "stats.dashboard_pdf": "view_stats",
    "stats.dashboard_xlsx": "view_stats",
    # who may fill in, submit, return or rate a self-evaluation is the workflow table's business
    # (app/assessment/selfeval.py, tests/test_self_evaluation.py), not a permission
    "self_eval.index": LOGIN, "self_eval.show": LOGIN, "self_eval.start": LOGIN, "self_eval.act": LOGIN,
    "self_eval.pdf_doc": LOGIN, "self_eval.xlsx": LOGIN,
    "assessment.evidence": LOGIN,  # scope: the subject's grid
    "party.ranking": "view_assessment", "party.member": "view_assessment", "party.export_xlsx": "view_assessment",
    "party.team_member": "view_assessment", "party.report_pdf": "view_assessment", "party.enter": "score_party_members",
    "agreements.index": LOGIN, "agreements.show": LOGIN, "agreements.pdf": LOGIN, "agreements.scan": LOGIN,
    "agreements.new": "manage_agreements", "agreements.edit": "manage_agreements", "agreements.issue": "manage_agreements",
    "agreements.new_version": "manage_agreements", "agreements.sign": "manage_agreements",
    "agreements.upload_scan": "manage_agreements", "agreements.wording": "manage_agreements",
    "agreements.reset_wording": "manage_agreements",
    "case_settings.settings": "manage_case_settings", "case_settings.new_category": "manage_case_settings",
    "case_settings.edit_category": "manage_case_settings", "case_settings.new_department": "manage_case_settings",
    "case_settings.edit_department": "manage_case_settings",
    "users.department_users": "manage_department_users",
    "case_settings.workdays": "manage_calendar", "case_settings.delete_day": "manage_calendar",
    # who may take a case step is the workflow table's business (test_cases.py), not a permission
    "cases.index": LOGIN, "cases.show": LOGIN, "cases.act": LOGIN, "cases.overview": LOGIN, "cases.photo": LOGIN,
    "cases.print_form": LOGIN,
    "cases.new": "report_case",
    "notifications.index": LOGIN, "notifications.open_notification": LOGIN, "notifications.read_all": LOGIN,
    "contacts.mine": LOGIN, "contacts.assign": "assign_contacts", "contacts.bulk_assign": "assign_contacts",
    "contacts.grid": "assign_contacts", "contacts.add_other": "assign_contacts", "contacts.remove": "assign_contacts",
    "contacts.people": LOGIN,
    "grid_maps.show": LOGIN, "grid_maps.image": LOGIN, "grid_maps.upload": "manage_grids",
    "grid_maps.mark": "manage_grids", "grid_maps.unmark": "manage_grids",
    "grids.tree": LOGIN, "grids.pick": LOGIN, "grids.children": LOGIN, "grids.show": LOGIN,
    "grids.new_child": "manage_grids", "grids.delete": "manage_grids", "grids.edit": "manage_grids", "grids.move": "manage_grids",
    "grids.staff_new": "assign_staff", "grids.staff_remove": "assign_staff",
    "households.index": LOGIN, "households.show": LOGIN, "households.categories": "manage_categories",
    "households.category_key": "manage_categories",
    "households.new": "edit_ledger", "households.edit": "edit_ledger", "households.head": "edit_ledger",
    "households.archive": "edit_ledger", "households.split": "edit_ledger", "households.member_new": "edit_ledger",
    "households.member_edit": "edit_ledger", "households.member_status": "edit_ledger",
    "households.tag_add": "edit_ledger", "households.tag_end": "edit_ledger", "households.reveal": "reveal_id",
    "ledger_excel.template": LOGIN, "ledger_excel.export": "export_ledger",

    **{f"{bp}.import_{step}": "import_ledger" for bp in ("roster_import", "unit_import")
       for step in ("upload", "preview", "columns", "errors", "confirm", "cancel")},
    "roster_import.import_groups": "import_ledger",
    "main.home": LOGIN, "main.me": LOGIN, "main.manage": LOGIN,
    "meetings.add_attendee": "run_meetings",
    "meetings.index": LOGIN, "meetings.show": LOGIN, "meetings.sign_in_pdf": LOGIN, "meetings.minutes_pdf": LOGIN,
    "meetings.new": "run_meetings", "meetings.edit": "run_meetings", "meetings.minutes": "run_meetings",
    "meetings.add_decision": "run_meetings", "meetings.follow_up": "run_meetings",
    "meetings.decision_case": "run_meetings",
    "meetings.follow_up_done": "run_meetings",  # or the follow-up's owner (the fixture's has no account)
    "meetings.kinds": {"GET": LOGIN, "POST": "manage_meeting_kinds"},
    "notices.settings": {"GET": LOGIN, "POST": "edit_notices"},
    "notices.board_pdf": LOGIN, "notices.responsibility_cards_pdf": LOGIN, "notices.household_cards_pdf": LOGIN,
    "patrols.index": LOGIN, "patrols.due": LOGIN, "patrols.show": LOGIN, "patrols.photo": LOGIN,
    "patrols.hazards": LOGIN, "patrols.hazard": LOGIN, "patrols.hazard_act": LOGIN,  # steps: HAZARD_ACTIONS
    "patrols.new": "patrol", "patrols.rules": "manage_case_settings",
    "units.index": LOGIN, "units.show": LOGIN, "units.key_units": LOGIN,
    "units.new": "edit_ledger", "units.edit": "edit_ledger", "units.status": "edit_ledger",
    "visits.index": LOGIN, "visits.due": LOGIN, "visits.show": LOGIN, "visits.photo": LOGIN,
    "visits.household_pdf": LOGIN, "visits.rules": LOGIN, "visits.coverage": "oversee_visits",
    "visits.new": "record_visits", "visits.edit": "record_visits", "visits.delete": "record_visits",
    "visits.problem_case": "report_case", "visits.rule_edit": "manage_visit_rules",
    "visits.rules_customize": "manage_visit_rules", "visits.rules_reset": "manage_visit_rules",
    "worklogs.index": LOGIN, "worklogs.month": LOGIN, "worklogs.month_pdf": LOGIN,
    "worklogs.day": "record_visits", "worklogs.amend": "record_visits",
    "worklogs.team": "check_worklogs", "worklogs.check": "check_worklogs",
}
# Refusals beyond the permission table, for a role that has the permission, on the matrix's own
# records: each is a rule of its own, tested where it lives.
EXTRA_REFUSALS = {
    # grids.routes.may_reshape: the top of one's scope and official (coded) units are renamed and
    # moved by the system administrator only; the matrix's grid is the role's own top grid
    ("grids.edit", "township"): "may_reshape", ("grids.move", "township"): "may_reshape",
    ("grids.edit", "village_admin"): "may_reshape", ("grids.move", "village_admin"): "may_reshape",
    # deleting an empty grid follows the same rule
    ("grids.delete", "township"): "may_reshape", ("grids.delete", "village_admin"): "may_reshape",
}
# Statuses a permitted request may end in with an empty form: a page, a redirect, the form again
# with its errors, a refusal in words (409), or a record out of reach (404). Never 403 nor 500.
PERMITTED = {200, 302, 400, 404, 409, 422}


def _permission(endpoint, method):
    need = NEEDS.get(endpoint)
    assert need is not None, f"{endpoint}: add it to NEEDS in tests/test_route_matrix.py with the permission it asks"
    return need[method] if isinstance(need, dict) else need


def expected(endpoint, method, role, read_only_rule=True):
    """403, or None for "permitted" (a status in PERMITTED), as the permission table implies."""
    from app.accounts.permissions import PERMISSIONS
    from app.core.web import READ_ONLY_ALLOWED

    if read_only_rule and role == "auditor" and method == "POST" and endpoint not in READ_ONLY_ALLOWED:
        return 403  # auditors change nothing (core/web.py), whatever their permissions
    need = _permission(endpoint, method)
    if need != LOGIN and role not in PERMISSIONS[need]:
        return 403
    if (endpoint, role) in EXTRA_REFUSALS:
        return 403
    return None


def own_ids(app, tree, users, role):
    """Records of branch A that ``role`` may see: the ids each route's URL takes."""
    from app.grids.models import Grid, GridStaff

    with app.app_context():
        home = tree[ROLE_HOME[role]]
        cluster = db.session.get(Grid, tree["cluster_a"])
        staff = GridStaff(grid_id=home, role="team_member", name="本组志愿者")
        db.session.add(staff)
        db.session.commit()
        hh = ledger_fixture(cluster)
        visit = visit_fixture(hh, users["worker"])
        case = case_fixture(cluster, users["worker"])
        return {"grid_id": home, "user_id": users["worker"], "staff_id": staff.id,
                "household_id": hh.id, "resident_id": hh.head_id, "tag_id": hh.tags[0].id,
                "unit_id": unit_fixture(cluster).id, "visit_id": visit.id, "visit_photo_id": visit.photos[0].id,
                "contact_id": contact_fixture(hh).id,
                "problem_id": visit.problems[0].id, "rule_id": rule_fixture(cluster).id,
                **meeting_fixture(cluster), **agreement_fixture(cluster),
                "case_id": case.id, "photo_id": case.photos[0].id, **reference_ids(db.session.get(Grid, home)),
                "notification_id": notification_fixture(case, users[role]),
                "token": pending_import_fixture(app, users[role]), **patrol_fixture(cluster, users["worker"]),
                "entry_id": evidence_fixture(app, cluster, users["worker"])}


def _checked_routes(app, ids):
    """(endpoint, method, url) of every route a logged-in user may be sent to, logout last."""
    out = [(rule.endpoint, method, url) for rule, method, url in _routes(app, ids)
           if rule.endpoint not in PUBLIC and rule.endpoint != "accounts.logout"]
    return sorted(out, key=lambda r: r[1] != "GET") + [("accounts.logout", "POST", "/logout")]


def _request(client, method, url):
    return client.raw.open(url, method=method, data={"csrf_token": client.token} if method == "POST" else None)


def _mismatch(endpoint, method, url, role, status, read_only_rule=True):
    want = expected(endpoint, method, role, read_only_rule)
    if want == 403 and status != 403:
        return f"{role}: {method} {url} ({endpoint}) answered {status}, but the role lacks {_permission(endpoint, method)!r}"
    if want is None and status not in PERMITTED:
        return f"{role}: {method} {url} ({endpoint}) answered {status}; it needs {_permission(endpoint, method)!r}, " \
               "which the role has" + (" (add it to EXTRA_REFUSALS if a rule of its own refuses it)" if status == 403 else "")
    return None


@pytest.fixture
def no_read_only_rule(monkeypatch):
    """Auditors' POSTs reach the views: the permission table alone must refuse them."""
    from app.accounts.models import User

    monkeypatch.setattr(User, "read_only", property(lambda self: False))


@pytest.mark.parametrize("role", sorted(ROLE_HOME))
def test_every_route_answers_each_role_as_the_permission_table_says(app, make_client, tree, users, role):
    """GET and POST of every route with the role's own records: 403 exactly when the role lacks the
    route's permission (auditors: every POST), otherwise a page, a redirect or the form again."""
    ids = own_ids(app, tree, users, role)
    c = make_client()
    assert c.login(role).status_code == 302
    c.get("/")
    problems = []
    for endpoint, method, url in _checked_routes(app, ids):
        problem = _mismatch(endpoint, method, url, role, _request(c, method, url).status_code)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)


def test_auditors_are_refused_by_the_permission_table_too(app, make_client, tree, users, no_read_only_rule):
    """With the read-only rule lifted, an auditor's POSTs still get 403 wherever the table says so."""
    ids = own_ids(app, tree, users, "auditor")
    c = make_client()
    c.login("auditor")
    c.get("/")
    problems = [p for endpoint, method, url in _checked_routes(app, ids) if method == "POST"
                and (p := _mismatch(endpoint, method, url, "auditor", _request(c, method, url).status_code, False))]
    assert not problems, "\n".join(problems)


# Routes whose permission is checked twice, by @require and again inside the view (which needs
# the same rule to decide what to show): taking away one of the two changes nothing, both the matrix.
DOUBLE_CHECKED = {"grids.new_child": "may_add_under", "grids.edit": "may_reshape", "grids.move": "may_reshape",
                  "grids.delete": "may_reshape"}
# Permission checks written inside a view rather than as @require: (module, permission, endpoint).
INLINE_CHECKS = [("app.notices.routes", "edit_notices", "notices.settings"),
                 ("app.meetings.routes", "manage_meeting_kinds", "meetings.kinds"),
                 ("app.meetings.routes", "run_meetings", "meetings.follow_up_done")]


def test_the_matrix_fails_without_any_one_permission_check(app, make_client, tree, users, monkeypatch, no_read_only_rule):
    """Take each permission check away in turn (each @require, each check inside a view): the
    matrix's requests to that route must then answer something other than what it expects."""
    import importlib
    from contextlib import contextmanager

    from app.accounts import permissions

    clients, ids = {}, {}
    for role in ("worker", "auditor", "leader", "village_admin", "township", "admin"):  # the least privileged first
        ids[role] = own_ids(app, tree, users, role)
        clients[role] = make_client()
        clients[role].login(role)
        clients[role].get("/")
    routes = {role: _checked_routes(app, ids[role]) for role in clients}

    def caught(endpoint):
        """Whether some role that lacks the permission gets past where the check stood."""
        for role, c in clients.items():
            for ep, method, url in routes[role]:
                if ep != endpoint or expected(ep, method, role, False) != 403:
                    continue
                if _mismatch(ep, method, url, role, _request(c, method, url).status_code, False):
                    assert c.get("/me").status_code == 200, f"the probe of {endpoint} logged {role} out"
                    return True
        return False

    @contextmanager
    def without_inline(module_name, permission):
        """The module's own calls of can() grant ``permission`` to everybody."""
        with monkeypatch.context() as m:
            m.setattr(importlib.import_module(module_name), "can",
                      lambda user, perm: perm == permission or permissions.can(user, perm))
            yield

    guarded = {ep: view for ep, view in app.view_functions.items() if getattr(view, "permission", None)}
    assert len(guarded) > 60
    missed = []
    for endpoint, view in sorted(guarded.items()):
        monkeypatch.setitem(app.view_functions, endpoint, view.__wrapped__)
        if not caught(endpoint):
            with without_inline(view.__wrapped__.__module__, view.permission):
                both = caught(endpoint)
            if not (both and endpoint in DOUBLE_CHECKED):
                missed.append(f"@require({view.permission!r}) of {endpoint}" +
                              (" (caught only with the view's own can() removed too: list it in DOUBLE_CHECKED)"
                               if both else ""))
        monkeypatch.setitem(app.view_functions, endpoint, view)
    for module_name, permission, endpoint in INLINE_CHECKS:
        with without_inline(module_name, permission):
            if not caught(endpoint):
                missed.append(f"can(…, {permission!r}) in {endpoint}")
    assert not missed, "removing these checks went unnoticed:\n" + "\n".join(missed)


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
