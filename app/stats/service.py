"""Statistics of a grid's subtree for a period: cases, the recorded field work, the build-out check.

Every figure is read as of the period's end (or now, while it runs), so a past period reads the
same whenever it is asked for: a case's state, its department and whether it was late are
worked out from its timeline up to that moment, not from its row as it is today.

- **cases**: cases received (created) in the period in the grids of the subtree. 办结 = closed by
  the period's end; 按期办结 = closed with no handling step after the deadline then in force
  (the assessment's rule, ``assessment.activity.late_step``); 超期 = handled late, or still open
  at the period's end past its deadline; 满意率 = satisfied return visits ÷ return visits of those
  cases; average handling time = working days (holidays and 调休 included) from the day received
  to the day closed, over the closed cases.
- **work**: visit coverage, log completeness, patrols, 按期整改 and meetings come from the
  assessment's :class:`~app.assessment.activity.Activity` (the same rules as the scores, for any
  past period); hazards opened, closed and overdue are counted here.
- **build-out** (篇二/篇四): grids at village level and below without a 网格长 or 网格员, service
  teams under 5, house clusters (grids without children) over 200 households, workers outside
  20–30 联系户, grids without notice-board settings (theirs or an ancestor's) and villages
  without an agreement in force today.
"""
import bisect
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from ..agreements.models import Agreement
from ..assessment.activity import Activity, late_step, utc_bounds
from ..assessment.service import Period, workers_under
from ..assessment.service import parse_period as assessment_period
from ..cases.models import HANDLING_CLASSES, SOURCES, STATES, Case, CaseCategory, CaseEvent
from ..cases.workflow import FOLLOW_UP_TARGET
from ..core.db import reading_only, starts_with
from ..core.forms import ServiceError
from ..core.timeutil import local_today, to_local, utcnow
from ..core.workdays import workdays_in
from ..extensions import db
from ..grids.models import MIN_TEAM_SIZE, Grid, GridLevel, GridStaff
from ..households.contacts import LINK_MAX, LINK_MIN
from ..households.models import ContactLink, Household
from ..notices.models import GridNotice
from ..patrols.models import Hazard, Patrol
from ..visits.models import Visit
from ..visits.service import period_bounds, period_label

CLUSTER_MAX_HOUSEHOLDS = 200  # 篇四: a grid of about 200 households
MAX_RANGE_DAYS = 366 * 5
NOT_TRANSFERRED = "未移交部门"


# Periods

@dataclass(frozen=True)
class StatsPeriod(Period):
    """A month, quarter, year (the assessment's periods), or two dates (``range``)."""

    @property
    def key(self):
        return "" if self.kind == "range" else super().key

    @property
    def label(self):
        if self.kind == "range":
            return f"{self.start:%Y年%m月%d日}至{self.end:%Y年%m月%d日}"
        return period_label(self.kind, self.start)

    @property
    def span(self):
        return f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"

    def query(self):
        """The query-string values that ask for this period again."""
        if self.kind == "range":
            return {"from": self.start.isoformat(), "to": self.end.isoformat()}
        return {"period": self.key}

    def previous(self):
        if self.kind == "range":
            return None
        return period_of(self.kind, self.start - timedelta(days=1))

    def next(self):
        if self.kind == "range":
            return None
        return period_of(self.kind, self.end + timedelta(days=1))


def period_of(kind, day):
    return StatsPeriod(kind, *period_bounds(kind, day))


def _date(text, what):
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ServiceError(f"{what}“{text}”无法识别，请写成 2026-11-01 这样的日期。", "period") from None


def parse_period(text="", start_text="", end_text="", today=None):
    """'2026-11', '2026-Q4', '2026', or two dates (from, to); nothing: this month. Refuses the future."""
    today = today or local_today()
    if start_text or end_text:
        if not (start_text and end_text):
            raise ServiceError("按日期统计请同时填写开始日期和结束日期。", "period")
        start, end = _date(start_text, "开始日期"), _date(end_text, "结束日期")
        if start < date(2000, 1, 1):
            raise ServiceError("开始日期不能早于 2000-01-01。", "period")
        if end < start:
            raise ServiceError(f"结束日期 {end} 早于开始日期 {start}。", "period")
        if end > today:
            raise ServiceError(f"结束日期 {end} 晚于今天，不能统计将来的日子。", "period")
        if (end - start).days > MAX_RANGE_DAYS:
            raise ServiceError("按日期统计最长 5 年，请缩短期间。", "period")
        return StatsPeriod("range", start, end)
    period = assessment_period(text, today, what="统计")
    return StatsPeriod(period.kind, period.start, period.end)


