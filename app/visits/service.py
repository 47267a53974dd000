"""Visit rules, recording a visit (idempotent), due and overdue lists, coverage."""
import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from ..accounts.permissions import roles_with
from ..cases import service as cases
from ..core import audit, idempotency, uploads
from ..core import photos as photo_store
from ..core.forms import ServiceError
from ..core.timeutil import LOCAL_TZ, local_today, to_local, utcnow
from ..extensions import db
from ..grids.models import Grid, GridStaff
from ..grids.scope import get_scoped_or_404, grid_clause, subtree_ids
from ..households.contacts import workers_of
from ..households.models import PARTY_MEMBER, CategoryTag, ContactLink, Household, HouseholdCategory, Resident
from ..households.service import households_query
from .models import (DEFAULT_RULES, GROUP_PREFIX, METHODS, PARTY_KEY, PARTY_NAME, PERIODS, TARGETS, VISITORS, Visit,
                     VisitPhoto, VisitProblem, VisitRule)

# Account roles counted as cadres (驻村干部) for the yearly rule (the permissions table); holders
# of the 联系领导 post count too, whatever their account role.
CADRE_ROLES = roles_with("visit_as_cadre")
MAX_BACKDATE_DAYS = 31


# Periods

def period_bounds(period, day):
    """First and last day of the calendar month, quarter or year containing ``day``."""
    if period == "month":
        start = day.replace(day=1)
        return start, day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if period == "quarter":
        first = (day.month - 1) // 3 * 3 + 1
        last = first + 2
        return date(day.year, first, 1), date(day.year, last, calendar.monthrange(day.year, last)[1])
    if period == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    raise ValueError(period)


def previous_bounds(period, day):
    """The period before the one containing ``day``."""
    start, _ = period_bounds(period, day)
    return period_bounds(period, start - timedelta(days=1))


def period_label(period, day):
    """e.g. 2026年11月, 2026年第4季度, 2026年."""
    if period == "month":
        return f"{day.year}年{day.month}月"
    if period == "quarter":
        return f"{day.year}年第{(day.month - 1) // 3 + 1}季度"
    return f"{day.year}年"


def week_bounds(day):
    """Monday and Sunday of the week containing ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


# Rules

def ensure_visit_rules():
    """Insert the default rules when there are none (idempotent)."""
    if db.session.scalar(select(func.count(VisitRule.id)).where(VisitRule.grid_id.is_(None))):
        return
    for i, (name, target, methods, period, visitor) in enumerate(DEFAULT_RULES):
        db.session.add(VisitRule(grid_id=None, name=name, target=target, methods=methods, period=period,
                                 visitor=visitor, sort_order=i))
    db.session.flush()


def category_choices(grid):
    """[(key, label)] a rule of ``grid`` (None: the defaults) may target: whole groups, 党员户, then each
    category shared by all or owned by the grid or a grid above it."""
    q = select(HouseholdCategory).order_by(HouseholdCategory.group, HouseholdCategory.id)
    owners = grid.ancestor_ids() if grid is not None else []
    q = q.where(or_(HouseholdCategory.grid_id.is_(None), HouseholdCategory.grid_id.in_(owners)))
    cats = db.session.scalars(q).all()
    groups = [g for g in dict.fromkeys(c.group for c in cats) if sum(1 for c in cats if c.group == g) > 1]
    return ([(GROUP_PREFIX + g, f"全部{g}（任一类）") for g in groups] + [(PARTY_KEY, PARTY_NAME)]
            + [(c.key, f"{c.name}（{c.group}{'，重点户' if c.is_key else ''}）") for c in cats])


def category_label(rule):
    """The categories a rule targets, in Chinese (the rules page)."""
    if rule.target != "categories":
        return TARGETS.get(rule.target, rule.target)
    names = []
    keys = rule.category_keys
    cats = {c.key: c.name for c in db.session.scalars(select(HouseholdCategory).where(HouseholdCategory.key.in_(keys)))}
    for k in keys:
        if k == PARTY_KEY:
            names.append("党员户")
        elif k.startswith(GROUP_PREFIX):
            names.append("全部" + k[len(GROUP_PREFIX):])
        else:
            names.append(cats.get(k, "（已删除的类别）"))
    return "、".join(names)


def rules_owner_id(grid):
    """The id of the nearest grid (itself or above) with rules of its own, or None for the defaults."""
    ids = grid.ancestor_ids()
    owners = set(db.session.scalars(select(distinct(VisitRule.grid_id)).where(VisitRule.grid_id.in_(ids))))
    for gid in reversed(ids):
        if gid in owners:
            return gid
    return None


def rules_of(owner_id, active_only=True):
    q = select(VisitRule).where(VisitRule.grid_id.is_(None) if owner_id is None else VisitRule.grid_id == owner_id)
    if active_only:
        q = q.where(VisitRule.active.is_(True))
    return db.session.scalars(q.order_by(VisitRule.sort_order, VisitRule.id)).all()


def effective_rules(grid, active_only=True):
    return rules_of(rules_owner_id(grid), active_only)


def customize_rules(grid):
    """Give ``grid`` its own copy of the rules it inherits, to edit."""
    if db.session.scalar(select(func.count(VisitRule.id)).where(VisitRule.grid_id == grid.id)):
        return
    for r in effective_rules(grid, active_only=False):
        db.session.add(VisitRule(grid_id=grid.id, name=r.name, target=r.target, methods=r.methods, period=r.period,
                                 visitor=r.visitor, categories=r.categories, active=r.active, sort_order=r.sort_order))
    db.session.flush()


def reset_rules(grid):
    """Drop the grid's own rules: it follows the grid above (or the defaults) again."""
    for r in db.session.scalars(select(VisitRule).where(VisitRule.grid_id == grid.id)):
        db.session.delete(r)
    db.session.flush()


