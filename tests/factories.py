"""Records for tests: households, visits, cases, meetings, agreements, units, ID numbers and photos.

Every test module takes its records from here (fixtures that several modules use live in
conftest.py), so no test module imports another. Functions that write commit what they made;
those that post go through a test client as a browser would."""
import io
import re
from datetime import date, datetime, timedelta

from flask import current_app, has_app_context
from PIL import Image
from sqlalchemy import select
from stdnum.cn import ric, uscc
from werkzeug.datastructures import FileStorage

from app.accounts.models import User
from app.agreements.models import Agreement
from app.cases.models import Case, CaseCategory
from app.core import public
from app.core.timeutil import LOCAL_TZ
from app.extensions import db
from app.grids import service as gs
from app.grids.models import Grid
from app.households import service as hs
from app.households.models import ContactLink, Household, HouseholdCategory
from app.meetings.models import MeetingKind
from app.notifications.models import Notification
from app.units.models import Unit
from app.visits import service as vs
from app.visits.models import Visit
from app.worklogs.models import WorkLog

PUBLIC_PHONE = "13912345678"  # the resident reporting through the public intake

APP = []  # the session's app (conftest's ``app`` fixture), for helpers called outside an app context
_n = [0]
_serial = [0]


def _app_context():
    return (APP[0] if APP else current_app).app_context()


# People and households

class Admin:
    """An acting user who may do anything (for writing records through the services)."""
    is_admin = True
    is_authenticated = True


def idn():
    """A valid unique ID number (the serial and the birth day vary)."""
    _n[0] += 1
    day = date(1960, 1, 1) + timedelta(days=_n[0] // 900)
    body = f"330522{day:%Y%m%d}{_n[0] % 900 + 100:03d}"
    return body + ric.calc_check_digit(body + "0")


def next_id(year=1970):
    """A valid, unique 18-digit ID number born on 1 January of ``year``."""
    _serial[0] += 1
    body = f"330522{year}0101{_serial[0] % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def households(grid_id, n, prefix="东庄", phone=""):
    """``n`` households in a grid (committed); returns their ids."""
    grid = db.session.get(Grid, grid_id)
    ids = [hs.create_household(Admin(), grid, f"{prefix}{i + 1}号", hs.ResidentData(name=f"户主{i + 1}", id_number=idn()),
                               phone).id for i in range(n)]
    db.session.commit()
    return ids


def link(household_ids, user_id, since=date(2025, 1, 1)):
    """Make ``user_id`` the contact of the households (committed)."""
    for hid in household_ids:
        db.session.add(ContactLink(household_id=hid, user_id=user_id, since=since))
    db.session.commit()


def ledger_fixture(grid):
    """A household with a head and a category tag in ``grid`` (committed; the grid's first one if it has any)."""
    existing = db.session.scalar(select(Household).where(Household.grid_id == grid.id))
    if existing is not None:
        return existing
    hh = hs.create_household(Admin(), grid, f"{grid.name}1号", hs.ResidentData(name="乙户主", id_number=next_id()))
    hs.tag(hh, db.session.scalar(select(HouseholdCategory)), date(2026, 1, 1), "测试")
    db.session.commit()
    return hh


def unit_fixture(grid):
    """A key-supervision unit in ``grid`` (committed; the grid's first one if it has any)."""
    existing = db.session.scalar(select(Unit).where(Unit.grid_id == grid.id))
    if existing is not None:
        return existing
    body = f"91330522MA2B{grid.id % 100000:05d}"
    unit = Unit(grid=grid, name=f"{grid.name}竹木加工厂", kind="生产经营单位", credit_code=body + uscc.calc_check_digit(body),
                risk_grade="较大风险", key_supervision=True)
    db.session.add(unit)
    db.session.commit()
    return unit


# Photos

def png(w=2400, h=1800, color="blue", fmt="PNG"):
    """An image file to upload, as an open buffer."""
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, fmt)
    buf.seek(0)
    return buf


def photo_bytes(fmt="PNG", size=(2400, 1800), color=(200, 30, 30)):
    """An image file's bytes."""
    return png(size[0], size[1], color, fmt).getvalue()


