"""What was due and what was done in a period, read from the records the other areas keep.

One :class:`Activity` reads a subtree (or one worker's households) for one period with a
handful of grouped queries, and keeps counters per grid and per user; a subject's figure is
the sum over the grids of its subtree (a contiguous range of the sorted paths) or its own
user counters. With ``detail`` it also keeps the records behind each figure (which visits were
due and not made, which working days had no log …) for the subject's own page.

The rules, one place each:

- **visits_done**: a visit rule (app/visits) is an obligation per household and per window of
  its frequency (month, quarter, year); a window counts in the assessment period that contains
  its last day. It is due when the household existed on the window's first day (for 联系户
  rules: was linked by then) and the rule applies to it (key household: a key category tag on
  the period's last day counted). It is done by a visit in the window of a method the rule
  accepts (by a cadre for cadre rules). A worker answers for the households they link (cadre
  rules only if they are a cadre); a grid for every household of its subtree. A visit counts for its
  household wherever it was recorded (a household that moved to another grid keeps its visits), so a
  subject's figure does not depend on the scope it is computed in.
- **log_days**: every working day (app/core/workdays, holidays and 调休 included) from the
  period's first day, or the day the account was created, to its last day (today excluded
  while the period runs) is due; a log with text that day is done.
- **cases_in_time**: cases closed in the period that arose in the subject's grids; in time when
  no step of the timeline up to closing came after the deadline then in force (an approved
  extension moves it).
- **satisfaction**: return visits (回访) in the period; done when the resident was satisfied.
- **patrols_done**: per grid of a level with a patrol rule and per active unit with a risk
  grade rule: floor(days ÷ every N days) patrols are due (at least one in a finished period;
  days so far in a running one); patrols beyond that do not make up for another object.
- **hazards_in_time**: hazards whose deadline fell in the period (and has passed); done when
  closed by it.
- **meetings_held**: each meeting kind with a cadence, for each grid of its level, each of its
  periods ending in the assessment period (or running now); done when one was held.
- **attendance**: attendance rows of meetings held in the period; present counts, absent does
  not, 请假 (excused) and 未登记 are left out.
"""
import bisect
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace

from sqlalchemy import and_, case, func, literal, or_, select

from ..accounts.models import User
from ..cases.models import Case, CaseEvent
from ..cases.workflow import FOLLOW_UP_TARGET
from ..core.db import starts_with
from ..core.timeutil import LOCAL_TZ, to_local
from ..core.workdays import workdays_in
from ..extensions import db
from ..grids.models import Grid, GridLevel, GridStaff
from ..households.models import PARTY_MEMBER, CategoryTag, ContactLink, Household, HouseholdCategory, Resident
from ..meetings.models import Meeting, MeetingAttendee, MeetingKind
from ..meetings.service import period_label as meeting_period_label
from ..meetings.service import period_start as meeting_period_start
from ..meetings.service import previous_period
from ..patrols.models import Hazard, Patrol, PatrolRule
from ..units.models import Unit
from ..visits.models import GROUP_PREFIX, PARTY_KEY, Visit, VisitRule
from ..visits.service import CADRE_ROLES, period_bounds, period_label
from ..worklogs.models import WorkLog

# Steps taken by others than the holder: they do not make a case late by themselves.
NOT_HANDLING = {"urge", "auto_urge", "report"}
DETAIL_LIMIT = 300  # records listed per item on a subject's page


def _read(statement):
    """Rows of a statement as plain tuples, without the ORM's per-row work (a county's reads are
    tens of thousands of rows; Activity flushes the session once when it starts)."""
    return db.session.connection().execute(statement)


def utc_bounds(first, last):
    """Naive UTC datetimes of the start of ``first`` and the end of ``last`` (local days)."""
    start = datetime.combine(first, time.min, tzinfo=LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=LOCAL_TZ).astimezone(timezone.utc)
    return start, end.replace(tzinfo=None)


def windows(kind, start, end):
    """The windows of a frequency (month/quarter/year) whose last day falls in [start, end]."""
    out, day = [], start
    while day <= end:
        w_start, w_end = period_bounds(kind, day)
        if start <= w_end <= end:
            out.append((w_start, w_end))
        day = w_end + timedelta(days=1)
    return out


