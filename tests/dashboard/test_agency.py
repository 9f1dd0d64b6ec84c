"""The dashboard of an agency's warehouse (two Leeloo accounts and a Salebot project in one
DuckDB file): what the page says, checked against the emulators' truth and the raw tables."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.operations.dashboard import (
    ReportReader,
    add_report_arguments,
    charts_with_data,
    figures_in,
    render_dashboard,
    report_from_args,
    summary_in,
)
from pipelines.operations.dashboard.markup import text
from tests.dashboard.browser import Browser, require_chromium
from tests.dashboard.conftest import LONG_ERROR, Built
from tests.dashboard.pages import elements, probe, section

PAID = {"SUCCESS", "RESOLVED"}  # stg_orders.is_paid


@pytest.fixture(scope="module")
def page(agency: Built) -> tuple[str, dict[str, Any]]:
    return render_dashboard(ReportReader(agency.path), now=agency.now)


def _account(summary: dict[str, Any], dataset: str) -> dict[str, Any]:
    return next(a for a in summary["accounts"] if a["dataset"] == dataset)


def test_overview_has_one_row_per_account_with_its_headline(agency: Built, page: tuple[str, dict]) -> None:
    html, summary = page
    assert [(a["source"], a["account"], a["dataset"]) for a in summary["accounts"]] == [
        ("leeloo", "default", "leeloo"), ("leeloo", "acme", "leeloo_acme"), ("salebot", "default", "salebot")]
    for dataset in ("leeloo", "leeloo_acme"):
        truth = agency.emulators[dataset].truth()
        revenue: dict[str, float] = defaultdict(float)
        for order in truth["orders"]:
            if order["status"] in PAID:
                revenue[order["currency"]] += float(order["price"])
        account = _account(summary, dataset)
        assert account["people"] == len(truth["people"])
        assert account["revenue"] == pytest.approx(dict(revenue), abs=0.01)
    assert _account(summary, "salebot")["people"] == len(agency.emulators["salebot"].clients)
    assert _account(summary, "salebot")["revenue"] == {}
    fresh = {a["dataset"]: a["freshness"] for a in summary["accounts"]}
    assert (fresh["leeloo"]["last_outcome"], fresh["leeloo"]["level"]) == ("success", "ok")
    # the newer history format: an `interrupted` outcome, an `account` column, no duration column
    assert (fresh["leeloo_acme"]["last_outcome"], fresh["leeloo_acme"]["level"]) == ("interrupted", "bad")
    assert fresh["leeloo_acme"]["last_success"] is not None
    overview = section(html, "accounts")
    links = [str(attrs["href"]) for tag, attrs in elements(overview).tags if tag == "a"]
    assert links == ["#account-leeloo", "#account-leeloo_acme", "#account-salebot"]
    assert all(f'id="{link[1:]}"' in html for link in links)
    assert "Salebot orders carry no amount" in overview
    # the cross-account view: both Leeloo accounts side by side
    figure = figures_in(html)["accounts:leeloo.tunnel_funnel"]
    assert {tuple(t["y"]) for t in figure["data"]} == {("default", "acme")}


def test_every_tunnel_is_on_the_page(agency: Built, page: tuple[str, dict]) -> None:
    html, summary = page
    tunnels = {t["id"]: t["name"] for t in agency.emulators["leeloo"].truth()["tunnels"]}
    funnel = figures_in(html)["leeloo.tunnel_funnel"]
    assert len(funnel["data"]) == min(6, len(tunnels))
    table = section(html, "account-leeloo-tunnel_funnel")
    cells = [str(attrs.get("title")) for tag, attrs in elements(table).tags
             if tag == "td" and attrs.get("class") == "name"]
    assert sorted(cells) == sorted(tunnels.values())
    assert f"all {len(tunnels)} tunnels" in table
    assert _account(summary, "leeloo")["facts"]["tunnels"] == len(tunnels)


def test_romi_per_tunnel_is_leeloos_counters(agency: Built, page: tuple[str, dict]) -> None:
    emu = agency.emulators["leeloo"]
    with emu.data_lock:
        stats, _ = emu.data.tunnel_stats()
        names = {t["id"]: t["name"] for t in emu.data.tunnels}
    expected = {names[tid]: round((s["totalSale"] - s["totalExpenses"]) / s["totalExpenses"] * 100, 1)
                for tid, s in stats.items() if s["totalExpenses"]}
    bars = figures_in(page[0])["leeloo.tunnel_romi"]["data"][0]
    assert dict(zip(bars["y"], bars["x"], strict=True)) == pytest.approx(expected, abs=0.05)
    assert bars["x"] == sorted(bars["x"], reverse=True)


def _daily_changes(path: Path, dataset: str, column: str) -> dict[str, float]:
    """Per snapshot day, the change of `column` since each tunnel's previous snapshot,
    summed over tunnels: computed from the raw table, not from the reports."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"select tunnel_id, snapshot_date, {column} from {dataset}.tunnel_stats "
                           "order by tunnel_id, snapshot_date").fetchall()
    changes: dict[str, float] = defaultdict(float)
    previous: dict[str, float] = {}
    for tunnel, day, value in rows:
        if tunnel in previous:
            changes[day.isoformat()] += value - previous[tunnel]
        previous[tunnel] = value
    return dict(changes)


