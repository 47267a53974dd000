"""Horizontal bar charts as server-rendered SVG (no JavaScript chart library).

The geometry is computed here; templates/visits/_chart.html draws it. Bars are
percentages (0–100) so charts of grids and of workers read the same way.
"""
from dataclasses import dataclass

BAR_HEIGHT = 22
GAP = 10
LABEL_WIDTH = 130
BAR_AREA = 300
VALUE_WIDTH = 120
TOP = 8


@dataclass
class Bar:
    label: str
    percent: int
    detail: str
    y: int
    width: float
    url: str = ""
    level: str = "ok"  # ok / warn / low — colour classes


@dataclass
class BarChart:
    title: str
    bars: list
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    bar_area: int = BAR_AREA


def _level(percent):
    return "ok" if percent >= 80 else "warn" if percent >= 50 else "low"


def bar_chart(rows, title):
    """Rows need .label, .percent, .visited, .total and optionally .url."""
    bars = []
    for i, r in enumerate(rows):
        label = r.label if len(r.label) <= 9 else r.label[:8] + "…"
        bars.append(Bar(label=label, percent=r.percent, detail=f"{r.percent}%（{r.visited}/{r.total}）",
                        y=TOP + i * (BAR_HEIGHT + GAP), width=round(BAR_AREA * r.percent / 100, 1),
                        url=getattr(r, "url", ""), level=_level(r.percent) if r.total else "none"))
    height = TOP * 2 + max(len(bars), 1) * (BAR_HEIGHT + GAP)
    return BarChart(title=title, bars=bars, width=LABEL_WIDTH + BAR_AREA + VALUE_WIDTH, height=height)