def period_choices(today=None):
    """The recent months, quarters and years for the period picker."""
    today = today or local_today()
    out, day = [], today
    for _ in range(12):
        p = period_of("month", day)
        out.append((p.key, p.label))
        day = p.start - timedelta(days=1)
    day = today
    for _ in range(4):
        p = period_of("quarter", day)
        out.append((p.key, p.label))
        day = p.start - timedelta(days=1)
    out += [(str(y), f"{y}年") for y in (today.year, today.year - 1)]
    return out


def reference_time(period, now=None):
    """The moment a period's figures are read at: its end, or now while it runs (naive UTC)."""
    now = now or utcnow()
    return min(utc_bounds(period.end, period.end)[1], now)


# Grids

class Children:
    """The child grids of a grid (the rows of the per-grid tables), and which of them holds a path:
    the id one level below the grid in the path, so no comparison with every child."""

    def __init__(self, grid):
        self.rows = db.session.execute(select(Grid.id, Grid.name, Grid.path).where(Grid.parent_id == grid.id)
                                       .order_by(Grid.sort_order, Grid.name)).all()
        self.ids = {c.id for c in self.rows}
        self.depth = grid.path.count("/") - 1  # the index of a child's id in a path's parts

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def of(self, path):
        """The child whose subtree holds ``path`` (None: the grid itself)."""
        parts = path.strip("/").split("/")
        if len(parts) > self.depth:
            child = int(parts[self.depth])
            if child in self.ids:
                return child
        return None


def rate(done, total):
    """A percentage with one decimal, or None when nothing counted."""
    return round(100 * done / total, 1) if total else None


# Cases

@dataclass
class CaseTally:
    """Counts of one row of a case table."""
    label: str
    received: int = 0
    closed: int = 0
    in_time: int = 0
    late: int = 0
    visited: int = 0
    satisfied: int = 0
    workdays: int = 0
    url: str = ""
    key: object = None

    def add(self, c):
        self.received += 1
        self.closed += c.closed
        self.in_time += c.closed and not c.late
        self.late += c.late
        self.visited += c.visited
        self.satisfied += c.satisfied
        self.workdays += c.workdays if c.closed else 0

    @property
    def closed_rate(self):
        return rate(self.closed, self.received)

    @property
    def in_time_rate(self):
        return rate(self.in_time, self.closed)

    @property
    def satisfied_rate(self):
        return rate(self.satisfied, self.visited)

    @property
    def avg_workdays(self):
        return round(self.workdays / self.closed, 1) if self.closed else None


@dataclass
class CaseStats:
    period: StatsPeriod
    total: CaseTally
    tables: dict = field(default_factory=dict)   # dimension -> [CaseTally]


CASE_DIMENSIONS = {"grid": "网格", "category": "类别", "source": "来源", "handling_class": "办理类别",
                   "state": "状态（期末）", "department": "移交部门"}


