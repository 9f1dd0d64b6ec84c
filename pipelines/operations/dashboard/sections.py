"""The sections a source's page is made of, by the ids `pipelines.config.registry` lists in a
source's `dashboard_sections`. A section reads its reports and returns blocks (a chart, or
the reason it has none, and HTML beside it). A section may bring companions: the sections
that answer the next question about the same report (the tunnel funnel brings ROMI and the
trend), so a registry entry that predates them still shows them; a companion the registry
lists itself is shown once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from pipelines.operations.dashboard import charts, tables
from pipelines.operations.dashboard.charts import Chart
from pipelines.operations.dashboard.facts import Headline, leeloo_headline, salebot_headline
from pipelines.operations.dashboard.markup import text
from pipelines.operations.dashboard.reading import AccountPage, ReportReader
from pipelines.operations.dashboard.time_to_pay import time_to_pay_figure


@dataclass(frozen=True)
class Block:
    chart_id: str
    heading: str
    chart: Chart | None = None
    empty: str | None = None  # why there is no chart yet
    html: str = ""  # shown under the chart (tables, notes), already escaped


@dataclass
class Context:
    """One account's page being built: its reader, the reports read so far, and facts the
    sections leave for the summary (e.g. which days lack a tunnel snapshot)."""

    reader: ReportReader
    account: AccountPage
    now: datetime
    facts: dict[str, Any] = field(default_factory=dict)
    _reports: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)

    def report(self, name: str, order: str = "") -> list[dict[str, Any]] | None:
        if name not in self._reports:
            self._reports[name] = self.reader.table(self.account.reports, name, order)
        return self._reports[name]

    def missing(self, name: str, rows: list[dict[str, Any]] | None) -> str:
        where = f"{self.account.reports}.{name}"
        if rows is None:
            return f"{where}: report not built yet (run `chatfunnel transform`)"
        return f"{where}: no rows yet"


Builder = Callable[[Context], list[Block]]
HeadlineReader = Callable[[ReportReader, AccountPage], Headline]


@dataclass(frozen=True)
class Section:
    id: str
    build: Builder
    companions: tuple[str, ...] = ()
    headline: HeadlineReader | None = None  # what the accounts overview says of the account


# ---------------------------------------------------------------- Leeloo


def _tunnel_funnel(ctx: Context) -> list[Block]:
    rows = ctx.report("tunnel_funnel", "tunnel_id, snapshot_date")
    heading = "Funnel per tunnel"
    if not rows:
        return [Block("tunnel_funnel", heading, empty=ctx.missing("tunnel_funnel", rows))]
    latest = charts.latest_snapshots(rows)
    ctx.facts["tunnels"] = len(latest)
    return [Block("tunnel_funnel", heading, chart=charts.tunnel_funnel_figure(latest),
                  html=tables.tunnels_table(latest))]


def _tunnel_romi(ctx: Context) -> list[Block]:
    rows = ctx.report("tunnel_funnel", "tunnel_id, snapshot_date")
    heading = "ROMI per tunnel"
    if not rows:
        return [Block("tunnel_romi", heading, empty=ctx.missing("tunnel_funnel", rows))]
    latest = charts.latest_snapshots(rows)
    figure = charts.romi_figure(latest)
    without = [r for r in latest if charts.maybe_num(r.get("romi")) is None]
    note = tables.names_note("No expenses recorded (ROMI undefined)", [r.get("tunnel_name") for r in without])
    if figure is None:
        return [Block("tunnel_romi", heading, empty="No tunnel has expenses recorded in Leeloo, so ROMI is undefined.",
                      html=note)]
    return [Block("tunnel_romi", heading, chart=figure, html=note)]


def _tunnel_trend(ctx: Context) -> list[Block]:
    heading = "Funnel trend over days"
    snapshots = ctx.report("tunnel_funnel", "tunnel_id, snapshot_date")
    daily = ctx.report("tunnel_funnel_daily", "snapshot_date")
    if not snapshots:
        return [Block("tunnel_trend", heading, empty=ctx.missing("tunnel_funnel", snapshots))]
    calendar = charts.trend_days(ctx.report("tunnel_stats_coverage", '"date"'), snapshots, ctx.now.date())
    if calendar is None:
        return [Block("tunnel_trend", heading, empty=ctx.missing("tunnel_funnel", []))]
    ctx.facts["snapshot_days"] = [d.isoformat() for d in calendar.snapshot_days]
    ctx.facts["snapshot_gaps"] = [d.isoformat() for d in calendar.gaps]
    figure = charts.tunnel_trend_figure(daily or [], calendar)
    if figure is None:
        days = calendar.snapshot_days
        return [Block("tunnel_trend", heading, empty=(
            f"The trend starts with the second day that has a tunnel stats snapshot; so far "
            f"{len(days)} day(s): {', '.join(d.isoformat() for d in days[-3:])}. Leeloo keeps no history "
            "of its counters, so each night's run adds one point."))]
    return [Block("tunnel_trend", heading, chart=figure, html=tables.gaps_note(calendar.gaps, calendar.partial_days))]


def _one_chart(report: str, chart_id: str, heading: str, figure: Callable[[list[dict[str, Any]]], Chart],
               order: str = "") -> Builder:
    """A section of one chart drawn from one report, or the reason there is none yet."""
    def build(ctx: Context) -> list[Block]:
        rows = ctx.report(report, order)
        if not rows:
            return [Block(chart_id, heading, empty=ctx.missing(report, rows))]
        return [Block(chart_id, heading, chart=figure(rows))]
    return build


def _daily(report: str, chart_id: str, series: Any) -> Builder:
    return _one_chart(report, chart_id, "Daily activity", lambda rows: charts.daily_activity_figure(rows, series),
                      '"date"')


def _revenue_by_source(ctx: Context) -> list[Block]:
    heading = "Paid revenue by traffic source (first touch)"
    rows = ctx.report("revenue_first_touch")
    if not rows:
        return [Block("revenue_by_source", heading, empty=ctx.missing("revenue_first_touch", rows))]
    names = {(r.get("tunnel_id"), r.get("leadgentool_id"), r.get("traffic_source_id")): r
             for r in ctx.report("source_funnel") or []}
    named = []
    for row in rows:
        entry = names.get((row.get("tunnel_id"), row.get("leadgentool_id"), row.get("traffic_source_id")), {})
        named.append({**row, **{k: entry.get(k) for k in ("tunnel_name", "leadgentool_name", "traffic_source")}})
    chart = charts.revenue_figure(
        "Paid revenue per currency by the buyer's first traffic source · tunnel / lead-gen tool: each paid order "
        "once, buyers without a subscribe history as (unattributed); the panels add up to the overview's revenue",
        named, charts.first_touch_label)
    return [Block("revenue_by_source", heading, chart=chart)]


def _utm_funnel(ctx: Context) -> list[Block]:
    heading = "UTM funnel"
    rows = ctx.report("utm_funnel")
    if not rows:
        return [Block("utm_funnel", heading, empty=ctx.missing("utm_funnel", rows))]
    untagged = [r for r in rows if not charts.is_tagged(r)]
    note = ""
    if untagged:
        people = sum(int(charts.num(r.get("people"))) for r in untagged)
        paying = sum(int(charts.num(r.get("paying_people"))) for r in untagged)
        channels = sum(int(charts.num(r.get("channels"))) for r in untagged)
        note = (f'<p class="note">(not tagged): {channels:,} channels without UTM marks, {people:,} people, '
                f"{paying:,} of them paying.</p>")
    return [Block("utm_funnel", heading, chart=charts.utm_funnel_figure(rows), html=note)]


def _utm_revenue(ctx: Context) -> list[Block]:
    heading = "Paid revenue by UTM campaign"
    rows = ctx.report("utm_revenue")
    if not rows:
        return [Block("utm_revenue", heading, empty=ctx.missing("utm_revenue", rows))]
    tagged = [r for r in rows if charts.is_tagged(r)]
    if not tagged:
        return [Block("utm_revenue", heading, empty="no paid order of a buyer with UTM marks yet",
                      html=_untagged(rows))]
    chart = charts.revenue_figure(
        "Paid revenue per currency by UTM campaign · source / medium (tagged combinations; not tagged: below), per "
        "entry: an order counts under every UTM combination its buyer came through; do not sum the bars",
        tagged, charts.utm_label)
    return [Block("utm_revenue", heading, chart=chart, html=_untagged(rows))]


def _untagged(rows: list[dict[str, Any]]) -> str:
    """The paid revenue of buyers with an untagged channel, per currency, as its own figure: as a bar it
    would flatten every tagged one."""
    untagged = sorted(((str(r.get("currency") or "?"), charts.num(r.get("revenue")),
                        int(charts.num(r.get("paid_orders")))) for r in rows if not charts.is_tagged(r)),
                      key=lambda t: -t[1])
    if not untagged:
        return ""
    figures = "; ".join(f"{revenue:,.2f} {text(currency)} ({orders:,} paid orders)"
                        for currency, revenue, orders in untagged)
    return f'<p class="note">(not tagged): {figures}.</p>'



# ---------------------------------------------------------------- Salebot


TIME_TO_PAY = _one_chart(
    "time_to_pay", "time_to_pay", "Time to pay", lambda rows: time_to_pay_figure(
        rows, "From first contact (first channel or message) to first payment, by week of first contact: people "
              "who paid and who have not yet (every tunnel / source), and the hours it took",
        count="people", paid="paid_people", who="people"), "week_start")
ORDER_TIMING = _one_chart(
    "order_timing", "order_timing", "Order timing", lambda rows: time_to_pay_figure(
        rows, "From an order's creation to its first paid status, by week of creation: orders paid and not paid "
              "yet (every tunnel), and the hours it took (median, p90)",
        count="orders", paid="paid_orders", who="orders", prefix="hours_to_paid", since="created",
        payers="paid orders"), "week_start")
SALEBOT_TIME_TO_PAY = _one_chart(
    "time_to_pay", "salebot_time_to_pay", "Time to pay", lambda rows: time_to_pay_figure(
        rows, "From first contact to the first run that saw a successful order (an upper bound), by week of first "
              "contact: clients with a successful order and without one yet (every bot), and the hours it took",
        count="clients", paid="successful_clients", who="clients"), "week_start")


SECTIONS: dict[str, Section] = {
    s.id: s
    for s in (
        Section("tunnel_funnel", _tunnel_funnel, companions=("tunnel_romi", "tunnel_trend"), headline=leeloo_headline),
        Section("tunnel_romi", _tunnel_romi),
        Section("tunnel_trend", _tunnel_trend),
        Section("daily_activity", _daily("daily_activity", "daily_activity", charts.LEELOO_DAILY)),
        Section("source_funnel", _one_chart("source_funnel", "source_funnel", "Source funnel: where people came from",
                                            charts.source_funnel_figure), companions=("revenue_by_source",)),
        Section("revenue_by_source", _revenue_by_source),
        Section("utm_funnel", _utm_funnel, companions=("utm_revenue",)),
        Section("utm_revenue", _utm_revenue),
        Section("manager_response_times", _one_chart("manager_response_times", "manager_response_times",
                                                     "Manager response times", charts.manager_response_figure,
                                                     "week_start"), companions=("time_to_pay", "order_timing")),
        Section("time_to_pay", TIME_TO_PAY),
        Section("order_timing", ORDER_TIMING),
        Section("salebot_daily_activity", _daily("daily_activity", "salebot_daily_activity", charts.SALEBOT_DAILY),
                headline=salebot_headline),
        Section("salebot_order_funnel", _one_chart("order_funnel", "salebot_order_funnel", "Orders by status",
                                                   charts.order_status_figure)),
        Section("salebot_channel_funnel", _one_chart("channel_funnel", "salebot_channel_funnel", "Channel funnel",
                                                     charts.channel_funnel_figure),
                companions=("salebot_time_to_pay",)),
        Section("salebot_time_to_pay", SALEBOT_TIME_TO_PAY),
    )
}


def sections_for(ids: tuple[str, ...]) -> list[Section]:
    """The registry's section ids with their companions, each once, unknown ids skipped."""
    order: list[str] = []
    for section_id in ids:
        if section_id not in SECTIONS:
            continue
        for wanted in (section_id, *SECTIONS[section_id].companions):
            if wanted not in order:
                order.append(wanted)
    return [SECTIONS[i] for i in order]
