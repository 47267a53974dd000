"""党员分类积分 (篇四 "推行党员分类积分量化考评制度") and the service team's 应知应会 check (篇四
"建立服务团队成员应知应会能力的考核制度"): points per person for what the records say they did, month
by month, under the scheme of their kind (data, like every scheme).

- tally items count records in a month, ``unit_points`` each, at most the item's points:
  ``member_links`` the households the member links as a 联系人 (contact links of the ledger, counted
  in every month from the link's start), ``member_meetings`` the meetings (held, minutes recorded)
  the member attended as a registered attendee;
- bonus and deduction items are entered by hand by a village's leaders with a reason and evidence
  (志愿服务, 表彰, 违反纪律), capped per month like every entry.

A month's total is the sum of its lines (never below 0); a quarter's or a year's is the sum of its
months (the scheme's ``sum``) or their mean (``mean``). Party members are the residents whose political
status is 中共党员 or 中共预备党员, in the ledger's active households of the grid asked for; service-team
members are the grid staff holding the 服务团队成员 post in the grid's subtree (most have no account,
so what they did is read from meeting attendance and the leaders' check, manual items scored per month).
"""
from decimal import Decimal

from sqlalchemy import select

from ..accounts.models import User
from ..core.db import starts_with
from ..core.timeutil import local_today
from ..extensions import db
from ..grids.models import Grid, GridStaff
from ..households.models import PARTY_MEMBER, ContactLink, Household, Resident
from ..meetings.models import Meeting, MeetingAttendee, MeetingKind
from . import service
from .service import GridRef, Line, Score, Subject, band_of, manual_entries, rank, round_points

KIND = "party_member"
TEAM = "team"
UNITS = {"member_links": "户", "member_meetings": "次"}
NOUNS = {KIND: "党员", TEAM: "服务团队成员"}


def members_in(grid, kind=KIND):
    """The party members registered under ``grid`` (their home: their household's grid), or the members
    of its service teams (their home: the grid where they hold the post), as subjects."""
    if kind == TEAM:
        rows = db.session.execute(
            select(GridStaff.id, GridStaff.name, GridStaff.user_id, Grid.id, Grid.path, Grid.name)
            .join(Grid, Grid.id == GridStaff.grid_id)
            .where(starts_with(Grid.path, grid.path), GridStaff.role == "team_member")
            .order_by(Grid.path, GridStaff.id)).all()
        users = _user_names([r[2] for r in rows if r[2]])
        return [Subject(TEAM, sid, users.get(uid) or name, [path], GridRef(gid, path, gname))
                for sid, name, uid, gid, path, gname in rows]
    rows = db.session.execute(
        select(Resident.id, Resident.name, Grid.id, Grid.path, Grid.name)
        .join(Household, Household.id == Resident.household_id).join(Grid, Grid.id == Resident.grid_id)
        .where(starts_with(Grid.path, grid.path), Resident.political_status.in_(PARTY_MEMBER),
               Resident.status == "active", Household.status == "active")
        .order_by(Grid.path, Resident.name, Resident.id)).all()
    return [Subject(KIND, rid, name, [path], GridRef(gid, path, gname)) for rid, name, gid, path, gname in rows]


def _user_names(ids):
    return dict(db.session.execute(select(User.id, User.full_name).where(User.id.in_(ids)))) if ids else {}


def member_subject(resident):
    grid = resident.household.grid
    return Subject(KIND, resident.id, resident.name, [grid.path], GridRef(grid.id, grid.path, grid.name))


def staff_subject(staff):
    grid = staff.grid
    return Subject(TEAM, staff.id, staff.display_name, [grid.path], GridRef(grid.id, grid.path, grid.name))


def _records(ids, start, end, kind=KIND):
    """{subject id: {"links": [(since, address)], "meetings": [(day, kind name, grid name)]}} in one
    query each (a team member's meetings are those they attended as the grid's staff)."""
    out = {i: {"links": [], "meetings": []} for i in ids}
    if not ids:
        return out
    if kind == TEAM:
        for sid, day, mkind, grid in db.session.execute(_attended(MeetingAttendee.staff_id, ids, start, end)):
            out[sid]["meetings"].append((day, mkind, grid))
        return out
    for rid, since, address in db.session.execute(
            select(ContactLink.resident_id, ContactLink.since, Household.address)
            .join(Household, Household.id == ContactLink.household_id)
            .where(ContactLink.resident_id.in_(ids), ContactLink.since <= end, Household.status == "active")
            .order_by(ContactLink.since, Household.address)):
        out[rid]["links"].append((since, address))
    for rid, day, mkind, grid in db.session.execute(_attended(MeetingAttendee.resident_id, ids, start, end)):
        out[rid]["meetings"].append((day, mkind, grid))
    return out


