"""Fixtures: the app on a fresh database (SQLite, or PostgreSQL with VG_TEST_DB=postgresql),
a client that keeps CSRF on, one user per role and a grid tree with a foreign branch."""
import os
import re
import uuid
from datetime import date, datetime

import pytest
from sqlalchemy import delete, select

PG_ADMIN_URL = os.environ.get("VG_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "Grid-test-pass-2026"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def _create_pg_database():
    import psycopg

    name = f"vg_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_pg_database(name):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A fresh database for this run; PostgreSQL ones are dropped afterwards."""
    if os.environ.get("VG_TEST_DB") == "postgresql":
        name = _create_pg_database()
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
        _drop_pg_database(name)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("instance")
    os.environ["VG_INSTANCE_PATH"] = str(path)
    return path


@pytest.fixture(scope="session")
def app(database_url, instance_path):
    """The app, its schema built by the real migrations."""
    from flask_migrate import upgrade

    from app import create_app

    from tests import factories

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "CHECK_PRINT_STACK": False})
    with app.app_context():
        upgrade()
    factories.APP[:] = [app]
    yield app
    with app.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


KEEP_TABLES = {"alembic_version"}


@pytest.fixture(autouse=True)
def clean_db(request):
    """Every test that uses the app starts from an empty database with the default levels and kinds.

    A pure test (validators, names, work days …) asks for no app, so nothing is wiped after it."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from app.extensions import db
    from app.grids.service import ensure_reference_data
    from app.cases.service import ensure_reference_data as ensure_case_reference_data
    from app.households.service import ensure_categories
    from app.visits.service import ensure_visit_rules
    from app.meetings.service import ensure_default_kinds
    from app.patrols.service import ensure_reference_data as ensure_patrol_rules
    from app.assessment.service import ensure_default_schemes

    app.extensions.pop("stats_cache", None)  # the statistics' figures of the emptied database
    with app.app_context():
        db.session.rollback()
        tables = db.metadata.tables
        # Break the self- and cross-references first, then empty every table.
        db.session.execute(tables["household"].update().values(head_id=None, split_from_id=None))
        db.session.execute(tables["grid"].update().values(parent_id=None))
        db.session.execute(tables["agreement"].update().values(replaced_by_id=None))
        for table in reversed(db.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                db.session.execute(delete(table))
        ensure_reference_data()
        ensure_categories()
        ensure_visit_rules()
        ensure_default_kinds()
        ensure_case_reference_data()
        ensure_patrol_rules()
        ensure_default_schemes()
        db.session.commit()
        from app.core.models import forget_installation
        from app.grids import picker

        forget_installation(app)
        picker._options_cache.clear()  # the next test's tree reuses the same ids


@pytest.fixture
def ctx(app):
    """An app context for tests that call services directly."""
    with app.app_context():
        yield


def csrf_from(html):
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in page"
    return m.group(1) or m.group(2)


class Client:
    """A test client that reads the CSRF token from pages, like a browser does."""

    def __init__(self, app):
        self.app = app
        self.raw = app.test_client()
        self.token = None

    def get(self, url, **kw):
        resp = self.raw.get(url, **kw)
        if resp.mimetype == "text/html":
            m = CSRF_RE.search(resp.get_data(as_text=True))
            if m:
                self.token = m.group(1) or m.group(2)
        return resp

    def post(self, url, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/login")
            data.setdefault("csrf_token", self.token)
        resp = self.raw.post(url, data=data, **kw)
        if resp.mimetype == "text/html":
            m = CSRF_RE.search(resp.get_data(as_text=True))
            if m:
                self.token = m.group(1) or m.group(2)
        return resp

    def login(self, username, password=PASSWORD):
        self.get("/login")
        return self.post("/login", {"username": username, "password": password})

    def logout(self):
        self.get("/")
        return self.post("/logout")


@pytest.fixture
def client(app):
    return Client(app)


@pytest.fixture
def make_client(app):
    return lambda: Client(app)


@pytest.fixture
def tree(app):
    """县 → 镇A → 村A → 自然村A → 组A；镇A → 村A2；镇B → 村B → 组B (the foreign branch), set up and named."""
    from app.core.models import Setting
    from app.extensions import db
    from app.grids import service as gs

    with app.app_context():
        lv = {k: gs.level_by_key(k) for k in ("county", "town", "village", "natural_village", "cluster")}
        general = gs.kind_by_key("general")
        county = gs.create_grid(None, "测试县", lv["county"], general, "330522000000")
        town_a = gs.create_grid(county, "甲镇", lv["town"], general, "330522101000")
        village_a = gs.create_grid(town_a, "甲村", lv["village"], general, "330522101201")
        nv_a = gs.create_grid(village_a, "东庄自然村", lv["natural_village"], general)
        cluster_a = gs.create_grid(nv_a, "东庄一组", lv["cluster"], general)
        village_a2 = gs.create_grid(town_a, "甲二村", lv["village"], general, "330522101202")
        town_b = gs.create_grid(county, "乙镇", lv["town"], general, "330522102000")
        village_b = gs.create_grid(town_b, "乙村", lv["village"], general, "330522102201")
        nv_b = gs.create_grid(village_b, "西庄自然村", lv["natural_village"], general)
        cluster_b = gs.create_grid(nv_b, "西庄一组", lv["cluster"], general)
        Setting.put("org_name", "测试县")
        Setting.put("setup_done", "1")
        Setting.put("public_base_url", "http://localhost")  # recorded by the set-up page (the test client's address)
        db.session.commit()
        return {k: v.id for k, v in dict(county=county, town_a=town_a, village_a=village_a, nv_a=nv_a,
                                         cluster_a=cluster_a, village_a2=village_a2, town_b=town_b,
                                         village_b=village_b, nv_b=nv_b, cluster_b=cluster_b).items()}


ROLE_HOME = {  # where each test user is bound
    "admin": "county", "township": "town_a", "village_admin": "village_a", "auditor": "town_a",
    "leader": "village_a", "worker": "cluster_a", "department": "town_a",
}


@pytest.fixture
def make_user(app):
    """Create a user bound to grids (ids); returns its id."""
    from app.accounts.models import User
    from app.extensions import db
    from app.grids.models import Grid

    hashes = {}

    def _make(username, role, grid_ids=(), password=PASSWORD, **fields):
        with app.app_context():
            user = User(username=username, full_name=fields.pop("full_name", username), role=role, **fields)
            if password not in hashes:  # scrypt is slow on purpose; hash each test password once
                user.set_password(password)
                hashes[password] = user.password_hash
            user.password_hash = hashes[password]
            user.grids = list(db.session.scalars(select(Grid).where(Grid.id.in_(list(grid_ids)))))
            db.session.add(user)
            db.session.commit()
            return user.id

    return _make


def _department(app, grid_id, name):
    """A department of the grid's level (committed); returns its id."""
    from app.cases.models import Department
    from app.extensions import db

    with app.app_context():
        dept = Department(name=name, grid_id=grid_id)
        db.session.add(dept)
        db.session.commit()
        return dept.id


