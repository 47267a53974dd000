"""Assessment: schemes (with the default 千分制 of the plans), periods, scores with their
explanations, rankings with 评星定级 bands, frozen periods and adjustments, manual entries.

Rounding: an automatic item scores points × done ÷ due, rounded half up to 0.1 point; the
total is the sum of the rounded items. A subject with nothing due for an item gets the item's
full points (nothing was missed), and the page says so.
"""
import functools
import gc
import json
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import func, select

from ..accounts.models import User, user_grid
from ..core import uploads
from ..core.db import starts_with
from ..core.forms import ServiceError
from ..core.timeutil import local_today, utcnow
from ..extensions import db
from ..grids.models import Grid, GridLevel, GridStaff
from ..households.models import ContactLink, Household
from ..visits.service import period_bounds, period_label
from .activity import Activity
from .defaults import DEFAULT_BANDS, DEFAULT_BANDS_OF, DEFAULT_COMBINE, DEFAULT_SCHEMES
from .models import (BASE_KINDS, COMBINE, FORMULAS, ITEM_KINDS, PERIOD_KINDS, SUBJECT_KINDS, TALLY_KINDS,
                     AssessmentItem, AssessmentScheme, FrozenPeriod, ManualScore, ScoreAdjustment)

TENTH = Decimal("0.1")
RANKED_KINDS = ("worker", "village", "grid")


def round_points(value):
    return Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP)


# Periods

@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date

    @property
    def key(self):
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    @property
    def label(self):
        return period_label(self.kind, self.start)

    def months(self):
        out, day = [], self.start
        while day <= self.end:
            out.append(Period("month", *period_bounds("month", day)))
            day = out[-1].end + timedelta(days=1)
        return out

    def running(self, today):
        return self.end >= today

    def previous(self):
        return period_of(self.kind, self.start - timedelta(days=1))

    def next(self):
        return period_of(self.kind, self.end + timedelta(days=1))


def period_of(kind, day):
    return Period(kind, *period_bounds(kind, day))


def parse_period(text, today=None, what="考核"):
    """'2026-11' (month), '2026-Q4' (quarter), '2026' (year); empty: this month. Refuses the future.
    ``what`` names the use in the messages (考核, 统计)."""
    today = today or local_today()
    text = (text or "").strip()
    try:
        if not text:
            period = period_of("month", today)
        elif len(text) == 4:
            period = period_of("year", date(int(text), 1, 1))
        elif "-Q" in text.upper():
            year, q = text.upper().split("-Q")
            if not 1 <= int(q) <= 4:
                raise ValueError
            period = period_of("quarter", date(int(year), int(q) * 3 - 2, 1))
        else:
            year, month = text.split("-")
            period = period_of("month", date(int(year), int(month), 1))
    except (ValueError, TypeError):
        raise ServiceError(f"{what}期间“{text}”无法识别，请写成 2026-11（月）、2026-Q4（季度）或 2026（年）。", "period")
    if period.start > today:
        raise ServiceError(f"{period.label}还没有开始，不能{what}将来的期间。", "period")
    if period.start.year < 2000:
        raise ServiceError(f"{what}期间“{text}”无法识别。", "period")
    return period


# Schemes

def ensure_default_schemes():
    """Create the default schemes (grid empty) that are missing (idempotent)."""
    have = set(db.session.scalars(select(AssessmentScheme.subject_kind).where(AssessmentScheme.grid_id.is_(None))))
    for kind, (name, items) in DEFAULT_SCHEMES.items():
        if kind in have:
            continue
        base = sum(points for _, ikind, _, points, _, _ in items if ikind in BASE_KINDS)
        bands = DEFAULT_BANDS_OF.get(kind, DEFAULT_BANDS)
        scheme = AssessmentScheme(grid_id=None, subject_kind=kind, name=name, total=base,
                                  combine=DEFAULT_COMBINE.get(kind, "pooled"),
                                  bands_json=json.dumps(bands, ensure_ascii=False))
        for i, (iname, ikind, formula, points, unit, desc) in enumerate(items, 1):
            scheme.items.append(AssessmentItem(seq=i, name=iname, kind=ikind, formula=formula, points=points,
                                               unit_points=unit, description=desc))
        db.session.add(scheme)
    db.session.flush()


def schemes_of_kind(kind):
    """{grid id or None: scheme} of one subject kind (a handful of rows)."""
    ensure_default_schemes()
    return {s.grid_id: s for s in db.session.scalars(select(AssessmentScheme).where(
        AssessmentScheme.subject_kind == kind))}


def scheme_for(grid, kind, schemes=None):
    """The scheme that applies at ``grid``: its own, the nearest one above it, else the default."""
    schemes = schemes if schemes is not None else schemes_of_kind(kind)
    for gid in reversed(grid.ancestor_ids() if grid is not None else []):
        if gid in schemes:
            return schemes[gid]
    return schemes[None]


