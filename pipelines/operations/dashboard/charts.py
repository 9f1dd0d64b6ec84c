"""The figures: rows of a report in, a plotly figure (as JSON-ready dict) and its number of
data points out. Every stranger's string goes through `markup.label`, and reaches a hover
template only as data (`%{customdata[..]}`, `%{fullData.name}`), never spliced into the
template, where plotly would read `%{...}` in it. Nothing here reads the warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Sequence

from pipelines.operations.coverage import hidden_before
from pipelines.operations.dashboard.markup import chart_text, label, unique

PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]
FUNNEL_STAGES = (("visits", "Visits"), ("shows", "Shows"), ("subscribers", "Subscribers"),
                 ("orders", "Orders"), ("sales", "Sales"))
TREND_STAGES = (("visits_change", "New visits"), ("subscribers_change", "New subscribers"),
                ("orders_change", "New orders"), ("sales_change", "New sales"))
GAP_COLOUR = "rgba(148,163,184,0.28)"
DAY_MS = 86_400_000
CONFIG = {"displaylogo": False, "responsive": True,
          "modeBarButtonsToRemove": ["sendDataToCloud", "select2d", "lasso2d"]}


@dataclass(frozen=True)
class Chart:
    figure: dict[str, Any]
    points: int
    caption: str = ""  # what the chart shows, in our words: the page prints it as HTML text


def num(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def maybe_num(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def day(value: Any) -> date | None:
    if isinstance(value, date):
        return value if not hasattr(value, "date") else value.date()  # datetime -> its date
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def layout(**extra: Any) -> dict[str, Any]:
    """No title in the figure: the caption above it is HTML, which wraps; plotly's does not."""
    base: dict[str, Any] = {
        "margin": {"l": 70, "r": 24, "t": 36, "b": 50},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.0},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12, "color": "#111827"},
        "colorway": PALETTE,
        "height": 420,
        "hoverlabel": {"align": "left"},
    }
    base.update(extra)
    return base


def _figure(fig: Any) -> dict[str, Any]:
    data = fig.to_plotly_json()
    data["layout"].pop("template", None)  # plotly.js's own defaults; a template per chart is 8 KB
    data["config"] = CONFIG
    return data


def _points(traces: Iterable[dict[str, Any]]) -> int:
    count = 0
    for trace in traces:
        for key in ("x", "y", "z"):
            values = trace.get(key)
            if values is not None:
                count += sum(1 for v in _flat(values) if v is not None)
                break
    return count


def _flat(values: Any) -> Iterable[Any]:
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from v
        else:
            yield v


def _chart(fig: Any, caption: str) -> Chart:
    figure = _figure(fig)
    return Chart(figure, _points(figure["data"]), caption)


def top_note(shown: int, total: int, what: str, by: str) -> str:
    return f"all {total} {what}" if shown >= total else f"top {shown} of {total} {what} by {by}"


# ---------------------------------------------------------------- tunnels