@pytest.fixture
def users(app, tree, make_user):
    """One user per role in branch A (username = role) plus a worker in branch B; the department
    user works for 甲镇派出所 (a department of the township)."""
    out = {role: make_user(role, role, [tree[home]], **({"department_id": _department(app, tree["town_a"], "甲镇派出所")}
                                                        if role == "department" else {}))
           for role, home in ROLE_HOME.items()}
    out["worker_b"] = make_user("worker_b", "worker", [tree["cluster_b"]])
    return out


@pytest.fixture
def report(app, make_client, tree, users):
    """The worker of 东庄一组 reports a broken street light with a photo on the phone; returns the case id."""
    import io

    from tests.factories import case_id_from, category_id, photo_bytes

    c = make_client()
    c.login("worker")
    c.get("/cases/new")
    with app.app_context():
        cat = category_id("环境")
    resp = c.post("/cases/new", {
        "title": "村口路灯不亮", "description": "东庄一组村口三盏路灯晚上不亮", "location": "东庄一组村口",
        "grid_id": tree["cluster_a"], "category_id": cat, "handling_class": "coordination", "source": "worker",
        "reporter_name": "李大爷", "reporter_phone": "13812345678", "photos": (io.BytesIO(photo_bytes()), "light.png")})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return case_id_from(resp)


WORKER_MONTH_SINCE = datetime(2025, 1, 1)


@pytest.fixture
def worker_month(app, tree, users, make_user):
    """李网格 links 东庄1–4号 (1号 a key household) since 2025; October and December 2025 activity."""
    from app.accounts.models import User
    from app.extensions import db
    from app.households.models import CategoryTag, Household, HouseholdCategory
    from tests.factories import households, link, visit_on, work_log

    uid = make_user("li", "worker", [tree["cluster_a"]], full_name="李网格")
    with app.app_context():
        ids = households(tree["cluster_a"], 4)
        for hid in ids:
            db.session.get(Household, hid).created_at = WORKER_MONTH_SINCE
        db.session.get(User, uid).created_at = WORKER_MONTH_SINCE
        link(ids, uid)
        key = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.is_key.is_(True)))
        db.session.add(CategoryTag(household_id=ids[0], category_id=key.id, start_date=date(2025, 1, 1)))
        h1, h2, h3, h4 = ids
        # October: 1号 door (monthly + key rules), 2号 by phone (monthly rule only).
        visit_on(h1, uid, date(2025, 10, 9))
        visit_on(h2, uid, date(2025, 10, 20), "phone")
        # Logs: two working days, the 调休 Saturday, a holiday (not due), and an empty one (not counted).
        for d in (date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 11), date(2025, 10, 3)):
            work_log(uid, d)
        work_log(uid, date(2025, 10, 13), "")
        # The fourth quarter: 3号 door in October, 2号 a 微宣讲 in November, 1号 door in December.
        visit_on(h3, uid, date(2025, 10, 10))
        visit_on(h2, uid, date(2025, 11, 15), "lecture")
        visit_on(h1, uid, date(2025, 12, 1))
        db.session.commit()
        return {"uid": uid, "ids": ids}