@dataclass
class ItemInput:
    name: str
    kind: str
    formula: str
    points: int
    unit_points: int = 0
    description: str = ""


def check_scheme(total, items, bands, kind=None):
    """Refuse a scheme that does not hold together, naming the item; returns the cleaned items.

    A party member's or service-team member's scheme (``kind`` in TALLY_KINDS) counts records (tally
    items) and takes entries; the others score shares of what was due (auto) and leaders' scores."""
    if not isinstance(total, int) or total <= 0:
        raise ServiceError("总分应为正整数。", "total")
    if not items:
        raise ServiceError("考核方案至少要有一个考核项。", "items")
    names = set()
    for n, it in enumerate(items, 1):
        where = f"第 {n} 项“{it.name or '（未命名）'}”"
        if not (it.name or "").strip():
            raise ServiceError(f"第 {n} 项缺少名称。", "items")
        if it.name in names:
            raise ServiceError(f"{where}与前面的考核项重名。", "items")
        names.add(it.name)
        if it.kind not in ITEM_KINDS:
            raise ServiceError(f"{where}的计分方式“{it.kind}”无效。", "items")
        if not isinstance(it.points, int):
            raise ServiceError(f"{where}的分值应为整数。", "items")
        if it.points < 0:
            raise ServiceError(f"{where}的分值不能为负数（扣分项请选择“扣分项”，分值填扣分上限）。", "items")
        if it.points == 0:
            raise ServiceError(f"{where}的分值应大于 0。", "items")
        if (it.kind == "tally") != (kind in TALLY_KINDS) and it.kind in ("auto", "tally"):
            raise ServiceError(f"{where}的计分方式“{ITEM_KINDS[it.kind]}”不能用于{SUBJECT_KINDS.get(kind, '')}考核方案。",
                               "items")
        if kind == "party_member" and it.kind == "manual":
            raise ServiceError(f"{where}：党员积分方案不设人工评分项，请用加分项或扣分项登记。", "items")
        if it.kind in ("auto", "tally"):
            allowed = FORMULAS if it.kind == "auto" else TALLY_KINDS[kind]
            if it.formula not in allowed:
                raise ServiceError(f"{where}的计算公式“{it.formula or '（空）'}”不在可选公式之内。", "items")
            if it.kind == "tally" and not 0 < it.unit_points <= it.points:
                raise ServiceError(f"{where}的每次分值应在 1 到上限 {it.points} 之间。", "items")
        elif it.formula:
            raise ServiceError(f"{where}不是自动计分，不能指定计算公式。", "items")
        if it.unit_points < 0 or (it.kind in ("deduction", "bonus") and it.unit_points > it.points):
            raise ServiceError(f"{where}的每次分值应在 0 到上限 {it.points} 之间。", "items")
    base = sum(it.points for it in items if it.kind in BASE_KINDS)
    if base != total:
        raise ServiceError(f"自动计分、人工评分和按次计分各项合计 {base} 分，与总分 {total} 分不符。", "items")
    last = None
    for name, minimum in bands:
        if not name or not isinstance(minimum, int) or minimum < 0 or minimum > total:
            raise ServiceError(f"星级“{name}”的分数线应在 0 到 {total} 之间。", "bands")
        if last is not None and minimum >= last:
            raise ServiceError("星级应从高到低排列，分数线逐级降低。", "bands")
        last = minimum
    return items


