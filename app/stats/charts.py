"""Column charts of monthly figures as server-drawn SVG (templates/stats/_columns.html draws them).

The geometry is worked out here so the template only places shapes; the viewBox is narrow
enough (360 units) to stay readable on a 390 px phone and scales up on a desktop and on paper.
"""
from dataclasses import dataclass, field

WIDTH = 360
LEFT = 34      # room for the axis figures
TOP = 10
PLOT_H = 140
BOTTOM = 36    # month labels and the legend
# The series' colours, also written as attributes: the PDF renderer draws inline SVG without the stylesheet.
FILLS = {"col-a": "#0969da", "col-b": "#1a7f37"}


@dataclass
class Column:
    x: float
    y: float
    width: float
    height: float
    value: int
    series: str
    css: str
    label: str

    @property
    def fill(self):
        return FILLS.get(self.css, "#57606a")


@dataclass
class ColumnChart:
    title: str
    desc: str
    width: int
    height: int
    columns: list
    ticks: list            # (y, value)
    labels: list           # (x, text)
    legend: list           # (x, css, name)
    months: list = field(default_factory=list)
    series: list = field(default_factory=list)   # (name, values) for the data table


def _nice_max(value):
    """A round top for the axis, four equal whole steps of 1, 2, 2.5 or 5 × 10ⁿ, at or above ``value``."""
    step = 1
    while True:
        for m in (1, 2, 2.5, 5):
            if m * step == int(m * step) and 4 * m * step >= value:
                return int(4 * m * step)
        step *= 10


def column_chart(title, months, series):
    """``months``: short labels; ``series``: [(name, css class, [values])] drawn side by side per month."""
    n = max(len(months), 1)
    top = _nice_max(max([v for _, _, vals in series for v in vals] + [0]))
    slot = (WIDTH - LEFT - 4) / n
    bar = slot * 0.8 / max(len(series), 1)
    columns = []
    for i, month in enumerate(months):
        for j, (name, css, vals) in enumerate(series):
            v = vals[i]
            h = round(PLOT_H * v / top, 1)
            x = round(LEFT + i * slot + slot * 0.1 + j * bar, 1)
            columns.append(Column(x, round(TOP + PLOT_H - h, 1), round(bar - 0.5, 1), h, v, name, css,
                                  f"{month}{name} {v}"))
    ticks = [(round(TOP + PLOT_H - PLOT_H * k / 4, 1), round(top * k / 4)) for k in range(5)]
    labels = [(round(LEFT + i * slot + slot / 2, 1), m) for i, m in enumerate(months)]
    legend = [(LEFT + j * 90, css, name, FILLS.get(css, "#57606a")) for j, (name, css, _) in enumerate(series)]
    totals = "；".join(f"{name}合计 {sum(vals)}" for name, _, vals in series)
    desc = f"{months[0]}至{months[-1]}各月{ '、'.join(n for n, _, _ in series)}（{totals}），逐月数字见图下的数据表。" \
        if months else "暂无数据。"
    return ColumnChart(title, desc, WIDTH, TOP + PLOT_H + BOTTOM + 14, columns, ticks, labels, legend, list(months),
                       [(name, vals) for name, _, vals in series])