def test_trend_shows_the_failed_night_as_a_gap(agency: Built, page: tuple[str, dict]) -> None:
    html, summary = page
    today = agency.today
    missing = (today - timedelta(days=2)).isoformat()
    facts = _account(summary, "leeloo")["facts"]
    assert facts["snapshot_gaps"] == [missing]
    assert facts["snapshot_days"] == [(today - timedelta(days=d)).isoformat() for d in (4, 3, 1, 0)]
    figure = figures_in(html)["leeloo.tunnel_trend"]
    bars = {t["name"]: t for t in figure["data"] if t["type"] == "bar"}
    subscribers = bars["New subscribers"]
    shown = {x[:10]: y for x, y in zip(subscribers["x"], subscribers["y"], strict=True)}
    assert missing not in shown, "a day without a snapshot must stay empty, never interpolated"
    assert shown == pytest.approx(_daily_changes(agency.path, "leeloo", "subscribers"))
    spans = {x[:10]: c[0] for x, c in zip(subscribers["x"], subscribers["customdata"], strict=True)}
    assert spans[(today - timedelta(days=1)).isoformat()] == 2  # the change spans the missing night
    assert [s["x0"][:10] for s in figure["layout"]["shapes"]] == [missing]
    assert "No tunnel stats snapshot on " + missing in section(html, "account-leeloo-tunnel_trend")
    # one night of snapshots: a clear empty state, not an empty chart
    assert "second day that has a tunnel stats snapshot" in summary["empty"]["leeloo_acme:tunnel_trend"]


def test_revenue_is_per_currency_by_first_touch(agency: Built, page: tuple[str, dict]) -> None:
    """Each paid order once, under its buyer's first subscribe-history entry (or unattributed):
    the panels add up to the overview's revenue, which is revenue_summary's."""
    truth = agency.emulators["leeloo"].truth()
    first = {p["id"]: (p["subscribeHistory"][0]["tunnelId"], p["subscribeHistory"][0]["leadgentoolId"],
                       p["subscribeHistory"][0]["trafficSourceId"]) for p in truth["people"] if p["subscribeHistory"]}
    expected: dict[str, dict[Any, float]] = defaultdict(lambda: defaultdict(float))
    for o in truth["orders"]:
        if o["status"] in PAID:
            expected[o["currency"]][first.get(o["person_id"])] += float(o["price"])
    figure = figures_in(page[0])["leeloo.revenue_by_source"]
    panels = {t["name"]: t for t in figure["data"]}
    assert set(panels) == set(expected)  # one panel per currency, never a sum across them
    headline = _account(page[1], "leeloo")["revenue"]
    for currency, trace in panels.items():
        top = sorted(expected[currency].values(), reverse=True)[: len(trace["x"])]
        assert trace["x"] == pytest.approx(top)
        if len(trace["x"]) == len(expected[currency]):  # every row shown: they add up to the headline
            assert sum(trace["x"]) == pytest.approx(headline[currency], abs=0.01)


def test_manager_response_is_one_row_per_manager(agency: Built, page: tuple[str, dict]) -> None:
    with duckdb.connect(str(agency.path), read_only=True) as con:
        managers = con.execute("select count(distinct coalesce(manager_id, '-')), count(distinct week_start) "
                               "from leeloo_reports.manager_response_times").fetchone() or (0, 0)
    heatmap = figures_in(page[0])["leeloo.manager_response_times"]["data"]
    assert [t["type"] for t in heatmap] == ["heatmap"]
    assert len(heatmap[0]["y"]) == len(set(heatmap[0]["y"])) == min(20, managers[0])
    assert len(heatmap[0]["x"]) <= managers[1] and all(len(row) == len(heatmap[0]["x"]) for row in heatmap[0]["z"])


def test_runs_table_keeps_the_whole_error(page: tuple[str, dict]) -> None:
    runs = section(page[0], "account-leeloo-runs")
    assert text(LONG_ERROR) in runs, "the full error text must be on the page"
    preview = elements(runs).texts["summary"][0]
    assert preview.endswith(" …")
    shown = preview[: -len(" …")]
    assert LONG_ERROR.startswith(shown) and LONG_ERROR[len(shown)] == " ", "cut inside a word"


