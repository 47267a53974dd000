"""Browser tests: the real server (``flask serve``) on its own database, driven by Debian's Chromium.

Every test runs twice, on a phone (390×844, touch) and on the office PC (1366×768).
Each visited page is screenshotted to tests/e2e/artifacts/, checked with axe-core
(serious and critical violations fail) and checked for layout (no sideways scrolling
on a phone; bottom bar on the phone only, top navigation on the PC only).

Servers:
- ``demo_server`` (one per session): a database filled by ``flask demo-data`` plus two
  administrators made with ``flask create-admin`` whose only purpose is to get locked out.
- ``fresh_server`` (one per test that asks for it): an upgraded but empty database, for
  the first-run set-up, which can happen only once per database.
The database is SQLite (a temp file) or, with VG_TEST_DB=postgresql, a fresh PostgreSQL
database that is dropped at the end.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = HERE / "artifacts"
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PG_ADMIN_URL = os.environ.get("VG_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "Cunwang-2026-test"
LOCK_ACCOUNTS = {"phone": "lock-phone", "desktop": "lock-desktop"}

VIEWPORTS = {
    "phone": dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2),
    "desktop": dict(viewport={"width": 1366, "height": 768}, is_mobile=False, has_touch=False, device_scale_factor=1),
}
# Limits, not waits: each bounds how long a real hang takes to show and never slows a passing test.
# They are generous because the suite runs on shared 2-core machines where other work can make every
# step ten or twenty times slower (building the demo on PostgreSQL took 8 s of CPU and 3.5 minutes).
UI_TIMEOUT_MS = 30_000
COMMAND_TIMEOUT_S = 900
START_TIMEOUT_S = 180
expect.set_options(timeout=UI_TIMEOUT_MS)


def pytest_collection_modifyitems(config, items):
    """Mark every test in this folder ``e2e`` (``-m 'not e2e'`` skips the browser)."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def clean_db():
    """The browser tests use their own servers and databases, not the in-process test app."""
    yield


# Databases and servers

