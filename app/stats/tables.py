"""The statistics as tables: one source for the page, the Excel export and the PDF.

A table is a :class:`Table` (a heading, the column headers, the rows, a totals row); a cell is
a plain value, or a :class:`Link` (text with the address of the grid it names) on the page.
"""
from dataclasses import dataclass, field

from .service import BUILDOUT_CHECKS, CASE_DIMENSIONS, WORK_FIGURES

UNITS_CASES = "计量单位：件；比率：%；办理时长：工作日（扣除节假日，含调休上班日）"
UNITS_WORK = "计量单位：户次、工作日、次、处、次；比率：%"


@dataclass
class Link:
    text: str
    url: str = ""

    def __str__(self):
        return self.text


@dataclass
class Table:
    key: str
    heading: str
    headers: list
    rows: list
    totals: list = None
    numeric_from: int = 1   # columns from this one are figures (right-aligned)
    more: int = 0           # rows left out (a page lists the first ones; Excel has them all)
    minor: frozenset = frozenset()  # columns a phone leaves out (the counts behind a rate shown beside them)


def plain(value):
    """A cell as Excel and the PDF write it: a link's text, a missing rate as "—"."""
    if isinstance(value, Link):
        return value.text
    return "—" if value is None else value


CASE_HEADERS = ["受理", "办结", "办结率", "按期办结", "按期办结率", "超期", "回访", "满意", "满意率", "平均办理时长"]


def _case_row(label, t):
    return [label, t.received, t.closed, t.closed_rate, t.in_time, t.in_time_rate, t.late, t.visited, t.satisfied,
            t.satisfied_rate, t.avg_workdays]


def case_tables(stats):
    """One table per dimension (grid, category, source, handling class, state, department)."""
    out = []
    totals = _case_row("合计", stats.total)
    for dim, title in CASE_DIMENSIONS.items():
        rows = [_case_row(Link(t.label, t.url) if t.url else t.label, t) for t in stats.tables[dim]]
        out.append(Table(dim, f"按{title}", [title] + CASE_HEADERS, rows, totals, minor=frozenset({4, 7, 8})))
    return out


def work_table(rows, total):
    """Visits, logs, patrols, hazards and meetings per child grid, with the total."""
    headers = ["网格", "网格员"]
    for key, title, done, due in WORK_FIGURES:
        if key == "hazards_in_time":
            headers += ["新发现隐患", "整改销号", "逾期未整改"]
        headers += [due, done, f"{title}率" if not title.endswith("率") else title]

    def line(label, r):
        out = [label, r.workers]
        for key, *_ in WORK_FIGURES:
            if key == "hazards_in_time":
                out += [r.counts.get("hazards_opened", 0), r.counts.get("hazards_closed", 0),
                        r.counts.get("hazards_overdue", 0)]
            due, done = r.pair(key)
            out += [due, done, r.pct(key)]
        return out

    body = [line(Link(r.label, r.url) if r.url else r.label, r) for r in rows]
    rates = {i for i, h in enumerate(headers) if h.endswith("率")}
    counts = {i for i in range(2, len(headers)) if i not in rates and not headers[i].endswith(("隐患", "销号", "未整改"))}
    return Table("work", "按网格", headers, body, line("合计", total), minor=frozenset(counts))


def buildout_tables(checks, grid_url=None, limit=None):
    """One table per check of the build-out (the grids it names, each linked; the first ``limit``)."""
    out = []
    for key, title in BUILDOUT_CHECKS:
        found = checks[key]
        shown = found if limit is None else found[:limit]
        rows = [[Link(f.grid_name, grid_url(f.grid_id) if grid_url else ""), f.place, f.text] for f in shown]
        out.append(Table(key, f"{title}（{len(found)}）", ["网格", "所在", "情况"], rows, numeric_from=99,
                         more=len(found) - len(shown)))
    return out


@dataclass
class Report:
    """A page's tables with the lines above them (title, period, unit)."""
    title: str
    lines: list
    tables: list = field(default_factory=list)


def dashboard_tables(ctx):
    """The dashboard as tables (its Excel file): this month's figures, the 12 months, the grids to watch."""
    t, w = ctx["cases"].total, ctx["work_total"]
    held, due = w.pair("meetings")[1], w.pair("meetings")[0]
    figures = [["受理事件", t.received, "件"], ["办结率", t.closed_rate, "%"], ["按期办结率", t.in_time_rate, "%"],
               ["超期未办结（当前）", ctx["overdue_now"], "件"], ["满意率", t.satisfied_rate, "%"],
               ["平均办理时长", t.avg_workdays, "工作日"], ["走访覆盖率", w.pct("visits"), "%"],
               ["日志完整率", w.pct("logs"), "%"], ["巡查完成率", w.pct("patrols"), "%"],
               ["逾期未整改隐患", w.counts.get("hazards_overdue", 0), "处"], ["例会已开", held, f"次（应开 {due} 次）"],
               ["建设缺项", sum(ctx["checks"].values()), "项"]]
    months = [[m.label, c["received"], c["closed"], c["visits"], c["patrols"]] for m, c in ctx["trends"]]
    totals = ["合计"] + [sum(r[i] for r in months) for i in range(1, 5)]
    attention = [[a.name, "；".join(a.reasons)] for a in ctx["attention"]]
    return [Table("figures", f"{ctx['month'].label}概况", ["项目", "数值", "单位"], figures),
            Table("months", "近12个月", ["月份", "受理事件（件）", "办结事件（件）", "走访记录（次）", "巡查记录（次）"],
                  months, totals),
            Table("attention", "需要关注的网格", ["网格", "情况"], attention, numeric_from=99)]