def case_facts(grid, period, now=None):
    """One plain record per case received in the period under ``grid``, read as of the period's end."""
    ref = reference_time(period, now)
    t0 = utc_bounds(period.start, period.start)[0]
    rows = db.session.execute(
        select(Case.id, Case.category_id, Case.source, Case.handling_class, Case.created_at, Case.closed_at, Grid.path)
        .join(Grid, Grid.id == Case.grid_id)
        .where(starts_with(Grid.path, grid.path), Case.created_at >= t0, Case.created_at < ref)).all()
    if not rows:
        return []
    ids = select(Case.id).join(Grid, Grid.id == Case.grid_id).where(
        starts_with(Grid.path, grid.path), Case.created_at >= t0, Case.created_at < ref)
    events = defaultdict(list)
    for ev in db.session.execute(select(CaseEvent.case_id, CaseEvent.at, CaseEvent.action, CaseEvent.to_state,
                                        CaseEvent.deadline_at, CaseEvent.detail)
                                 .where(CaseEvent.case_id.in_(ids), CaseEvent.at < ref)
                                 .order_by(CaseEvent.case_id, CaseEvent.id)):
        events[ev.case_id].append(ev)
    first = min(to_local(r.created_at).date() for r in rows)
    days = workdays_in(first, to_local(ref).date())
    facts = []
    for r in rows:
        evs = events.get(r.id, [])
        closed = r.closed_at is not None and r.closed_at < ref
        state, dept, deadline = "reported", NOT_TRANSFERRED, None
        visited = satisfied = 0
        for ev in evs:
            if ev.to_state:
                state = ev.to_state
            if ev.action == "transfer" and ev.detail.startswith("移交 "):
                dept = ev.detail[3:].split("，")[0]
            if ev.action == "follow_up":
                visited += 1
                satisfied += ev.to_state == FOLLOW_UP_TARGET["satisfied"]
            if ev.deadline_at is not None:
                deadline = ev.deadline_at
        if closed:
            late = late_step(evs, r.closed_at) is not None
            workdays = bisect.bisect_right(days, to_local(r.closed_at).date()) - bisect.bisect_right(
                days, to_local(r.created_at).date())
        else:
            late = late_step(evs, ref) is not None or (deadline is not None and deadline < ref)
            workdays = 0
        facts.append(CaseFact(r.id, r.path, r.category_id, r.source, r.handling_class, state, dept, closed, late,
                              min(visited, 1), min(satisfied, 1) if visited else 0, workdays))
    return facts


@dataclass
class CaseFact:
    id: int
    path: str
    category_id: int
    source: str
    handling_class: str
    state: str
    department: str
    closed: bool
    late: bool
    visited: int
    satisfied: int
    workdays: int


def case_stats(grid, period, now=None, grid_url=None):
    """Case figures of ``grid``'s subtree for the period, in total and by each dimension."""
    facts = case_facts(grid, period, now)
    children = Children(grid)
    categories = dict(db.session.execute(select(CaseCategory.id, CaseCategory.name)).all())
    total = CaseTally("合计")
    tables = {}
    names = {
        "grid": lambda f: children.of(f.path),
        "category": lambda f: f.category_id,
        "source": lambda f: f.source,
        "handling_class": lambda f: f.handling_class,
        "state": lambda f: f.state,
        "department": lambda f: f.department,
    }
    order = {
        "grid": [c.id for c in children] + [None],
        "category": list(categories),
        "source": list(SOURCES),
        "handling_class": list(HANDLING_CLASSES),
        "state": list(STATES),
    }
    label = {
        "grid": lambda k: next((c.name for c in children if c.id == k), f"{grid.name}（本级）"),
        "category": lambda k: categories.get(k, "未分类"),
        "source": lambda k: SOURCES.get(k, k),
        "handling_class": lambda k: HANDLING_CLASSES.get(k, k),
        "state": lambda k: STATES.get(k, k),
        "department": lambda k: k,
    }
    for dim, key_of in names.items():
        rows = {}
        for f in facts:
            k = key_of(f)
            if k not in rows:
                rows[k] = CaseTally(label[dim](k), key=k)
            rows[k].add(f)
        if dim == "grid":
            # Every child grid is listed, with nothing as well: a village with no case is a figure too.
            for c in children:
                rows.setdefault(c.id, CaseTally(c.name, key=c.id))
        keys = order.get(dim)
        ordered = [rows[k] for k in keys if k in rows] if keys else sorted(
            rows.values(), key=lambda t: (t.key == NOT_TRANSFERRED, -t.received, t.label))
        ordered += [t for k, t in rows.items() if keys and k not in keys]
        if grid_url and dim == "grid":
            for t in ordered:
                if t.key is not None:
                    t.url = grid_url(t.key)
        tables[dim] = ordered
    for f in facts:
        total.add(f)
    return CaseStats(period, total, tables)


# Field work

@dataclass
class WorkRow:
    """Due and done of one grid's subtree (or the total)."""
    label: str
    counts: Counter
    url: str = ""
    key: object = None
    workers: int = 0

    def pair(self, name):
        return self.counts.get(f"{name}_due", 0), self.counts.get(f"{name}_done", 0)

    def pct(self, name):
        due, done = self.pair(name)
        return rate(done, due)


