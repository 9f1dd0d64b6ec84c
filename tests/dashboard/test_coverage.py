"""The dashboard while a backfill still loads an account's older history: a real Leeloo load
and its reports in a DuckDB file, the `coverage` report replaced by one written by hand. The
account's page opens with a banner saying from when its figures are whole, the charts over
days and weeks hide and shade what lies before, `chatfunnel report` prints the same line as
`status`; without the report nothing of it shows. Checked in headless Chromium too."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulators.leeloo import LeelooEmulator
from emulators.salebot import SalebotEmulator
from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions
from pipelines.config.registry import SOURCES
from pipelines.operations.dashboard import (
    ReportReader,
    add_report_arguments,
    figures_in,
    render_dashboard,
    report_from_args,
    summary_in,
    write_dashboard,
)
from pipelines.warehouse.account_pipeline import make_pipeline
from tests.dashboard.browser import Browser, require_chromium
from tests.dashboard.conftest import LEELOO_TOKENS, SALEBOT_KEY, load, write_runs
from tests.dashboard.pages import elements, normalized, probe, section

HOSTILE = "<img src=x onerror=window.__xss=1>"
SCREENSHOT = Path("/tmp/coverage-banner.png")
COLUMNS = ("resource text, complete_since timestamptz, complete_until timestamptz, as_of timestamptz, "
           "history_since timestamptz, estimated_complete_at timestamptz")


def _daily_days(path: Path) -> list[date]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [r[0] for r in con.execute('select "date" from leeloo_reports.daily_activity order by 1').fetchall()]


def _write_coverage(path: Path, since: datetime | None, dataset: str = "leeloo") -> None:
    now = datetime.now(timezone.utc)
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    with duckdb.connect(str(path)) as con:
        con.execute(f"drop view if exists {dataset}_reports.coverage")  # the report the run built: replaced
        con.execute(f"create or replace table {dataset}_reports.coverage ({COLUMNS})")
        con.executemany(f"insert into {dataset}_reports.coverage values (?, ?, ?, ?, ?, ?)", [
            ("people", start, now, now, start, None),
            ("chat_messages", since, now, now, start, now + timedelta(hours=5)),
            (HOSTILE, since, now, now, start, now + timedelta(hours=3)),
        ])


@pytest.fixture(scope="module")
def warehouse(isolated: Path) -> Iterator[tuple[Path, date]]:
    """A Leeloo account and a Salebot project loaded for real with their reports; Leeloo's
    first whole day is 40 days before the last of its daily activity, Salebot has none yet."""
    path = isolated / "chatfunnel.duckdb"
    emu = LeelooEmulator(seed=21, scale=40, token=LEELOO_TOKENS[None])
    salebot = SalebotEmulator(seed=8, scale=15, api_key=SALEBOT_KEY)
    with emu.serve() as url, salebot.serve() as salebot_url:
        load("leeloo", None, url, LEELOO_TOKENS[None])
        load("salebot", None, salebot_url, SALEBOT_KEY)
    _write_coverage(path, None, "salebot")
    now = datetime.now(timezone.utc)
    write_runs(path, "leeloo", [{"started_at": now - timedelta(hours=2), "finished_at": now - timedelta(hours=1),
                                 "duration_seconds": 60.0, "outcome": "success", "requests": 10, "rows_loaded": 99}])
    days = _daily_days(path)
    assert len(days) > 90, "the emulator's history spans months"
    first = days[-40]  # in the 90 days the chart shows at first
    _write_coverage(path, datetime.combine(first, time(0), timezone.utc) - timedelta(hours=6))  # 18:00 the day before
    yield path, first


@pytest.fixture(scope="module")
def rendered(warehouse: tuple[Path, date]) -> tuple[str, dict[str, Any]]:
    return render_dashboard(ReportReader(warehouse[0]))


def test_the_banner_opens_the_account_page(warehouse: tuple[Path, date], rendered: tuple[str, dict]) -> None:
    first = warehouse[1]
    html, summary = rendered
    banner = f"History complete since {first} - older periods are still loading"
    page = section(html, "account-leeloo")
    assert page.index('class="banner coverage"') < page.index('class="tiles"'), "at the top, before any figure"
    assert banner in elements(page).texts["div"]
    assert banner in elements(section(html, "accounts")).texts["div"], "the overview's figures say it too"
    assert HOSTILE not in html and "onerror=window" not in html.replace("onerror=window.__xss=1&gt;", "")
    account = next(a for a in summary["accounts"] if a["dataset"] == "leeloo")
    coverage = account["coverage"]
    assert coverage["complete"] is False and coverage["first_whole_day"] == first.isoformat()
    assert coverage["banner"] == banner
    assert coverage["line"].startswith(f"history complete since {first} (backfill under way, "), "the first whole day"


def test_a_first_load_under_way_is_not_shown_as_a_failed_account(rendered: tuple[str, dict]) -> None:
    """Salebot has no run recorded, and its coverage says history is loading: a snapshot
    published between the windows of its first load (or left by one that was stopped). Its
    tile says the first load is not finished, in no alarm colour, instead of "no successful
    run recorded"."""
    html, _ = rendered
    tiles = section(html, "account-salebot").split('class="tiles"', 1)[1]
    first_tile = tiles.split('<div class="tile', 2)[1]
    assert "first load not finished" in first_tile and 'bad"' not in first_tile.split(">", 1)[0]
    assert "no successful run recorded" not in section(html, "account-salebot")
    leeloo = section(html, "account-leeloo")
    assert "first load not finished" not in leeloo, "an account with a recorded run shows its run"