def parse_scheme_form(form, rows):
    """(name, total, combine, bands, items) from the scheme form's fields (``rows`` item rows, blank ones
    skipped); a number that is not a whole number is refused naming its row."""

    def whole(text, what):
        text = (text or "").strip()
        try:
            return int(text)
        except ValueError:
            raise ServiceError(f"{what}“{text}”应为整数。", "items")

    items = []
    for n in range(rows):
        get = lambda f: (form.get(f"{f}_{n}") or "").strip()  # noqa: E731
        if not any(get(f) for f in ("name", "points", "unit_points", "description")):
            continue
        where = f"第 {len(items) + 1} 项“{get('name') or '（未命名）'}”的"
        items.append(ItemInput(get("name")[:60], get("kind"), get("formula") if get("kind") in ("auto", "tally") else "",
                               whole(get("points"), where + "分值"),
                               whole(get("unit_points") or "0", where + "每次分值"), get("description")[:300]))
    bands = []
    for line in (form.get("bands") or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ServiceError(f"星级“{line.strip()}”应写成“名称 分数线”，例如“五星 900”。", "bands")
        bands.append((parts[0][:10], whole(parts[1], f"星级“{parts[0]}”的分数线")))
    total = whole(form.get("total"), "总分")
    return (form.get("name") or "").strip(), total, form.get("combine") or "", bands, items


def save_own_scheme(grid, kind, form, rows):
    """The scheme form saved as ``grid``'s own scheme (a copy of the inherited one is made first): all or
    nothing."""
    if not is_township_or_above(grid):
        raise ServiceError("考核方案由县或乡镇制定，请在县或乡镇一级修改。")
    name, total, combine, bands, items = parse_scheme_form(form, rows)
    scheme = customize_scheme(grid, kind)
    return save_scheme(scheme, name=name, total=total, combine=combine, bands=bands, items=items)


def customize_scheme(grid, kind):
    """Give ``grid`` (a county or township) its own copy of the scheme it inherits, to change."""
    schemes = schemes_of_kind(kind)
    if grid.id in schemes:
        return schemes[grid.id]
    src = scheme_for(grid, kind, schemes)
    scheme = AssessmentScheme(grid_id=grid.id, subject_kind=kind, name=src.name, total=src.total,
                              combine=src.combine, bands_json=src.bands_json)
    for it in src.items:
        scheme.items.append(AssessmentItem(seq=it.seq, name=it.name, kind=it.kind, formula=it.formula,
                                           points=it.points, unit_points=it.unit_points, description=it.description))
    db.session.add(scheme)
    db.session.flush()
    return scheme


def save_scheme(scheme, *, name, total, combine, bands, items):
    """Change a grid's own scheme (never the installation default here): all or nothing.

    Items keep their ids where the name stays, so manual entries stay attached.
    """
    if scheme.grid_id is None:
        raise ServiceError("默认方案不能直接修改，请先为本乡镇（县）建立自己的方案。")
    name = (name or "").strip()
    if not name:
        raise ServiceError("请填写方案名称。", "name")
    if combine not in COMBINE:
        raise ServiceError("请选择季度和年度得分的计算方法。", "combine")
    check_scheme(total, items, bands, scheme.subject_kind)
    by_name = {it.name: it for it in scheme.items}
    kept = []
    for seq, it in enumerate(items, 1):
        row = by_name.pop(it.name, None) or AssessmentItem(name=it.name)
        row.seq, row.kind, row.formula, row.points, row.unit_points, row.description = (
            seq, it.kind, it.formula, it.points, it.unit_points, (it.description or "")[:300])
        kept.append(row)
    for gone in by_name.values():
        if db.session.scalar(select(func.count(ManualScore.id)).where(ManualScore.item_id == gone.id)):
            raise ServiceError(f"考核项“{gone.name}”已有评分记录，不能删除（可以把它改为其他分值）。", "items")
    scheme.items = kept
    scheme.name, scheme.total, scheme.combine = name[:80], total, combine
    scheme.bands_json = json.dumps([list(b) for b in bands], ensure_ascii=False)
    scheme.version += 1
    scheme.updated_at = utcnow()
    db.session.flush()
    return scheme


def scheme_dict(scheme):
    """What a frozen period keeps of the scheme it used."""
    return {"id": scheme.id, "name": scheme.name, "version": scheme.version, "total": scheme.total,
            "combine": scheme.combine, "bands": [list(b) for b in scheme.bands],
            "items": [{"id": it.id, "name": it.name, "kind": it.kind, "formula": it.formula, "points": it.points,
                       "unit_points": it.unit_points} for it in scheme.items]}


def band_of(bands, total):
    for name, minimum in bands:
        if total >= minimum:
            return name
    return ""


# Subjects

@dataclass
class Subject:
    kind: str
    id: int
    name: str
    paths: list          # grids it answers for
    home: Grid           # where its scheme is looked up, and its place in rankings
    user: User = None

    @property
    def place(self):
        return self.home.name if self.home is not None else ""


def _posted_grids(user_ids):
    """{user id: [grids where they hold the 网格员 post]} in one query."""
    out = {}
    for uid, grid in db.session.execute(select(GridStaff.user_id, Grid).join(Grid, Grid.id == GridStaff.grid_id)
                                        .where(GridStaff.user_id.in_(list(user_ids)), GridStaff.role == "worker")):
        out.setdefault(uid, []).append(grid)
    return out


def worker_subject(user, posted=None):
    """A worker as a subject: the grids they answer for are those they are bound to and those where
    they hold the 网格员 post (``posted``: already loaded, for many workers at once)."""
    grids = list(user.grids) + (posted.get(user.id, []) if posted is not None else _posted_grids([user.id]).get(user.id, []))
    pairs = sorted({g.path: g for g in grids}.items())
    return Subject("worker", user.id, user.full_name, [p for p, _ in pairs], pairs[0][1] if pairs else None, user)


def area_subject(grid, kind="village"):
    return Subject(kind, grid.id, grid.name, [grid.path], grid)


@dataclass(frozen=True)
class GridRef:
    """What a ranking needs of a grid (plain values: a county has thousands)."""
    id: int
    path: str
    name: str

    def ancestor_ids(self):
        return [int(x) for x in self.path.strip("/").split("/") if x]


def _worker_subjects(grid):
    """The workers serving under ``grid``, as ``households.contacts.workers_of`` counts them (the 网格员
    post in a grid of the subtree, a worker account bound to one, or linking a household there), read
    as plain rows: their grids are those they are bound to and those where they hold the post."""
    grids_of = {}
    for uid, gid, path, name in db.session.execute(
            select(user_grid.c.user_id, Grid.id, Grid.path, Grid.name).join(Grid, Grid.id == user_grid.c.grid_id)):
        grids_of.setdefault(uid, {})[path] = GridRef(gid, path, name)
    posted_in = set()
    for uid, gid, path, name in db.session.execute(
            select(GridStaff.user_id, Grid.id, Grid.path, Grid.name).join(Grid, Grid.id == GridStaff.grid_id)
            .where(GridStaff.role == "worker", GridStaff.user_id.is_not(None))):
        grids_of.setdefault(uid, {})[path] = GridRef(gid, path, name)
        if path.startswith(grid.path):
            posted_in.add(uid)
    # Per account, the first link found to an active household under ``grid`` (a county's links are
    # many more than its accounts).
    linking = set(db.session.scalars(select(User.id).where(
        select(ContactLink.id).join(Household, Household.id == ContactLink.household_id)
        .join(Grid, Grid.id == Household.grid_id)
        .where(ContactLink.user_id == User.id, starts_with(Grid.path, grid.path), Household.status == "active")
        .exists())))
    out = []
    for uid, name, created, role, disabled in db.session.execute(
            select(User.id, User.full_name, User.created_at, User.role, User.is_disabled).order_by(User.full_name, User.id)):
        paths = grids_of.get(uid, {})
        bound_here = role == "worker" and not disabled and any(
            p.startswith(grid.path) for p in paths)
        if uid in posted_in or uid in linking or bound_here:
            refs = [paths[p] for p in sorted(paths)]
            out.append(Subject("worker", uid, name, [r.path for r in refs], refs[0] if refs else None,
                               SimpleNamespace(id=uid, full_name=name, created_at=created)))
    return out


workers_under = _worker_subjects  # the statistics count the same workers


def subjects_in(grid, kind):
    """Who is ranked under ``grid``: the workers serving in it, its villages, or its child grids."""
    if kind == "worker":
        return _worker_subjects(grid)
    if kind == "village":
        level = db.session.scalar(select(GridLevel).where(GridLevel.key == "village"))
        grids = db.session.scalars(select(Grid).where(starts_with(Grid.path, grid.path), Grid.level_id == (
            level.id if level else -1)).order_by(Grid.path)).all()
        return [area_subject(g, "village") for g in grids]
    children = db.session.scalars(select(Grid).where(Grid.parent_id == grid.id).order_by(Grid.sort_order, Grid.name)).all()
    return [area_subject(g, "grid") for g in children]


# Scores

@dataclass
class Line:
    """One item's result for one subject."""
    item_id: int
    name: str
    kind: str
    formula: str
    points: int
    score: Decimal
    due: int = None
    done: int = None
    note: str = ""
    details: list = field(default_factory=list)
    entries: list = field(default_factory=list)

    @property
    def kind_name(self):
        return ITEM_KINDS.get(self.kind, self.kind)

    def as_dict(self):
        return {"item_id": self.item_id, "name": self.name, "kind": self.kind, "points": self.points,
                "score": str(self.score), "due": self.due, "done": self.done, "note": self.note}


@dataclass
class Score:
    subject: Subject
    scheme: AssessmentScheme
    lines: list
    total: Decimal = Decimal(0)
    band: str = ""
    rank: int = 0

    @property
    def assessable(self):
        """Whether anything was due or entered: a grid without households, workers or records is listed
        as 未参评 below the ranking, not ranked first on full points."""
        return any(ln.due or ln.entries for ln in self.lines)

    def as_dict(self):
        s = self.subject
        return {"kind": s.kind, "id": s.id, "name": s.name, "place": s.place, "paths": s.paths,
                "total": str(self.total), "band": self.band, "rank": self.rank, "assessable": self.assessable,
                "lines": [ln.as_dict() for ln in self.lines]}


UNITS = {"visits_done": "户次", "log_days": "个工作日", "cases_in_time": "件", "satisfaction": "件",
         "patrols_done": "次", "hazards_in_time": "处", "meetings_held": "次", "attendance": "人次"}
DONE_WORDS = {"visits_done": ("应走访", "已走访"), "log_days": ("应填日志", "已填"),
              "cases_in_time": ("办结", "按期办结"), "satisfaction": ("回访", "满意"),
              "patrols_done": ("应巡查", "已巡查"), "hazards_in_time": ("到期隐患", "按期整改"),
              "meetings_held": ("应召开", "已召开"), "attendance": ("应参会", "出席")}


def _auto_line(item, due, done, details):
    score, note = _auto_score(item.formula, item.points, due, done)
    return Line(item.id, item.name, item.kind, item.formula, item.points, score, due, done, note, details)


@functools.lru_cache(maxsize=65536)  # a county's subjects share most of their (due, done) pairs
def _auto_score(formula, points, due, done):
    """(score, explanation) of an automatic item."""
    if not due:
        return round_points(points), "本期无应办事项，得满分"
    unit = UNITS[formula]
    due_word, done_word = DONE_WORDS[formula]
    # points × done ÷ due in tenths, rounded half up, in integers (exact, and cheap for a county's lines).
    score = Decimal((20 * points * done + due) // (2 * due)).scaleb(-1)
    return score, f"{due_word} {due} {unit}，{done_word} {done} {unit}：{points} × {done}/{due} = {score}"


def _manual_line(item, entries):
    if not entries:
        score, note = _unentered(item.kind, item.points)
        return Line(item.id, item.name, item.kind, "", item.points, score, note=note, entries=entries)
    if item.kind == "manual":
        latest = entries[-1]
        score = max(Decimal(0), min(Decimal(item.points), Decimal(latest.points)))
        return Line(item.id, item.name, item.kind, "", item.points, round_points(score),
                    note=f"{latest.entered_by.full_name}评分：{latest.reason}", entries=entries)
    raw = sum((Decimal(e.points) for e in entries), Decimal(0))
    capped = min(raw, Decimal(item.points))
    sign = -1 if item.kind == "deduction" and capped else 1  # no "-0.0" when nothing was taken off
    word = "扣" if item.kind == "deduction" else "加"
    note = f"{len(entries)} 次，共{word} {raw} 分" + (f"，以上限 {item.points} 分计" if raw > capped else "")
    return Line(item.id, item.name, item.kind, "", item.points, round_points(sign * capped), note=note, entries=entries)


@functools.lru_cache(maxsize=256)
def _unentered(kind, points):
    """(score, explanation) of a manual item, deduction or bonus with nothing entered in the period."""
    if kind == "manual":
        return round_points(points), "本期未评分，按满分计"
    return round_points(0), f"本期无{'扣' if kind == 'deduction' else '加'}分"


def manual_entries(items, subjects, period):
    """{(item id, subject id): [entries in order]} for the period's months."""
    ids = [it.id for it in items if it.kind != "auto"]
    if not ids or not subjects:
        return {}
    kinds = {s.kind for s in subjects}
    rows = db.session.scalars(select(ManualScore).where(
        ManualScore.item_id.in_(ids), ManualScore.subject_kind.in_(kinds),
        ManualScore.subject_id.in_([s.id for s in subjects]),
        ManualScore.period_start >= period.start, ManualScore.period_start <= period.end)
        .order_by(ManualScore.id)).all()
    out = {}
    for r in rows:
        out.setdefault((r.item_id, r.subject_id), []).append(r)
    return out


def _figures(activity, subject, log_figures):
    """{formula: (due, done, details)} for one subject from an Activity."""
    if subject.kind == "worker":
        grid_ids = activity.grid_ids_of(subject.paths)
        area = activity.sum_grids(grid_ids)
        own = activity.user_counts.get(subject.id, {})
        due, done, missing = log_figures.get(subject.id, (0, 0, []))
        figures = {
            "visits_done": (own.get("visits_due", 0), own.get("visits_done", 0),
                            activity.user_details[subject.id]["visits_done"] if activity.detail else []),
            "log_days": (due, done, [f"{d:%Y-%m-%d}（周{'一二三四五六日'[d.weekday()]}）未填写工作日志" for d in missing]
                         if activity.detail else []),
            "attendance": (own.get("attendance_due", 0), own.get("attendance_done", 0),
                           activity.user_details[subject.id]["attendance"] if activity.detail else []),
        }
    else:
        grid_ids = activity.subtree(subject.paths[0])
        area = activity.sum_grids(grid_ids)
        figures = {"visits_done": (area["visits_due"], area["visits_done"],
                                   activity.details_of(grid_ids, "visits_done") if activity.detail else []),
                   "attendance": (area["attendance_due"], area["attendance_done"],
                                  activity.details_of(grid_ids, "attendance") if activity.detail else []),
                   "log_days": log_figures.get(("area", subject.id), (0, 0, []))}
    for formula in ("cases_in_time", "satisfaction", "patrols_done", "hazards_in_time", "meetings_held"):
        figures[formula] = (area[f"{formula}_due"], area[f"{formula}_done"],
                            activity.details_of(grid_ids, formula) if activity.detail else [])
    return figures


def _area_logs(activity, subjects, workers_by_area, users):
    """Log figures of each area: the sum over the workers serving in it."""
    out = {}
    per_user = activity.log_days(users) if users else {}
    for s in subjects:
        due = done = 0
        missing = []
        for u in workers_by_area.get(s.id, []):
            d, n, miss = per_user.get(u.id, (0, 0, []))
            due, done = due + d, done + n
            if activity.detail:
                missing += [f"{u.full_name}：{m:%Y-%m-%d}未填写工作日志" for m in miss]
        out[("area", s.id)] = (due, done, missing)
    return out


@contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector while ranking a county: the work creates hundreds of
    thousands of short-lived rows, counters and lines, and the collector's full passes over
    everything the process holds cost more than the ranking itself (reference counting still
    frees each object as soon as it is dropped)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def ranked_under(grid, kinds, period, today=None):
    """{kind: ranked scores} of several kinds of subject under one grid, from one reading of the records
    (a township's workers and villages at once)."""
    with collector_paused():
        return _ranked_under(grid, kinds, period, today)


def _ranked_under(grid, kinds, period, today):
    today = today or local_today()
    activity = Activity([grid.path], period.start, period.end, today)
    out = {}
    staff = subjects_in(grid, "worker")
    for kind in kinds:
        subjects = staff if kind == "worker" else subjects_in(grid, kind)
        if not subjects:
            out[kind] = []
            continue
        schemes = schemes_of_kind(kind)
        by_subject = {s.id: scheme_for(s.home, kind, schemes) for s in subjects}
        if period.kind != "month" and any(sc.combine == "mean" for sc in by_subject.values()):
            out[kind] = rank(compute(subjects, period, today, paths=[grid.path]))
        else:
            out[kind] = rank(_compute(subjects, period, today, False, [grid.path], False, by_subject, activity, staff))
    return out


def compute(subjects, period, today=None, detail=False, paths=None, worker_mode=False):
    """Scores of the subjects for the period (pooled or as the mean of the months, as each scheme says)."""
    with collector_paused():
        return _compute_period(subjects, period, today, detail, paths, worker_mode)


def _compute_period(subjects, period, today, detail, paths, worker_mode):
    today = today or local_today()
    if not subjects:
        return []
    schemes = schemes_of_kind(subjects[0].kind)
    by_subject = {s.id: scheme_for(s.home, s.kind, schemes) for s in subjects}
    if period.kind != "month" and any(sc.combine == "mean" for sc in by_subject.values()):
        pooled = [s for s in subjects if by_subject[s.id].combine != "mean"]
        meaned = [s for s in subjects if by_subject[s.id].combine == "mean"]
        out = _compute(pooled, period, today, detail, paths, worker_mode, by_subject) if pooled else []
        months = [m for m in period.months() if m.start <= today]
        per_month = [_compute(meaned, m, today, detail, paths, worker_mode, by_subject) for m in months]
        for i, s in enumerate(meaned):
            rows = [pm[i] for pm in per_month]
            lines = []
            for j, ln in enumerate(rows[0].lines):
                mean = round_points(sum(r.lines[j].score for r in rows) / len(rows))
                parts = "、".join(f"{m.start.month}月 {r.lines[j].score}" for m, r in zip(months, rows))
                lines.append(Line(ln.item_id, ln.name, ln.kind, ln.formula, ln.points, mean,
                                  note=f"各月平均：{parts}",
                                  details=[d for r in rows for d in r.lines[j].details]))
            out.append(_finish(s, by_subject[s.id], lines))
        order = {s.id: i for i, s in enumerate(subjects)}
        return sorted(out, key=lambda sc: order[sc.subject.id])
    return _compute(subjects, period, today, detail, paths, worker_mode, by_subject)


def _finish(subject, scheme, lines):
    total = sum((ln.score for ln in lines), Decimal(0))
    return Score(subject, scheme, lines, round_points(max(total, Decimal(0))),
                 band_of(scheme.bands, max(total, Decimal(0))))


def _compute(subjects, period, today, detail, paths, worker_mode, by_subject, activity=None, staff=None):
    if paths is None:
        paths = sorted({p for s in subjects for p in s.paths})
    worker = subjects[0].user if worker_mode else None
    if activity is None:
        activity = Activity(paths, period.start, period.end, today, detail=detail, worker=worker)
    if subjects[0].kind == "worker":
        log_figures = activity.log_days([s.user for s in subjects])
    else:
        # The workers of each area: those of the computed subtrees whose grids lie in the area.
        if staff is None:
            staff = [sub for p in paths for sub in subjects_in(db.session.scalar(select(Grid).where(Grid.path == p)),
                                                               "worker")]
        workers = {s.id: [] for s in subjects}
        for w in staff:
            areas = {int(g) for wp in w.paths for g in wp.strip("/").split("/") if int(g) in workers}
            for area in areas:
                workers[area].append(w.user)
        log_figures = _area_logs(activity, subjects, workers, list({w.id: w.user for w in staff}.values()))
    all_items = {it.id: it for sc in by_subject.values() for it in sc.items}
    entries = manual_entries(list(all_items.values()), subjects, period)
    # The items as plain values, read once per scheme (a county ranks thousands of subjects).
    plain = {}
    for sc in by_subject.values():
        if sc.id not in plain:
            plain[sc.id] = [SimpleNamespace(id=it.id, name=it.name, kind=it.kind, formula=it.formula,
                                            points=it.points) for it in sc.items]
    out = []
    for s in subjects:
        scheme = by_subject[s.id]
        figures = _figures(activity, s, log_figures)
        lines = []
        for it in plain[scheme.id]:
            if it.kind == "auto":
                due, done, details = figures[it.formula]
                lines.append(_auto_line(it, due, done, details))
            else:
                lines.append(_manual_line(it, entries.get((it.id, s.id), [])))
        out.append(_finish(s, scheme, lines))
    return out


def _number(rows, total, assessable, name):
    """Sort by total (highest first) and number the places (equal totals share one); those with
    nothing to assess go last, without a place."""
    rows = sorted(rows, key=lambda r: (not assessable(r), -total(r), name(r)))
    last, place = None, 0
    for i, r in enumerate(rows, 1):
        if not assessable(r):
            r.rank = 0
            continue
        if total(r) != last:
            place, last = i, total(r)
        r.rank = place
    return rows


def rank(scores):
    """Scores in ranking order with their places."""
    scores = _number(scores, lambda s: s.total, lambda s: s.assessable, lambda s: s.subject.name)
    for s in scores:
        if not s.assessable:
            s.band = ""
    return scores


# Frozen periods

def frozen_for(grid, kind, period):
    """The frozen period covering ``grid`` (its own or an ancestor's), or None."""
    return db.session.scalar(select(FrozenPeriod).where(
        FrozenPeriod.grid_id.in_(grid.ancestor_ids()), FrozenPeriod.subject_kind == kind,
        FrozenPeriod.period_kind == period.kind, FrozenPeriod.period_start == period.start)
        .order_by(FrozenPeriod.id))


@dataclass
class FrozenRow:
    """A subject's row of a frozen period, with the adjustments made since."""
    data: dict
    adjustments: list

    @property
    def total(self):
        return round_points(Decimal(self.data["total"]) + sum((Decimal(a.points) for a in self.adjustments), Decimal(0)))

    @property
    def name(self):
        return self.data["name"]

    @property
    def id(self):
        return self.data["id"]

    @property
    def assessable(self):
        return self.data.get("assessable", True) or bool(self.adjustments)


def frozen_rows(frozen, grid=None):
    """The frozen rows (within ``grid`` when given), re-ranked with their adjustments."""
    snap = frozen.snapshot
    adj = {}
    for a in frozen.adjustments:
        adj.setdefault(a.subject_id, []).append(a)
    rows = [FrozenRow(r, adj.get(r["id"], [])) for r in snap["rows"]
            if grid is None or any(p.startswith(grid.path) for p in r["paths"])]
    rows = _number(rows, lambda r: r.total, lambda r: r.assessable, lambda r: r.name)
    for r in rows:
        r.band = (band_of([tuple(b) for b in snap["scheme"]["bands"]], r.total / snap.get("band_months", 1))
                  if r.assessable else "")
    return rows


def freeze(actor, grid, kind, period, today=None, ranked=None):
    """Publish a finished period: compute every subject's score under ``grid`` and keep it as it is.

    ``ranked``: for the kinds scored by counting records (party and team members), the function giving
    their ranked scores under ``grid``; the others are computed here."""
    today = today or local_today()
    if period.running(today):
        raise ServiceError(f"{period.label}尚未结束，结束后才能发布考核结果。")
    existing = frozen_for(grid, kind, period)
    if existing is not None:
        raise ServiceError(f"{period.label}的考核结果已由{existing.grid.name}于{existing.frozen_at:%Y-%m-%d}发布，"
                           "不能再次发布；如需更正请逐项登记更正。")
    if ranked is not None:
        scores = ranked()
    else:
        scores = rank(compute(subjects_in(grid, kind), period, today, paths=[grid.path]))
    scheme = scheme_for(grid, kind)
    snapshot = {"scheme": scheme_dict(scheme), "period": {"kind": period.kind, "start": period.start.isoformat(),
                                                          "end": period.end.isoformat(), "label": period.label},
                "rows": [s.as_dict() for s in scores],
                # A summed quarter or year is banded on its mean month, as when it was computed.
                "band_months": len(period.months()) if scheme.combine == "sum" else 1}
    frozen = FrozenPeriod(grid_id=grid.id, subject_kind=kind, period_kind=period.kind, period_start=period.start,
                          period_end=period.end, scheme_id=scheme.id, scheme_version=scheme.version,
                          snapshot_json=json.dumps(snapshot, ensure_ascii=False), frozen_by_id=actor.id)
    db.session.add(frozen)
    db.session.flush()
    return frozen


def adjust(actor, frozen, subject_id, item_name, points, reason):
    """An explicit, audited correction to a frozen figure."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("请填写更正的原因。", "reason")
    row = next((r for r in frozen.snapshot["rows"] if r["id"] == subject_id), None)
    if row is None:
        raise ServiceError("该考核对象不在这次发布的结果中。", "subject_id")
    line = next((ln for ln in row["lines"] if ln["name"] == item_name), None)
    if line is None:
        raise ServiceError(f"考核项“{item_name}”不在发布时的方案中。", "item_name")
    points = round_points(points)
    if points == 0:
        raise ServiceError("更正的分值不能为 0。", "points")
    current = Decimal(line["score"]) + sum((Decimal(a.points) for a in frozen.adjustments
                                            if a.subject_id == subject_id and a.item_name == item_name), Decimal(0))
    new = current + points
    if line["kind"] in BASE_KINDS and not (0 <= new <= line["points"]):
        raise ServiceError(f"更正后“{item_name}”为 {new} 分，应在 0 到 {line['points']} 分之间。", "points")
    adj = ScoreAdjustment(frozen_id=frozen.id, subject_id=subject_id, item_name=item_name, points=points,
                          reason=reason[:300], author_id=actor.id)
    db.session.add(adj)
    db.session.flush()
    db.session.expire(frozen, ["adjustments"])
    return adj


# Manual entries

EVIDENCE_FOLDER = "assessment_evidence"
EVIDENCE_HINT = "请上传检查记录、表彰文件或现场照片（JPEG、PNG 或 PDF）。"


def evidence_path(stored_name):
    """Where an entry's evidence lies (private, under instance/)."""
    return Path(current_app.instance_path) / EVIDENCE_FOLDER / stored_name


def _store_evidence(evidence, item):
    """Check an uploaded photo or scan like agreement scans and write it with the transaction; its stored name."""
    filename, data = evidence
    filename = Path(filename or "").name or "证据材料"
    _, ext = uploads.document(data, filename, EVIDENCE_HINT, field="evidence")
    stored = f"{secrets.token_hex(16)}.{ext}"
    uploads.write_with_session(evidence_path(stored), data)
    return stored


def enter_manual(actor, subject, item, period, points, reason, evidence=None, today=None):
    """A leader's manual score, deduction or bonus for a subject in a month (never a frozen one), with its
    evidence (``evidence``: (file name, bytes) of a photo or scan, or None)."""
    today = today or local_today()
    reason = (reason or "").strip()
    if item.kind in ("auto", "tally"):
        raise ServiceError(f"“{item.name}”按记录自动计分，不能人工评分。", "item_id")
    if not reason:
        raise ServiceError("请填写评分理由。", "reason")
    if period.kind != "month":
        raise ServiceError("人工评分按月登记，请选择月份。", "period")
    if period.start > today:
        raise ServiceError("不能为将来的月份评分。", "period")
    points = round_points(points)
    if item.kind == "manual" and not (0 <= points <= item.points):
        raise ServiceError(f"“{item.name}”满分 {item.points} 分，评分应在 0 到 {item.points} 之间。", "points")
    if item.kind in ("deduction", "bonus") and not (0 < points <= item.points):
        word = "扣" if item.kind == "deduction" else "加"
        raise ServiceError(f"“{item.name}”每次{word}分应大于 0、不超过上限 {item.points} 分。", "points")
    home = subject.home
    for p in (period, period_of("quarter", period.start), period_of("year", period.start)):
        frozen = frozen_for(home, subject.kind, p) if home is not None else None
        if frozen is not None:
            raise ServiceError(f"{p.label}的考核结果已经发布，不能再登记；如需更正，请在发布结果中登记更正。")
    stored = _store_evidence(evidence, item) if evidence is not None else ""
    entry = ManualScore(item_id=item.id, subject_kind=subject.kind, subject_id=subject.id, grid_id=home.id,
                        period_start=period.start, points=points, reason=reason[:300], evidence_file=stored,
                        entered_by_id=actor.id)
    db.session.add(entry)
    db.session.flush()
    return entry


def scheme_rows_for_grid(grid):
    """(kind name, scheme, whether the grid has it as its own) for each ranked kind."""
    out = []
    for kind in RANKED_KINDS + tuple(TALLY_KINDS):
        schemes = schemes_of_kind(kind)
        sc = scheme_for(grid, kind, schemes)
        out.append((SUBJECT_KINDS[kind], kind, sc, sc.grid_id == grid.id))
    return out


def is_township_or_above(grid):
    """Whether schemes may be kept at this grid (the county or a township)."""
    return grid.level.key in ("province", "city", "county", "town", "district")


def period_choices(today=None, back=12):
    """Recent months, quarters and years for the period picker."""
    today = today or local_today()
    out, p = [], period_of("month", today)
    for _ in range(back):
        out.append((p.key, p.label))
        p = p.previous()
    q = period_of("quarter", today)
    for _ in range(4):
        out.append((q.key, q.label))
        q = q.previous()
    out.append((str(today.year), f"{today.year}年"))
    out.append((str(today.year - 1), f"{today.year - 1}年"))
    return out


PERIOD_KIND_NAMES = PERIOD_KINDS