WORK_FIGURES = [
    # (key, title, done word, due word)
    ("visits", "走访覆盖", "已走访", "应走访"),
    ("logs", "日志完整", "已填写", "应填写（工作日）"),
    ("patrols", "巡查", "已巡查", "应巡查"),
    ("hazards_in_time", "隐患按期整改", "按期整改", "到期隐患"),
    ("meetings", "例会", "已召开", "应召开"),
]


def work_stats(grid, period, today=None, now=None, grid_url=None):
    """Visits, logs, patrols, hazards and meetings under ``grid`` for the period, per child grid."""
    today = today or local_today()
    activity = Activity([grid.path], period.start, period.end, today, now=now)
    children = Children(grid)
    workers = workers_under(grid)
    logs = activity.log_days([w.user for w in workers])
    hazards = hazard_counts(grid, period, children, now)

    def row(label, grid_ids, worker_list, key=None):
        counts = Counter()
        c = activity.sum_grids(grid_ids)
        counts["visits_due"], counts["visits_done"] = c["visits_due"], c["visits_done"]
        counts["patrols_due"], counts["patrols_done"] = c["patrols_done_due"], c["patrols_done_done"]
        counts["meetings_due"], counts["meetings_done"] = c["meetings_held_due"], c["meetings_held_done"]
        counts["hazards_in_time_due"] = c["hazards_in_time_due"]
        counts["hazards_in_time_done"] = c["hazards_in_time_done"]
        for w in worker_list:
            due, done, _ = logs.get(w.id, (0, 0, []))
            counts["logs_due"] += due
            counts["logs_done"] += done
        counts.update(hazards.get(key, Counter()) if key != "total" else sum(hazards.values(), Counter()))
        return WorkRow(label, counts, url=grid_url(key) if grid_url and key not in (None, "total") else "", key=key,
                       workers=len(worker_list))

    rows = []
    by_child = defaultdict(list)
    for w in workers:
        for child in {children.of(p) for p in w.paths if p.startswith(grid.path)} - {None}:
            by_child[child].append(w)
    for c in children:
        rows.append(row(c.name, activity.subtree(c.path), by_child[c.id], c.id))
    own = [grid.id]  # every grid below lies under one of the children
    if not children or any(activity.sum_grids(own).values()) or hazards.get(None):
        rows.append(row(f"{grid.name}（本级）" if children else grid.name, own,
                        [] if children else workers, None))
    total = row("合计", activity.subtree(grid.path), workers, "total")
    return rows, total


def hazard_counts(grid, period, children, now=None):
    """{child id (None: the grid itself): Counter(opened, closed, overdue)} for the period."""
    ref = reference_time(period, now)
    t0 = utc_bounds(period.start, period.start)[0]
    out = defaultdict(Counter)
    for path, created, closed, deadline in db.session.execute(
            select(Grid.path, Hazard.created_at, Hazard.closed_at, Hazard.deadline_at).join(Grid, Grid.id == Hazard.grid_id)
            .where(starts_with(Grid.path, grid.path), Hazard.created_at < ref,
                   or_(Hazard.closed_at.is_(None), Hazard.closed_at >= t0))):
        k = children.of(path)
        c = out[k]
        c["hazards_opened"] += created >= t0
        c["hazards_closed"] += closed is not None and t0 <= closed < ref
        c["hazards_overdue"] += deadline is not None and deadline < ref and (closed is None or closed >= ref)
    return out


# Build-out check

@dataclass
class Finding:
    grid_id: int
    grid_name: str
    place: str
    text: str
    path: str = ""


BUILDOUT_CHECKS = [
    ("no_leader", "没有网格长的网格"),
    ("no_worker", "没有网格员的网格"),
    ("small_team", f"服务团队不足 {MIN_TEAM_SIZE} 人的网格"),
    ("big_cluster", f"超过 {CLUSTER_MAX_HOUSEHOLDS} 户的最小网格"),
    ("worker_links", f"联系户不在 {LINK_MIN}–{LINK_MAX} 户的网格员"),
    ("no_notice", "没有公示牌信息的网格"),
    ("no_agreement", "没有有效责任状的行政村"),
]