def check_rule_fields(name, target, methods, period, visitor, categories=(), grid=None):
    """The checked (name, methods, categories) of a rule; categories only for the target 指定类别."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("请填写规则名称。", "name")
    if target not in TARGETS:
        raise ServiceError("请选择适用的户。", "target")
    if target == "categories":
        allowed = [k for k, _ in category_choices(grid)]
        if not categories:
            raise ServiceError("适用于“指定类别的户”时，请至少勾选一个类别。", "categories")
        if any(k not in allowed for k in categories):
            raise ServiceError("所选类别在本网格不可用，请刷新页面后重新勾选。", "categories")
        categories = ",".join(k for k in allowed if k in categories)
    else:
        categories = ""
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ServiceError("走访方式无效。", "methods")
    if period not in PERIODS:
        raise ServiceError("请选择频次。", "period")
    if visitor not in VISITORS:
        raise ServiceError("请选择走访人。", "visitor")
    return name, ",".join(m for m in METHODS if m in methods), categories


def save_rule(grid, rule, name, target, methods, period, visitor, active, categories=()):
    """Create (rule None) or change one of the grid's own rules."""
    name, methods, categories = check_rule_fields(name, target, methods, period, visitor, categories, grid)
    if rule is None:
        customize_rules(grid)
        last = db.session.scalar(select(func.max(VisitRule.sort_order)).where(VisitRule.grid_id == grid.id)) or 0
        rule = VisitRule(grid_id=grid.id, sort_order=last + 1)
        db.session.add(rule)
    rule.name, rule.target, rule.methods, rule.period, rule.visitor, rule.active, rule.categories = (
        name, target, methods, period, visitor, bool(active), categories)
    db.session.flush()
    return rule


# Who counts as a cadre

def is_cadre(user):
    if user.role in CADRE_ROLES:
        return True
    return db.session.scalar(select(func.count(GridStaff.id)).where(
        GridStaff.user_id == user.id, GridStaff.role == "contact_cadre")) > 0


# Recording

def check_visit_time(local_dt, now_local=None):
    """A visit is recorded on the day or up to a month later, never in the future."""
    now_local = now_local or datetime.now(LOCAL_TZ).replace(tzinfo=None)
    if local_dt > now_local + timedelta(minutes=10):
        raise ServiceError("走访时间不能晚于现在。", "visited_at")
    if local_dt.date() < now_local.date() - timedelta(days=MAX_BACKDATE_DAYS):
        raise ServiceError(f"只能补记 {MAX_BACKDATE_DAYS} 天以内的走访。", "visited_at")


def _checked_content(method, visited_at_local, learned, problems, *, time_unchanged=False, kept_problems=0):
    """The checks a new or corrected visit passes; returns (learned, problem lines) cleaned up.
    ``kept_problems``: problems a correction keeps as they are (already cases)."""
    if method not in METHODS:
        raise ServiceError("请选择走访方式。", "method")
    if not time_unchanged:
        check_visit_time(visited_at_local)
    learned = (learned or "").strip()
    problems = [p.strip() for p in problems if p and p.strip()]
    if not learned and not problems and not kept_problems:
        raise ServiceError("请填写了解到的情况或发现的问题。", "learned")
    return learned, problems