def photo_upload(name="photo.png", fmt="PNG", size=(2400, 1800)):
    """A FileStorage as a form upload gives the service."""
    return FileStorage(io.BytesIO(photo_bytes(fmt, size)), filename=name, content_type="image/png")


# Visits

def now_local():
    """Now in China, to the minute (what a datetime-local field holds)."""
    return datetime.now(LOCAL_TZ).replace(tzinfo=None, second=0, microsecond=0)


def form_key(html):
    """The idempotency key of the form on a page."""
    return re.search(r'id="form_key" name="form_key" type="hidden" value="([0-9a-f]+)"', html).group(1)


def visit_form(client, hid):
    """Open the visit form of a household; returns its key."""
    page = client.get(f"/visits/new?household_id={hid}")
    assert page.status_code == 200
    return form_key(page.get_data(as_text=True))


def post_visit(client, hid, key, **extra):
    """Send the visit form (a door visit with two problems unless ``extra`` says otherwise)."""
    data = {"household_id": str(hid), "method": "door", "visited_at": now_local().strftime("%Y-%m-%dT%H:%M"),
            "learned": "老人身体尚可，子女在外务工。", "problems": "屋顶漏雨\n路灯不亮", "form_key": key}
    data.update(extra)
    return client.post(f"/visits/new?household_id={hid}", data, content_type="multipart/form-data")


def add_visit(user_id, hid, day, method="door"):
    """A visit on ``day`` written directly (the service refuses back-dating beyond a month; committed)."""
    user = db.session.get(User, user_id)
    h = db.session.get(Household, hid)
    db.session.add(Visit(household_id=hid, grid_id=h.grid_id, user_id=user_id, method=method,
                         visited_at=datetime(day.year, day.month, day.day, 2), visited_on=day,
                         by_cadre=vs.is_cadre(user), learned="走访"))
    db.session.commit()


def visit_on(hid, user_id, day, method="door"):
    """A visit on ``day`` by a worker (added, not committed)."""
    hh = db.session.get(Household, hid)
    db.session.add(Visit(household_id=hid, grid_id=hh.grid_id, user_id=user_id, method=method,
                         visited_at=datetime.combine(day, datetime.min.time()).replace(hour=2), visited_on=day,
                         learned="走访"))


def work_log(user_id, day, content="今天走访了两户。"):
    """A work log of ``day`` (added, not committed)."""
    db.session.add(WorkLog(user_id=user_id, log_date=day, content=content))


def visit_fixture(household, user_id):
    """A visit with a photo to ``household`` by ``user_id`` (committed; the household's first one if any)."""
    existing = db.session.scalar(select(Visit).where(Visit.household_id == household.id))
    if existing is not None:
        return existing
    visit, _ = vs.record_visit(db.session.get(User, user_id), household, method="door",
                               visited_at_local=datetime.now(LOCAL_TZ).replace(tzinfo=None, microsecond=0) - timedelta(hours=1),
                               learned="测试走访", problems=["路灯坏了"],
                               photos=[FileStorage(png(40, 30, "green"), filename="a.png", content_type="image/png")],
                               key=f"fixture-{household.id}")
    db.session.commit()
    return visit


# Cases

def case_id_from(resp):
    """The id of the case a redirect leads to."""
    m = re.search(r"/cases/(\d+)$", resp.headers["Location"])
    assert m, resp.headers.get("Location")
    return int(m.group(1))


def category_id(name):
    """The id of a default category (opens its own app context when none is active)."""
    if has_app_context():
        return db.session.scalar(select(CaseCategory.id).where(CaseCategory.name == name))
    with _app_context():
        return db.session.scalar(select(CaseCategory.id).where(CaseCategory.name == name))


def act(app, client, case_id, action, **fields):
    """Post one workflow action with the version the page shows."""
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    with app.app_context():
        version = db.session.get(Case, case_id).version
    data = {"action": action, f"{action}-version": version}
    for key, value in fields.items():
        data[f"{action}-{key}"] = value
    return client.post(f"/cases/{case_id}/act", data)