def buildout(grid, today=None):
    """{check key: [Finding]} for the subtree of ``grid`` (篇二/篇四)."""
    today = today or local_today()
    out = {k: [] for k, _ in BUILDOUT_CHECKS}
    levels = {lv.id: lv for lv in db.session.scalars(select(GridLevel))}
    village = next((lv for lv in levels.values() if lv.key == "village"), None)
    grids = db.session.execute(select(Grid.id, Grid.name, Grid.path, Grid.parent_id, Grid.level_id)
                               .where(starts_with(Grid.path, grid.path)).order_by(Grid.path)).all()
    names = {g.id: g.name for g in grids}
    by_path = {g.path: g for g in grids}

    places = {}

    def place(g):
        parent = g.path[:g.path.rstrip("/").rfind("/") + 1]
        if parent not in places:
            ids = [int(x) for x in parent.strip("/").split("/") if x]
            places[parent] = " › ".join(names[i] for i in ids if i in names and i != grid.id)
        return places[parent]

    def finding(g, text):
        return Finding(g.id, g.name, place(g), text, g.path)

    with_children = {g.parent_id for g in grids}
    field_grids = [g for g in grids if village is None or levels[g.level_id].rank >= village.rank]
    staff = defaultdict(Counter)
    ids = select(Grid.id).where(starts_with(Grid.path, grid.path))
    for gid, role, n in db.session.execute(select(GridStaff.grid_id, GridStaff.role, func.count(GridStaff.id))
                                           .where(GridStaff.grid_id.in_(ids)).group_by(GridStaff.grid_id, GridStaff.role)):
        staff[gid][role] = n
    for g in field_grids:
        s = staff[g.id]
        if not s["leader"]:
            out["no_leader"].append(finding(g, "未设网格长"))
        if not s["worker"]:
            out["no_worker"].append(finding(g, "未设网格员"))
        if s["team_member"] < MIN_TEAM_SIZE:
            out["small_team"].append(finding(g, f"服务团队 {s['team_member']} 人"))
    households = dict(db.session.execute(
        select(Household.grid_id, func.count(Household.id)).where(Household.status == "active", Household.grid_id.in_(ids))
        .group_by(Household.grid_id)).all())
    for g in grids:
        if g.id not in with_children and households.get(g.id, 0) > CLUSTER_MAX_HOUSEHOLDS:
            out["big_cluster"].append(finding(g, f"{households[g.id]} 户"))
    # Workers serving here: their 联系户 (as 联系网格员) counted wherever the households are.
    links = dict(db.session.execute(
        select(ContactLink.user_id, func.count(ContactLink.id)).join(Household, Household.id == ContactLink.household_id)
        .where(ContactLink.role == "grid_worker", Household.status == "active").group_by(ContactLink.user_id)).all())
    for w in workers_under(grid):
        n = links.get(w.id, 0)
        if not LINK_MIN <= n <= LINK_MAX and w.home is not None and w.home.path in by_path:
            g = by_path[w.home.path]
            out["worker_links"].append(Finding(g.id, g.name, place(g), f"{w.name}：联系 {n} 户", g.path))
    noticed = set(db.session.scalars(select(GridNotice.grid_id).where(GridNotice.complaint_phone != "")))
    ancestors_noticed = any(i in noticed for i in grid.ancestor_ids())
    for g in field_grids:
        chain = [int(x) for x in g.path.strip("/").split("/") if x]
        if not ancestors_noticed and not any(i in noticed for i in chain):
            out["no_notice"].append(finding(g, "未填写公示牌的服务事项和监督电话（本网格及上级均无）"))
    current = set(db.session.scalars(select(Agreement.grid_id).where(
        Agreement.status.in_(("issued", "signed")), Agreement.period_start <= today, Agreement.period_end >= today,
        Agreement.grid_id.in_(ids))))
    for g in grids:
        if village is not None and g.level_id == village.id and g.id not in current:
            out["no_agreement"].append(finding(g, "没有在有效期内的已下发或已签订责任状"))
    return out


# The dashboard

# A period still running is read again after this many seconds (a new record shows within a minute);
# a finished period's figures are kept longer (they change only by late corrections).
OPEN_TTL = 30
CLOSED_TTL = 600
STALE_MAX = 30
# A request waits at most this long for the same figures being worked out by another thread (the
# start-up warm-up or a background refresh) before it works them out itself.
WAIT_MAX = 120


def _store():
    """This app's cache (each app its own: tests make many)."""
    return current_app.extensions.setdefault("stats_cache", {})