def record_visit(user, household, *, method, visited_at_local, companions="", learned="", problems=(),
                 photos=(), key):
    """Save a visit with its problems and photos; returns (visit, created).

    The same ``key`` from the same user returns the visit already saved, so a
    double tap or a retried submit never makes two (``core.idempotency``).
    """
    existing = idempotency.claim(key, user.id, "visits.new")
    if existing is not None:
        return existing, False
    if household.status != "active":
        raise ServiceError("该户已注销，不能再登记走访。")
    learned, problems = _checked_content(method, visited_at_local, learned, problems)
    images = uploads.check_photos(photos)
    visited_at = _local_to_utc(visited_at_local)
    visit = Visit(household_id=household.id, grid_id=household.grid_id, user_id=user.id, method=method,
                  visited_at=visited_at, visited_on=visited_at_local.date(), by_cadre=is_cadre(user),
                  companions=(companions or "").strip()[:200], learned=learned)
    db.session.add(visit)
    db.session.flush()
    for text in problems:
        db.session.add(VisitProblem(visit_id=visit.id, description=text))
    # The files go away again if the visit is not committed (uploads.write_with_session).
    for img in images:
        s = photo_store.store_image(img, "visits")
        db.session.add(VisitPhoto(visit_id=visit.id, file_name=s.file_name, width=s.width, height=s.height,
                                  size=s.size))
    db.session.flush()
    idempotency.made(key, visit)
    return visit, True


def edit_refusal(user, visit, day=None):
    """Why ``user`` may not correct ``visit`` (moved to ``day``), in Chinese; None when they may.

    Only the visitor corrects a visit, and only until a leader has checked that week's
    work (周查): after that the record stays as checked, and a correction goes into the
    day's work log as an amendment.
    """
    if visit.user_id != user.id:
        return "只有走访人本人可以修改这条走访记录。"
    for d in sorted({visit.visited_on, day or visit.visited_on}):
        for lock in _edit_locks.values():
            why = lock(visit.user_id, d)
            if why:
                return why
    return None


# Why a visitor's record of a day may no longer be corrected, added by an area above this one
# (the work logs' week check): {name: fn(user_id, day) -> message or None}.
_edit_locks = {}


def edit_lock(fn):
    """Register a reason that locks a visitor's visits of a day (decorator)."""
    _edit_locks[fn.__qualname__] = fn
    return fn


def update_visit(user, visit, *, method, visited_at_local, companions="", learned="", problems=(),
                 remove_photo_ids=(), photos=()):
    """Correct a visit: how, when, companions, what was learned, the problems not yet made cases,
    and its photos (some removed, more added, at most MAX_PHOTOS in all).

    Problems already turned into cases stay as they are. Every change is audited
    (old and new values); the visit page says when it was corrected.
    """
    refusal = edit_refusal(user, visit, visited_at_local.date())
    if refusal:
        raise ServiceError(refusal)
    removed = [p for p in visit.photos if p.id in set(remove_photo_ids)]
    kept = len(visit.photos) - len(removed)
    photos = [f for f in photos if f and getattr(f, "filename", "")]
    if kept + len(photos) > uploads.MAX_PHOTOS:
        raise ServiceError(f"一次走访最多 {uploads.MAX_PHOTOS} 张照片：保留 {kept} 张，最多再加 "
                           f"{uploads.MAX_PHOTOS - kept} 张，这次选了 {len(photos)} 张。", "photos")
    images = uploads.check_photos(photos)
    old_local = to_local(visit.visited_at).replace(tzinfo=None)
    learned, problems = _checked_content(method, visited_at_local, learned, problems,
                                         time_unchanged=visited_at_local == old_local,
                                         kept_problems=sum(1 for p in visit.problems if p.case_id))
    changed = False
    wanted = list(problems)
    for p in [p for p in visit.problems if not p.case_id]:
        if p.description in wanted:
            wanted.remove(p.description)
        else:
            db.session.delete(p)
            changed = True
    for text in wanted:
        db.session.add(VisitProblem(visit_id=visit.id, description=text))
        changed = True
    files = []
    for photo in removed:
        files += photo_store.stored_files(photo.file_name)
        db.session.delete(photo)
        changed = True
    for img in images:
        stored = photo_store.store_image(img, "visits")
        db.session.add(VisitPhoto(visit_id=visit.id, file_name=stored.file_name, width=stored.width,
                                  height=stored.height, size=stored.size))
        changed = True
    uploads.delete_with_session(files)  # once the correction is committed
    if removed or images:
        audit.record("update", "visit", visit.id, f"{visit.audit_label}；照片：删除 {len(removed)} 张，新增 {len(images)} 张")
    visit.method = method
    visit.visited_at = _local_to_utc(visited_at_local)
    visit.visited_on = visited_at_local.date()
    visit.companions = (companions or "").strip()[:200]
    visit.learned = learned
    if changed or db.session.is_modified(visit):
        visit.updated_at = utcnow()
    db.session.flush()
    db.session.expire(visit, ["problems", "photos"])
    return visit


