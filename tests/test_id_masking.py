"""An ID number typed into any free text never shows in full: pages, fragments, PDFs, exports, messages.

A village with a record in every area is built, then a distinct valid ID number is planted in
every free-text column of every table (a name, an address, a note, minutes …). Every role then
crawls every GET route of the URL map (with its own records' ids) and every same-site link the
pages show, as a full page and as an htmx fragment; PDFs are read with pdftotext, spreadsheets
with openpyxl. No planted number may appear in full (nor its first 14 digits: the birth date);
each must be seen masked somewhere, so the test cannot pass by showing nothing.
"""
import io
import re
from collections import deque
from datetime import date, timedelta
from html import unescape
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa
from sqlalchemy import select
from stdnum.cn import ric

from app.extensions import db
from tests.conftest import ROLE_HOME
from tests.factories import ledger_fixture, next_id, unit_fixture, visit_fixture
from tests.pdfcheck import pdf_text
from tests import test_route_matrix as matrix

# Columns that are not typed text: codes, keys, states, phones, files, the structured ID columns.
NOT_FREE_TEXT = {
    "path", "division_code", "key", "kind", "status", "state", "from_state", "to_state", "action", "entity",
    "entity_id", "token", "ip", "user_agent", "stored_name", "sha256", "fingerprint", "verify_code",
    "mime_type", "receipt_code", "id_number", "id_number_rev", "phone", "phone_rev", "contact_phone",
    "reporter_phone", "complaint_phone", "password_hash", "username", "credit_code", "methods", "flags",
    "name_initials", "name_initials_alt", "handling_class", "satisfaction", "source", "source_ref", "severity",
    "target", "target_kind", "target_key", "level_key", "attendees", "political_status", "relation", "role",
    "idempotency_key", "url", "risk_grade", "group", "party", "start_time", "method", "period", "visitor",
    "sex", "gram", "field", "file_name", "value",
    "formula", "combine", "bands_json", "snapshot_json", "evidence_file",  # assessment: codes and JSON
    "categories",  # a visit rule's category keys
    "approval_level",  # a case category's approving level (a key)
}
# Whole tables that hold no typed text (or whose rows may not change).
NOT_PLANTED_TABLES = {"audit_log", "login_session", "rate_counter", "search_gram", "setting", "alembic_version",
                      "form_submission", "form_stash"}
# Planted columns that no page shows by design (kept only for the record); each says why.
NOT_SHOWN = {
    ("resident", "status_note"): "kept with the person; the household's history shows the same note",
}


def _id_number(n):
    body = f"110101{1950 + n % 50}0{1 + n % 9}1{n % 10}{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def _masked(number):
    return number[:6] + "*" * 8 + number[-4:]


