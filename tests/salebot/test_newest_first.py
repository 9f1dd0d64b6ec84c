"""Newest first on Salebot: a first load too big for one window reads the clients created in
the last day (committed with their history, orders and variables), then older clients one
window at a time; a run cut after the first window says which span it holds complete, a
kill between windows loses nothing, and the whole costs about what a forward load costs.
The real CLI over the emulator, as a user runs it."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import dlt
import pytest

from emulators.salebot import SalebotEmulator
from pipelines.cli import main
from pipelines.config.accounts import Account
from pipelines.operations.status import print_status
from pipelines.warehouse.account_pipeline import pipeline_name
from sources.bookkeeping import Ledger
from sources.salebot import newest
from sources.salebot.memory import Memory
from tests.salebot.conftest import API_KEY, Warehouse, assert_equals_truth, expected_variables, variables_of

# windows of about this many requests: the small emulator projects here are read in several,
# as a big project is at the default (a project that fits one window is read forward)
SMALL_WINDOWS = "60"
NOW = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def served(dlt_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SalebotEmulator]:
    """A Salebot project of 90 clients over 60 days; the environment points the source at it."""
    emu = SalebotEmulator(seed=5, scale=90, api_key=API_KEY)
    with emu.serve() as url:
        monkeypatch.setenv("SOURCES__SALEBOT__BASE_URL", url)
        monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", API_KEY)
        # a limit too high to slow anything: newest first pays its windows only under a limit
        monkeypatch.setenv("SOURCES__SALEBOT__REQUESTS_PER_MINUTE", "600000")
        monkeypatch.setenv("SOURCES__SALEBOT__WEBHOOK_STORE", str(dlt_env / "inbox.sqlite"))
        monkeypatch.setenv("SOURCES__SALEBOT__BACKFILL_WINDOW_REQUESTS", SMALL_WINDOWS)
        yield emu


def duck(duckdb_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str) -> Warehouse:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    return Warehouse("duckdb", dlt.destinations.duckdb(str(duckdb_path)), dataset,
                     pipeline_name(Account("salebot"), "duckdb", dataset))


def run(wh: Warehouse, *extra: str) -> int:
    return main(["run", "salebot", "--destination", wh.kind, "--dataset", wh.dataset, "--progress", "none", *extra])


def last_facts(wh: Warehouse) -> dict[str, Any]:
    with wh.pipeline().sql_client() as c:
        runs = c.make_qualified_table_name("_chatfunnel_runs")
        with c.execute_query(f"select facts from {runs} order by started_at desc limit 1") as cur:
            facts = cur.fetchall()[0][0]
    return json.loads(facts) if isinstance(facts, str) else dict(facts)


def coverage(wh: Warehouse) -> dict[str, tuple[Any, ...]]:
    rows = wh.query("select resource, complete_since, complete_until, history_since, estimated_complete_at "
                    "from {_chatfunnel_coverage}")
    return {r[0]: tuple(v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for v in r[1:]) for r in rows}


def created_since(truth: dict[str, Any], since: dt.datetime) -> set[int]:
    return {c["id"] for c in truth["clients"] if c["created_at"] >= since.timestamp()}


def assert_span_equals_truth(wh: Warehouse, truth: dict[str, Any], since: dt.datetime) -> None:
    """The clients created since `since` are loaded whole: every message, order and variable."""
    ids = created_since(truth, since)
    assert ids, "the span holds no client: the test proves nothing"
    messages = {int(i) for i, c in wh.query("select id, client_id from {messages}") if int(c) in ids}
    assert messages == {m["id"] for m in truth["messages"] if m["client_id"] in ids}
    orders = {int(i): (int(s), int(st)) for i, c, s, st in wh.query("select id, client_id, status, state_id "
                                                                      "from {orders}") if int(c) in ids}
    assert orders == {o["id"]: (o["status"], o["state_id"]) for o in truth["orders"] if o["client_id"] in ids}
    loaded = {k: v for k, v in variables_of(wh, truth).items() if k[0] in ids}
    assert loaded == {k: v for k, v in expected_variables(truth).items() if k[0] in ids}


# ---------------------------------------------------------------- decisions, no dlt


def listed(*days_ago: float) -> dict[int, dict[str, Any]]:
    """Clients 1, 2, ... created that many days before NOW (ids not in creation order: 1 is the oldest)."""
    return {i + 1: {"id": i + 1, "created_at": NOW - days * DAY} for i, days in enumerate(days_ago)}


def test_a_big_first_load_reads_the_last_days_clients_and_holds_the_rest_back() -> None:
    clients = listed(30, 0.5, 10, 0.2)
    memory = Memory(Ledger("client_details", {}, known={}))
    read = newest.phase({}, clients, memory, now=NOW, newest_first=True, history_step=False, window_requests=20)
    assert read.first and read.start == NOW - DAY and read.held_back == {1, 3}
    assert newest.unread(clients, memory, read.start, None, NOW) == [4, 2]  # newest first
    assert newest.history_since(clients, NOW) == NOW - 30 * DAY
    small = newest.phase({}, clients, memory, now=NOW, newest_first=True, history_step=False, window_requests=3000)
    assert not small.first and not small.held_back, "a project that fits one window is read forward"


def test_the_frontier_moves_per_window_and_steps_read_only_older_clients() -> None:
    clients = listed(30, 0.5, 10, 0.2)
    memory = Memory(Ledger("client_details", {}, known={}))
    state: dict[str, Any] = {}
    first = newest.phase(state, clients, memory, now=NOW, newest_first=True, history_step=False, window_requests=20)
    newest.window_done(state, first, requests=15, now=NOW)
    assert newest.pending(state, first.history_since) and newest.COMPLETE_SINCE not in state
    nightly = newest.phase(state, clients, memory, now=NOW, newest_first=True, history_step=False, window_requests=20)
    assert not nightly.first and nightly.held_back == {1, 3}, "a nightly run leaves the older clients to the steps"
    step = newest.phase(state, clients, memory, now=NOW, newest_first=True, history_step=True, window_requests=20)
    assert step.step and step.end == NOW - DAY and step.start == NOW - 7 * DAY  # the rest of the last week
    assert newest.unread(clients, memory, step.start, step.end, NOW) == []
    newest.window_done(state, step, requests=0, now=NOW)
    while (step := newest.phase(state, clients, memory, now=NOW, newest_first=True, history_step=True,
                                window_requests=20)).start is not None:
        newest.window_done(state, step, requests=10, now=NOW)
    assert not newest.pending(state, step.history_since)
    assert newest.coverage(state, step, NOW, 300).complete_since == NOW - 30 * DAY


# ---------------------------------------------------------------- the real run


def test_newest_first_equals_forward_and_a_cut_first_window_says_its_span(served: SalebotEmulator, duckdb_path,
                                                                          monkeypatch, capsys) -> None:
    emu = served
    truth = emu.truth()
    forward = duck(duckdb_path, monkeypatch, "salebot_forward")
    monkeypatch.setenv("SOURCES__SALEBOT__BACKFILL_NEWEST_FIRST", "false")
    assert run(forward, "--no-transform") == 0
    monkeypatch.delenv("SOURCES__SALEBOT__BACKFILL_NEWEST_FIRST")
    forward_requests = emu.request_counts()["total"]
    assert_equals_truth(forward, emu)
    since, _, history_since, _ = coverage(forward)["messages"]
    assert since == history_since, "forward: complete from the start of history at once"

    emu.reset_counts()
    whole = duck(duckdb_path, monkeypatch, "salebot_whole")
    assert run(whole, "--no-transform") == 0
    newest_requests = emu.request_counts()["total"]
    assert_equals_truth(whole, emu)
    windows = last_facts(whole)["history_windows"]
    assert len(windows) > 2, windows
    assert newest_requests <= 1.1 * forward_requests, (newest_requests, forward_requests)
    with capsys.disabled():
        print(f"\nsalebot forward {forward_requests} requests; newest first {newest_requests} requests in "
              f"{len(windows)} windows ({newest_requests / forward_requests:.3f}x); first window: "
              f"{windows[0]['requests']} requests, reports ready after {windows[0]['ready_after_seconds']}s of "
              f"{windows[-1]['ready_after_seconds']}s")

    wh = duck(duckdb_path, monkeypatch, "salebot")  # the same first load, cut right after its first window
    assert run(wh, "--max-requests", str(windows[0]["requests"])) == 0
    now = dt.datetime.now(dt.UTC)
    for table, (since, until, history_since, estimate) in coverage(wh).items():
        assert abs(since - (now - DAY)) < dt.timedelta(minutes=10), (table, since)
        assert abs(until - now) < dt.timedelta(minutes=10) and history_since < since
        assert estimate is None
    since = coverage(wh)["messages"][0]
    assert_span_equals_truth(wh, truth, since)
    older = {int(c) for (c,) in wh.query("select distinct client_id from {messages}")} - created_since(truth, since)
    assert not older, f"clients older than the span were read: {sorted(older)[:5]}"
    assert wh.query('select count(*) from "salebot_reports".coverage')[0][0] >= 5
    said = io.StringIO()
    with redirect_stdout(said):
        print_status("duckdb", ["salebot"], dataset="salebot")
    assert "  history complete for the clients created since " in said.getvalue(), said.getvalue()

    assert run(wh, "--no-transform") == 0  # the next run carries on from the frontier until history is complete
    assert_equals_truth(wh, emu)
    for since, _, history_since, estimate in coverage(wh).values():
        assert since <= history_since and estimate is None


def test_a_kill_between_windows_loses_nothing(served: SalebotEmulator, duckdb_path, monkeypatch) -> None:
    from tests.crash.harness import run_and_kill

    wh = duck(duckdb_path, monkeypatch, "salebot")
    args = ["run", "salebot", "--destination", "duckdb", "--dataset", "salebot", "--progress", "none"]
    kill = run_and_kill(args, wh.name, "next-window", delay=0.0)
    assert kill is not None, "the run ended before its second window"
    since, _, history_since, _ = coverage(wh)["messages"]
    assert since is not None and since > history_since
    served.simulate(active_clients=5, new_clients=2, new_orders=2)  # news arrives before the next night
    assert run(wh, "--no-transform") == 0
    assert_equals_truth(wh, served)
    assert all(since <= history_since for since, _, history_since, _ in coverage(wh).values())


def frontier(wh: Warehouse) -> dt.datetime | None:
    """How far back messages are complete; None before the first window committed."""
    try:
        return coverage(wh)["messages"][0]
    except Exception:  # killed before the first window committed: no table yet
        return None


@pytest.mark.slow
@pytest.mark.parametrize("destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_first_load_killed_at_random_over_its_windows_ends_equal_to_the_truth(
        served: SalebotEmulator, duckdb_path, monkeypatch, request, destination: str) -> None:
    """Killed again and again at random points of a newest-first first load (news arriving
    between the kills), each rerun carries on: the span held complete never shrinks, the kills
    fall in several windows, and the run that finishes equals the API."""
    from tests.crash.harness import kill_a_first_load_again_and_again

    if destination == "duckdb":
        wh = duck(duckdb_path, monkeypatch, "salebot")
    else:
        dsn, dataset = request.getfixturevalue("pg_dsn"), request.getfixturevalue("unique_dataset")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)
        wh = Warehouse("postgres", dlt.destinations.postgres(dsn), dataset,
                       pipeline_name(Account("salebot"), "postgres", dataset))
    kill_a_first_load_again_and_again(
        ["run", "salebot", "--destination", wh.kind, "--dataset", wh.dataset, "--progress", "none"], wh.name,
        lambda: frontier(wh), lambda: served.simulate(active_clients=5, new_clients=2, new_orders=2), seed=23)
    assert run(wh, "--no-transform") == 0
    assert_equals_truth(wh, served)
    assert all(since <= history_since for since, _, history_since, _ in coverage(wh).values())


@pytest.mark.postgres
def test_postgres_first_window_then_the_rest(served: SalebotEmulator, duckdb_path, pg_dsn, unique_dataset,
                                            monkeypatch) -> None:
    """The same on Postgres: cut after the first window (its cost measured on DuckDB), then the rest."""
    measured = duck(duckdb_path, monkeypatch, "salebot")
    assert run(measured, "--no-transform") == 0
    first = last_facts(measured)["history_windows"][0]["requests"]
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    wh = Warehouse("postgres", dlt.destinations.postgres(pg_dsn), unique_dataset,
                   pipeline_name(Account("salebot"), "postgres", unique_dataset))
    truth = served.truth()
    assert run(wh, "--no-transform", "--max-requests", str(first)) == 0
    since, _, history_since, _ = coverage(wh)["messages"]
    assert since is not None and history_since < since
    assert_span_equals_truth(wh, truth, since)
    assert run(wh, "--no-transform") == 0
    assert_equals_truth(wh, served)
    assert all(row[0] <= row[2] for row in coverage(wh).values())


def test_a_project_that_fits_one_window_is_read_forward_in_one(served: SalebotEmulator, duckdb_path,
                                                               monkeypatch) -> None:
    """At the default window size a small project's first load is one forward run: complete
    from the start of history at once, no history step."""
    monkeypatch.delenv("SOURCES__SALEBOT__BACKFILL_WINDOW_REQUESTS")
    wh = duck(duckdb_path, monkeypatch, "salebot")
    assert run(wh, "--no-transform") == 0
    assert_equals_truth(wh, served)
    assert not last_facts(wh).get("history_windows")
    assert all(since == history_since for since, _, history_since, _ in coverage(wh).values())