def delete_visit(user, visit):
    """Delete a visit recorded by mistake (the wrong household, twice by hand), under the same rule as a
    correction; refused once a problem of it became a case. The audit log keeps what was deleted."""
    refusal = edit_refusal(user, visit)
    if refusal:
        raise ServiceError(refusal.replace("修改", "删除", 1))
    if any(p.case_id for p in visit.problems):
        raise ServiceError("这次走访发现的问题已转为事件，走访记录不能删除；如有登记错误，请修改走访内容。")
    files = []
    for photo in list(visit.photos):
        files += photo_store.stored_files(photo.file_name)
        db.session.delete(photo)
    for problem in list(visit.problems):
        db.session.delete(problem)
    db.session.flush()
    db.session.delete(visit)
    db.session.flush()
    uploads.delete_with_session(files)  # once the deletion is committed


def _local_to_utc(local_dt):
    return local_dt.replace(tzinfo=LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)


# Queries

def visits_query(user):
    """Visits in the user's grids (through the grid the household was in when visited)."""
    scope = db.aliased(Grid)
    return select(Visit).join(scope, scope.id == Visit.grid_id).where(grid_clause(user, scope))


def get_visit_or_404(user, visit_id):
    """A visit through the scope of its grid and its household's, else 404."""
    return get_scoped_or_404(user, Visit, visit_id, grids_of=lambda v: (v.grid, v.household.grid))


def household_visits(household):
    return db.session.scalars(select(Visit).where(Visit.household_id == household.id)
                              .options(joinedload(Visit.user), selectinload(Visit.problems),
                                       selectinload(Visit.photos))
                              .order_by(Visit.visited_at.desc(), Visit.id.desc())).all()


def day_visits(user, day):
    """The user's visits of one day, in order (they fill the day's work log)."""
    return db.session.scalars(select(Visit).where(Visit.user_id == user.id, Visit.visited_on == day)
                              .options(joinedload(Visit.household).joinedload(Household.head),
                                       selectinload(Visit.problems))
                              .order_by(Visit.visited_at, Visit.id)).all()


# Due and overdue

@dataclass
class DueItem:
    household: Household
    rules: list = field(default_factory=list)  # (rule, status, deadline, last)
    status: str = "due"        # the worst of the rules: overdue before due
    deadline: date = None      # the nearest deadline among them
    last_visit: date = None    # the latest visit of any kind
    today: date = None         # the day the list was worked out for

    @property
    def overdue_days(self):
        return ((self.today or local_today()) - self.deadline).days if self.status == "overdue" else 0

    @property
    def method(self):
        """The visit method that satisfies the most urgent rule (the visit form opens with it); None: any."""
        urgent = sorted(self.rules, key=lambda r: (r[1] != "overdue", r[2]))
        return next((r.preferred_method for r, _, _, _ in urgent if r.preferred_method), None)


@dataclass
class HouseholdKinds:
    """What the visit rules ask of households: which are 重点户, and each one's category keys."""

    key_ids: set
    keys: dict  # household id -> {category key, "group:<group>", PARTY_KEY}

    def of(self, household_id):
        return self.keys.get(household_id, set())


def household_kinds(household_ids, today):
    """The active categories (and 党员户) of these households, for the rules."""
    kinds = HouseholdKinds(set(), {})
    if not household_ids:
        return kinds
    rows = db.session.execute(
        select(CategoryTag.household_id, HouseholdCategory.key, HouseholdCategory.group, HouseholdCategory.is_key)
        .join(HouseholdCategory, HouseholdCategory.id == CategoryTag.category_id)
        .where(CategoryTag.household_id.in_(household_ids), CategoryTag.start_date <= today,
               or_(CategoryTag.end_date.is_(None), CategoryTag.end_date > today))).all()
    for hid, key, group, is_key in rows:
        kinds.keys.setdefault(hid, set()).update({key, GROUP_PREFIX + group})
        if is_key:
            kinds.key_ids.add(hid)
    party = db.session.scalars(select(distinct(Resident.household_id)).where(
        Resident.household_id.in_(household_ids), Resident.status == "active",
        Resident.political_status.in_(PARTY_MEMBER)))
    for hid in party:
        kinds.keys.setdefault(hid, set()).add(PARTY_KEY)
    return kinds