def _pg_admin(sql):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def make_database(tmp_path_factory):
    """Return a function that creates an empty database and gives its SQLAlchemy URL."""
    created = []

    def _make(label):
        if os.environ.get("VG_TEST_DB") == "postgresql":
            name = f"vg_e2e_{uuid.uuid4().hex[:10]}"
            _pg_admin(f'CREATE DATABASE "{name}"')
            created.append(name)
            base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            return f"{base}/{name}"
        return "sqlite:///" + str(tmp_path_factory.mktemp(f"db-{label}") / "e2e.db")

    yield _make
    for name in created:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``flask serve`` process with its own instance folder and database."""

    def __init__(self, workdir, database_url):
        self.workdir = Path(workdir)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "server.log"
        self.proc = None
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VG_", "FLASK_"))},
            "VG_INSTANCE_PATH": str(self.workdir / "instance"),
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            "VG_SCHEDULES_ENABLED": "0",  # no backups or 催办 rounds of their own during a test
        }

    def flask(self, *commands):
        """Run ``flask --app wsgi`` commands (each a tuple of arguments) side by side; return their outputs."""
        procs = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in commands]
        outputs, failures = [], []
        for args, proc in zip(commands, procs):
            try:
                out, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            if proc.returncode != 0:
                failures.append(f"flask {' '.join(args[:2])} failed ({proc.returncode}):\n{out}\n{err}")
            outputs.append(out)
        if failures:
            pytest.fail("\n".join(failures))
        return outputs

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "serve"], cwd=ROOT,
                                         env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=10) as resp:
                    if resp.status == 200 and json.load(resp)["status"] == "ok":
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"the server did not answer /healthz within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def assert_running(self):
        code = self.proc.poll() if self.proc is not None else None
        if code is not None:
            pytest.fail(f"the server exited with {code} during the test:\n{self.log_tail()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


ACCOUNT_LINE = re.compile(r"^\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$")


@dataclass
class DemoServer:
    server: Server
    accounts: dict = field(default_factory=dict)  # username -> password

    @property
    def url(self):
        return self.server.url


def _build_demo(server):
    """Demo data, two lock-out administrators, then serve; returns the accounts (username -> password)."""
    server.flask(("db", "upgrade"))
    [out] = server.flask(("demo-data",))
    accounts = {m.group(1): m.group(2) for m in map(ACCOUNT_LINE.match, out.splitlines()) if m}
    assert {"admin", "village1", "village2", "worker1", "worker2"} <= accounts.keys(), out
    server.flask(*[("create-admin", "--username", username, "--full-name", "锁定测试", "--password", PASSWORD)
                   for username in LOCK_ACCOUNTS.values()])
    accounts.update(dict.fromkeys(LOCK_ACCOUNTS.values(), PASSWORD))
    server.start()
    return DemoServer(server, accounts)


def _build_fresh(server):
    server.flask(("db", "upgrade"))
    return server.start()


@pytest.fixture(scope="session")
def _servers(request, tmp_path_factory, make_database):
    """Build every server this session needs side by side (each build is a few CLI start-ups)."""
    items = request.session.items
    servers, futures = [], {"demo": None, "fresh": []}
    with ThreadPoolExecutor(max_workers=3) as pool:
        if any("demo_server" in item.fixturenames for item in items):
            servers.append(Server(tmp_path_factory.mktemp("demo-server"), make_database("demo")))
            futures["demo"] = pool.submit(_build_demo, servers[-1])
        for _ in range(sum("fresh_server" in item.fixturenames for item in items)):
            servers.append(Server(tmp_path_factory.mktemp("fresh-server"), make_database("fresh")))
            futures["fresh"].append(pool.submit(_build_fresh, servers[-1]))
        try:
            yield futures
        finally:
            for future in [futures["demo"], *futures["fresh"]]:
                if future is not None:
                    future.cancel()
            pool.shutdown(wait=True)
            for server in servers:
                server.stop()


@pytest.fixture(scope="session")
def demo_server(_servers):
    """A server on the demo data; ``accounts`` maps every demo username (and the lock-out admins) to its password."""
    return _servers["demo"].result()


@pytest.fixture(autouse=True)
def _servers_still_running(request):
    """After each test: a server that died says so, with its exit code and log, rather than every
    later test failing with "connection refused"."""
    yield
    if "demo_server" in request.fixturenames:
        request.getfixturevalue("demo_server").server.assert_running()


@pytest.fixture
def fresh_server(_servers):
    """A server on an upgraded, empty database (the first visit goes to the set-up page); one per test."""
    server = _servers["fresh"].pop(0).result()
    yield server
    server.stop()


# The browser

@pytest.fixture(scope="session")
def axe_source():
    if not AXE_JS.exists():
        pytest.fail("axe-core is missing: run `make test`, or `npm install` in tests/e2e")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="session", autouse=True)
def _artifacts_dir():
    """Start every run with an empty screenshot folder."""
    if ARTIFACTS.exists():
        for old in [*ARTIFACTS.glob("*.png"), ARTIFACTS / "axe.txt"]:
            old.unlink(missing_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def viewport(request):
    return request.param


class UI:
    """A page in one viewport, plus the checks every visited page gets."""

    def __init__(self, page, viewport, test_name, axe_source, javascript=True):
        self.page = page
        self.javascript = javascript
        self.viewport = viewport
        self.test_name = test_name
        self.axe_source = axe_source
        self.shots = 0
        self.problems = []  # JavaScript errors and CSP violations seen in the console
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, msg):
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.problems.append(f"CSP: {msg.text}")

    @property
    def phone(self):
        return self.viewport == "phone"

    def settle(self):
        """Wait until the page has loaded and htmx has nothing in flight."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_function(
            "() => document.readyState === 'complete' && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
        )

    def login(self, username, password):
        """Log in from wherever we are (goes to /login first)."""
        page = self.page
        if "/login" not in page.url:
            page.goto("/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(password)
        page.get_by_role("button", name="登录").click()
        expect(page.locator("#username")).to_have_count(0)
        self.settle()

    def check(self, step, logged_in=True):
        """Screenshot, axe and layout checks for the page as it is now."""
        self.settle()
        self.shots += 1
        # caret="initial": hiding the caret leaves style="" on inputs, which htmx copies while
        # settling the next swap, and the CSP (rightly) reports that as an inline style.
        slug = re.sub(r"[^\w.-]+", "-", step)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.test_name}-{self.viewport}-{self.shots:02d}-{slug}.png"),
                             full_page=True, caret="initial")
        self.check_layout(step, logged_in)
        self.check_axe(step)

    def check_layout(self, step, logged_in):
        page = self.page
        width = VIEWPORTS[self.viewport]["viewport"]["width"]
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > width:
            wide = page.evaluate(
                """(w) => [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > w + 0.5)
                     .slice(0, 5).map(e => e.outerHTML.slice(0, 120))""", width)
            pytest.fail(f"{step}: the page scrolls sideways ({scroll_width} px > {width} px); too wide: {wide}")
        bottombar, mainnav = page.locator("nav.bottombar"), page.locator("nav.mainnav")
        if not logged_in:
            expect(bottombar).to_have_count(0)
            expect(mainnav).to_have_count(0)
        elif self.phone:
            expect(bottombar, f"{step}: bottom bar on the phone").to_be_visible()
            expect(mainnav, f"{step}: no top navigation on the phone").to_be_hidden()
            box = bottombar.bounding_box()
            assert box and abs(box["y"] + box["height"] - VIEWPORTS["phone"]["viewport"]["height"]) < 1, \
                f"{step}: the bottom bar is not at the bottom of the screen: {box}"
        else:
            expect(bottombar, f"{step}: no bottom bar on the PC").to_be_hidden()
            expect(mainnav, f"{step}: top navigation on the PC").to_be_visible()

    def check_axe(self, step):
        page = self.page
        if not self.javascript:
            # axe runs as a script with timers, which a page without scripts never fires; the same pages
            # are checked in the browsers that run scripts.
            return
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated through the DevTools protocol, which the page's CSP does not govern.
            page.evaluate(self.axe_source)
        result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        with open(ARTIFACTS / "axe.txt", "a", encoding="utf-8") as fh:  # every finding, for reading later
            found = ", ".join(f"{v['id']} [{v['impact']}] ×{len(v['nodes'])}" for v in result) or "none"
            fh.write(f"{self.test_name}[{self.viewport}] {step} {urlsplit(page.url).path}: {found}\n")
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        if bad:
            lines = [f"{step} ({page.url}): {len(bad)} serious/critical axe violation(s):"]
            for v in bad:
                lines.append(f"- {v['id']} [{v['impact']}]: {v['help']} ({v['helpUrl']})")
                for node in v["nodes"][:8]:
                    lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
            pytest.fail("\n".join(lines))

    def finish(self):
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def make_ui(browser, viewport, axe_source, request):
    """Return a function opening a fresh browser context on a server's base URL (``javascript=False``:
    a browser that runs no script, for the pages that must work without it)."""
    contexts, uis = [], []
    test_name = request.node.originalname

    def _make(base_url, javascript=True):
        context = browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai",
                                      service_workers="block", java_script_enabled=javascript, **VIEWPORTS[viewport])
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        ui = UI(context.new_page(), viewport, test_name, axe_source, javascript)
        uis.append(ui)
        return ui

    yield _make
    try:
        for ui in uis:
            ui.finish()
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def ui(make_ui, demo_server):
    """A logged-out page on the demo server."""
    return make_ui(demo_server.url)


# The ledger

@pytest.fixture(scope="session")
def ledger(demo_server):
    """Households on the demo server (see ledger_seed.py): {address: {"id", "head", "head_id_number", "grid", "owner"}}.

    Registered once per session through the ledger service in a separate process on the
    server's database; the server sees them on its next request.
    """
    proc = subprocess.run([sys.executable, "-m", "tests.e2e.ledger_seed"], cwd=ROOT, env=demo_server.server.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"seeding the ledger failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