def _build(app, tree, users):
    """Records in every area of 东庄一组 (branch A), as a village would have them after some weeks."""
    from app.accounts.models import User
    from app.agreements import service as ags
    from app.cases import service as cs
    from app.cases.models import Case
    from app.core.timeutil import local_today, utcnow
    from app.grids.models import Grid
    from app.households import service as hs
    from app.meetings import service as ms
    from app.notices import service as ns
    from app.patrols import service as ps
    from app.worklogs import service as ws

    with app.app_context():
        cluster = db.session.get(Grid, tree["cluster_a"])
        village = db.session.get(Grid, tree["village_a"])
        worker, leader = db.session.get(User, users["worker"]), db.session.get(User, users["leader"])
        from app.grids import service as gs

        gs.assign_staff(cluster, "worker", worker)
        staff = gs.assign_staff(cluster, "team_member", None, "本组村医", "13900000001", "村医")
        db.session.commit()
        hh = ledger_fixture(cluster)
        hs.end_tag(hh.tags[0], date(2026, 2, 1), "情况好转")
        member = hs.add_resident(hh, hs.ResidentData(name="户主之子", id_number=next_id(1990), relation="子"))
        db.session.flush()
        hs.change_status(member, "moved_out", date(2026, 3, 1), "迁往县城")
        visit = visit_fixture(hh, users["worker"])
        unit = unit_fixture(cluster)
        unit.contact_name, unit.industry, unit.address, unit.notes = "李厂长", "竹木加工", "东庄路1号", "消防器材齐全"
        ids = {"household_id": hh.id, "resident_id": hh.head_id, "tag_id": hh.tags[0].id, "unit_id": unit.id,
               "visit_id": visit.id, "visit_photo_id": visit.photos[0].id, "problem_id": visit.problems[0].id,
               "rule_id": matrix.rule_fixture(cluster).id, "contact_id": matrix.contact_fixture(hh).id, **matrix.meeting_fixture(cluster),
               **matrix.agreement_fixture(cluster), **matrix.patrol_fixture(cluster, users["worker"])}
        # A case through every printed step: 申报 → 受理 → 交办 → 催办 → 反馈.
        case = matrix.case_fixture(cluster, users["worker"])
        case.description, case.location, case.reporter_name = "村民反映路灯不亮", "东庄村口", "张大爷"
        for actor, key, kw in ((leader, "accept", {"note": "受理"}),
                               (leader, "assign", {"assignee_id": worker.id, "note": "请尽快处理",
                                                   "deadline": local_today() + timedelta(days=5)}),
                               (leader, "urge", {"note": "请加快"}),
                               (worker, "reply", {"note": "已修好"})):
            cs.perform(actor, case, key, case.version, **kw)
            db.session.flush()
        cs.public_report(cluster, "路灯坏了", "活动室门口", "13700000000")
        ids.update(case_id=case.id, photo_id=case.photos[0].id,
                   notification_id=matrix.notification_fixture(case, users["leader"]), **matrix.reference_ids(cluster))
        # Meeting minutes, a follow-up done, a township's own wording, a finger signature.
        from app.meetings.models import Meeting

        meeting = db.session.get(Meeting, ids["meeting_id"])
        ms.record_minutes(meeting, ms.MinutesData(attendance={a.id: "present" for a in meeting.attendees},
                                                  reports="汇报", problems="问题", escalation="上报"), utcnow())
        meeting.host, meeting.recorder, meeting.guests, meeting.agenda = "主持人", "记录人", "列席", "议程"
        decision = ms.add_decision(meeting, "整治村口垃圾点")  # the fixture's first decision already has its follow-up
        if meeting.attendees:
            fu = ms.make_follow_up(decision, meeting.attendees[0].id, meeting.held_on + timedelta(days=10), local_today())
            ms.complete_follow_up(fu, "已完成", meeting.held_on + timedelta(days=3), local_today())
        ags.save_wording(db.session.get(User, users["admin"]), village, "village_worker",
                         {"duties": "职责", "tasks": "任务", "rewards": "奖惩"})
        ns.save_notice(village, "代办证件", "0572-6012345", "工作日 8:30—17:00")
        # A work log, the week checked with a comment, an amendment.
        today = local_today()
        monday = today - timedelta(days=today.weekday() + 7)
        ws.save_log(worker, monday, "整理台账", today=today)
        ws.check_week(leader, worker, monday, "日志完整", today=today)
        ws.amend(worker, monday, "补记一次走访")
        hazard_steps = ps.hazard_actions(leader, ps.get_hazard_or_404(leader, ids["hazard_id"]))
        hz = ps.get_hazard_or_404(leader, ids["hazard_id"])
        if any(a.key == "set_deadline" for a in hazard_steps):
            ps.act(leader, hz, "set_deadline", hz.version, note="限期整改", measures="设警示牌",
                   deadline=today + timedelta(days=7))
        # This quarter's self-evaluation of the cluster, submitted with a comment per item.
        from app.assessment import selfeval
        from app.assessment.service import period_of

        ev = selfeval.start(worker, cluster, period_of("quarter", today), today)
        selfeval.act(worker, ev, "submit", ev.version, summary="总体情况",
                     typed={ln.id: selfeval.Typed("0", "说明") for ln in ev.lines})
        db.session.commit()
        ids.update(grid_id=tree["cluster_a"], user_id=users["worker"], staff_id=staff.id,
                   entry_id=matrix.evidence_fixture(app, cluster, users["worker"]))
        ids["day"] = monday.isoformat()
        ids["month"] = monday.strftime("%Y-%m")
        assert db.session.scalar(select(sa.func.count()).select_from(Case)) >= 2
        return ids