def _last_visits(household_ids, since):
    """{household id: [(method, by_cadre, latest day)]} for visits on or after ``since``."""
    out = {}
    if not household_ids:
        return out
    rows = db.session.execute(
        select(Visit.household_id, Visit.method, Visit.by_cadre, func.max(Visit.visited_on))
        .where(Visit.household_id.in_(household_ids), Visit.visited_on >= since)
        .group_by(Visit.household_id, Visit.method, Visit.by_cadre)).all()
    for hid, method, by_cadre, day in rows:
        out.setdefault(hid, []).append((method, by_cadre, day))
    return out


def rule_applies(rule, *, linked, key, categories=frozenset()):
    """Whether the rule asks anything of a household (linked by the user, a 重点户, with these category keys)."""
    if rule.target == "categories":
        return any(k in categories for k in rule.category_keys)
    return (rule.target == "all" or (rule.target == "linked" and linked) or (rule.target == "key" and key)
            or (rule.target == "ordinary" and not key))


def rule_status(rule, visits, since, today):
    """('ok' | 'due' | 'overdue', deadline, last qualifying day) of one rule for one household.

    ok: a qualifying visit in the current period. due: none yet, but the previous
    period was covered (or the household came under the rule since it began);
    the deadline is the end of this period. overdue: the previous period passed
    without one; the deadline missed is the end of the previous period.
    """
    methods = rule.method_set
    last = max((d for m, c, d in visits if (not methods or m in methods) and (rule.visitor != "cadre" or c)),
               default=None)
    start, end = period_bounds(rule.period, today)
    prev_start, prev_end = previous_bounds(rule.period, today)
    if last and last >= start:
        return "ok", None, last
    if (last and last >= prev_start) or since >= prev_start:
        return "due", end, last
    return "overdue", prev_end, last


def due_for_households(households, user, today=None, linked_since=None):
    """DueItems for the households (those with something due or overdue), nearest deadline first.

    ``linked_since`` maps household id → the day the user began linking it
    (those households count as linked for the 联系户 rules).
    """
    today = today or local_today()
    linked_since = linked_since or {}
    ids = [h.id for h in households]
    kinds = household_kinds(ids, today)
    visits = _last_visits(ids, date(today.year - 1, 1, 1))
    cadre = is_cadre(user)
    rules_cache = {}
    items = []
    for h in households:
        if ("owner", h.grid_id) not in rules_cache:
            rules_cache[("owner", h.grid_id)] = rules_owner_id(h.grid)
        owner = rules_cache[("owner", h.grid_id)]
        if ("rules", owner) not in rules_cache:
            rules_cache[("rules", owner)] = rules_of(owner)
        rules = rules_cache[("rules", owner)]
        created = to_local(h.created_at).date() if h.created_at else today
        item = DueItem(household=h, today=today, last_visit=max((d for _, _, d in visits.get(h.id, [])), default=None))
        for rule in rules:
            if rule.visitor == "cadre" and not cadre:
                continue
            linked = h.id in linked_since
            if not rule_applies(rule, linked=linked, key=h.id in kinds.key_ids, categories=kinds.of(h.id)):
                continue
            since = max(created, linked_since[h.id]) if linked and rule.target == "linked" else created
            status, deadline, last = rule_status(rule, visits.get(h.id, []), since, today)
            if status != "ok":
                item.rules.append((rule, status, deadline, last))
        if item.rules:
            item.status = "overdue" if any(s == "overdue" for _, s, _, _ in item.rules) else "due"
            item.deadline = min(d for _, s, d, _ in item.rules if s == item.status)
            items.append(item)
    items.sort(key=lambda i: (i.status != "overdue", i.deadline, i.household.address))
    return items


def my_due(user, today=None):
    """Due and overdue visits of the households the user links (the home screen's list)."""
    today = today or local_today()

    rows = db.session.execute(
        households_query(user).add_columns(ContactLink.since)
        .join(ContactLink, ContactLink.household_id == Household.id)
        .where(ContactLink.user_id == user.id, Household.status == "active")
        .options(joinedload(Household.head), joinedload(Household.grid))).all()
    households = [r[0] for r in rows]
    return due_for_households(households, user, today, {r[0].id: r[1] for r in rows})