def unread(app, user_id):
    """The texts of a user's unread messages."""
    with app.app_context():
        return db.session.scalars(select(Notification.text).where(Notification.user_id == user_id,
                                                                  Notification.read_at.is_(None))).all()


def grid_public_code(grid_id):
    """The code in a grid's notice-board QR address."""
    if has_app_context():
        return public.grid_public_code(grid_id)
    with _app_context():
        return public.grid_public_code(grid_id)


def public_report(c, code, what="河道里有人倾倒垃圾", **extra):
    """A resident reports through the public intake of a grid's code (redirects followed)."""
    c.get(f"/q/{code}")
    return c.post(f"/q/{code}", {"what": what, "where": "西桥下", "reporter_phone": PUBLIC_PHONE, **extra},
                  follow_redirects=True)


# Assessment

def scheme_form(client, url):
    """The scheme form as the browser would send it: every field of the page with its value."""
    html = client.get(url).get_data(as_text=True)
    data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)">(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    data["bands"] = re.search(r'<textarea id="bands" name="bands" rows="5">(.*?)</textarea>', html, re.S).group(1)
    return data


# Meetings

def meeting_staff(app, tree, users):
    """Staff of 甲村 (a leader with an account, a worker without) and of its natural village."""
    with app.app_context():
        village = db.session.get(Grid, tree["village_a"])
        nv = db.session.get(Grid, tree["nv_a"])
        gs.assign_staff(village, "leader", db.session.get(User, users["leader"]))
        gs.assign_staff(village, "worker", None, "王秀英", "13912345678", "东片")
        gs.assign_staff(nv, "leader", None, "赵建国", "13800001111")
        gs.assign_staff(nv, "team_member", None, "钱村医", "13800002222")  # not expected at the village meeting
        db.session.commit()


def meeting_kind_id(app, key):
    """The id of a meeting kind by its key."""
    with app.app_context():
        return db.session.scalar(select(MeetingKind.id).where(MeetingKind.key == key))


def plan_meeting(client, grid_id, kind_id, held_on="2026-11-20", **extra):
    """Send the plan form of a meeting."""
    data = {"kind_id": kind_id, "held_on": held_on, "start_time": "9:30", "place": "村部二楼会议室", "host": "leader",
            "recorder": "王秀英", "agenda": "一、通报十月工作\n二、研究村道路灯问题", "guests": ""}
    data.update(extra)
    client.get("/")  # a page's CSRF token, as a browser has one
    return client.post(f"/meetings/new?grid_id={grid_id}", data)


# Agreements

def agreement_setup(app, tree, users):
    """Staff of 甲村 and a household in its house cluster."""
    with app.app_context():
        village = db.session.get(Grid, tree["village_a"])
        village.area_desc = "东至青山河，西至省道，南至竹林，北至水库"
        gs.assign_staff(village, "leader", db.session.get(User, users["leader"]))
        gs.assign_staff(village, "worker", None, "王秀英", "13912345678")
        gs.assign_staff(village, "contact_cadre", None, "孙镇长", "13700001234")
        ledger_fixture(db.session.get(Grid, tree["cluster_a"]))


def load_agreement(app, agreement_id=None):
    """An agreement (the latest without an id), detached from the session."""
    with app.app_context():
        a = db.session.get(Agreement, agreement_id) if agreement_id else db.session.scalars(
            select(Agreement).order_by(Agreement.id.desc())).first()
        db.session.expunge(a)
        return a


def draft_agreement(client, grid_id, kind="town_village", start="2026-01-01", end="2026-12-31"):
    """Send the draft form of an agreement."""
    client.get(f"/agreements/?grid_id={grid_id}")
    return client.post(f"/agreements/new?grid_id={grid_id}", {"kind": kind, "period_start": start, "period_end": end})


def issue_agreement(client, agreement_id):
    """Issue (下发) an agreement."""
    client.get(f"/agreements/{agreement_id}")
    return client.post(f"/agreements/{agreement_id}/issue")