def late_step(events, until):
    """(event, deadline) of the first handling step of a case's timeline (events in order, with
    ``at``, ``action``, ``deadline_at``) up to ``until`` that came after the deadline then in force
    (an approved extension moves it), or None: the case was handled in time so far."""
    deadline = None
    for ev in events:
        if ev.at > until:
            break
        if deadline is not None and ev.action not in NOT_HANDLING and ev.at > deadline:
            return ev, deadline
        if ev.deadline_at is not None:
            deadline = ev.deadline_at
    return None


class Activity:
    """Counters of due and done for one period over a set of grids (``paths``: subtree roots).

    ``worker``: read only the households this user links (a worker's own page).
    """

    def __init__(self, paths, start, end, today, detail=False, worker=None, now=None, grouped=True):
        self.paths = list(paths)
        self.start, self.end, self.today = start, end, today
        self.running = end >= today
        self.last = min(end, today)
        self.detail = detail
        self.worker = worker
        self.grouped = grouped
        self.now = now or datetime.now(timezone.utc).replace(tzinfo=None)
        self.grid_counts = defaultdict(Counter)   # grid id -> {"visits_due": n, ...}
        self.user_counts = defaultdict(Counter)   # user id -> {...}
        self.grid_details = defaultdict(lambda: defaultdict(list))
        self.user_details = defaultdict(lambda: defaultdict(list))
        db.session.flush()
        self._load_grids()
        if self.paths:
            self._visits()
            self._cases()
            self._patrols()
            self._hazards()
            self._meetings()
            self._attendance()

    # Grids

    def _where_paths(self, column):
        return or_(*[starts_with(column, p) for p in self.paths]) if self.paths else False

    def _load_grids(self):
        rows = _read(select(Grid.id, Grid.path, Grid.name, Grid.created_at, GridLevel.key)
                                  .join(GridLevel, GridLevel.id == Grid.level_id)
                                  .where(self._where_paths(Grid.path)).order_by(Grid.path)).all() if self.paths else []
        self.grids = {r.id: r for r in rows}
        self.sorted_paths = [r.path for r in rows]
        self.path_ids = [r.id for r in rows]

    def subtree(self, path):
        """Ids of the loaded grids in the subtree of ``path``."""
        lo = bisect.bisect_left(self.sorted_paths, path)
        hi = bisect.bisect_left(self.sorted_paths, path + "\uffff")
        return self.path_ids[lo:hi]

    def grid_ids_of(self, paths):
        """Ids of the loaded grids under any of ``paths`` (overlaps counted once)."""
        seen = []
        for p in sorted(paths):
            if not any(p.startswith(k) for k in seen):
                seen.append(p)
        return [gid for p in seen for gid in self.subtree(p)]

    def sum_grids(self, grid_ids):
        total = Counter()
        for gid in grid_ids:
            c = self.grid_counts.get(gid)
            if c:
                total.update(c)
        return total

    def details_of(self, grid_ids, key):
        out = []
        for gid in grid_ids:
            d = self.grid_details.get(gid)
            if d and d.get(key):
                out.extend(d[key])
        return out

    def _note(self, store, owner, key, text):
        if self.detail:
            lst = store[owner][key]
            if len(lst) < DETAIL_LIMIT:
                lst.append(text)

    # Visits

    def _rules_by_owner(self):
        """Active rules by owning grid, as plain values (the loop over households reads them often)."""
        by_owner = defaultdict(list)
        for r in db.session.scalars(select(VisitRule).where(VisitRule.active.is_(True))
                                    .order_by(VisitRule.sort_order, VisitRule.id)):
            by_owner[r.grid_id].append(SimpleNamespace(
                name=r.name, target=r.target, period=r.period, methods=frozenset(r.method_set),
                cadre=r.visitor == "cadre", category_keys=list(r.category_keys)))
        return by_owner

    def _visits(self):
        rules_by_owner = self._rules_by_owner()
        owners = set(k for k in rules_by_owner if k is not None)
        rules_cache = {}

        def rules_for(path):
            if path not in rules_cache:
                owner = None
                for gid in reversed([int(x) for x in path.strip("/").split("/") if x]):
                    if gid in owners:
                        owner = gid
                        break
                rules_cache[path] = rules_by_owner.get(owner, [])
            return rules_cache[path]

        kinds = {r.period for rules in rules_by_owner.values() for r in rules}
        wins = {k: windows(k, self.start, self.end) for k in kinds}
        # The household's first day (created) compared in UTC: created on or before a window's first
        # local day means created before the end of that day.
        day_end = {w: utc_bounds(w[0], w[0])[1] for ws in wins.values() for w in ws}
        if self.detail or self.worker is not None or not self.grouped:
            self._visits_by_household(rules_for, wins, day_end)
        else:
            self._visits_grouped(rules_by_owner, rules_for, wins, day_end)

    def _tally(self, rules, wins, grid_id, user_id, n, cadres, *, key, applies, created_ok, since_ok, ok,
               address=None):
        """Count ``n`` households alike (one, or a group of them read together) against their grid's rules.

        ``applies(rule)``: a categories rule targets them; ``created_ok(w)``: they existed on the window's
        first day; ``since_ok(w)``: linked by then; ``ok(rule, w)``: a visit the rule accepts was made in it.
        """
        linked = user_id is not None
        due_n = done_n = wdue_n = wdone_n = 0
        for rule in rules:
            target = rule.target
            if target == "categories":
                if not applies(rule):
                    continue
            elif not (target == "all" or (target == "linked" and linked) or (target == "key" and key)
                      or (target == "ordinary" and not key)):
                continue
            link_rule = linked and target == "linked"
            counts_for_worker = linked and (not rule.cadre or user_id in cadres)
            for w in wins.get(rule.period, ()):
                if not created_ok(w) or (link_rule and not since_ok(w)):
                    continue
                good = ok(rule, w)
                due_n += n
                done_n += n if good else 0
                if counts_for_worker:
                    wdue_n += n
                    wdone_n += n if good else 0
                if not good and self.detail:
                    label = "" if rule.period == "month" and w == (self.start, self.end) else \
                        f"（{period_label(rule.period, w[0])}）"
                    text = f"{address}：{rule.name}{label}，未走访"
                    self._note(self.grid_details, grid_id, "visits_done", text)
                    if counts_for_worker:
                        self._note(self.user_details, user_id, "visits_done", text)
        if due_n:
            gc = self.grid_counts[grid_id]
            gc["visits_due"] += due_n
            gc["visits_done"] += done_n
        if wdue_n:
            uc = self.user_counts[user_id]
            uc["visits_due"] += wdue_n
            uc["visits_done"] += wdone_n

    def _visits_by_household(self, rules_for, wins, day_end):
        """Household by household, keeping the records behind each figure (a subject's own page)."""
        q = (select(Household.id, Household.grid_id, Household.created_at, Household.address, Grid.path,
                    ContactLink.user_id, ContactLink.since)
             .join(Grid, Grid.id == Household.grid_id)
             .where(Household.status == "active"))
        if self.worker is not None:
            q = q.join(ContactLink, ContactLink.household_id == Household.id).where(ContactLink.user_id == self.worker.id)
        else:
            # The 联系网格员's link only: a household's other contacts would repeat its row.
            q = q.outerjoin(ContactLink, and_(ContactLink.household_id == Household.id,
                                              ContactLink.role == "grid_worker")).where(self._where_paths(Grid.path))
        households = _read(q).all()
        if not households:
            return
        # Key households and category keys (rules may target categories and 党员户): the tags active on
        # the period's last day counted.
        key_q = (select(CategoryTag.household_id, HouseholdCategory.key, HouseholdCategory.group,
                        HouseholdCategory.is_key)
                 .join(HouseholdCategory, HouseholdCategory.id == CategoryTag.category_id)
                 .join(Household, Household.id == CategoryTag.household_id)
                 .where(*self._tag_active()))
        party_q = select(Resident.household_id).distinct().join(Household, Household.id == Resident.household_id).where(
            *self._party())
        if self.worker is not None:
            key_q, party_q = [q.join(ContactLink, ContactLink.household_id == Household.id).where(
                ContactLink.user_id == self.worker.id) for q in (key_q, party_q)]
        else:
            key_q, party_q = [q.join(Grid, Grid.id == Household.grid_id).where(self._where_paths(Grid.path))
                              for q in (key_q, party_q)]
        key_ids, categories = set(), defaultdict(set)
        for hid, ckey, group, is_key in _read(key_q):
            categories[hid].update({ckey, GROUP_PREFIX + group})
            if is_key:
                key_ids.add(hid)
        for hid in db.session.scalars(party_q):
            categories[hid].add(PARTY_KEY)
        # Done sets per (rule frequency window): {(start, end): {(household, method, by_cadre)}}.
        done = {}
        for ws in wins.values():
            for w in ws:
                if w in done:
                    continue
                vq = select(Visit.household_id, Visit.method, Visit.by_cadre).where(
                    Visit.visited_on >= w[0], Visit.visited_on <= w[1]).distinct()
                if self.worker is not None:
                    vq = vq.join(ContactLink, ContactLink.household_id == Visit.household_id).where(
                        ContactLink.user_id == self.worker.id)
                else:
                    vq = vq.join(Household, Household.id == Visit.household_id).join(
                        Grid, Grid.id == Household.grid_id).where(self._where_paths(Grid.path))
                by_hh = defaultdict(list)
                for hid, method, by_cadre in _read(vq):
                    by_hh[hid].append((method, by_cadre))
                done[w] = by_hh
        cadres = self._cadre_ids({h.user_id for h in households if h.user_id})
        for hid, grid_id, created_at, address, path, user_id, link_since in households:
            cats = categories.get(hid, ())

            def ok(rule, w, hid=hid):
                seen = done[w].get(hid)
                methods, cadre = rule.methods, rule.cadre
                return bool(seen) and ((not methods and not cadre)
                                       or any((not methods or m in methods) and (not cadre or c) for m, c in seen))

            self._tally(rules_for(path), wins, grid_id, user_id, 1, cadres, key=hid in key_ids,
                        applies=lambda rule, cats=cats: any(k in cats for k in rule.category_keys),
                        created_ok=lambda w, c=created_at: c is None or c < day_end[w],
                        since_ok=lambda w, s=link_since: s <= w[0], ok=ok, address=address)

    def _tag_active(self):
        """A category tag active on the period's last day (counted)."""
        return (CategoryTag.start_date <= self.last,
                or_(CategoryTag.end_date.is_(None), CategoryTag.end_date > self.last))

    @staticmethod
    def _party():
        return Resident.status == "active", Resident.political_status.in_(PARTY_MEMBER)

    def _visits_grouped(self, rules_by_owner, rules_for, wins, day_end):
        """Households counted in groups that the rules cannot tell apart: per window, one grouped query
        over the scope's households gives (grid, 联系网格员, key household, the categories each
        categories rule targets, existed by the window, linked by it, the visits each rule accepts made)
        with how many households share them; the rules are then applied to each group once. The same
        figures as :meth:`_visits_by_household` (tests/test_assessment.py checks it), without reading
        a county's households one by one."""
        all_rules = [r for rules in rules_by_owner.values() for r in rules]
        h = Household.__table__
        for w in sorted({w for ws in wins.values() for w in ws}):
            rules = [r for r in all_rules if w in wins[r.period]]
            if not rules:
                continue
            key = (select(CategoryTag.id).join(HouseholdCategory, HouseholdCategory.id == CategoryTag.category_id)
                   .where(CategoryTag.household_id == h.c.id, HouseholdCategory.is_key.is_(True), *self._tag_active())
                   .exists()) if any(r.target in ("key", "ordinary") for r in rules) else literal(False)
            cat_rules = sorted({tuple(r.category_keys) for r in rules if r.target == "categories"})
            kinds = sorted({(tuple(sorted(r.methods)), r.cadre) for r in rules})
            columns = [h.c.grid_id, ContactLink.user_id, key,
                       case((or_(h.c.created_at.is_(None), h.c.created_at < day_end[w]), True), else_=False),
                       case((ContactLink.since <= w[0], True), else_=False)]
            columns += [self._category_match(keys, h.c.id) for keys in cat_rules]
            for methods, cadre in kinds:
                visit = select(Visit.id).where(Visit.household_id == h.c.id, Visit.visited_on >= w[0],
                                               Visit.visited_on <= w[1])
                if methods:
                    visit = visit.where(Visit.method.in_(methods))
                if cadre:
                    visit = visit.where(Visit.by_cadre.is_(True))
                columns.append(visit.exists())
            each = (select(*[c.label(f"c{i}") for i, c in enumerate(columns)]).select_from(h)
                    .join(Grid, Grid.id == h.c.grid_id)
                    .outerjoin(ContactLink, and_(ContactLink.household_id == h.c.id, ContactLink.role == "grid_worker"))
                    .where(h.c.status == "active", self._where_paths(Grid.path)).subquery())
            groups = _read(select(*each.c, func.count()).group_by(*each.c)).all()
            cadres = self._cadre_ids({g[1] for g in groups if g[1]})
            one = {r.period: [w] for r in rules}
            n_cat = len(cat_rules)
            for row in groups:
                grid_id, user_id, is_key, created_ok, since_ok = row[:5]
                cats = dict(zip(cat_rules, row[5:5 + n_cat]))
                oks = dict(zip(kinds, row[5 + n_cat:-1]))
                self._tally([r for r in rules_for(self.grids[grid_id].path) if r.period in one],
                            one, grid_id, user_id, row[-1], cadres, key=bool(is_key),
                            applies=lambda rule, cats=cats: bool(cats[tuple(rule.category_keys)]),
                            created_ok=lambda _w, c=created_ok: bool(c), since_ok=lambda _w, s=since_ok: bool(s),
                            ok=lambda rule, _w, oks=oks: bool(oks[(tuple(sorted(rule.methods)), rule.cadre)]))

    def _category_match(self, keys, household_id):
        """Whether the household has one of ``keys`` (category keys, ``group:`` groups, 党员户) on the last day."""
        plain = [k for k in keys if k != PARTY_KEY and not k.startswith(GROUP_PREFIX)]
        groups = [k[len(GROUP_PREFIX):] for k in keys if k.startswith(GROUP_PREFIX)]
        tag = (select(CategoryTag.id).join(HouseholdCategory, HouseholdCategory.id == CategoryTag.category_id)
               .where(CategoryTag.household_id == household_id, *self._tag_active(),
                      or_(HouseholdCategory.key.in_(plain), HouseholdCategory.group.in_(groups))).exists())
        if PARTY_KEY in keys:
            return or_(tag, select(Resident.id).where(Resident.household_id == household_id, *self._party()).exists())
        return tag

    def _cadre_ids(self, user_ids):
        if not user_ids:
            return set()
        # Cadres are few: read them all rather than send thousands of ids.
        by_role = set(db.session.scalars(select(User.id).where(User.role.in_(CADRE_ROLES))))
        by_post = set(db.session.scalars(select(GridStaff.user_id).where(GridStaff.role == "contact_cadre",
                                                                          GridStaff.user_id.is_not(None))))
        return (by_role | by_post) & set(user_ids)

    # Work logs

    def log_days(self, users):
        """{user id: (due, done, [days without a log])} for these users (each worked out once)."""
        cache = self.__dict__.setdefault("_log_cache", {})
        todo = [u for u in users if u.id not in cache]
        if todo:
            cache.update(self._log_days(todo))
        return {u.id: cache[u.id] for u in users}

    def _log_days(self, users):
        last = self.last - timedelta(days=1) if self.running else self.last
        days = workdays_in(self.start, last)
        first = {u.id: to_local(u.created_at).date() if u.created_at else self.start for u in users}
        # Without the missing days to list, those due on every working day are counted in SQL
        # (one row per worker); the others (accounts created within the period) day by day.
        whole = set() if self.detail or not days else {uid for uid, f in first.items() if f <= days[0]}
        filled = defaultdict(set)
        counted = self._logged(whole, days, func.count()) if whole else {}
        for uid, day in self._logged(set(first) - whole, days, WorkLog.log_date):
            filled[uid].add(day)
        out = {}
        for u in users:
            due = [d for d in days if d >= first[u.id]]
            if u.id in whole:
                out[u.id] = (len(due), counted.get(u.id, 0), [])
                continue
            missing = [d for d in due if d not in filled[u.id]]
            out[u.id] = (len(due), len(due) - len(missing), missing)
        return out

    @staticmethod
    def _logged(ids, days, what):
        """(user id, ``what``) of the logs with text on ``days`` of these users (grouped by user when
        ``what`` is an aggregate)."""
        if not ids or not days:
            return []
        q = select(WorkLog.user_id, what).where(WorkLog.log_date.in_(days), WorkLog.content != "")
        # Many workers (a county's): one range read is cheaper than a list of thousands of ids.
        if len(ids) <= 500:
            q = q.where(WorkLog.user_id.in_(list(ids)))
        if what is not WorkLog.log_date:
            return {uid: n for uid, n in _read(q.group_by(WorkLog.user_id)) if uid in ids}
        return [(uid, day) for uid, day in _read(q) if uid in ids]

    # Cases

    def _cases(self):
        t0, t1 = utc_bounds(self.start, self.last)
        closed = select(Case.id).join(Grid, Grid.id == Case.grid_id).where(
            self._where_paths(Grid.path), Case.closed_at >= t0, Case.closed_at < t1)
        cases = {c.id: c for c in _read(select(Case.id, Case.grid_id, Case.receipt_code, Case.title,
                                                            Case.closed_at).where(Case.id.in_(closed)))}
        events = defaultdict(list)
        if cases:
            for ev in _read(select(CaseEvent.case_id, CaseEvent.at, CaseEvent.action, CaseEvent.deadline_at)
                                         .where(CaseEvent.case_id.in_(closed)).order_by(CaseEvent.case_id, CaseEvent.id)):
                events[ev.case_id].append(ev)
        for cid, c in cases.items():
            late_at = late_step(events[cid], c.closed_at)
            gc = self.grid_counts[c.grid_id]
            gc["cases_in_time_due"] += 1
            gc["cases_in_time_done"] += late_at is None
            if late_at is not None:
                ev, dl = late_at
                self._note(self.grid_details, c.grid_id, "cases_in_time",
                           f"事件 {c.receipt_code} {c.title}：期限 {to_local(dl):%m-%d %H:%M}，"
                           f"实际 {to_local(ev.at):%m-%d %H:%M}，超期办理")
        # Return visits (回访) in the period.
        rq = (select(Case.grid_id, Case.receipt_code, Case.title, CaseEvent.to_state)
              .join(CaseEvent, CaseEvent.case_id == Case.id).join(Grid, Grid.id == Case.grid_id)
              .where(CaseEvent.action == "follow_up", CaseEvent.at >= t0, CaseEvent.at < t1, self._where_paths(Grid.path)))
        for gid, code, title, to_state in _read(rq):
            ok = to_state == FOLLOW_UP_TARGET["satisfied"]
            gc = self.grid_counts[gid]
            gc["satisfaction_due"] += 1
            gc["satisfaction_done"] += ok
            if not ok:
                self._note(self.grid_details, gid, "satisfaction", f"事件 {code} {title}：回访不满意")

    # Patrols and hazards

    def _patrols(self):
        rules = {(r.target_kind, r.target_key): r for r in db.session.scalars(select(PatrolRule))}
        days = (self.last - self.start).days + 1
        t0, t1 = utc_bounds(self.start, self.last)

        def due_count(every):
            n = days // every
            return n if self.running else max(1, n)

        counts = Counter()
        for gid, uid, n in _read(
                select(Patrol.grid_id, Patrol.unit_id, func.count(Patrol.id)).join(Grid, Grid.id == Patrol.grid_id)
                .where(self._where_paths(Grid.path), Patrol.patrolled_at >= t0, Patrol.patrolled_at < t1)
                .group_by(Patrol.grid_id, Patrol.unit_id)):
            counts[("unit", uid) if uid else ("grid", gid)] += n
        first_utc = utc_bounds(self.start, self.start)[0]
        for g in self.grids.values():
            rule = rules.get(("grid_level", g.key))
            if rule is None or g.created_at > first_utc:
                continue
            self._patrol_object(g.id, g.name, due_count(rule.every_days), counts[("grid", g.id)], rule)
        units = _read(select(Unit.id, Unit.grid_id, Unit.name, Unit.risk_grade).join(Grid, Grid.id == Unit.grid_id)
                                   .where(self._where_paths(Grid.path), Unit.status == "active"))
        for uid, gid, name, grade in units:
            rule = rules.get(("risk_grade", grade))
            if rule is not None:
                self._patrol_object(gid, name, due_count(rule.every_days), counts[("unit", uid)], rule)

    def _patrol_object(self, grid_id, name, due, done, rule):
        if not due:
            return
        gc = self.grid_counts[grid_id]
        gc["patrols_done_due"] += due
        gc["patrols_done_done"] += min(due, done)
        if done < due:
            self._note(self.grid_details, grid_id, "patrols_done",
                       f"{name}：每 {rule.every_days} 天巡查一次，应巡查 {due} 次，实际 {done} 次")

    def _hazards(self):
        t0, t1 = utc_bounds(self.start, self.last)
        t1 = min(t1, self.now)
        for gid, hid, desc, deadline, closed in _read(
                select(Hazard.grid_id, Hazard.id, Hazard.description, Hazard.deadline_at, Hazard.closed_at)
                .join(Grid, Grid.id == Hazard.grid_id)
                .where(self._where_paths(Grid.path), Hazard.deadline_at >= t0, Hazard.deadline_at < t1)):
            ok = closed is not None and closed <= deadline
            gc = self.grid_counts[gid]
            gc["hazards_in_time_due"] += 1
            gc["hazards_in_time_done"] += ok
            if not ok:
                self._note(self.grid_details, gid, "hazards_in_time",
                           f"隐患 #{hid} {desc[:30]}：整改期限 {to_local(deadline):%m-%d}，"
                           + ("逾期销号" if closed else "未按期整改"))

    # Meetings

    def _meetings(self):
        kinds = db.session.scalars(select(MeetingKind).where(MeetingKind.cadence_months > 0,
                                                             MeetingKind.level_key != "")).all()
        if not kinds:
            return
        held = set()
        earliest = meeting_period_start(self.start, 12)
        for gid, kid, on in _read(
                select(Meeting.grid_id, Meeting.kind_id, Meeting.held_on).join(Grid, Grid.id == Meeting.grid_id)
                .where(self._where_paths(Grid.path), Meeting.status == "held", Meeting.held_on >= earliest,
                       Meeting.held_on <= self.last)):
            held.add((gid, kid, on))
        held_in = defaultdict(list)
        for gid, kid, on in held:
            held_in[(gid, kid)].append(on)
        kind_paths = {}
        for k in kinds:
            if k.grid_id is not None:
                owner = db.session.get(Grid, k.grid_id)
                kind_paths[k.id] = owner.path if owner else None
        for k in kinds:
            periods = []
            month = self.start
            while month <= self.end:
                ps = meeting_period_start(month, k.cadence_months)
                pe = previous_period(ps, -k.cadence_months) - timedelta(days=1)
                if (self.start <= pe <= self.end) and ps <= self.last and (ps, pe) not in periods:
                    periods.append((ps, pe))
                month = (month.replace(day=1) + timedelta(days=32)).replace(day=1)
            if not periods:
                continue
            for g in self.grids.values():
                if g.key != k.level_key:
                    continue
                if k.grid_id is not None and not (kind_paths.get(k.id) and g.path.startswith(kind_paths[k.id])):
                    continue
                for ps, pe in periods:
                    if g.created_at.date() > pe:
                        continue
                    ok = any(ps <= on <= pe for on in held_in.get((g.id, k.id), ()))
                    gc = self.grid_counts[g.id]
                    gc["meetings_held_due"] += 1
                    gc["meetings_held_done"] += ok
                    if not ok:
                        self._note(self.grid_details, g.id, "meetings_held",
                                   f"{g.name}：{meeting_period_label(ps, k.cadence_months)}{k.name}未召开")

    def _attendance(self):
        q = (select(Meeting.grid_id, GridStaff.user_id, MeetingAttendee.status, MeetingAttendee.name,
                    Meeting.held_on, MeetingKind.name)
             .join(Meeting, Meeting.id == MeetingAttendee.meeting_id)
             .join(MeetingKind, MeetingKind.id == Meeting.kind_id)
             .join(Grid, Grid.id == Meeting.grid_id)
             .outerjoin(GridStaff, GridStaff.id == MeetingAttendee.staff_id)
             .where(Meeting.status == "held", Meeting.held_on >= self.start,
                    Meeting.held_on <= self.last, MeetingAttendee.status.in_(("present", "absent"))))
        # A worker is expected at meetings above their own grid too (the village's): theirs, wherever held.
        q = q.where(GridStaff.user_id == self.worker.id) if self.worker is not None else q.where(
            self._where_paths(Grid.path))
        for gid, uid, status, name, on, kind in _read(q):
            ok = status == "present"
            for counts in [self.grid_counts[gid]] + ([self.user_counts[uid]] if uid else []):
                counts["attendance_due"] += 1
                counts["attendance_done"] += ok
            if not ok:
                text = f"{on:%m-%d} {kind}：{name}缺席"
                self._note(self.grid_details, gid, "attendance", text)
                if uid:
                    self._note(self.user_details, uid, "attendance", text)
