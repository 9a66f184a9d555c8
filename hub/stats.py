"""Public statistics, counted from the event log (DOMAIN.md, "Statistics").

received = 已接件 events, accepted = 已受理, completed = 办结 (通过, 容缺通过, 不通过); a
办结 is on time when its China date is not after the deadline its SLA clock set, overdue
otherwise. Months are China-time months (an event at 23:30 UTC on 31 January counts in
February). Each report first folds the events recorded since the previous one into monthly
cells per station and item (`WebStore.refresh_stats`), so a request reads the new events
only; the breakdowns are sums of one grouped query over the cells, so town, department,
month and total always reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from hub.db.web import WebStore

METRICS = ("received", "accepted", "completed", "on_time", "overdue")


@dataclass
class Counts:
    received: int = 0
    accepted: int = 0
    completed: int = 0
    on_time: int = 0
    overdue: int = 0

    def add(self, row: dict) -> None:
        for name in METRICS:
            setattr(self, name, getattr(self, name) + int(row[name] or 0))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in METRICS}


@dataclass
class Report:
    total: Counts = field(default_factory=Counts)
    by_month: dict[str, Counts] = field(default_factory=dict)
    by_place: dict[str, Counts] = field(default_factory=dict)  # town, or village in a town
    by_department: dict[str, Counts] = field(default_factory=dict)  # or item in a dept


def _bucket(table: dict[str, Counts], key: str) -> Counts:
    if key not in table:
        table[key] = Counts()
    return table[key]


def report(store: WebStore, *, since: str | None = None, until: str | None = None,
           town: str | None = None, department: str | None = None) -> Report:
    """Counts for the months `since`..`until` ('2026-01'), optionally inside one town
    (then places are villages) and/or one department (then rows are items)."""
    place = "station" if town else "town"
    unit = "service_code" if department else "department"
    filters = {k: v for k, v in (("town", town), ("department", department)) if v}
    with store.transaction():
        store.refresh_stats()
    rows = store.stats_cells((place, unit), filters, since, until)
    result = Report()
    for row in rows:
        result.total.add(row)
        _bucket(result.by_month, row["month"]).add(row)
        _bucket(result.by_place, row[place]).add(row)
        _bucket(result.by_department, row[unit]).add(row)
    result.by_month = dict(sorted(result.by_month.items()))
    result.by_place = dict(sorted(result.by_place.items()))
    result.by_department = dict(sorted(result.by_department.items()))
    return result


# Colour-blind-safe pairs (Okabe–Ito); each line also has its own dash pattern.
SERIES_STYLE = {"received": ("#0072B2", ""), "accepted": ("#009E73", "6 3"),
                "completed": ("#D55E00", "2 3"), "overdue": ("#CC79A7", "8 3 2 3")}


def trend_svg(by_month: dict[str, Counts], labels: dict[str, str], *, width: int = 640,
              height: int = 240) -> str:
    """A line chart of the monthly series, as inline SVG (no script, no external asset)."""
    months = list(by_month)
    left, right, top, bottom = 48, 12, 14, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *(getattr(c, s) for c in by_month.values() for s in SERIES_STYLE)])
    peak = 4 * -(-peak // 4)  # a multiple of 4, so the five axis labels are whole numbers
    step = plot_w / max(1, len(months) - 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" class="trend"><title>{escape(labels.get("title", ""))}</title>']
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{round(peak * i / 4)}</text>')
    every = max(1, len(months) // 8)
    for i, month in enumerate(months):
        if i % every == 0:
            x = left + step * i
            parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                         f'font-size="11">{escape(month)}</text>')
    legend_x = left
    for name, (colour, dash) in SERIES_STYLE.items():
        points = " ".join(
            f"{left + step * i:.1f},{top + plot_h - plot_h * getattr(by_month[m], name) / peak:.1f}"
            for i, m in enumerate(months))
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" '
                         f'stroke-dasharray="{dash}" points="{points}" '
                         f'data-series="{name}"/>')
            for point in points.split():  # a single month still shows as dots
                x, y = point.split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
        parts.append(f'<line x1="{legend_x}" y1="{height - 14}" x2="{legend_x + 22}" '
                     f'y2="{height - 14}" stroke="{colour}" stroke-width="3" '
                     f'stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{legend_x + 26}" y="{height - 10}" font-size="12">'
                     f'{escape(labels.get(name, name))}</text>')
        legend_x += 26 + 14 * max(4, len(labels.get(name, name))) + 12
    parts.append("</svg>")
    return "".join(parts)

