"""The time-to-pay chart: how many people first in contact each week paid (and how many have
not, yet), and how long paying took. Counts add up across the report's groups (tunnel /
source, or bot), so the top panel is every group's sum; percentiles do not add up, so the
bottom panel shows, per week, the percentiles of the group with the most payers, and says
which week had how many payers behind them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipelines.operations.dashboard.charts import Chart, _chart, day, layout, maybe_num, num

PAID_COLOUR, UNPAID_COLOUR, SPREAD_COLOUR = "#16a34a", "#cbd5e1", "rgba(37,99,235,0.35)"
HOUR_TICKS = ((1, "1 h"), (6, "6 h"), (24, "1 d"), (72, "3 d"), (168, "1 w"), (336, "2 w"), (720, "30 d"),
              (2160, "90 d"),
              (4380, "½ y"), (8760, "1 y"), (17520, "2 y"))
LABELLED_WEEKS = 16
"""Above this many weeks the share still unpaid is in the hover only: labels would overlap."""
FEW_PAYERS = 3
"""Weeks whose percentiles rest on fewer payers are drawn faint: one payer is not a distribution."""
SMALLEST_HOURS = 0.1
"""A payment within minutes still shows on the logarithmic axis (as 6 minutes)."""


@dataclass(frozen=True)
class Week:
    """One week of first contact: its people (all groups), of them paid, and the percentiles
    of the hours to pay of its group with the most payers (ties: the most people, then the
    slowest median), None where nobody paid with a known time."""

    start: date
    people: int
    paid: int
    percentiles: dict[str, float | None]
    payers_behind: int

    @property
    def unpaid_share(self) -> float:
        return (self.people - self.paid) / self.people if self.people else 0.0


def weeks_of(rows: Sequence[dict[str, Any]], count: str, paid: str, prefix: str = "hours_to_pay") -> list[Week]:
    """The report's rows summed per week; the percentiles of each week's group with the most payers."""
    grouped: dict[date, list[dict[str, Any]]] = {}
    for row in rows:
        start = day(row.get("week_start"))
        if start is not None:
            grouped.setdefault(start, []).append(row)
    weeks = []
    for start, members in sorted(grouped.items()):
        median = f"median_{prefix}"
        timed = [r for r in members if maybe_num(r.get(median)) is not None]
        best = max(timed, key=lambda r: (num(r.get(paid)), num(r.get(count)), num(r.get(median))), default={})
        weeks.append(Week(start, sum(int(num(r.get(count))) for r in members),
                          sum(int(num(r.get(paid))) for r in members),
                          {p: maybe_num(best.get(f"{p}_{prefix}")) for p in ("p25", "median", "p75", "p90")},
                          int(num(best.get(paid)))))
    return weeks


def _hours(value: float | None) -> float | None:
    return None if value is None else max(SMALLEST_HOURS, value)


def _people_traces(weeks: list[Week], who: str, since: str) -> list[Any]:
    import plotly.graph_objects as go

    x = [w.start for w in weeks]
    data = [[w.people, w.paid, w.people - w.paid, w.unpaid_share] for w in weeks]
    hover = (f"week of %{{x|%Y-%m-%d}}<br>%{{customdata[0]:,}} {who} {since}<br>"
             "%{customdata[1]:,} paid, %{customdata[2]:,} not yet (%{customdata[3]:.0%})<extra></extra>")
    return [go.Bar(x=x, y=[w.paid for w in weeks], name="paid", marker={"color": PAID_COLOUR},
                   customdata=data, hovertemplate=hover),
            go.Bar(x=x, y=[w.people - w.paid for w in weeks], name="not paid yet", marker={"color": UNPAID_COLOUR},
                   customdata=data, hovertemplate=hover,
                   text=[f"{w.unpaid_share:.0%}" if w.people and len(weeks) <= LABELLED_WEEKS else ""
                         for w in weeks], textposition="outside", cliponaxis=False)]


def _drawn(weeks: list[Week]) -> list[str]:
    """The percentiles the report has: p25 – p75 only where it gives them (order timing does not)."""
    spread = any(w.percentiles["p25"] is not None for w in weeks)
    return [*(["p25 – p75"] if spread else []), "median", "p90"]


def _spread_traces(weeks: list[Week], payers: str) -> list[Any]:
    import plotly.graph_objects as go

    timed = [w for w in weeks if w.percentiles["median"] is not None]
    x = [w.start for w in timed]
    data = [[w.payers_behind, *(w.percentiles[p] for p in ("p25", "median", "p75", "p90"))] for w in timed]
    hover = (f"week of %{{x|%Y-%m-%d}}: %{{customdata[0]}} {payers} (the week's largest group)<br>"
             "p25 %{customdata[1]:,.1f} h, median %{customdata[2]:,.1f} h<br>"
             "p75 %{customdata[3]:,.1f} h, p90 %{customdata[4]:,.1f} h<extra></extra>")
    faint = [1.0 if w.payers_behind >= FEW_PAYERS else 0.35 for w in timed]
    low = [_hours(w.percentiles["p25"]) or _hours(w.percentiles["median"]) for w in timed]
    high = [_hours(w.percentiles["p75"]) or _hours(w.percentiles["median"]) for w in timed]
    return [
        go.Bar(x=x, base=low, y=[(h or 0) - (lo or 0) for lo, h in zip(low, high, strict=True)], name="p25 – p75",
               marker={"color": SPREAD_COLOUR, "opacity": faint}, customdata=data, hovertemplate=hover,
               showlegend="p25 – p75" in _drawn(weeks)),
        go.Scatter(x=x, y=[_hours(w.percentiles["median"]) for w in timed], name="median", mode="markers",
                   marker={"symbol": "line-ew", "size": 18, "opacity": faint,
                           "line": {"width": 3, "color": "#1d4ed8"}},
                   customdata=data, hovertemplate=hover),
        go.Scatter(x=x, y=[_hours(w.percentiles["p90"]) for w in timed], name="p90", mode="markers",
                   marker={"symbol": "triangle-up", "size": 9, "color": "#f59e0b", "opacity": faint}, customdata=data,
                   hovertemplate=hover),
    ]


def time_to_pay_figure(rows: Sequence[dict[str, Any]], caption: str, *, count: str, paid: str, who: str,
                       prefix: str = "hours_to_pay", since: str = "first in contact", payers: str = "payers") -> Chart:
    """Two panels over the weeks of first contact (or of an order's creation: `since`): paid and
    not-yet-paid people (stacked, the share still unpaid above each bar), and the hours to pay
    as a p25–p75 bar with the median and p90, on a logarithmic axis (minutes and months in one
    chart). `prefix` names the percentile columns (`median_<prefix>`)."""
    from plotly.subplots import make_subplots

    weeks = weeks_of(rows, count, paid, prefix)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.45, 0.55], vertical_spacing=0.12,
                        subplot_titles=[f"{who} {since}, by week: paid and not paid yet",
                                        f"hours to pay: {', '.join(_drawn(weeks))} of the week's group with the most "
                                        f"{payers} (faint: fewer than {FEW_PAYERS} {payers})"])
    for trace in _people_traces(weeks, who, since):
        fig.add_trace(trace, row=1, col=1)
    for trace in _spread_traces(weeks, payers):
        fig.add_trace(trace, row=2, col=1)
    fig.update_yaxes(title_text=who, rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="time to pay", type="log", tickvals=[t for t, _ in HOUR_TICKS],
                     ticktext=[name for _, name in HOUR_TICKS], row=2, col=1)
    fig.update_xaxes(type="date", gridcolor="#eef0f3")
    for annotation in fig.layout.annotations:
        annotation.x, annotation.xanchor, annotation.font = 0, "left", {"size": 12}
    fig.update_layout(**layout(height=560, barmode="stack", margin={"l": 70, "r": 24, "t": 60, "b": 40},
                               legend={"orientation": "h", "y": 1.08, "yanchor": "bottom", "x": 0.0}))
    return _chart(fig, caption)