def _attended(column, ids, start, end):
    """(person, day, meeting kind, grid) of the held meetings where they were marked present."""
    return (select(column, Meeting.held_on, MeetingKind.name, Grid.name)
            .join(Meeting, Meeting.id == MeetingAttendee.meeting_id).join(MeetingKind, MeetingKind.id == Meeting.kind_id)
            .join(Grid, Grid.id == Meeting.grid_id)
            .where(column.in_(ids), MeetingAttendee.status == "present", Meeting.status == "held",
                   Meeting.held_on >= start, Meeting.held_on <= end).order_by(Meeting.held_on))


def _tally_line(item, details):
    count = len(details)
    raw = count * item.unit_points
    score = round_points(min(raw, item.points))
    unit = UNITS.get(item.formula, "次")
    note = (f"{count} {unit} × {item.unit_points} 分 = {raw} 分" + (f"，以上限 {item.points} 分计" if raw > item.points else "")
            if count else f"本月没有记录（每{unit} {item.unit_points} 分）")
    return Line(item.id, item.name, item.kind, item.formula, item.points, score, count, count, note, details)


def _month_lines(scheme, records, entries, subject_id, month):
    lines = []
    for it in scheme.items:
        if it.kind == "tally":
            if it.formula == "member_links":
                details = [f"联系 {addr}（{since:%Y-%m-%d}起）" for since, addr in records["links"] if since <= month.end]
            else:
                details = [f"{day:%Y-%m-%d} 出席{grid}{kind}" for day, kind, grid in records["meetings"]
                           if month.start <= day <= month.end]
            lines.append(_tally_line(it, details))
        else:
            mine = [e for e in entries.get((it.id, subject_id), []) if e.period_start == month.start]
            lines.append(service._manual_line(it, mine))
    return lines


def compute(subjects, period, today=None):
    """Scores of party members (or team members) for a month, quarter or year: the sum or the mean of
    their months (up to today), as the scheme says."""
    today = today or local_today()
    if not subjects:
        return []
    kind = subjects[0].kind
    schemes = service.schemes_of_kind(kind)
    by_subject = {s.id: service.scheme_for(s.home, kind, schemes) for s in subjects}
    months = [m for m in period.months() if m.start <= today]
    records = _records([s.id for s in subjects], period.start, min(period.end, today), kind)
    items = list({it.id: it for sc in by_subject.values() for it in sc.items}.values())
    entries = manual_entries(items, subjects, period)
    out = []
    for s in subjects:
        scheme = by_subject[s.id]
        per_month = [_month_lines(scheme, records[s.id], entries, s.id, m) for m in months]
        totals = [max(sum((ln.score for ln in lines), Decimal(0)), Decimal(0)) for lines in per_month]
        mean = scheme.combine == "mean" and len(months) > 1
        if len(months) == 1:
            lines = per_month[0]
        else:
            lines = []
            for j, it in enumerate(scheme.items):
                parts = [pm[j] for pm in per_month]
                score = round_points(sum((ln.score for ln in parts), Decimal(0)) / (len(months) if mean else 1))
                note = ("各月平均：" if mean else "各月：") + "、".join(
                    f"{m.start.month}月 {ln.score}" for m, ln in zip(months, parts))
                lines.append(Line(it.id, it.name, it.kind, it.formula, it.points * (1 if mean else len(months)), score,
                                  sum(ln.due or 0 for ln in parts), sum(ln.done or 0 for ln in parts), note,
                                  [f"{m.start.month}月 {d}" for m, ln in zip(months, parts) for d in ln.details],
                                  [e for ln in parts for e in ln.entries]))
        total = round_points(sum(totals, Decimal(0)) / (len(months) if mean else 1))
        # Bands are a month's; a longer period is banded on its mean month.
        band = band_of(scheme.bands, total / (1 if mean else len(months))) if months else ""
        out.append(Score(s, scheme, lines, total, band))
    return out


def ranking(grid, period, today=None, kind=KIND):
    """The party (or team) members under ``grid``, ranked by points (those with nothing recorded go last)."""
    return rank(compute(members_in(grid, kind), period, today))


def village_of(grid):
    """The village at or above ``grid`` (rankings are within a village), else the grid itself."""
    rows = db.session.scalars(select(Grid).where(Grid.id.in_(grid.ancestor_ids()))).all()
    villages = [g for g in rows if g.level.key == "village"]
    return villages[0] if villages else grid