def latest_snapshots(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each tunnel's newest stats snapshot, most visits first."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row.get("tunnel_id")
        when = day(row.get("snapshot_date"))
        if key is None or when is None:
            continue
        known = latest.get(str(key))
        if known is None or when > day(known["snapshot_date"]):  # type: ignore[operator]
            latest[str(key)] = row
    return sorted(latest.values(), key=lambda r: (-num(r.get("visits")), str(r.get("tunnel_id"))))


def tunnel_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    return unique(label(r.get("tunnel_name"), fallback=f"tunnel {r.get('tunnel_id')}") for r in rows)


def tunnel_funnel_figure(latest: Sequence[dict[str, Any]], top: int = 6) -> Chart:
    """Side-by-side funnels of the tunnels with the most visits (newest snapshot each)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    shown = list(latest[:top])
    names = tunnel_names(shown)
    # a column is a sixth of the page wide: its title gets a short form of the name
    short = unique(label(r.get("tunnel_name"), fallback=f"tunnel {r.get('tunnel_id')}", limit=24) for r in shown)
    titles = [f"{n}<br>({day(r['snapshot_date'])})" for n, r in zip(short, shown, strict=True)]
    fig = make_subplots(rows=1, cols=max(1, len(shown)), shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.02)
    stages = [title for _, title in FUNNEL_STAGES]
    for i, row in enumerate(shown):
        fig.add_trace(go.Funnel(
            name=names[i], y=stages, x=[num(row.get(c)) for c, _ in FUNNEL_STAGES],
            textinfo="value+percent initial", textposition="auto",
            marker={"color": PALETTE[: len(FUNNEL_STAGES)]}, connector={"fillcolor": "#e5e7eb"},
            showlegend=False,
            hovertemplate="%{y}: %{x:,}<br>%{percentInitial:.1%} of visits, %{percentPrevious:.1%} of the step before"
                          "<extra>%{fullData.name}</extra>",
        ), row=1, col=i + 1)
    for annotation in fig.layout.annotations:
        annotation.font = {"size": 12}
    note = top_note(len(shown), len(latest), "tunnels", "visits")
    caption = (f"Newest stats snapshot of each tunnel, visits → shows → subscribers → orders → sales, with the share "
               f"of visits at each step ({note}; every tunnel is in the table below).")
    fig.update_layout(**layout(height=440, margin={"l": 90, "r": 20, "t": 70, "b": 20}))
    return _chart(fig, caption)


def romi_figure(latest: Sequence[dict[str, Any]]) -> Chart | None:
    """ROMI of every tunnel that has expenses, best first; None when no tunnel has any."""
    import plotly.graph_objects as go

    rows = [r for r in latest if maybe_num(r.get("romi")) is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: -num(r.get("romi")))
    names = tunnel_names(rows)
    values = [round(num(r.get("romi")) * 100, 1) for r in rows]
    fig = go.Figure(go.Bar(
        y=names, x=values, orientation="h",
        marker={"color": ["#16a34a" if v >= 0 else "#dc2626" for v in values]},
        text=[f"{v:+.0f}%" for v in values], textposition="outside", cliponaxis=False,
        customdata=[[num(r.get("total_sale")), num(r.get("total_expenses")), str(day(r.get("snapshot_date")))]
                    for r in rows],
        hovertemplate="%{y}<br>ROMI %{x:+.1f}%<br>total sale %{customdata[0]:,.2f}, expenses %{customdata[1]:,.2f}"
                      "<br>snapshot %{customdata[2]}<extra></extra>",
    ))
    caption = (f"Return on marketing investment: (total sale − expenses) ÷ expenses, from Leeloo's tunnel counters, "
               f"{len(rows)} tunnel(s) with expenses, best first; green pays back, red does not.")
    fig.update_layout(**layout(
        height=max(260, 110 + 26 * len(rows)), showlegend=False,
        xaxis={"ticksuffix": "%", "zeroline": True, "zerolinecolor": "#6b7280", "gridcolor": "#eef0f3"},
        yaxis={"autorange": "reversed", "automargin": True},
        margin={"l": 70, "r": 60, "t": 30, "b": 40}))
    return _chart(fig, caption)


@dataclass(frozen=True)
class TrendDays:
    """The calendar of a tunnel trend: which days have a stats snapshot, of how many of the
    tunnels that existed then, and which days have none (a gap)."""

    days: list[date]
    snapshotted: dict[date, int]  # tunnels snapshotted that day
    expected: dict[date, int]  # tunnels that existed that day
    gaps: list[date]

    @property
    def snapshot_days(self) -> list[date]:
        return [d for d in self.days if self.snapshotted.get(d)]

    @property
    def partial_days(self) -> list[date]:
        """Days on which only some of the tunnels were snapshotted (a run cut short)."""
        return [d for d in self.snapshot_days if self.snapshotted[d] < self.expected.get(d, 0)]


def trend_days(coverage: Sequence[dict[str, Any]] | None, snapshots: Sequence[dict[str, Any]], today: date,
               window: int = 90) -> TrendDays | None:
    """The last `window` days of the `tunnel_stats_coverage` report when it is built (it
    says which days are gaps, as `chatfunnel status` does), else the same read from the
    snapshots: from the first one to the later of the last and yesterday (today's run may
    simply not have happened yet)."""
    if coverage:
        dated = sorted(((when, r) for r in coverage if (when := day(r.get("date"))) is not None),
                       key=lambda pair: pair[0])[-window:]
        snapshotted = {d: int(num(r.get("tunnels_snapshotted"))) for d, r in dated}
        expected = {d: int(num(r.get("tunnels_snapshotted")) + num(r.get("tunnels_missing"))) for d, r in dated}
        return TrendDays([d for d, _ in dated], snapshotted, expected, [d for d, r in dated if r.get("is_gap")])
    per_day: dict[date, set[str]] = {}
    for row in snapshots:
        when = day(row.get("snapshot_date"))
        if when is not None and row.get("tunnel_id") is not None:
            per_day.setdefault(when, set()).add(str(row["tunnel_id"]))
    if not per_day:
        return None
    end = max(*per_day, today - timedelta(days=1))
    start = max(min(per_day), end - timedelta(days=window - 1))
    span = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    tunnels = len({t for ts in per_day.values() for t in ts})
    counts = {d: len(ts) for d, ts in per_day.items()}
    return TrendDays(span, counts, dict.fromkeys(span, tunnels), [d for d in span if d not in per_day])


def _gap_bands(gaps: Sequence[date]) -> list[tuple[date, date]]:
    bands: list[tuple[date, date]] = []
    for d in gaps:
        if bands and (d - bands[-1][1]).days == 1:
            bands[-1] = (bands[-1][0], d)
        else:
            bands.append((d, d))
    return bands


def tunnel_trend_figure(daily: Sequence[dict[str, Any]], calendar: TrendDays) -> Chart | None:
    """New visits, subscribers, orders and sales per day, summed over tunnels, from the change
    between consecutive snapshots. A day without a snapshot stays empty (a grey band), never
    interpolated; a change that spans such days is drawn pale and says over how many days."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    by_day: dict[date, list[dict[str, Any]]] = {}
    for row in daily:
        when = day(row.get("snapshot_date"))
        if when is not None:
            by_day.setdefault(when, []).append(row)
    shown = [d for d in calendar.days if d in by_day]
    if not shown:
        return None
    fig = make_subplots(rows=len(TREND_STAGES), cols=1, shared_xaxes=True, vertical_spacing=0.045,
                        subplot_titles=[chart_text(t) for _, t in TREND_STAGES])
    x = [f"{d.isoformat()}T12:00:00" for d in shown]
    spans = [max(int(num(r.get("days_between")) or 1) for r in by_day[d]) for d in shown]
    counts = [[calendar.snapshotted.get(d, 0), calendar.expected.get(d, 0)] for d in shown]
    for i, (column, title) in enumerate(TREND_STAGES):
        colour = PALETTE[i]
        fig.add_trace(go.Bar(
            x=x, y=[sum(num(r.get(column)) for r in by_day[d]) for d in shown], name=title, width=DAY_MS * 0.8,
            marker={"color": colour, "opacity": [1.0 if s == 1 else 0.4 for s in spans]},
            customdata=[[s, *n] for s, n in zip(spans, counts, strict=True)],
            hovertemplate="%{x|%Y-%m-%d}: %{y:,} " + title.lower()
                          + "<br>change over %{customdata[0]} day(s) since the previous snapshot"
                          + "<br>%{customdata[1]} of %{customdata[2]} tunnels snapshotted<extra></extra>",
            showlegend=False,
        ), row=i + 1, col=1)
    gaps = calendar.gaps
    shapes = _mark_gaps(fig, gaps)
    first, last = calendar.days[0], calendar.days[-1]
    xrange = [f"{first.isoformat()}T00:00:00", f"{(last + timedelta(days=1)).isoformat()}T00:00:00"]
    fig.update_xaxes(type="date", range=xrange, gridcolor="#eef0f3", tick0=f"{first.isoformat()}T12:00:00",
                     dtick=DAY_MS * max(1, len(calendar.days) // 15), tickformat="%b %d", ticks="")
    fig.update_yaxes(gridcolor="#eef0f3", rangemode="tozero")
    for annotation in fig.layout.annotations:
        annotation.font = {"size": 12}
        annotation.x = 0
        annotation.xanchor = "left"
    fig.update_layout(**layout(
        height=600, shapes=shapes,
        legend={"orientation": "h", "y": -0.06, "yanchor": "top", "x": 0.0},
        margin={"l": 70, "r": 24, "t": 40, "b": 40}))
    return _chart(fig, _trend_caption(gaps, spans))


def _mark_gaps(fig: Any, gaps: Sequence[date]) -> list[dict[str, Any]]:
    """The grey bands over the days without a snapshot (returned, for the layout) and, on the
    first panel, a marker per such day with a legend entry that says what it means."""
    import plotly.graph_objects as go

    shapes = [{"type": "rect", "xref": "x", "yref": "paper", "layer": "below", "line": {"width": 0},
               "fillcolor": GAP_COLOUR, "y0": 0, "y1": 1,
               "x0": f"{a.isoformat()}T00:00:00", "x1": f"{(b + timedelta(days=1)).isoformat()}T00:00:00"}
              for a, b in _gap_bands(gaps)]
    if gaps:
        fig.add_trace(go.Scatter(
            x=[f"{d.isoformat()}T12:00:00" for d in gaps], y=[0] * len(gaps), mode="markers",
            marker={"symbol": "x-thin-open", "size": 9, "color": "#64748b", "line": {"width": 2}},
            name="no stats snapshot that day (run failed or did not reach the tunnels)",
            hovertemplate="%{x|%Y-%m-%d}: no stats snapshot<extra></extra>", showlegend=True,
        ), row=1, col=1)
    return shapes


def _trend_caption(gaps: Sequence[date], spans: Sequence[int]) -> str:
    """What the trend shows, and how many days it lacks or spans several days at once."""
    pale = " Pale bars: the change since an earlier snapshot, over several days." if any(s > 1 for s in spans) else ""
    gap_note = f" {len(gaps)} day(s) without a snapshot, shown as grey bands." if gaps else " No day is missing."
    return ("What each day added to the funnel, summed over tunnels: the change between consecutive nightly "
            "stats snapshots (the first snapshot has nothing earlier to compare with)." + gap_note + pale)


# ---------------------------------------------------------------- activity and funnels


LEELOO_DAILY = (
    ("inbound_messages", "Inbound messages", "line"),
    ("outbound_messages", "Outbound messages", "line"),
    ("new_channels", "New channels", "bar"),
    ("orders_created", "Orders created", "bar"),
    ("paid_orders_created", "Paid orders created", "bar"),
)
SALEBOT_DAILY = (
    ("inbound_messages", "Inbound messages", "line"),
    ("outbound_messages", "Outbound messages", "line"),
    ("new_clients", "New clients", "bar"),
    ("orders_created", "Orders created", "bar"),
    ("successful_orders_created", "Successful orders created", "bar"),
)


def daily_activity_figure(rows: Sequence[dict[str, Any]], series: Sequence[tuple[str, str, str]]) -> Chart:
    import plotly.graph_objects as go

    days = [str(day(r.get("date"))) for r in rows]
    fig = go.Figure()
    for column, title, kind in series:
        values = [num(r.get(column)) for r in rows]
        if kind == "line":
            fig.add_trace(go.Scatter(x=days, y=values, name=title, mode="lines"))
        else:
            fig.add_trace(go.Bar(x=days, y=values, name=title))
    xaxis: dict[str, Any] = {"type": "date", "rangeslider": {"visible": True, "thickness": 0.08}}
    if len(days) > 90:
        xaxis["range"] = [days[-90], days[-1]]
    caption = ("Messages, new contacts and orders per day (each account's reports_timezone, UTC unless set); "
               "drag the slider under the chart to see the whole history.")
    fig.update_layout(**layout(
                               barmode="group", xaxis=xaxis, height=460, margin={"l": 60, "r": 20, "t": 60, "b": 30}))
    return _chart(fig, caption)


PEOPLE_STEPS = (("people", "People"), ("engaged_people", "Engaged (wrote to us)"),
                ("ordering_people", "Ordering"), ("paying_people", "Paying"))
CLIENT_STEPS = (("clients", "Clients"), ("engaged_clients", "Engaged (wrote to us)"),
                ("ordering_clients", "Ordering"), ("successful_clients", "With a successful order"))


def grouped_funnel(title: str, labels: list[str], rows: Sequence[dict[str, Any]],
                   steps: Sequence[tuple[str, str]]) -> Chart:
    import plotly.graph_objects as go

    fig = go.Figure()
    for column, step in steps:
        fig.add_trace(go.Bar(y=labels, x=[num(r.get(column)) for r in rows], name=step, orientation="h",
                             hovertemplate="%{y}<br>" + step + ": %{x:,}<extra></extra>"))
    caption = title
    fig.update_layout(**layout(barmode="group", height=max(360, 90 + 64 * len(labels)),
                               yaxis={"autorange": "reversed", "automargin": True},
                               xaxis={"gridcolor": "#eef0f3"}))
    return _chart(fig, caption)


def entry_label(row: dict[str, Any]) -> str:
    """A subscribe-history entry: traffic source first (what a marketer pays for)."""
    source = label(row.get("traffic_source"), fallback="(no traffic source)", limit=40)
    tunnel = label(row.get("tunnel_name"), fallback="(no tunnel)", limit=30)
    tool = label(row.get("leadgentool_name"), fallback="(no lead-gen tool)", limit=30)
    return f"{source} · {tunnel} / {tool}"


def first_touch_label(row: dict[str, Any]) -> str:
    """A first-touch row: its entry, or "(unattributed)" for buyers without a history."""
    return entry_label(row) if row.get("attributed") else "(unattributed)"


def utm_label(row: dict[str, Any]) -> str:
    if not any(row.get(c) for c in ("utm_source", "utm_medium", "utm_campaign")):
        return "(not tagged)"
    campaign = label(row.get("utm_campaign"), fallback="(no campaign)", limit=40)
    rest = " / ".join(label(row.get(c), fallback="—", limit=25) for c in ("utm_source", "utm_medium"))
    return f"{campaign} · {rest}"


def source_funnel_figure(rows: Sequence[dict[str, Any]], top: int = 12) -> Chart:
    ordered = sorted(rows, key=lambda r: -num(r.get("people")))
    shown = ordered[:top]
    note = top_note(len(shown), len(ordered), "entries", "people")
    return grouped_funnel(f"Source funnel: traffic source · tunnel / lead-gen tool ({note})",
                          unique(entry_label(r) for r in shown), shown, PEOPLE_STEPS)


def is_tagged(row: dict[str, Any]) -> bool:
    return utm_label(row) != "(not tagged)"


def utm_funnel_figure(rows: Sequence[dict[str, Any]], top: int = 12) -> Chart:
    """Tagged combinations only: the untagged channels (most of them, usually) would flatten
    every other bar; the section prints their figures beside the chart."""
    ordered = sorted((r for r in rows if is_tagged(r)), key=lambda r: -num(r.get("people")))
    shown = ordered[:top]
    note = top_note(len(shown), len(ordered), "tagged UTM combinations", "people")
    return grouped_funnel(f"UTM funnel: campaign · source / medium ({note}; not tagged: below)",
                          unique(utm_label(r) for r in shown), shown, PEOPLE_STEPS)


def revenue_figure(title: str, rows: Sequence[dict[str, Any]], labeller: Any, top: int = 10) -> Chart:
    """Paid revenue per currency, one panel per currency: money is never added across
    currencies, and one axis for RUB and USD would flatten the smaller one."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    by_currency: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_currency.setdefault(str(row.get("currency") or "?"), []).append(row)
    currencies = sorted(by_currency, key=lambda c: -sum(num(r.get("revenue")) for r in by_currency[c]))
    panels = []
    for currency in currencies:
        ordered = sorted(by_currency[currency], key=lambda r: -num(r.get("revenue")))
        panels.append((currency, ordered[:top], len(ordered)))
    heights = [max(2, len(shown)) for _, shown, _ in panels]
    fig = make_subplots(rows=len(panels), cols=1, row_heights=heights, vertical_spacing=0.25 / max(1, len(panels)),
                        subplot_titles=[f"{label(c, limit=12)}: {chart_text(top_note(len(s), n, 'rows', 'revenue'))}"
                                        for c, s, n in panels])
    for i, (currency, shown, _) in enumerate(panels):
        names = unique(labeller(r) for r in shown)
        cur = label(currency, limit=12)
        fig.add_trace(go.Bar(
            y=names, x=[num(r.get("revenue")) for r in shown], orientation="h", name=cur,
            marker={"color": PALETTE[i % len(PALETTE)]},
            text=[f"{num(r.get('revenue')):,.0f} {cur}" for r in shown], textposition="auto",
            customdata=[[int(num(r.get("paid_orders")))] for r in shown],
            hovertemplate="%{y}<br>%{x:,.2f} %{fullData.name} from %{customdata[0]} paid orders<extra></extra>",
            showlegend=False,
        ), row=i + 1, col=1)
        fig.update_yaxes(autorange="reversed", automargin=True, row=i + 1, col=1)
    for annotation in fig.layout.annotations:
        annotation.x = 0
        annotation.xanchor = "left"
        annotation.font = {"size": 12}
    fig.update_xaxes(gridcolor="#eef0f3")
    caption = title
    fig.update_layout(**layout(height=max(320, 80 + 30 * sum(heights) + 40 * len(panels)),
                               margin={"l": 70, "r": 30, "t": 50, "b": 30}))
    return _chart(fig, caption)


def manager_response_figure(rows: Sequence[dict[str, Any]], top: int = 20) -> Chart:
    """A manager x week grid of the median minutes to reply (log colour scale): one row per
    manager reads at a glance, where one line per manager was a tangle."""
    import math

    import plotly.graph_objects as go

    managers: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = str(row.get("manager_id"))
        entry = managers.setdefault(key, {"name": row.get("manager_name"), "id": row.get("manager_id"),
                                          "answered": 0.0, "weeks": {}})
        entry["answered"] += num(row.get("answered_messages"))
        when = day(row.get("week_start"))
        if when is not None:
            entry["weeks"][when] = row
    ordered = sorted(managers.values(), key=lambda m: -m["answered"])
    shown = ordered[:top]
    weeks = sorted({w for m in shown for w in m["weeks"]})
    names = unique(
        label(m["name"], fallback="(messages without an author)" if m["id"] is None else f"user {m['id']}", limit=36)
        for m in shown
    )
    z, custom = [], []
    for m in shown:
        zrow, crow = [], []
        for w in weeks:
            r = m["weeks"].get(w)
            median = maybe_num(r.get("median_response_minutes")) if r else None
            zrow.append(math.log10(max(median, 0.1)) if median is not None else None)
            crow.append([round(median, 1) if median is not None else None,
                         round(num(r.get("p90_response_minutes")), 1) if r else None,
                         int(num(r.get("answered_messages"))) if r else 0])
        z.append(zrow)
        custom.append(crow)
    ticks = [1, 5, 15, 60, 240, 1440, 10080]
    fig = go.Figure(go.Heatmap(
        z=z, x=[w.isoformat() for w in weeks], y=names, customdata=custom, xgap=1, ygap=1,
        colorscale=[[0, "#16a34a"], [0.45, "#fde68a"], [1, "#dc2626"]],
        zmin=0, zmax=math.log10(10080), hoverongaps=False,
        colorbar={"title": {"text": "median<br>minutes"}, "tickvals": [math.log10(t) for t in ticks],
                  "ticktext": ["1 min", "5 min", "15 min", "1 h", "4 h", "1 day", "1 week"]},
        hovertemplate="%{y}, week of %{x}<br>median %{customdata[0]} min, p90 %{customdata[1]} min"
                      "<br>%{customdata[2]} answered messages<extra></extra>",
    ))
    note = top_note(len(shown), len(ordered), "managers", "answered messages")
    caption = (f"Median minutes from a client's message to a manager's reply, per manager and ISO week ({note}; "
               "an empty cell: no answered message that week). Hover a cell for the 90th percentile and the count.")
    fig.update_layout(**layout(
        height=max(300, 130 + 30 * len(shown)),
        xaxis={"type": "date", "title": {"text": "week starting"}},
        yaxis={"autorange": "reversed", "automargin": True},
        margin={"l": 70, "r": 24, "t": 30, "b": 50}))
    return _chart(fig, caption)


# ---------------------------------------------------------------- Salebot


def order_status_figure(rows: Sequence[dict[str, Any]]) -> Chart:
    """Orders per CRM state, stacked within their status (active / success / failed)."""
    import plotly.graph_objects as go

    def status(r: dict[str, Any]) -> str:
        return label(r.get("status_name") or r.get("status"), fallback="?", limit=30)

    totals: dict[str, float] = {}
    for r in rows:
        totals[status(r)] = totals.get(status(r), 0.0) + num(r.get("orders"))
    fig = go.Figure()
    for row in sorted(rows, key=lambda r: str(r.get("state_id"))):
        state = label(row.get("state_id"), fallback="—", limit=30)
        fig.add_trace(go.Bar(
            x=[status(row)], y=[num(row.get("orders"))], name=f"state {state}",
            customdata=[[int(num(row.get("clients"))), state]],
            hovertemplate="%{x}, state %{customdata[1]}: %{y} orders of %{customdata[0]} clients<extra></extra>",
        ))
    caption = "Orders now in each status, stacked by SalebotCRM state."
    fig.update_layout(**layout(barmode="stack",
                               xaxis={"categoryorder": "array",
                                      "categoryarray": sorted(totals, key=lambda s: -totals[s])},
                               yaxis={"gridcolor": "#eef0f3"}))
    return _chart(fig, caption)


def channel_funnel_figure(rows: Sequence[dict[str, Any]], top: int = 12) -> Chart:
    ordered = sorted(rows, key=lambda r: -num(r.get("clients")))
    shown = ordered[:top]
    labels = unique(f"{label(r.get('messenger'), fallback='?', limit=20)} / "
                    f"{label(r.get('channel_name') or r.get('channel_group_id'), fallback='?', limit=40)}"
                    for r in shown)
    note = top_note(len(shown), len(ordered), "channels", "clients")
    return grouped_funnel(f"Channel funnel: messenger / channel ({note})", labels, shown, CLIENT_STEPS)


def accounts_funnel_figure(rows: Sequence[dict[str, Any]], title: str, top: int = 25) -> Chart | None:
    """Visits, subscribers and sales of every account side by side, from the cross-account
    view of the newest tunnel snapshots."""
    import plotly.graph_objects as go

    per_account: dict[str, dict[str, float]] = {}
    for row in latest_per_account(rows):
        totals = per_account.setdefault(str(row.get("account")), {c: 0.0 for c, _ in FUNNEL_STAGES})
        for column, _ in FUNNEL_STAGES:
            totals[column] += num(row.get(column))
    if not per_account:
        return None
    ordered = sorted(per_account.items(), key=lambda kv: -kv[1]["visits"])[:top]
    names = unique(label(name, fallback="(no account)", limit=40) for name, _ in ordered)
    fig = go.Figure()
    for column, stage in FUNNEL_STAGES:
        fig.add_trace(go.Bar(y=names, x=[totals[column] for _, totals in ordered], name=stage, orientation="h",
                             texttemplate="%{x:,}", textposition="outside", cliponaxis=False,
                             hovertemplate="%{y}<br>" + stage + ": %{x:,}<extra></extra>"))
    note = top_note(len(ordered), len(per_account), "accounts", "visits")
    caption = (f"{title}: visits → shows → subscribers → orders → sales per account, summed over the newest "
               f"snapshot of every tunnel ({note}; log scale).")
    fig.update_layout(**layout(
                               barmode="group", height=max(320, 110 + 90 * len(ordered)),
                               xaxis={"type": "log", "dtick": "D2", "gridcolor": "#eef0f3"},
                               yaxis={"autorange": "reversed", "automargin": True}))
    return _chart(fig, caption)


def latest_per_account(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("account")), []).append(row)
    return [r for group in groups.values() for r in latest_snapshots(group)]


# ---------------------------------------------------------------- coverage


NOT_COVERED_COLOUR = "rgba(245,158,11,0.16)"


def _x_days(trace: dict[str, Any]) -> list[date | None] | None:
    """The days of a trace's x values, None when its x is no calendar."""
    values = trace.get("x")
    if values is None or isinstance(values, (str, bytes)):
        return None
    days = [day(v) for v in values]
    return days if any(d is not None for d in days) else None


def _hide_trace(trace: dict[str, Any], days: list[date | None], first: date | None) -> int:
    """The trace's values before `first` taken out (a heatmap's columns, a bar's or a line's
    points and their labels), so they read as missing, never as zero; how many x it hid."""
    if trace.get("type") == "heatmap" and trace.get("z") is not None:
        trace["z"] = [hidden_before(list(row), days, first) for row in trace["z"]]
    else:
        for key in ("y", "base", "text"):
            values = trace.get(key)
            if values is not None and not isinstance(values, (str, bytes)) and len(values) == len(days):
                trace[key] = hidden_before(list(values), days, first)
    return sum(1 for d in days if d is not None and (first is None or d < first))


def mark_not_covered(chart: Chart, first: date | None, period_days: int, note: str) -> Chart:
    """A chart over days or weeks with the periods before `first` (the first whole one; None:
    none is whole yet) hidden and shaded with `note` over them: their counts are partial
    while the history still loads. A chart with nothing before `first` is left as it is."""
    figure = {**chart.figure, "data": [dict(t) for t in chart.figure["data"]],
              "layout": dict(chart.figure.get("layout", {}))}
    calendar = sorted({d for t in figure["data"] for d in (_x_days(t) or []) if d is not None})
    if not calendar or (first is not None and calendar[0] >= first):
        return chart
    hidden = 0
    for trace in figure["data"]:
        days = _x_days(trace)
        if days is not None:
            hidden += _hide_trace(trace, days, first)
    half = timedelta(days=period_days) / 2
    start = datetime.combine(calendar[0], datetime.min.time()) - half
    end = datetime.combine(first or calendar[-1] + timedelta(days=period_days), datetime.min.time()) - half
    layout_ = figure["layout"]
    layout_["shapes"] = [*layout_.get("shapes", ()), {
        "type": "rect", "xref": "x", "yref": "paper", "x0": start.isoformat(), "x1": end.isoformat(), "y0": 0,
        "y1": 1, "layer": "below", "line": {"width": 0}, "fillcolor": NOT_COVERED_COLOUR, "name": "not-covered"}]
    layout_["annotations"] = [*layout_.get("annotations", ()), {
        "xref": "x", "yref": "paper", "x": end.isoformat(), "y": 1, "xanchor": "right", "yanchor": "top",
        "showarrow": False, "text": chart_text(note), "font": {"size": 11, "color": "#92400e"},
        "name": "not-covered"}]
    return Chart(figure, chart.points - hidden, f"{chart.caption} Shaded, not shown: {note}.")