def test_report_writes_under_the_ignored_folder(agency: Built, isolated: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    assert report_from_args(parser.parse_args([])) == 0
    out = isolated / ".chatfunnel" / "dashboard.html"
    assert f"dashboard: {out.resolve()}" in capsys.readouterr().out
    charts = charts_with_data(out.read_text(encoding="utf-8"))
    assert charts["tunnel_funnel"] > 0 and charts["leeloo_acme:tunnel_funnel"] > 0
    assert charts["salebot_order_funnel"] > 0
    repo = Path(__file__).resolve().parents[2]
    ignored = subprocess.run(["git", "check-ignore", "-q", ".chatfunnel/dashboard.html"], cwd=repo, check=False)
    assert ignored.returncode == 0, ".chatfunnel/ must be git-ignored"


def test_salebot_page(page: tuple[str, dict]) -> None:
    account = _account(page[1], "salebot")
    assert set(account["charts"]) == {"salebot_daily_activity", "salebot_order_funnel", "salebot_channel_funnel",
                                      "salebot_time_to_pay"}
    assert all(account["charts"].values())


def test_every_page_draws_in_chromium(agency: Built, page: tuple[str, dict], tmp_path: Path) -> None:
    require_chromium()
    html, summary = page
    path = tmp_path / "dashboard.html"
    path.write_text(html, encoding="utf-8")
    policy = next(attrs["content"] for tag, attrs in elements(html).tags
                  if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    script_src = next(d for d in (policy or "").split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'sha256-" in script_src
    with Browser(width=1400, height=1000) as browser:
        for account in summary["accounts"]:
            seen = probe(browser, f"{path.as_uri()}#{account['anchor']}")
            assert seen["page"] == account["anchor"]
            assert seen["plots"] == len(account["charts"]), seen["plots"]
            assert seen["csp"] == [] and seen["errors"] == [], (seen["csp"], seen["errors"])
        overview = probe(browser, path.as_uri())
        assert overview["page"] == "overview" and overview["plots"] == 1
        assert "acme" in overview["text"] and "interrupted" in overview["text"]
        shots = [browser.screenshot(tmp_path / "overview.png")]
        probe(browser, f"{path.as_uri()}#account-leeloo")
        shots.append(browser.screenshot(tmp_path / "account-leeloo.png"))
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        keep = os.environ.get("CHATFUNNEL_SCREENSHOT_DIR")  # to look at the page a CI run drew
        if keep:
            shutil.copy(shot, Path(keep) / shot.name)
    assert summary_in(html)["accounts"] == summary["accounts"]


@pytest.mark.parametrize(("report", "chart", "count", "paid", "hours"), [
    ("leeloo_reports.time_to_pay", "leeloo.time_to_pay", "people", "paid_people", "hours_to_pay"),
    ("salebot_reports.time_to_pay", "salebot.salebot_time_to_pay", "clients", "successful_clients", "hours_to_pay"),
    ("leeloo_reports.order_timing", "leeloo.order_timing", "orders", "paid_orders", "hours_to_paid"),
])
def test_time_to_pay_adds_every_group_per_week_and_draws_percentiles_of_the_week_with_most_payers(
        agency: Built, page: tuple[str, dict], report: str, chart: str, count: str, paid: str, hours: str) -> None:
    with duckdb.connect(str(agency.path), read_only=True) as con:
        rows = con.execute(f"select cast(week_start as varchar), {count}, {paid}, median_{hours}, "
                           f"p90_{hours} from {report}").fetchall()
    weeks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    best: dict[str, tuple[int, int, float, float]] = {}  # most payers, then most people, then slowest median
    for week, people, payers, median, p90 in rows:
        weeks[week][0] += people
        weeks[week][1] += payers
        if median is not None and (payers, people, median) > best.get(week, (-1, -1, -1.0, 0.0))[:3]:
            best[week] = (payers, people, median, p90)
    traces = {t["name"]: t for t in figures_in(page[0])[chart]["data"]}
    paid_bars, unpaid_bars = traces["paid"], traces["not paid yet"]
    drawn = {str(x)[:10]: (p + u, p) for x, p, u in zip(paid_bars["x"], paid_bars["y"], unpaid_bars["y"], strict=True)}
    assert drawn == {w: (people, payers) for w, (people, payers) in weeks.items()}
    assert sum(people for people, _ in drawn.values()) == sum(r[1] for r in rows) > 0
    medians = {str(x)[:10]: y for x, y in zip(traces["median"]["x"], traces["median"]["y"], strict=True)}
    assert medians.keys() == best.keys() and best, "a percentile bar for every week where someone paid"
    assert all(medians[w] == pytest.approx(max(0.1, m)) for w, (_, _, m, _) in best.items())
    p90 = dict(zip(map(lambda x: str(x)[:10], traces["p90"]["x"]), traces["p90"]["y"], strict=True))
    assert all(p90[w] == pytest.approx(max(0.1, p)) for w, (_, _, _, p) in best.items())


def test_utm_revenue_draws_tagged_combinations_and_says_the_untagged_revenue_apart(
        agency: Built, page: tuple[str, dict]) -> None:
    with duckdb.connect(str(agency.path), read_only=True) as con:
        untagged = dict(con.execute(
            "select currency, sum(revenue) from leeloo_reports.utm_revenue where utm_source is null "
            "and utm_medium is null and utm_campaign is null group by currency").fetchall())
    assert untagged, "the agency's data has buyers without UTM marks"
    traces = figures_in(page[0])["leeloo.utm_revenue"]["data"]
    assert traces and all("(not tagged)" not in trace["y"] for trace in traces)
    note = section(page[0], "account-leeloo-utm_revenue")
    for currency, revenue in untagged.items():
        assert f"{float(revenue):,.2f} {currency} (" in note