_working = {}  # (id(store), key) -> Event set when that computation ends
_working_lock = threading.Lock()
_Event = threading.Event  # what a waiting thread waits on


def _work_out(store, key, ttl, make, clock):
    """``make()``'s value stored under ``key``, worked out once however many threads ask at a time:
    a thread asking while another works it out waits for that one's value."""
    flight = (id(store), key)
    with _working_lock:
        done = _working.get(flight)
        mine = done is None
        if mine:
            done = _working[flight] = _Event()
    if not mine:
        done.wait(WAIT_MAX)
        hit = store.get(key)
        if hit is not None and clock() <= hit[0] + STALE_MAX:
            return hit[1]
        return make()  # the other computation failed (or took too long): this request's own
    try:
        value = make()
        if len(store) > 2000:
            store.clear()
        store[key] = (clock() + ttl, value)
        return value
    finally:
        with _working_lock:
            _working.pop(flight, None)
        done.set()


def working_on(key):
    """Whether this app's figures under ``key`` are being worked out now."""
    return (id(_store()), key) in _working


def cached(key, ttl, make, clock=None):
    """``make()``'s value, kept in this process for ``ttl`` seconds under ``key``."""
    clock = clock or time.monotonic
    store = _store()
    hit = store.get(key)
    if hit is not None and hit[0] > clock():
        return hit[1]
    return _work_out(store, key, ttl, make, clock)


def refreshed(key, ttl, make, clock=None):
    """Like :func:`cached`, but once ``ttl`` has passed the old value is still answered while one
    background thread works out the new one (so only the first request of a process waits for it).
    A value is never answered more than ``STALE_MAX`` seconds after its time ran out."""
    clock = clock or time.monotonic
    now = clock()
    store = _store()
    hit = store.get(key)
    if hit is None or now > hit[0] + STALE_MAX:
        return cached(key, ttl, make, clock)
    if now > hit[0] and not working_on(key):
        app = current_app._get_current_object()

        def run():
            try:
                with app.app_context(), reading_only():
                    _work_out(store, key, ttl, make, clock)
            except Exception:  # the next request past STALE_MAX works it out itself
                app.logger.exception("statistics: refreshing %s failed", key)

        threading.Thread(target=run, daemon=True, name="stats-refresh").start()
    return hit[1]


def last_months(today, n=12):
    """The last ``n`` months up to this one, oldest first."""
    out, day = [], today
    for _ in range(n):
        p = period_of("month", day)
        out.append(p)
        day = p.start - timedelta(days=1)
    return out[::-1]


def _month_counts(grid, month, now):
    """Cases received and closed, visits and patrols recorded in one month under ``grid``."""
    t0, t1 = utc_bounds(month.start, month.end)
    t1 = min(t1, now)
    under = starts_with(Grid.path, grid.path)

    def count(model, column, *where):
        return db.session.scalar(select(func.count(model.id)).join(Grid, Grid.id == model.grid_id)
                                 .where(under, *where)) or 0

    return {"received": count(Case, Case.created_at, Case.created_at >= t0, Case.created_at < t1),
            "closed": count(Case, Case.closed_at, Case.closed_at >= t0, Case.closed_at < t1),
            "visits": count(Visit, Visit.visited_on, Visit.visited_on >= month.start, Visit.visited_on <= month.end),
            "patrols": count(Patrol, Patrol.patrolled_at, Patrol.patrolled_at >= t0, Patrol.patrolled_at < t1)}


def trends(grid, today=None, now=None):
    """[(month, counts)] of the last 12 months (finished months cached longer than the running one)."""
    today, now = today or local_today(), now or utcnow()
    out = []
    for m in last_months(today):
        ttl = OPEN_TTL if m.running(today) else CLOSED_TTL
        out.append((m, cached(("trend", grid.path, m.key), ttl, lambda m=m: _month_counts(grid, m, now))))
    return out


def open_overdue(grid, now=None):
    """{child id (None: the grid itself): open cases past their deadline now} under ``grid``."""
    now = now or utcnow()
    children = Children(grid)
    out = Counter()
    for path, n in db.session.execute(
            select(Grid.path, func.count(Case.id)).join(Grid, Grid.id == Case.grid_id)
            .where(starts_with(Grid.path, grid.path), Case.closed_at.is_(None), Case.deadline_at < now)
            .group_by(Grid.path)):
        out[children.of(path)] += n
    return out