def household_due(user, household, today=None):
    """The DueItem of one household for ``user`` (None when nothing is due): the visit form shows it."""
    since = db.session.scalar(select(ContactLink.since).where(ContactLink.household_id == household.id,
                                                              ContactLink.user_id == user.id))
    items = due_for_households([household], user, today, {household.id: since} if since else {})
    return items[0] if items else None


def split_due(items, today=None):
    """(overdue, due this week, due later) from a due list."""
    today = today or local_today()
    _, sunday = week_bounds(today)
    overdue = [i for i in items if i.status == "overdue"]
    this_week = [i for i in items if i.status == "due" and i.deadline <= sunday]
    later = [i for i in items if i.status == "due" and i.deadline > sunday]
    return overdue, this_week, later


# Coverage

@dataclass
class CoverageRow:
    label: str
    total: int
    visited: int
    url: str = ""
    flag: str = ""

    @property
    def percent(self):
        return round(100 * self.visited / self.total) if self.total else 0


def _visited_subquery(start, end):
    return select(Visit.household_id).where(Visit.visited_on >= start, Visit.visited_on <= end)


def grid_coverage(grid, start, end):
    """One row per child grid (or the grid itself when it has none): active households and how many were visited."""
    children = db.session.scalars(select(Grid).where(Grid.parent_id == grid.id)
                                  .order_by(Grid.sort_order, Grid.name)).all() or [grid]
    visited = _visited_subquery(start, end)
    rows = []
    # One grouped count per child over its subtree, keyed by the path prefix.
    for child in children:
        base = (select(func.count(Household.id)).join(Grid, Grid.id == Household.grid_id)
                .where(Household.status == "active", Grid.id.in_(subtree_ids(child))))
        total = db.session.scalar(base)
        done = db.session.scalar(base.where(Household.id.in_(visited))) if total else 0
        rows.append(CoverageRow(child.name, total, done))
        rows[-1].grid = child
    return rows


def worker_coverage(grid, start, end):
    """One row per worker serving in the grid: households linked and how many were visited."""
    visited = _visited_subquery(start, end)
    loads = workers_of(grid)
    ids = [w.user.id for w in loads]
    if not ids:
        return []
    base = (select(ContactLink.user_id, func.count(ContactLink.id))
            .join(Household, Household.id == ContactLink.household_id)
            .where(ContactLink.user_id.in_(ids), Household.status == "active",
                   Household.grid_id.in_(subtree_ids(grid))).group_by(ContactLink.user_id))
    total = dict(db.session.execute(base).all())
    done = dict(db.session.execute(base.where(Household.id.in_(visited))).all())
    rows = []
    for w in loads:
        row = CoverageRow(w.user.full_name, total.get(w.user.id, 0), done.get(w.user.id, 0))
        row.user = w.user
        rows.append(row)
    return rows


def unvisited_query(user, grid, start, end):
    """Active households in the grid's subtree with no visit in the period."""
    return (households_query(user).options(joinedload(Household.head), joinedload(Household.grid))
            .where(Household.grid_id.in_(subtree_ids(grid)), Household.status == "active",
                   Household.id.not_in(_visited_subquery(start, end)))
            .order_by(Household.grid_id, Household.address, Household.id))


# A problem becomes a case

def problem_to_case(user, problem):
    """Raise a case from a problem found on a visit (once); returns the case.

    It starts 待受理 at the household's grid in the category 其他, with the
    household attached; the desk sets category and handling class on 受理.
    """
    # Two taps at once (two phones): the second waits for the first and finds its case (PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already runs them one after the other).
    db.session.refresh(problem, with_for_update=True)
    if problem.case_id:
        raise ServiceError("这个问题已经转为事件。")
    visit = problem.visit
    text = problem.description.strip()
    title = text.splitlines()[0][:100]
    note = f"{visit.method_name}走访 {visit.household.address}（{to_local(visit.visited_at):%Y-%m-%d}，{visit.user.full_name}）发现。"
    case = cases.create_case(user, visit.household.grid, cases.CaseData(
        title=title, description=f"{text}\n{note}", category_id=cases.public_category().id,
        household_id=visit.household_id, reporter_name=visit.household.head_name or ""),
        source="visit", source_ref=f"visit:{visit.id}")
    problem.case_id = case.id
    db.session.flush()
    return case
