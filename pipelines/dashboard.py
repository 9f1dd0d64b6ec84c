"""`chatfunnel report`: one self-contained HTML dashboard of the funnel reports.

The page opens offline: plotly.js (from the `plotly` wheel) is inlined once, nothing is
fetched from a CDN, and no chart links out. It reads the reports dataset
(`<dataset>_reports`) and the run history (`<dataset>._chatfunnel_runs`):

- freshness: last successful run, its age (flagged when older than `STALE_HOURS`), the
  newest data, and the last runs;
- the funnel per tunnel (visits -> shows -> subscribers -> orders -> sales), from the
  newest stats snapshot of each tunnel (`tunnel_funnel`);
- daily activity over time (`daily_activity`);
- the source funnel (`source_funnel`) and the UTM funnel (`utm_funnel`): people, engaged,
  ordering, paying;
- manager response times (`manager_response_times`): weekly median minutes per manager.

On DuckDB it reads the published BI snapshot when there is one (so it never contends with
a running load for the working file), else the working file.
"""

from __future__ import annotations

import argparse
import html
import json
import os
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

STALE_HOURS = 36
DEFAULT_OUT = "chatfunnel_dashboard.html"
FUNNEL_STAGES = ("visits", "shows", "subscribers", "orders", "sales")
PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]


# ---------------------------------------------------------------- reading


class ReportReader:
    """Runs read-only SQL against a dlt pipeline's destination or a DuckDB file."""

    def __init__(self, target: Any, dataset: str = "leeloo") -> None:
        self.dataset = dataset
        self.reports = f"{dataset}_reports"
        self._path: Path | None = None
        self._pipeline = None
        if isinstance(target, (str, os.PathLike)):
            self._path = Path(target)
            if not self._path.exists():
                raise FileNotFoundError(f"no DuckDB file at {self._path}")
            self.location = str(self._path)
        else:
            self._pipeline = target
            self.dataset = dataset or target.dataset_name
            self.reports = f"{self.dataset}_reports"
            self.location = target.destination.destination_name

    def rows(self, sql: str) -> list[dict[str, Any]]:
        if self._path is not None:
            import duckdb

            con = duckdb.connect(str(self._path), read_only=True)
            try:
                cursor = con.execute(sql)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, r)) for r in cursor.fetchall()]
            finally:
                con.close()
        with self._pipeline.sql_client() as client:
            with client.execute_query(sql) as cursor:
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, r)) for r in cursor.fetchall()]

    def try_rows(self, sql: str) -> list[dict[str, Any]] | None:
        try:
            return self.rows(sql)
        except Exception:  # noqa: BLE001 - a report or the history table not there
            return None

    @property
    def source(self) -> str:
        """leeloo or salebot: the dataset's name, else whichever source's reports it holds."""
        if self.dataset in SOURCE_MARKERS:
            return self.dataset
        for source, marker in SOURCE_MARKERS.items():
            if self.try_rows(f'select 1 from "{self.reports}"."{marker}" limit 1') is not None:
                return source
        return "leeloo"

    def has_anything(self) -> bool:
        """Any report of the source, or any recorded run."""
        marker = SOURCE_MARKERS.get(self.source, "daily_activity")
        return (self.try_rows(f'select 1 from "{self.reports}"."{marker}" limit 1') is not None
                or self.try_rows(f'select 1 from "{self.dataset}"."_chatfunnel_runs" limit 1') is not None)

    def report(self, name: str, order: str = "") -> list[dict[str, Any]] | None:
        return self.try_rows(f'select * from "{self.reports}"."{name}"' + (f" order by {order}" if order else ""))


def _num(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return None


# ---------------------------------------------------------------- charts


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": title, "x": 0.01, "font": {"size": 16}},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": -0.15},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "colorway": PALETTE,
        "height": 420,
    }
    layout.update(extra)
    return layout