@dataclass
class Attention:
    grid_id: int
    name: str
    reasons: list
    weight: int


def dashboard(grid, today=None):
    """Everything the dashboard shows, worked out at most a minute ago (a value older than half a
    minute is answered once more while it is worked out again in the background)."""
    today = today or local_today()
    month = period_of("month", today)
    grid_ref = GridKey(grid.id, grid.path, grid.name)
    return refreshed(("dashboard", grid.path, month.key), OPEN_TTL, lambda: _dashboard(grid_ref, today))


@dataclass(frozen=True)
class GridKey:
    """The plain values of a grid the dashboard needs (a background thread cannot use the request's
    ORM object)."""
    id: int
    path: str
    name: str

    def ancestor_ids(self):
        return [int(x) for x in self.path.strip("/").split("/") if x]


def _dashboard(grid, today):
    now = utcnow()
    month = period_of("month", today)
    cases = case_stats(grid, month, now)
    work_rows, work_total = work_stats(grid, month, today, now)
    overdue = open_overdue(grid, now)
    checks = buildout(grid, today)
    findings_by_child = Counter()
    children = Children(grid)
    for items in checks.values():
        for f in items:
            findings_by_child[children.of(f.path)] += 1
    attention = []
    for r in work_rows:
        if r.key is None:
            continue
        reasons, weight = [], 0
        if overdue.get(r.key):
            reasons.append(f"超期未办结事件 {overdue[r.key]} 件")
            weight += 3 * overdue[r.key]
        for name, title in (("visits", "走访覆盖"), ("logs", "日志完整率"), ("patrols", "巡查完成率")):
            pct = r.pct(name)
            if pct is not None and pct < 60:
                reasons.append(f"{title} {pct:g}%")
                weight += int(60 - pct) // 10 + 1
        if r.counts.get("hazards_overdue"):
            reasons.append(f"逾期未整改隐患 {r.counts['hazards_overdue']} 处")
            weight += 2 * r.counts["hazards_overdue"]
        if findings_by_child.get(r.key):
            reasons.append(f"建设缺项 {findings_by_child[r.key]} 项")
            weight += 1
        if reasons:
            attention.append(Attention(r.key, r.label, reasons, weight))
    attention.sort(key=lambda a: (-a.weight, a.name))
    return {"month": month, "cases": cases, "work_rows": work_rows, "work_total": work_total,
            "overdue_now": sum(overdue.values()), "trends": trends(grid, today, now), "attention": attention,
            "checks": {k: len(v) for k, v in checks.items()}, "made_at": now}


# --- the work page and the start-up warm-up -------------------------------------------------------

def work_figures(grid, period, grid_url=None, today=None):
    """:func:`work_stats` kept like the dashboard's figures: a running period for ``OPEN_TTL`` seconds
    (a new record shows within a minute), a finished one for ``CLOSED_TTL``."""
    today = today or local_today()
    ttl = OPEN_TTL if period.running(today) else CLOSED_TTL
    return cached(("work", grid.path, period.kind, period.start, period.end, today), ttl,
                  lambda: work_stats(grid, period, today, grid_url=grid_url))


WARM_GRIDS = 60  # the top grids whose dashboard is worked out after start-up


def top_grids(limit=WARM_GRIDS):
    """The grids without a parent (the county) and those right below them (the townships), top first."""
    roots = db.session.execute(select(Grid.id, Grid.path, Grid.name).where(Grid.parent_id.is_(None))
                               .order_by(Grid.id)).all()
    below = db.session.execute(select(Grid.id, Grid.path, Grid.name)
                               .where(Grid.parent_id.in_([r.id for r in roots])).order_by(Grid.path)
                               .limit(limit)).all() if roots else []
    return [GridKey(*r) for r in [*roots, *below]][:limit]


def warm_up(app):
    """Work out this month's dashboard of the top grids into this process's cache (after start-up, in
    a background thread): the first leader to open one reads it at once, or waits for the one
    computation under way instead of starting another. The number of grids warmed."""
    with app.app_context(), reading_only():
        grids = top_grids()
    n = 0
    for g in grids:
        with app.app_context(), reading_only():
            dashboard(g)
            n += 1
    return n