def _plant(app):
    """A distinct ID number in every free-text column of every row: {number: (table, column)}."""
    planted = {}
    with app.app_context():
        n = 0
        for table in db.metadata.sorted_tables:
            if table.name in NOT_PLANTED_TABLES:
                continue
            for col in table.columns:
                if not isinstance(col.type, (sa.String, sa.Text)) or col.name in NOT_FREE_TEXT:
                    continue
                length = getattr(col.type, "length", None)
                if length is not None and length < 22:
                    continue
                rows = db.session.execute(select(table.c.id)).scalars().all() if "id" in table.c else []
                if not rows:
                    continue
                n += 1
                number = _id_number(n)
                planted[number] = (table.name, col.name)
                for i, row_id in enumerate(rows):
                    value = f"甲{i}号{number}乙"
                    db.session.execute(table.update().where(table.c.id == row_id).values({col.name: value}))
        db.session.commit()
    return planted


def _planted_columns_cover_every_area(planted):
    wanted = {("cases", "description"), ("cases", "title"), ("case_event", "note"), ("meeting", "reports"),
              ("meeting", "problems"), ("meeting_decision", "text"), ("visit", "learned"), ("visit_problem", "description"),
              ("work_log", "content"), ("work_log_amendment", "content"), ("week_check", "comment"),
              ("notification", "text"), ("household", "address"), ("household", "notes"), ("resident", "name"),
              ("patrol", "findings"), ("hazard", "description"), ("unit", "notes"), ("agreement", "duties"),
              ("grid_notice", "services"), ("follow_up", "result"), ("grid", "name"), ("user", "full_name")}
    missing = wanted - set(planted.values())
    assert not missing, f"no row to plant an ID number in: {sorted(missing)}"


LINK_RE = re.compile(r'(?:href|hx-get|src|action)="([^"#]+)"')
SKIP_LINK = re.compile(r"^/(static/|logout)|^(?:mailto|tel|data|javascript):")


def _texts(resp):
    """The readable text of a response, whatever it is."""
    body = resp.get_data()
    if resp.mimetype == "application/pdf":
        return pdf_text(body), "pdf"
    if resp.mimetype.endswith("spreadsheetml.sheet"):
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                         for v in row if v is not None), "xlsx"
    if resp.mimetype.startswith("image/"):
        return "", "image"
    return unescape(body.decode("utf-8", "replace")), "html"


def _header_text(resp):
    """Headers a person sees (a download's file name) or htmx reads (messages in HX-Trigger)."""
    from urllib.parse import unquote

    return " ".join(unquote(v) for k, v in resp.headers.items() if k.lower() in ("content-disposition", "hx-trigger"))


class Crawl:
    def __init__(self, client, planted, role):
        self.client, self.planted, self.role = client, planted, role
        self.seen_masked, self.kinds, self.fetched = set(), {}, 0
        self.start = set()
        self.full = {n: n for n in planted}
        self.birth = {n[:14]: n for n in planted}

    def check(self, label, resp):
        text, kind = _texts(resp)
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        compact = re.sub(r"\s+", "", text + _header_text(resp))
        for number, where in self.planted.items():
            assert number not in compact, f"{self.role}: {label} shows the ID number planted in {where} in full"
            assert number[:14] not in compact, f"{self.role}: {label} shows the birth date of the ID in {where}"
            if _masked(number) in compact:
                self.seen_masked.add(number)
        return text, kind

    def run(self, start_urls, limit=600):
        queue, done, shapes = deque(start_urls), set(), {}
        while queue:
            url = queue.popleft()
            if url in done:
                continue
            done.add(url)
            # Links of one shape (/cases/12?state=open, /worklogs/day/2026-11-02 …) differ only in their
            # numbers: two samples of each are enough, the route walk gave every page its own records.
            parts = urlsplit(url)
            shape = (re.sub(r"\d+", "N", parts.path), tuple(sorted(k.split("=")[0] for k in parts.query.split("&") if k)))
            shapes[shape] = shapes.get(shape, 0) + 1
            if shapes[shape] > 2 and url not in self.start:
                continue
            assert self.fetched < limit, f"{self.role}: the crawl did not end within {limit} pages"
            resp = self.client.get(url)
            self.fetched += 1
            if resp.status_code != 200:
                continue
            text, kind = self.check(f"GET {url}", resp)
            if kind != "html":
                continue
            fragment = self.client.raw.get(url, headers={"HX-Request": "true"})
            if fragment.status_code == 200:
                self.check(f"GET {url} (htmx)", fragment)
            for link in LINK_RE.findall(text):
                parts = urlsplit(urljoin(url, link))
                if parts.netloc not in ("", "localhost") or SKIP_LINK.search(parts.path):
                    continue
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                if target not in done:
                    queue.append(target)