def tunnel_funnel_figure(rows: list[dict[str, Any]]) -> Any:
    """One funnel per tunnel, side by side, from each tunnel's newest stats snapshot."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row.get("tunnel_id")
        if key is None:
            continue
        if key not in latest or _day(row["snapshot_date"]) > _day(latest[key]["snapshot_date"]):
            latest[key] = row
    ordered = sorted(latest.values(), key=lambda r: -_num(r.get("visits")))[:6]
    titles = [f"{r.get('tunnel_name') or r['tunnel_id']} ({_day(r['snapshot_date'])})" for r in ordered]
    fig = make_subplots(rows=1, cols=max(1, len(ordered)), shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.03)
    stages = [s.capitalize() for s in FUNNEL_STAGES]
    for i, row in enumerate(ordered):
        fig.add_trace(go.Funnel(
            name=titles[i], y=stages, x=[_num(row.get(s)) for s in FUNNEL_STAGES],
            textinfo="value+percent initial", textposition="inside",
            marker={"color": PALETTE[: len(FUNNEL_STAGES)]},
            connector={"fillcolor": "#e5e7eb"}, showlegend=False,
        ), row=1, col=i + 1)
    fig.update_layout(**_layout("Funnel per tunnel — newest stats snapshot (visits → shows → subscribers → orders → sales)",
                                height=440, margin={"l": 80, "r": 20, "t": 90, "b": 30}))
    return fig


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


def daily_activity_figure(rows: list[dict[str, Any]], series: Iterable[tuple[str, str, str]] = LEELOO_DAILY) -> Any:
    import plotly.graph_objects as go

    days = [_day(r["date"]) for r in rows]
    fig = go.Figure()
    for column, label, kind in series:
        values = [_num(r.get(column)) for r in rows]
        if kind == "line":
            fig.add_trace(go.Scatter(x=days, y=values, name=label, mode="lines"))
        else:
            fig.add_trace(go.Bar(x=days, y=values, name=label))
    extra: dict[str, Any] = {
        "barmode": "group",
        "xaxis": {"type": "date", "rangeslider": {"visible": True, "thickness": 0.08}},
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.0},
        "margin": {"l": 60, "r": 20, "t": 90, "b": 30},
        "height": 460,
    }
    if len(days) > 90:
        extra["xaxis"]["range"] = [days[-90], days[-1]]
    fig.update_layout(**_layout("Daily activity (UTC days; the slider shows the whole history)", **extra))
    return fig


PEOPLE_STEPS = (("people", "People"), ("engaged_people", "Engaged (wrote to us)"),
                ("ordering_people", "Ordering"), ("paying_people", "Paying"))
CLIENT_STEPS = (("clients", "Clients"), ("engaged_clients", "Engaged (wrote to us)"),
                ("ordering_clients", "Ordering"), ("successful_clients", "With a successful order"))


def _grouped_funnel(title: str, labels: list[str], rows: list[dict[str, Any]],
                    steps: Iterable[tuple[str, str]] = PEOPLE_STEPS) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for column, label in steps:
        fig.add_trace(go.Bar(y=labels, x=[_num(r.get(column)) for r in rows], name=label, orientation="h"))
    fig.update_layout(**_layout(title, barmode="group", height=max(360, 60 + 70 * len(labels)),
                                yaxis={"autorange": "reversed", "automargin": True}))
    return fig


def source_funnel_figure(rows: list[dict[str, Any]], top: int = 12) -> Any:
    rows = sorted(rows, key=lambda r: -_num(r.get("people")))[:top]
    labels = [
        f"{r.get('tunnel_name') or r.get('tunnel_id') or '?'} / {r.get('traffic_source') or r.get('traffic_source_id') or '?'}"
        f" / {r.get('leadgentool_name') or '?'}"
        for r in rows
    ]
    return _grouped_funnel(f"Source funnel — tunnel / traffic source / lead-gen tool (top {len(rows)} by people)", labels, rows)


def utm_funnel_figure(rows: list[dict[str, Any]], top: int = 12) -> Any:
    rows = sorted(rows, key=lambda r: -_num(r.get("people")))[:top]
    labels = [
        " / ".join(str(r.get(c) or "—") for c in ("utm_source", "utm_medium", "utm_campaign"))
        if any(r.get(c) for c in ("utm_source", "utm_medium", "utm_campaign")) else "(not tagged)"
        for r in rows
    ]
    return _grouped_funnel(f"UTM funnel — source / medium / campaign (top {len(rows)} by people)", labels, rows)


def manager_response_figure(rows: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    by_manager: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        name = row.get("manager_name") or row.get("manager_id") or "(no author)"
        by_manager.setdefault(str(name), []).append(row)
    fig = go.Figure()
    for name, items in sorted(by_manager.items()):
        items.sort(key=lambda r: _day(r["week_start"]))
        fig.add_trace(go.Scatter(
            x=[_day(r["week_start"]) for r in items],
            y=[round(_num(r.get("median_response_minutes")), 1) for r in items],
            customdata=[[int(_num(r.get("answered_messages"))), round(_num(r.get("p90_response_minutes")), 1)]
                        for r in items],
            hovertemplate="%{x}: median %{y} min, p90 %{customdata[1]} min, %{customdata[0]} answered<extra>"
                          + html.escape(name) + "</extra>",
            name=name, mode="lines+markers",
        ))
    fig.update_layout(**_layout("Manager response times — weekly median minutes to reply (log scale)",
                                yaxis={"type": "log", "title": {"text": "minutes"}}, xaxis={"type": "date"}))
    return fig


def salebot_daily_activity_figure(rows: list[dict[str, Any]]) -> Any:
    return daily_activity_figure(rows, SALEBOT_DAILY)


def order_status_figure(rows: list[dict[str, Any]]) -> Any:
    """Orders per CRM state, stacked within their status (active / success / failed)."""
    import plotly.graph_objects as go

    statuses = sorted({str(r.get("status_name") or r.get("status") or "?") for r in rows},
                      key=lambda s: -sum(_num(r.get("orders")) for r in rows
                                         if str(r.get("status_name") or r.get("status") or "?") == s))
    fig = go.Figure()
    for row in sorted(rows, key=lambda r: str(r.get("state_id"))):
        status = str(row.get("status_name") or row.get("status") or "?")
        fig.add_trace(go.Bar(
            x=[status], y=[_num(row.get("orders"))], name=f"state {row.get('state_id') or '—'}",
            customdata=[[int(_num(row.get("clients")))]],
            hovertemplate="%{x}, %{fullData.name}: %{y} orders of %{customdata[0]} clients<extra></extra>",
        ))
    fig.update_layout(**_layout("Orders by status and CRM state", barmode="stack",
                                xaxis={"categoryorder": "array", "categoryarray": statuses}))
    return fig


def channel_funnel_figure(rows: list[dict[str, Any]], top: int = 12) -> Any:
    rows = sorted(rows, key=lambda r: -_num(r.get("clients")))[:top]
    labels = [f"{r.get('messenger') or '?'} / {r.get('channel_name') or r.get('channel_group_id') or '?'}" for r in rows]
    return _grouped_funnel(f"Channel funnel — messenger / channel (top {len(rows)} by clients)", labels, rows,
                           CLIENT_STEPS)


ChartSpec = tuple[str, str, str, Callable[[list[dict[str, Any]]], Any]]
CHARTS: list[ChartSpec] = [
    # (chart id, report, order by, figure builder) — Leeloo
    ("tunnel_funnel", "tunnel_funnel", "tunnel_id, snapshot_date", tunnel_funnel_figure),
    ("daily_activity", "daily_activity", '"date"', daily_activity_figure),
    ("source_funnel", "source_funnel", "", source_funnel_figure),
    ("utm_funnel", "utm_funnel", "", utm_funnel_figure),
    ("manager_response_times", "manager_response_times", "week_start", manager_response_figure),
]
SALEBOT_CHARTS: list[ChartSpec] = [
    ("salebot_daily_activity", "daily_activity", '"date"', salebot_daily_activity_figure),
    ("salebot_order_funnel", "order_funnel", "", order_status_figure),
    ("salebot_channel_funnel", "channel_funnel", "", channel_funnel_figure),
]
CHARTS_BY_SOURCE: dict[str, list[ChartSpec]] = {"leeloo": CHARTS, "salebot": SALEBOT_CHARTS}
SOURCE_TITLES = {"leeloo": "Leeloo.ai", "salebot": "Salebot.pro"}
SOURCE_MARKERS = {"leeloo": "tunnel_funnel", "salebot": "order_funnel"}


# ---------------------------------------------------------------- page


CSS = """
body{margin:0;background:#f3f4f6;color:#111827;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
header{background:#111827;color:#f9fafb;padding:18px 28px}
header h1{margin:0 0 6px 0;font-size:22px}
header .meta{font-size:13px;color:#d1d5db}
main{padding:18px 28px;display:grid;grid-template-columns:1fr;gap:18px;max-width:1400px}
h2{font-size:18px;margin:10px 0 0 0;color:#111827}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:10px 14px}
.fresh{display:flex;gap:14px;flex-wrap:wrap}
.tile{flex:1 1 130px;background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:12px 16px}
.tile .k{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}
.tile .v{font-size:22px;font-weight:600;margin-top:4px}
.ok{border-left:6px solid #16a34a}.stale{border-left:6px solid #f59e0b}.bad{border-left:6px solid #dc2626}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb}
th{color:#6b7280;font-weight:600}
.empty{color:#6b7280;padding:30px;text-align:center}
footer{padding:10px 28px 30px;color:#6b7280;font-size:12px}
"""


def _fmt_int(value: Any) -> str:
    return f"{int(_num(value)):,}".replace(",", " ")


def _freshness(reader: ReportReader, now: datetime) -> tuple[str, dict[str, Any]]:
    runs = reader.try_rows(
        f'select source, outcome, started_at, finished_at, duration_seconds, requests, rows_loaded, error '
        f'from "{reader.dataset}"."_chatfunnel_runs" order by started_at desc limit 10'
    ) or []
    for run in runs:
        run["finished_at"] = _utc(run.get("finished_at"))
        run["started_at"] = _utc(run.get("started_at"))
    ok = next((r for r in runs if r["outcome"] in ("success", "partial")), None)
    last = runs[0] if runs else None
    info: dict[str, Any] = {"last_success": ok["finished_at"].isoformat() if ok else None,
                            "last_outcome": last["outcome"] if last else None, "runs": len(runs)}
    if ok is None:
        cls, headline, age = "bad", "no successful run recorded", ""
    else:
        hours = (now - ok["finished_at"]).total_seconds() / 3600
        cls = "ok" if hours <= STALE_HOURS else "stale"
        age = f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"
        headline = f"{ok['finished_at']:%Y-%m-%d %H:%M} UTC"
    if last is not None and last["outcome"] == "failed":
        cls = "bad"
    tiles = [
        f'<div class="tile {cls}" id="freshness-{html.escape(reader.dataset)}"><div class="k">Last successful run</div>'
        f'<div class="v">{html.escape(headline)}</div><div class="k">{html.escape(age)}'
        + (" — data may be stale" if cls == "stale" else "")
        + (" — the last run FAILED" if last is not None and last["outcome"] == "failed" else "")
        + "</div></div>"
    ]
    rows_html = "".join(
        f"<tr><td>{html.escape(r['outcome'])}</td><td>{r['finished_at']:%Y-%m-%d %H:%M:%S}</td>"
        f"<td>{_num(r.get('duration_seconds')):.1f}s</td><td>{_fmt_int(r.get('rows_loaded'))}</td>"
        f"<td>{_fmt_int(r.get('requests'))}</td>"
        f"<td>{html.escape((r.get('error') or '')[:160])}</td></tr>"
        for r in runs if r.get("finished_at")
    )
    table = (
        f'<div class="card" id="run-history-{html.escape(reader.dataset)}"><table>'
        "<tr><th>outcome</th><th>finished (UTC)</th>"
        "<th>duration</th><th>rows loaded</th><th>API requests</th><th>error</th></tr>"
        + (rows_html or '<tr><td colspan="6">no runs recorded yet</td></tr>') + "</table></div>"
    )
    return "".join(tiles), {**info, "table": table}


def _kpis(funnel_rows: list[dict[str, Any]] | None) -> str:
    if not funnel_rows:
        return ""
    latest: dict[str, dict[str, Any]] = {}
    for row in funnel_rows:
        key = row.get("tunnel_id")
        if key not in latest or _day(row["snapshot_date"]) > _day(latest[key]["snapshot_date"]):
            latest[key] = row
    totals = {s: sum(_num(r.get(s)) for r in latest.values()) for s in FUNNEL_STAGES}
    newest = max(_day(r["snapshot_date"]) for r in latest.values())
    tiles = [f'<div class="tile"><div class="k">Newest stats snapshot</div><div class="v">{newest}</div>'
             f'<div class="k">{len(latest)} tunnels</div></div>']
    for stage in FUNNEL_STAGES:
        tiles.append(f'<div class="tile"><div class="k">{stage}</div><div class="v">{_fmt_int(totals[stage])}</div></div>')
    return "".join(tiles)


def _chart_sections(reader: ReportReader, summary: dict[str, Any]) -> tuple[list[str], Any]:
    import plotly.io as pio

    sections = []
    funnel_rows = None
    for chart_id, report, order, builder in CHARTS_BY_SOURCE.get(reader.source, CHARTS):
        rows = reader.report(report, order)
        if report == "tunnel_funnel":
            funnel_rows = rows
        if not rows:
            summary["charts"][chart_id] = 0
            reason = "report not built yet" if rows is None else "no rows yet"
            sections.append(f'<section class="card" id="chart-{chart_id}"><div class="empty">'
                            f'{html.escape(reader.reports)}.{html.escape(report)}: {reason}</div></section>')
            continue
        fig = builder(rows)
        summary["charts"][chart_id] = sum(len(t.x or t.y or []) for t in fig.data)
        div = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=f"plot-{chart_id}",
                          config={"displaylogo": False, "responsive": True,
                                  "modeBarButtonsToRemove": ["sendDataToCloud"]})
        sections.append(f'<section class="card" id="chart-{chart_id}">{div}</section>')
    return sections, funnel_rows


def render_dashboard(
    readers: ReportReader | list[ReportReader],
    *,
    title: str | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The page's HTML and a summary {"charts": {chart id: data points (0 = no data)},
    "freshness": {dataset: ...}} for one or several sources' readers."""
    from plotly.offline import get_plotlyjs

    readers = [readers] if isinstance(readers, ReportReader) else list(readers)
    now = now or datetime.now(timezone.utc)
    names = ", ".join(r.dataset for r in readers)
    title = title or f"chatfunnel — {names} funnel"
    summary: dict[str, Any] = {"charts": {}, "freshness": {}}
    blocks = []
    for reader in readers:
        sections, funnel_rows = _chart_sections(reader, summary)
        fresh_tiles, fresh = _freshness(reader, now)
        summary["freshness"][reader.dataset] = {k: v for k, v in fresh.items() if k != "table"}
        heading = SOURCE_TITLES.get(reader.source, reader.source)
        blocks.append(
            f'<h2 id="source-{html.escape(reader.dataset)}">{html.escape(heading)} — dataset '
            f'{html.escape(reader.dataset)} (reports in {html.escape(reader.reports)})</h2>'
            f'<div class="fresh">{fresh_tiles}{_kpis(funnel_rows)}</div>'
            + "".join(sections) + fresh["table"]
        )
    if len(readers) == 1:  # kept for readers of a single source's page
        summary["freshness"] = {**summary["freshness"][readers[0].dataset], "datasets": summary["freshness"]}
    location = html.escape(readers[0].location) if readers else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<header><h1>{html.escape(title)}</h1>
<div class="meta">generated {now:%Y-%m-%d %H:%M} UTC from {location}; opens offline, nothing is
loaded from the network</div></header>
<main>
{''.join(blocks)}
</main>
<footer>Leeloo funnel counters are Leeloo's cumulative tunnel statistics; source and UTM funnels
count distinct people (a person counts under every entry of their history). Made by
`chatfunnel report`.</footer>
<script type="application/json" id="chatfunnel-summary">{json.dumps(summary, default=str)}</script>
</body></html>
"""
    return page, summary


def readers_for(target: Any, dataset: str | None = None, destination: str | None = None) -> list[ReportReader]:
    """One reader per dataset to show: `dataset`, or every source's default dataset that has
    reports or runs (leeloo first), or leeloo when none has anything yet."""
    if dataset:
        if target is None:
            target = report_target(destination or "duckdb", dataset)
        return [ReportReader(target, dataset)]
    if target is not None and not isinstance(target, (str, os.PathLike)):
        return [ReportReader(target, target.dataset_name)]
    readers = []
    for name in SOURCE_MARKERS:
        source_target = target if target is not None else report_target(destination or "duckdb", name)
        try:
            reader = ReportReader(source_target, name)
        except FileNotFoundError:
            continue
        if reader.has_anything():
            readers.append(reader)
    if not readers:
        readers = [ReportReader(target if target is not None else report_target(destination or "duckdb", "leeloo"),
                                "leeloo")]
    return readers


def write_dashboard(
    target: Any = None,
    out_path: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    destination: str | None = None,
    dataset: str | None = None,
    title: str | None = None,
) -> Path:
    """Write the dashboard to `out_path` and return its path.

    `target` is a dlt pipeline (any SQL destination: duckdb, postgres; its dataset is shown)
    or the path of a DuckDB file (the BI snapshot, the working file or a lake reports file);
    without it, `destination` ("duckdb" by default) is read as `chatfunnel report` reads it
    (on DuckDB the published BI snapshot when there is one, else the working file).
    `dataset` limits the page to one dataset; by default every source with reports is shown.
    """
    page, _ = render_dashboard(readers_for(target, dataset, destination), title=title)
    return _write(page, out_path)


def _write(page: str, out_path: str | os.PathLike[str]) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------- CLI


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `chatfunnel report`."""
    parser.add_argument("--destination", default="duckdb", choices=("duckdb", "postgres", "filesystem"),
                        help="where the reports are (filesystem: the lake's DuckDB reports file)")
    parser.add_argument("--dataset", help="only this raw dataset's reports (default: every source that has reports)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"HTML file to write (default {DEFAULT_OUT})")
    parser.add_argument("--working-file", action="store_true",
                        help="DuckDB: read the working file instead of the published BI snapshot")


def report_target(destination: str, dataset: str, *, working_file: bool = False) -> Any:
    """What `chatfunnel report` reads for a destination."""
    if destination == "duckdb":
        from .publish import bi_path_for
        from .runner import duckdb_file

        working = Path(duckdb_file())
        bi = bi_path_for(working)
        return working if working_file or not bi.exists() else bi
    if destination == "filesystem":
        from .publish import lake_duckdb_path

        return lake_duckdb_path()
    from .runner import make_pipeline

    return make_pipeline(dataset, destination, dataset)


def report_from_args(args: argparse.Namespace) -> int:
    """`chatfunnel report`: write the dashboard, print its path."""
    from .runner import ChatfunnelError

    dataset = getattr(args, "dataset", None)
    try:
        readers = readers_for(None, dataset, args.destination)
        if args.destination == "duckdb" and getattr(args, "working_file", False):
            readers = [ReportReader(report_target("duckdb", r.dataset, working_file=True), r.dataset) for r in readers]
    except FileNotFoundError as exc:
        raise ChatfunnelError(
            f"No reports to show ({exc}). Run `chatfunnel run --destination {args.destination}` first."
        ) from None
    page, summary = render_dashboard(readers)
    out = _write(page, args.out)
    empty = [c for c, n in summary["charts"].items() if not n]
    print(f"dashboard: {out.resolve()}")
    if empty:
        print(f"  no data yet for: {', '.join(empty)}")
    return 0


def charts_with_data(page: str) -> dict[str, int]:
    """{chart id: data points} as recorded in a written page (for tests and monitoring)."""
    marker = '<script type="application/json" id="chatfunnel-summary">'
    start = page.index(marker) + len(marker)
    return json.loads(page[start: page.index("</script>", start)])["charts"]


def _iter_plots(page: str) -> Iterable[tuple[str, list[dict[str, Any]]]]:
    """(div id, traces) of every Plotly.newPlot call in a page."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        pos = page.find("Plotly.newPlot(", pos)
        if pos < 0:
            return
        q = page.index('"', pos)
        end = page.index('"', q + 1)
        div_id = page[q + 1:end]
        comma = page.index(",", end) + 1
        while page[comma].isspace():
            comma += 1
        traces, consumed = decoder.raw_decode(page, comma)
        yield div_id, traces
        pos = consumed