def test_days_before_the_first_whole_one_are_hidden_and_shaded(warehouse: tuple[Path, date],
                                                             rendered: tuple[str, dict]) -> None:
    path, first = warehouse
    html, summary = rendered
    figure = figures_in(html)["leeloo.daily_activity"]
    days = [date.fromisoformat(x) for x in figure["data"][0]["x"]]
    assert days == _daily_days(path)
    for trace in figure["data"]:
        before = [y for d, y in zip(days, trace["y"], strict=True) if d < first]
        after = [y for d, y in zip(days, trace["y"], strict=True) if d >= first]
        assert before and all(y is None for y in before), f"{trace['name']}: a partial day must not read as a count"
        assert all(y is not None for y in after), trace["name"]
    [shade] = [s for s in figure["layout"]["shapes"] if s.get("name") == "not-covered"]
    assert shade["x0"] == f"{days[0] - timedelta(days=1)}T12:00:00", "half a day before the first bar"
    assert shade["x1"] == f"{first - timedelta(days=1)}T12:00:00", "up to the first whole day's bar"
    [note] = [a for a in figure["layout"]["annotations"] if a.get("name") == "not-covered"]
    assert note["text"] == f"still loading (complete from {first})"
    assert summary["charts"]["daily_activity"] == 5 * sum(1 for d in days if d >= first)
    caption = elements(section(html, "account-leeloo-daily_activity")).texts["p"]
    assert f"Shaded, not shown: still loading (complete from {first})." in " ".join(caption)
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    paid = figures_in(html)["leeloo.time_to_pay"]["data"][0]
    weeks = [date.fromisoformat(x[:10]) for x in paid["x"]]
    assert any(w < monday for w in weeks)
    assert [y is None for y in paid["y"]] == [w < monday for w in weeks], "weeks before the first whole one hidden"
    weekly = figures_in(html)["leeloo.manager_response_times"]
    assert all(v is None for row in weekly["data"][0]["z"]
               for x, v in zip(weekly["data"][0]["x"], row, strict=True) if date.fromisoformat(x[:10]) < monday)


def test_an_account_with_nothing_complete_yet_shows_no_count_over_time(rendered: tuple[str, dict]) -> None:
    html, summary = rendered
    page = section(html, "account-salebot")
    assert ("History is still loading - no period is complete yet, every figure is partial"
            in elements(page).texts["div"])
    figure = figures_in(html)["salebot.salebot_daily_activity"]
    assert all(y is None for trace in figure["data"] for y in trace["y"]), "every day is partial"
    [shade] = [s for s in figure["layout"]["shapes"] if s.get("name") == "not-covered"]
    last = date.fromisoformat(figure["data"][0]["x"][-1])
    assert shade["x1"] == f"{last}T12:00:00", "shaded to the end"
    assert summary["charts"]["salebot_daily_activity"] == 0
    salebot = next(a for a in summary["accounts"] if a["dataset"] == "salebot")
    assert salebot["coverage"]["line"].startswith(
        "history: nothing complete yet (backfill under way, 0% of the span, estimated complete ")