def _route_urls(app, ids):
    urls = []
    for rule, method, url in matrix._routes(app, ids):  # noqa: SLF001 (the same URL-map walk as the route matrix)
        if method == "GET" and rule.endpoint != "static":
            urls.append(url)
    return urls


def test_an_id_number_in_any_free_text_never_shows_in_full(app, make_client, tree, users):
    ids = _build(app, tree, users)
    planted = _plant(app)
    _planted_columns_cover_every_area(planted)
    urls = _route_urls(app, ids)
    seen, kinds = set(), {}
    for role in sorted(ROLE_HOME):
        c = make_client()
        assert c.login(role).status_code == 302
        crawl = Crawl(c, planted, role)
        crawl.start = set(urls)
        crawl.run(["/"] + urls)
        # The exports: the ledger's Excel, with and without the full ID numbers of the residents.
        for reveal in ("", "1"):
            resp = c.post("/households/export", {"grid_id": tree[ROLE_HOME[role]], "reveal": reveal})
            if resp.status_code == 200:
                crawl.check(f"export reveal={reveal!r}", resp)
        seen |= crawl.seen_masked
        for k, v in crawl.kinds.items():
            kinds[k] = kinds.get(k, 0) + v
    # Anonymous: the public intake page and a receipt's progress.
    anon = Crawl(make_client(), planted, "anonymous")
    anon.run([f"/q/{ids['code']}", "/login"])
    assert kinds.get("pdf", 0) >= 10 and kinds.get("xlsx", 0) >= 2, kinds
    unseen = {planted[n] for n in planted if n not in seen} - set(NOT_SHOWN)
    assert not unseen, f"planted but never seen (masked) on any page, PDF or export: {sorted(unseen)}"


def test_the_audited_reveal_still_shows_the_full_number(app, client, tree, users):
    """The deliberate exception: a user with reveal_id sees one resident's number in full, audited."""
    from app.core.models import AuditLog
    from app.grids.models import Grid

    with app.app_context():
        hh = ledger_fixture(db.session.get(Grid, tree["cluster_a"]))
        rid, number = hh.head_id, hh.head.id_number
    client.login("village_admin")
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert number not in page and _masked(number) in page
    resp = client.post(f"/residents/{rid}/reveal", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and number in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditLog).where(AuditLog.action == "reveal", AuditLog.entity_id == str(rid)))


def test_an_id_number_box_keeps_what_was_typed_when_the_form_is_refused(client, tree, users):
    """An ID-number input is the user's own typing: a refused form shows it back in full so it can be fixed."""
    number = next_id(1985)
    client.login("village_admin")
    client.get("/households/new")
    resp = client.post("/households/new", {"grid_id": tree["cluster_a"], "address": "", "head_name": "王五",
                                           "head_id_number": number, "head_political": "群众"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "请填写门牌地址" in html
    assert f'value="{number}"' in html


def test_free_text_shown_in_a_form_is_masked(app):
    """A text box opened to edit a record shows the ID number masked, like everywhere else."""
    from app.visits.forms import VisitEditForm

    number = _id_number(7)
    with app.test_request_context():
        form = VisitEditForm(formdata=None, data={"learned": f"身份证{number}"})
        html = str(form.learned())
    assert number not in html and _masked(number) in html


def test_a_number_cut_short_by_truncate_was_masked_first(app):
    """``truncate`` masks before it cuts: "…1101011990" alone would not look like an ID any more."""
    from flask import render_template_string

    number = _id_number(3)
    with app.test_request_context():
        out = render_template_string("{{ text|truncate(30, leeway=0) }}", text="情况：" + "好" * 10 + number)
    assert number[:10] not in out and number[:6] + "*" in out
