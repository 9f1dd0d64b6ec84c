"""The page: an accounts overview, one page per account (shown by the link's #fragment, so
that a hundred accounts do not draw a thousand charts at once), the figures as one JSON
block, plotly.js inlined, and a tiny script that draws the figures of the page in view."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from pipelines.operations.dashboard import charts, tables
from pipelines.operations.dashboard.coverage import (
    AccountCoverage,
    banner_html,
    coverage_summary,
    marked,
    read_coverage,
)
from pipelines.operations.dashboard.facts import Freshness, Headline, freshness, run_history
from pipelines.operations.dashboard.markup import content_security_policy, plain_label, script_json, text
from pipelines.operations.dashboard.reading import AccountPage, ReportReader, account_for_dataset, discover_accounts
from pipelines.operations.dashboard.sections import Block, Context, sections_for
from pipelines.operations.status.times import UTC_ZONE
from transforms.accounts import accounts_dataset

FIGURES_ID = "chatfunnel-figures"
SUMMARY_ID = "chatfunnel-summary"

# Draws the figures of the page in view; its text is fixed, so the CSP carries its hash.
BOOT = """(function () {
  "use strict";
  var figures = JSON.parse(document.getElementById("chatfunnel-figures").textContent);
  var pages = Array.prototype.slice.call(document.querySelectorAll("section.page"));
  var together = pages.length <= 2;
  var drawn = 0;
  function draw(page) {
    var jobs = [];
    page.querySelectorAll("div[data-figure]").forEach(function (div) {
      if (div.hasAttribute("data-drawn")) { return; }
      div.setAttribute("data-drawn", "");
      var figure = figures[div.getAttribute("data-figure")];
      if (figure) {
        jobs.push(Plotly.newPlot(div, figure.data, figure.layout, figure.config).then(function () { drawn += 1; }));
      }
    });
    return Promise.all(jobs);
  }
  function route() {
    var wanted = decodeURIComponent(location.hash.replace(/^#/, ""));
    var target = wanted ? document.getElementById(wanted) : null;
    var page = target ? target.closest("section.page") : null;
    page = page || pages[0];
    var shown = pages.filter(function (p) { return together || p === page; });
    pages.forEach(function (p) { p.hidden = shown.indexOf(p) < 0; });
    document.querySelectorAll("nav a").forEach(function (a) {
      a.classList.toggle("current", a.getAttribute("href") === "#" + page.id);
    });
    Promise.all(shown.map(draw)).then(function () {
      document.documentElement.setAttribute("data-page", page.id);
      document.documentElement.setAttribute("data-drawn", String(drawn));
      if (target && target !== page) { target.scrollIntoView(); }
    });
  }
  window.addEventListener("hashchange", route);
  route();
}());"""

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#111827;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
header{background:#111827;color:#f9fafb;padding:16px 28px 10px}
header h1{margin:0 0 4px 0;font-size:21px}
header .meta{font-size:13px;color:#d1d5db}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;margin-top:10px;font-size:14px}
nav .group{color:#9ca3af}
nav a{color:#bfdbfe;text-decoration:none;border-bottom:2px solid transparent;padding-bottom:2px}
nav a.current{color:#fff;border-bottom-color:#60a5fa}
main{padding:16px 28px;max-width:1400px}
.page{display:grid;grid-template-columns:minmax(0,1fr);gap:16px}
.page[hidden]{display:none}
h2{font-size:19px;margin:6px 0 0 0}
h2 .dim,h3 .dim{font-weight:400}
h3{font-size:15px;margin:0 0 8px 0}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:12px 16px;min-width:0}
.tiles{display:flex;gap:12px;flex-wrap:wrap}
.tile{flex:1 1 150px;background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);
padding:10px 14px;min-width:0}
.tile .k{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}
.tile .v{font-size:20px;font-weight:600;margin-top:4px;overflow-wrap:anywhere}
.ok{border-left:6px solid #16a34a}.stale{border-left:6px solid #f59e0b}.bad{border-left:6px solid #dc2626}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{color:#6b7280;font-weight:600;background:#fff;position:sticky;top:0}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.neg{color:#b91c1c}
td.date{white-space:nowrap}
td.name{max-width:420px;overflow-wrap:anywhere;unicode-bidi:isolate}
td.error{white-space:pre-wrap;overflow-wrap:break-word;word-break:normal;min-width:320px;max-width:760px}
td.error summary{cursor:pointer}
td.error .full{margin-top:6px;padding:6px 8px;background:#f9fafb;border-radius:6px}
tr.outcome-failed td:first-child,tr.outcome-interrupted td:first-child{color:#b91c1c;font-weight:600}
tr.outcome-partial td:first-child{color:#b45309;font-weight:600}
.scroll{max-height:460px;overflow:auto}
details.table summary{cursor:pointer;color:#374151;font-size:13px;margin:8px 0}
.empty{color:#6b7280;padding:26px;text-align:center}
.note{color:#4b5563;font-size:13px;margin:6px 0 0 0}
.caption{color:#374151;font-size:13px;margin:0 0 4px 0;max-width:1100px}
.dim{color:#6b7280;font-size:12px}
.level{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px}
.level.ok{background:#16a34a;border:0}.level.stale{background:#f59e0b;border:0}.level.bad{background:#dc2626;border:0}
.banner{background:#fef3c7;border-left:6px solid #f59e0b;border-radius:10px;padding:10px 14px;font-size:14px;
color:#78350f;font-weight:600}
footer{padding:10px 28px 30px;color:#6b7280;font-size:12px;max-width:1400px}
"""


@dataclass
class AccountResult:
    account: AccountPage
    fresh: Freshness
    headline: Headline
    blocks: list[Block]
    facts: dict[str, Any] = field(default_factory=dict)
    covered: AccountCoverage = field(default_factory=lambda: AccountCoverage(None, UTC_ZONE))


def build_account(reader: ReportReader, account: AccountPage, now: datetime) -> AccountResult:
    ctx = Context(reader, account, now)
    headline = Headline()
    blocks: list[Block] = []
    for section in sections_for(account.spec.dashboard_sections):
        if section.headline is not None and headline.people is None and not headline.revenue:
            headline = section.headline(reader, account)
        blocks.extend(section.build(ctx))
    covered = read_coverage(reader, account)
    return AccountResult(account, freshness(run_history(reader, account), now), headline, marked(blocks, covered),
                         ctx.facts, covered)


def _figure_key(account: AccountPage, chart_id: str) -> str:
    return f"{account.dataset}.{chart_id}"


def _block_html(result: AccountResult, block: Block) -> str:
    anchor = f"{result.account.anchor}-{block.chart_id}"
    if block.chart is None:
        body = f'<div class="empty">{text(block.empty or "no data yet")}</div>'
    else:
        body = (f'<p class="caption">{text(block.chart.caption)}</p>'
                f'<div class="plot" data-figure="{text(_figure_key(result.account, block.chart_id))}"></div>')
    return (f'<section class="card" id="{text(anchor)}"><h3>{text(block.heading)}</h3>'
            f"{body}{block.html}</section>")


def _account_tiles(result: AccountResult) -> str:
    fresh, headline = result.fresh, result.headline
    note = text(fresh.age)
    if fresh.level == "stale":
        note += " — data may be stale"
    if fresh.last_outcome and fresh.level == "bad" and fresh.last_success is not None:
        note += f" — the last run was {text(fresh.last_outcome)}"
    if not fresh.runs and result.covered.under_way:  # a first load's window is in; its run is recorded at its end
        tiles = [tables.tile("Last successful run", "first load not finished",
                             "no run recorded yet: the newest history is in, older history is still to load")]
    else:
        tiles = [tables.tile("Last successful run", text(tables.freshness_text(fresh).split(" (")[0]), note,
                             fresh.level)]
    if headline.people is not None:
        tiles.append(tables.tile(headline.people_word, tables.fmt_int(headline.people)))
    tiles.append(tables.tile("Paid revenue", tables.revenue_text(headline)))
    tunnels = result.facts.get("tunnels")
    days = result.facts.get("snapshot_days")
    if tunnels:
        gaps = result.facts.get("snapshot_gaps") or []
        tiles.append(tables.tile("Tunnel snapshots", text(days[-1] if days else "—"),
                                 text(f"{tunnels} tunnels; {len(gaps)} day(s) without a snapshot")))
    return '<div class="tiles">' + "".join(tiles) + "</div>"


def account_html(result: AccountResult) -> str:
    account = result.account
    heading = (f'{text(account.spec.title)} — {text(plain_label(account.label, limit=80))} '
               f'<span class="dim">dataset {text(account.dataset)}, reports in {text(account.reports)}</span>')
    return (f'<section class="page" id="{text(account.anchor)}"><h2>{heading}</h2>{banner_html(result.covered)}'
            f"{_account_tiles(result)}"
            + "".join(_block_html(result, b) for b in result.blocks)
            + tables.runs_table(result.fresh, text(account.anchor)) + "</section>")


def _coverage_note(result: AccountResult) -> str:
    """Under the overview's figures of an account whose history is still loading: from when they are whole."""
    return banner_html(result.covered, css="dim coverage")


def _last_run(fresh: Freshness) -> str:
    if not fresh.last_outcome:
        return "no run recorded"
    when = fresh.last_run_at
    return text(fresh.last_outcome) + (f' <span class="dim">{when:%Y-%m-%d %H:%M}</span>' if when else "")


def overview_html(results: Sequence[AccountResult], cross: Sequence[CrossChart]) -> str:
    rows = []
    for r in results:
        a = r.account
        people = ("—" if r.headline.people is None
                  else f"{tables.fmt_int(r.headline.people)} {text(r.headline.people_word)}")
        rows.append(
            f'<tr><td>{text(a.spec.title)}</td><td class="name"><a href="#{text(a.anchor)}">'
            f"<bdi>{text(plain_label(a.label, limit=60))}</bdi></a></td>"
            f'<td><span class="level {r.fresh.level}"></span>{text(tables.freshness_text(r.fresh))}</td>'
            f"<td>{_last_run(r.fresh)}</td>"
            f'<td class="n">{people}</td><td class="n">{tables.revenue_text(r.headline)}</td>'
            f"<td>{text(a.dataset)}{_coverage_note(r)}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="7" class="empty">no account has loaded anything yet</td></tr>'
    table = (
        '<section class="card" id="accounts"><h3>Accounts <span class="dim">— one row per account; '
        "open one for its funnel</span></h3><table><thead><tr><th>source</th><th>account</th>"
        "<th>last successful run</th><th>last run</th><th class=\"n\">people</th><th class=\"n\">paid revenue</th>"
        "<th>dataset</th></tr></thead><tbody>" + body + "</tbody></table></section>"
    )
    extra = []
    for key, heading, chart, empty in cross:
        inner = (f'<p class="caption">{text(chart.caption)}</p><div class="plot" data-figure="{text(key)}"></div>'
                 if chart is not None
                 else f'<div class="empty">{text(empty)}</div>')
        element_id = key.replace(".", "-").replace(":", "-")
        extra.append(f'<section class="card" id="{text(element_id)}"><h3>{text(heading)}</h3>'
                     f"{inner}</section>")
    return ('<section class="page" id="overview"><h2>Accounts overview</h2>' + table + "".join(extra) + "</section>")


def _nav(results: Sequence[AccountResult]) -> str:
    links = ['<a href="#overview">Overview</a>']
    current = None
    for r in results:
        if r.account.spec.name != current:
            current = r.account.spec.name
            links.append(f'<span class="group">{text(r.account.spec.title)}:</span>')
        name = text(plain_label(r.account.label, limit=30))
        links.append(f'<a href="#{text(r.account.anchor)}"><bdi>{name}</bdi></a>')
    return "<nav>" + "".join(links) + "</nav>"


CrossChart = tuple[str, str, "charts.Chart | None", str]  # figure key, heading, chart, why there is none


def _cross_account(reader: ReportReader, results: Sequence[AccountResult]) -> list[CrossChart]:
    """Charts over `<source>_accounts` (one view per report, a leading `account` column)."""
    out: list[CrossChart] = []
    counts = Counter(r.account.spec.name for r in results)
    specs = {r.account.spec.name: r.account.spec for r in results if counts[r.account.spec.name] > 1}
    for spec in specs.values():
        if "tunnel_funnel" not in spec.dashboard_sections:
            continue
        dataset = accounts_dataset(spec.name)
        rows = reader.table(dataset, "tunnel_funnel")
        key = f"accounts:{spec.name}.tunnel_funnel"
        heading = f"{spec.title}: accounts side by side"
        if rows is None:
            out.append((key, heading, None, f"{dataset}.tunnel_funnel is not there yet: it is rebuilt after each run."))
            continue
        chart = charts.accounts_funnel_figure(rows, title=spec.title)
        out.append((key, heading, chart, f"{dataset}.tunnel_funnel has no rows yet"))
    return out


def _chart_key(result: AccountResult, chart_id: str, single: set[str]) -> str:
    account = result.account
    if account.is_default or account.spec.name in single:
        return chart_id
    return f"{account.dataset}:{chart_id}"


def render_page(
    reader: ReportReader,
    accounts: Sequence[AccountPage] | None = None,
    *,
    title: str | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The dashboard page and its summary (every chart's points, or why it is empty); the
    page carries the summary too, so that `summary_in` reads it back without the charts."""
    now = now or datetime.now(timezone.utc)
    if accounts is None:
        accounts = [account_for_dataset(reader, reader.dataset)] if reader.dataset else discover_accounts(reader)
    results = [build_account(reader, a, now) for a in accounts]
    cross = _cross_account(reader, results)
    figures, summary = _figures_and_summary(results, cross, now)
    names = sorted({r.account.spec.title for r in results})
    title = title or f"chatfunnel — {' and '.join(names) or 'funnel'} dashboard"
    return _page_html(reader, results, cross, title=title, now=now, figures=figures, summary=summary), summary


def _figures_and_summary(
    results: Sequence[AccountResult], cross: Sequence[CrossChart], now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures the page draws, by key, and the summary that states every chart's points
    (or why it is empty): one pass over the accounts, then the cross-account charts."""
    per_source = Counter(r.account.spec.name for r in results)
    single = {name for name, n in per_source.items() if n == 1}
    figures: dict[str, Any] = {}
    summary: dict[str, Any] = {"generated": now.isoformat(), "charts": {}, "empty": {}, "accounts": []}
    for r in results:
        entry = _account_entry(r)
        for block in r.blocks:
            key = _chart_key(r, block.chart_id, single)
            if block.chart is None:
                entry["empty"][block.chart_id] = block.empty
                summary["empty"][key] = block.empty
            else:
                figures[_figure_key(r.account, block.chart_id)] = block.chart.figure
                entry["charts"][block.chart_id] = block.chart.points
                summary["charts"][key] = block.chart.points
        summary["accounts"].append(entry)
    for key, _, chart, empty in cross:
        if chart is None:
            summary["empty"][key] = empty
        else:
            figures[key] = chart.figure
            summary["charts"][key] = chart.points
    if len(results) == 1:
        summary["freshness"] = results[0].fresh.summary()
    return figures, summary


def _account_entry(result: AccountResult) -> dict[str, Any]:
    """One account's line of the summary, its charts and empty ones still to fill."""
    return {
        "source": result.account.spec.name, "account": result.account.label, "dataset": result.account.dataset,
        "anchor": result.account.anchor, "freshness": result.fresh.summary(), "people": result.headline.people,
        "people_word": result.headline.people_word, "revenue": result.headline.revenue,
        "paid_orders": result.headline.paid_orders, "charts": {}, "empty": {}, "facts": result.facts,
        "coverage": coverage_summary(result.covered),
    }


def _page_html(
    reader: ReportReader,
    results: Sequence[AccountResult],
    cross: Sequence[CrossChart],
    *,
    title: str,
    now: datetime,
    figures: dict[str, Any],
    summary: dict[str, Any],
) -> str:
    """The whole page as one offline file: plotly.js inlined, allowed by its hash in the CSP."""
    from plotly.offline import get_plotlyjs

    plotly_js = get_plotlyjs()
    policy = content_security_policy([plotly_js, BOOT])
    body = overview_html(results, cross) + "".join(account_html(r) for r in results)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{text(policy)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{text(title)}</title>
<style>{CSS}</style>
</head><body>
<header><h1>{text(title)}</h1>
<div class="meta">generated {now:%Y-%m-%d %H:%M} UTC from {text(reader.location)}; {len(results)} account(s);
opens offline, nothing is loaded from the network</div>
{_nav(results)}</header>
<noscript><p class="note">The charts need JavaScript; the tables below are complete without it.</p></noscript>
<main>
{body}
</main>
<footer>Leeloo funnel counters are Leeloo's cumulative tunnel statistics, one snapshot per night (Leeloo keeps no
history of them: a night without a run is a day without a snapshot). Source and UTM funnels count distinct people
(a person counts under every entry of their history). Money is never added across currencies. Made by
`chatfunnel report`.</footer>
<script type="application/json" id="{FIGURES_ID}">{script_json(figures)}</script>
<script type="application/json" id="{SUMMARY_ID}">{script_json(summary)}</script>
<script>{plotly_js}</script>
<script>{BOOT}</script>
</body></html>
"""