def test_report_prints_the_line_status_prints(warehouse: tuple[Path, date], capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    assert report_from_args(parser.parse_args(["--working-file"])) == 0
    out = capsys.readouterr().out
    assert f"    history complete since {warehouse[1]} (backfill under way, " in out, out
    assert "estimated complete " in out


def test_chromium_shows_the_banner_and_the_shaded_days(warehouse: tuple[Path, date], rendered: tuple[str, dict],
                                                       tmp_path: Path) -> None:
    require_chromium()
    first = warehouse[1]
    page = tmp_path / "coverage.html"
    page.write_text(rendered[0], encoding="utf-8")
    with Browser(width=1400, height=900) as browser:
        seen = probe(browser, f"{page.as_uri()}#account-leeloo")
        assert seen["xss"] is None and seen["errors"] == [] and seen["csp"] == []
        shown = normalized(seen["text"])
        assert f"History complete since {first} - older periods are still loading" in shown
        assert f"still loading (complete from {first})" in normalized(seen["svg_text"])
        top = browser.evaluate("document.querySelector('#account-leeloo .banner').getBoundingClientRect().top")
        tiles = browser.evaluate("document.querySelector('#account-leeloo .tiles').getBoundingClientRect().top")
        assert top < tiles
        _screenshot(browser, "account-leeloo-daily_activity")
    assert SCREENSHOT.stat().st_size > 10_000


def _screenshot(browser: Browser, last: str) -> None:
    """The page from its top to the bottom of the element `last` (the banner and a shaded chart)."""
    import base64

    bottom = browser.evaluate(f"document.getElementById('{last}').getBoundingClientRect().bottom + window.scrollY")
    shot = browser.call("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": browser.width, "height": int(bottom) + 16, "scale": 1}}, session=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))


def test_a_warehouse_without_the_report_shows_nothing_of_it(warehouse: tuple[Path, date]) -> None:
    path = warehouse[0]
    with duckdb.connect(str(path)) as con:
        con.execute("drop table leeloo_reports.coverage")
    html, summary = render_dashboard(ReportReader(path))
    assert "banner" not in section(html, "account-leeloo") and "History complete" not in html
    assert "History is still loading" in section(html, "account-salebot"), "the other account's report stays"
    assert next(a for a in summary["accounts"] if a["dataset"] == "leeloo")["coverage"] is None
    figure = figures_in(html)["leeloo.daily_activity"]
    assert not [s for s in figure["layout"].get("shapes", []) if s.get("name") == "not-covered"]
    assert all(y is not None for trace in figure["data"] for y in trace["y"])


@pytest.mark.postgres
def test_postgres_reports_with_a_coverage_report(dlt_env: Path, pg_dsn: str, unique_dataset: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same from a Postgres warehouse: the report in the account's reports schema."""
    import psycopg2

    from transforms.runner import build_reports

    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    emu = LeelooEmulator(seed=22, scale=15, token=LEELOO_TOKENS[None])
    with emu.serve() as url:
        for key, value in (("API_TOKEN", LEELOO_TOKENS[None]), ("BASE_URL", url), ("REQUESTS_PER_MINUTE", "0")):
            monkeypatch.setenv(f"SOURCES__LEELOO__{key}", value)
        built = SOURCES["leeloo"].build(RunOptions(source="leeloo", dataset=unique_dataset, progress="none"))
        pipeline = make_pipeline(Account("leeloo"), "postgres", unique_dataset)
        pipeline.run(built.source)
    build_reports(pipeline, "leeloo")
    now = datetime.now(timezone.utc)
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'select max("date") from "{unique_dataset}_reports".daily_activity')
        last = cur.fetchone()[0]
        since = datetime.combine(last - timedelta(days=5), time(0), timezone.utc)
        cur.execute(f'drop view if exists "{unique_dataset}_reports".coverage')  # the report the build made
        cur.execute(f'create table "{unique_dataset}_reports".coverage ({COLUMNS})')
        cur.execute(f'insert into "{unique_dataset}_reports".coverage values (%s, %s, %s, %s, %s, %s)',
                    ("chat_messages", since, now, now, datetime(2020, 1, 1, tzinfo=timezone.utc), None))
    page = write_dashboard(pipeline, dlt_env / "pg.html", dataset=unique_dataset).read_text(encoding="utf-8")
    first = last - timedelta(days=5)
    assert f"History complete since {first} - older periods are still loading" in page
    figure = figures_in(page)[f"{unique_dataset}.daily_activity"]
    days = [date.fromisoformat(x) for x in figure["data"][0]["x"]]
    assert [y is None for y in figure["data"][0]["y"]] == [d < first for d in days]
    [account] = summary_in(page)["accounts"]
    assert account["coverage"]["line"].startswith(f"history complete since {first} (backfill under way, ")
