"""Newest history first: a first load commits the last day (data, reports, BI snapshot),
then older windows one at a time; a run cut after the first window says what it holds
complete, and the next runs finish the rest for about what a forward first load costs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import duckdb
import pytest

from pipelines.cli import main
from pipelines.operations.coverage import coverage_from_rows, first_whole_day
from pipelines.operations.status import print_status
from pipelines.warehouse.publish import bi_path_for
from tests.leeloo.conftest import Target
from tests.leeloo.truth import assert_matches_truth, expected_rows, loaded_rows
from tests.transforms.truth import daily_activity
from tests.warehouse import Warehouse

WINDOWED = ("people", "communication_channels", "chat_messages")
# windows of about this many requests: the small emulator accounts here are read in several,
# as a big account is at the default (a history that fits one window is read forward)
SMALL_WINDOWS = "40"


# a rate limit too high to slow anything: newest first pays its windows only under a limit
UNSLOWED_RATE = "600000"


@pytest.fixture(autouse=True)
def _small_windows(dlt_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__BACKFILL_WINDOW_REQUESTS", SMALL_WINDOWS)


@pytest.fixture
def emulator(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Leeloo emulator, read under a rate limit (the shared fixture sets none)."""
    def start(*args: Any, **knobs: Any) -> Any:
        emu = emulator(*args, **knobs)
        monkeypatch.setenv("SOURCES__LEELOO__REQUESTS_PER_MINUTE", UNSLOWED_RATE)
        return emu
    return start


def test_without_a_rate_limit_a_big_history_is_read_in_one_window(emulator, duck_target: Target,
                                                                 monkeypatch) -> None:
    """Windows pay off only where a rate limit makes the history slow: with none, the account
    that goes newest first under a limit (every other test here) is read forward at once."""
    emu = emulator(scale=60)
    monkeypatch.setenv("SOURCES__LEELOO__REQUESTS_PER_MINUTE", "0")
    assert run(duck_target, "leeloo") == 0
    wh = duck_target.warehouse
    assert not last_facts(wh).get("history_pending")
    for resource in (*WINDOWED, "orders"):
        since, _, history_since, _ = coverage(wh)[resource]
        assert since == history_since, (resource, "complete from the start after one run")
    assert_matches_truth(wh, emu.truth())


def test_a_first_load_cut_inside_its_window_says_its_orphans_as_expected(emulator, duck_target: Target,
                                                                         monkeypatch, capsys) -> None:
    """No history is pending after a first load read in one window and stopped by its budget,
    but its orders refer to people it had not reached: that is the load still under way,
    said as expected, not as a warning that reads as broken. The next run clears it."""
    emulator(scale=300)
    monkeypatch.setenv("SOURCES__LEELOO__REQUESTS_PER_MINUTE", "0")
    assert run(duck_target, "leeloo", "--max-requests", "300") == 0
    said = capsys.readouterr().out
    wh = duck_target.warehouse
    assert not last_facts(wh).get("history_pending")
    orphans = wh.query("select count(*) from {ds}.orders o where not exists "
                       "(select 1 from {ds}.people p where p.id = o.person_id)")[0][0]
    assert orphans > 0, "the budget stopped the people before the orders they placed"
    assert f"expected: {orphans} orders refer to people whose history is not loaded yet" in said, said
    assert "0 warning(s), 1 expected while the backfill runs" in said and "no match in stg_people" not in said

    assert run(duck_target, "leeloo") == 0
    said = capsys.readouterr().out
    assert "expected" not in said and "0 warning(s)" in said, said


def run(target: Target, dataset: str, *extra: str) -> int:
    return main(["run", "leeloo", "--destination", target.destination, "--dataset", dataset, "--progress", "none",
                 *extra])


def last_facts(wh: Warehouse) -> dict[str, Any]:
    facts = wh.query("select facts from {ds}._chatfunnel_runs order by started_at desc limit 1")[0][0]
    return json.loads(facts) if isinstance(facts, str) else dict(facts)


def coverage(wh: Warehouse) -> dict[str, tuple[Any, ...]]:
    rows = wh.query("select resource, complete_since, complete_until, history_since, estimated_complete_at "
                    f'from "{wh.dataset}_reports".coverage')
    return {r[0]: r[1:] for r in rows}


def moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


ORDER_DETAIL = "GET /api/v2/orders/{id}"


def order_details(emu: Any) -> int:
    return int(emu.request_counts()["by_endpoint"].get(ORDER_DETAIL, 0))


def touched_since(truth: dict[str, Any], since: datetime) -> list[dict[str, Any]]:
    """The orders created or updated since `since`: those a window starting there reads."""
    return [o for o in truth["orders"] if max(moment(o["createdAt"]), moment(o["updatedAt"])) >= since]


def first_sightings(wh: Warehouse) -> tuple[int, int, int]:
    """Rows of `order_status_changes` that record an order's first sighting, the orders they
    name, and the orders loaded."""
    rows, named = wh.query("select count(*), count(distinct order_id) from {ds}.order_status_changes "
                           "where old_status is null")[0]
    return int(rows), int(named), int(wh.query("select count(*) from {ds}.orders")[0][0])


def move_orders(emu: Any, ids: set[str]) -> None:
    """Each order moves to another status now, as a manager moving it on the board does."""
    from emulators.leeloo.vocab import ORDER_STATUSES

    with emu.data_lock:
        for order_id in sorted(ids):
            order = emu.data.order_by_id[order_id]
            emu.data.set_order_status(order, next(s for s in ORDER_STATUSES if s not in {order.status, "OPENED"}))


def active_since(truth: dict[str, Any], since: datetime) -> dict[str, Any]:
    """The truth cut to the people and channels active since `since` (and their messages)."""
    people = [p for p in truth["people"] if (t := moment(p.get("lastMessageTime"))) and t >= since]
    channels = [c for c in truth["communication_channels"] if (t := moment(c.get("lastMessageTime"))) and t >= since]
    ids = {c["id"] for c in channels}
    return {**truth, "people": people, "communication_channels": channels,
            "chat_messages": [m for m in truth["chat_messages"] if m["account_id"] in ids]}


def test_first_window_first_then_history_until_complete(emulator, duck_target: Target, monkeypatch,
                                                        capsys) -> None:
    emu = emulator(scale=60)
    emu.simulate(new_orders=20)  # orders of the last day beside the one the account has
    emu.reset_counts()
    truth = emu.truth()
    monkeypatch.setenv("SOURCES__LEELOO__BACKFILL_NEWEST_FIRST", "false")
    began = time.monotonic()
    assert run(duck_target, "leeloo_forward", "--no-transform") == 0
    forward_seconds, forward_requests = time.monotonic() - began, emu.request_counts()["total"]
    monkeypatch.delenv("SOURCES__LEELOO__BACKFILL_NEWEST_FIRST")
    forward = Warehouse("duckdb", "leeloo_forward", duckdb_path=duck_target.warehouse.duckdb_path)
    assert_matches_truth(forward, truth)
    assert coverage_rows(forward)["people"][0] == coverage_rows(forward)["people"][2]  # forward: complete at once

    emu.reset_counts()
    began = time.monotonic()
    assert run(duck_target, "leeloo_whole", "--no-transform") == 0
    newest_seconds, newest_requests = time.monotonic() - began, emu.request_counts()["total"]
    whole = Warehouse("duckdb", "leeloo_whole", duckdb_path=duck_target.warehouse.duckdb_path)
    assert_matches_truth(whole, truth)
    windows = last_facts(whole)["history_windows"]
    assert len(windows) > 2, windows
    assert newest_requests <= 1.1 * forward_requests, (newest_requests, forward_requests)
    assert order_details(emu) == len(truth["orders"]), "each order's detail once over the whole first load"
    assert first_sightings(whole) == (len(truth["orders"]),) * 3, "one first sighting per order"
    with capsys.disabled():
        print(f"\nforward {forward_requests} requests {forward_seconds:.1f}s; newest first {newest_requests} requests "
              f"{newest_seconds:.1f}s in {len(windows)} windows, first window ready after "
              f"{windows[0]['ready_after_seconds']}s")

    # the same first load cut right after its first window (the budget is what that window cost)
    capsys.readouterr()
    emu.reset_counts()
    assert run(duck_target, "leeloo", "--max-requests", str(windows[0]["requests"])) == 0
    said = capsys.readouterr().out  # orders of people older than the window are the backfill's, not a fault
    assert "expected: " in said and "refer to people whose history is not loaded yet (backfill under way)" in said
    assert "no match in stg_people" not in said
    wh = duck_target.warehouse
    now = datetime.now(UTC)
    cover = coverage(wh)
    for resource in WINDOWED:
        since, until, history_since, estimate = cover[resource]
        assert abs(since - (now - timedelta(days=1))) < timedelta(minutes=10), (resource, since)
        assert abs(until - now) < timedelta(minutes=10)
        assert history_since < since
        assert estimate is None or estimate > now
    for table in ("orders", "order_status_changes"):  # the orders' details of the window only
        assert cover[table][0] == cover["people"][0] and cover[table][2] < cover[table][0], table
    recent = touched_since(truth, cover["orders"][0])
    assert 20 <= len(recent) < len(truth["orders"]) and order_details(emu) == len(recent)
    counted = entity_counts(wh)
    people_loaded = wh.query("select count(*) from {ds}.people")[0][0]
    assert counted["people"] == (len(truth["people"]), people_loaded), "the count probe's, and those loaded"
    assert counted["chat_messages"] == counted["communication_channels"], "messages go as far as their channels"
    status = io.StringIO()
    with redirect_stdout(status):
        print_status("duckdb", ["leeloo"], dataset="leeloo")
    assert "of the history by the API's count (" in status.getvalue(), status.getvalue()
    part = expected_rows(active_since(truth, cover["people"][0]))
    everything = expected_rows(truth)
    loaded = loaded_rows(wh)
    for table in ("people", "people__tags", "communication_channels", "chat_messages"):
        # every row of the covered span is in and equal to the API's; windows overlap at their
        # edges (the API does not say whether `from` is inclusive), so a few older rows may be in
        # too, and they must be the API's as well
        assert not part[table] - loaded[table], (table, "covered rows missing or different")
        assert not loaded[table] - everything[table], (table, "rows that are not the API's")
    assert loaded["orders"] == expected_rows({**truth, "orders": recent})["orders"]
    assert first_sightings(wh) == (len(recent),) * 3
    with duckdb.connect(str(bi_path_for(wh.duckdb_path)), read_only=True) as bi:
        assert bi.execute('select count(*) from "leeloo_reports".coverage').fetchone()[0] >= len(WINDOWED)
        assert bi.execute('select count(*) from "leeloo_reports".daily_activity').fetchone()[0] > 0

    # orders move on before the next run: some read in the first window, some still waiting
    read_first, before = {o["id"] for o in recent}, {o["id"]: o["status"] for o in truth["orders"]}
    moved = {*sorted(read_first)[:3], *sorted(set(before) - read_first)[:3]}
    move_orders(emu, moved)
    truth = emu.truth()
    assert run(duck_target, "leeloo") == 0  # the next run carries on from the frontier until history is complete
    assert "expected: " not in capsys.readouterr().out
    assert_matches_truth(wh, truth)
    assert first_sightings(wh) == (len(truth["orders"]),) * 3, "a waiting order that moved: one first sighting"
    now_status = {o["id"]: o["status"] for o in truth["orders"]}
    later = wh.query("select order_id, old_status, new_status from {ds}.order_status_changes "
                     "where old_status is not null")
    assert set(later) == {(i, before[i], now_status[i]) for i in moved & read_first}
    assert order_details(emu) == len(truth["orders"]) + len(moved & read_first), "no detail read twice"
    for resource in (*WINDOWED, "orders", "order_status_changes"):
        since, _, history_since, estimate = coverage(wh)[resource]
        assert since <= history_since and estimate is None


def _first_snapshot(bi: Path, done: threading.Event) -> dict[str, list[dict[str, Any]]]:
    """The first BI snapshot a reader finds, read as a BI tool would: read-only, beside the run."""
    while not done.is_set():
        if bi.exists():
            with duckdb.connect(str(bi), read_only=True) as con:
                read = {}
                for table in ("coverage", "daily_activity"):
                    cursor = con.execute(f'select * from "leeloo_reports".{table}')
                    names = [d[0] for d in cursor.description]
                    read[table] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
                return read
        time.sleep(0.002)
    return {}


def test_a_bi_tool_reads_the_first_window_s_reports_while_the_first_load_goes_on(emulator, duck_target: Target,
                                                                                 monkeypatch) -> None:
    """`chatfunnel run` publishes the BI snapshot after each window, not only once after every
    account: the first snapshot a reader finds holds reports, says which span is complete
    while older history still loads, and every day of that span equals the API's."""
    emu = emulator(scale=60, latency_ms=5)  # windows long enough for a reader to look between them
    truth = emu.truth()
    bi = bi_path_for(duck_target.warehouse.duckdb_path)
    done, seen = threading.Event(), {}
    reader = threading.Thread(target=lambda: seen.update(_first_snapshot(bi, done)), daemon=True)
    reader.start()
    try:
        assert run(duck_target, "leeloo") == 0
    finally:
        done.set()
        reader.join(30)
    assert seen, "no BI snapshot was published"
    cover = coverage_from_rows(seen["coverage"])
    assert cover is not None and not cover.complete, "the first snapshot was published after the whole load"
    first = first_whole_day(cover, ZoneInfo("UTC"))
    assert first is not None and first <= datetime.now(UTC).date()
    # every whole day from `first` on, as the API has it (none only in the hour after midnight UTC,
    # before the emulator's history reaches the new day)
    expected = {day: counts for day, counts in daily_activity(truth).items() if day >= first}
    reported = {row["date"]: {k: v for k, v in row.items() if k != "date"}
                for row in seen["daily_activity"] if row["date"] >= first}
    assert reported == expected
    assert len(last_facts(duck_target.warehouse)["history_windows"]) > 2
    assert_matches_truth(duck_target.warehouse, truth)


def test_a_window_s_snapshot_that_cannot_be_written_does_not_stop_the_load(emulator, duck_target: Target,
                                                                           monkeypatch, capsys,
                                                                           tmp_path: Path) -> None:
    """The BI file's folder is not a folder: every window's snapshot fails. The load goes on to
    the end (its data are committed), each failure is a warning, and the snapshot at the end of
    the run fails as a run's error, so the exit code says the dashboards are behind."""
    emu = emulator(scale=60)
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("CHATFUNNEL__BI_PATH", str(tmp_path / "not-a-folder" / "bi.duckdb"))
    assert run(duck_target, "leeloo", "--no-transform") != 0
    said = capsys.readouterr()
    assert said.out.count("the BI snapshot after a window of history was not published") == 1, "said once"
    assert "Publishing the BI snapshot failed" in said.err
    assert len(last_facts(duck_target.warehouse)["history_windows"]) > 2
    assert_matches_truth(duck_target.warehouse, emu.truth())


def entity_counts(wh: Warehouse) -> dict[str, tuple[Any, ...]]:
    rows = wh.query(f'select resource, history_entities, loaded_entities from "{wh.dataset}_reports".coverage')
    return {r[0]: r[1:] for r in rows}


def coverage_rows(wh: Warehouse) -> dict[str, tuple[Any, ...]]:
    """The raw coverage rows (a run without reports)."""
    rows = wh.query("select resource, complete_since, complete_until, history_since from {ds}._chatfunnel_coverage")
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize("point", ["next-window"])
def test_a_kill_between_windows_loses_nothing(emulator, duck_target: Target, point: str) -> None:
    from tests.crash.harness import run_and_kill

    emu = emulator(scale=60)
    args = ["run", "leeloo", "--destination", "duckdb", "--dataset", "leeloo", "--progress", "none"]
    kill = run_and_kill(args, "chatfunnel_leeloo", point, delay=0.0)
    assert kill is not None, "the run ended before its second window"
    wh = duck_target.warehouse
    for resource in ("people", "orders"):  # killed with older history (orders' details too) still to read
        since = coverage_rows(wh)[resource][0]
        assert since is not None and since > coverage_rows(wh)[resource][2], resource
    assert first_sightings(wh)[2] < len(emu.truth()["orders"])
    assert run(duck_target, "leeloo", "--no-transform") == 0
    assert_matches_truth(wh, emu.truth())
    assert first_sightings(wh) == (len(emu.truth()["orders"]),) * 3


def test_the_second_window_completes_the_last_week(emulator, duck_target: Target, monkeypatch) -> None:
    """After the last day, the rest of the last week: killed as its third window starts, a
    first load holds the whole week of every resource (orders' details too, though windows of
    two requests would plan two orders' details), equal to the API."""
    from tests.crash.harness import run_and_kill

    emu = emulator(scale=60)
    monkeypatch.setenv("SOURCES__LEELOO__BACKFILL_WINDOW_REQUESTS", "2")
    truth = emu.truth()
    args = ["run", "leeloo", "--destination", "duckdb", "--dataset", "leeloo", "--progress", "none"]
    assert run_and_kill(args, "chatfunnel_leeloo", "third-window", delay=0.0) is not None, "ended before a third window"
    wh = duck_target.warehouse
    week_ago = datetime.now(UTC) - timedelta(days=7)
    rows = coverage_rows(wh)
    for resource in (*WINDOWED, "orders", "order_status_changes"):
        since, _, history_since = rows[resource]
        assert week_ago - timedelta(minutes=10) < since <= week_ago, (resource, since)  # the week, no more
        assert history_since < since, (resource, "older history still to read")
    part = expected_rows(active_since(truth, rows["people"][0]))
    loaded = loaded_rows(wh)
    for table in ("people", "people__tags", "communication_channels", "chat_messages"):
        assert not part[table] - loaded[table], (table, "rows of the week missing or different")
    assert loaded["orders"] == expected_rows({**truth, "orders": touched_since(truth, rows["orders"][0])})["orders"]


def frontier(wh: Warehouse) -> datetime | None:
    """How far back people are complete; None before the first window committed."""
    try:
        return coverage_rows(wh)["people"][0]
    except Exception:  # killed before the first window committed: no table yet
        return None


@pytest.mark.slow
def test_a_first_load_killed_at_random_over_its_windows_ends_equal_to_the_truth(emulator, target: Target) -> None:
    """Killed again and again at random points of a newest-first first load (news arriving
    between the kills), each rerun carries on: the span held complete never shrinks, the kills
    fall in several windows, and the run that finishes equals the API."""
    from tests.crash.harness import kill_a_first_load_again_and_again

    emu = emulator(scale=60, latency_ms=3)
    wh = target.warehouse
    name = "chatfunnel_leeloo" if target.destination == "duckdb" else f"chatfunnel_leeloo_postgres_{target.dataset}"
    kill_a_first_load_again_and_again(["run", "leeloo", *target.cli_args(), "--progress", "none"], name,
                                      lambda: frontier(wh),
                                      lambda: emu.simulate(active_people=0.02, new_people=3, new_orders=2), seed=17)
    assert run(target, target.dataset, "--no-transform") == 0
    assert_matches_truth(wh, emu.truth())
    assert all(row[0] <= row[2] for row in coverage_rows(wh).values()), "complete from the start of history"


@pytest.mark.postgres
def test_postgres_first_window_then_the_rest(emulator, pg_target: Target) -> None:
    """The same on Postgres: cut after the first window, then one run completes the history."""
    emu = emulator(scale=40)
    truth = emu.truth()
    whole = Warehouse("postgres", f"{pg_target.dataset}_whole", pg_dsn=pg_target.warehouse.pg_dsn)
    assert run(pg_target, whole.dataset, "--no-transform") == 0
    assert_matches_truth(whole, truth)
    first = last_facts(whole)["history_windows"][0]["requests"]
    assert run(pg_target, pg_target.dataset, "--no-transform", "--max-requests", str(first)) == 0
    wh = pg_target.warehouse
    since, _, history_since = coverage_rows(wh)["people"]
    assert history_since < since and abs(since - (datetime.now(UTC) - timedelta(days=1))) < timedelta(minutes=10)
    part = expected_rows(active_since(truth, since))
    assert loaded_rows(wh)["communication_channels"] == part["communication_channels"]
    assert run(pg_target, pg_target.dataset, "--no-transform") == 0
    assert_matches_truth(wh, truth)
    assert all(row[0] <= row[2] for row in coverage_rows(wh).values() if row[0] is not None)


def test_a_history_that_fits_one_window_is_read_forward_in_one(emulator, duck_target: Target,
                                                              monkeypatch) -> None:
    """At the default window size a small account's first load is one window, as a forward load:
    complete from the start of history at once, no history step, no more requests than forward."""
    monkeypatch.delenv("SOURCES__LEELOO__BACKFILL_WINDOW_REQUESTS")
    emu = emulator(scale=40)
    assert run(duck_target, "leeloo", "--no-transform") == 0
    wh = duck_target.warehouse
    assert_matches_truth(wh, emu.truth())
    assert not last_facts(wh).get("history_windows")
    for resource in WINDOWED:
        since, _, history_since = coverage_rows(wh)[resource]
        assert since is not None and since <= history_since, resource


def test_a_step_starts_only_with_time_to_finish_before_the_deadline() -> None:
    from pipelines.run.stopping import STEP_MARGIN, time_for_step

    assert time_for_step(None, 50.0, 60.0), "no window read yet: nothing to judge by"
    assert time_for_step(30.0, 500.0, None) and time_for_step(30.0, 500.0, 0), "no deadline"
    assert time_for_step(10.0, 40.0, 40.0 + 10.0 * STEP_MARGIN)
    assert not time_for_step(10.0, 40.0, 40.0 + 10.0 * STEP_MARGIN - 0.1), "the last window's time, and a margin"


def test_a_window_that_cannot_end_before_max_runtime_is_left_to_the_next_run(emulator, duck_target: Target,
                                                                             capsys, monkeypatch) -> None:
    """A first load under --max-runtime ends cleanly where the next window would not fit (exit 0,
    partial, continues next run) instead of being stopped at the deadline halfway (exit 130)."""
    from pipelines.run.stopping import STEP_MARGIN

    # bounded by work, not by the machine's speed: one request at a time, each answered after
    # 100 ms, so the whole history (over 200 requests) cannot fit in the deadline, while the
    # first window (about 40) does
    emulator(scale=60, latency_ms=100)
    monkeypatch.setenv("SOURCES__LEELOO__CONCURRENCY", "1")
    deadline = 20
    began = time.monotonic()
    assert run(duck_target, "leeloo", "--max-runtime", str(deadline)) == 0
    took = time.monotonic() - began
    wh = duck_target.warehouse
    [last] = wh.query("select outcome, warnings from {ds}._chatfunnel_runs order by started_at desc limit 1")
    warnings = json.loads(last[1]) if isinstance(last[1], str) else list(last[1])
    assert last[0] == "partial" and any("older history continues next run" in w for w in warnings), last
    facts = last_facts(wh)
    assert facts["history_pending"], facts
    windows = facts["history_windows"]
    assert took + STEP_MARGIN * windows[-1]["seconds"] > deadline, (took, windows)  # no room for another window
    people = coverage(wh)["people"]
    assert people[2] < people[0], "older history is still to read"
    assert "continues next run" in capsys.readouterr().out


def test_the_plain_dlt_example_reads_every_window_of_history(emulator, duck_target: Target) -> None:
    """`python pipelines/leeloo_pipeline.py` goes on with the history steps, as `chatfunnel
    run` does: one run as a script leaves the warehouse equal to the API."""
    emu = emulator(scale=60)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, str(root / "pipelines" / "leeloo_pipeline.py")], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    loads = done.stdout.count("load step finished")
    assert loads > 2, done.stdout  # the last day, then older windows, one load each
    assert "unfinished (continue next run): none" in done.stdout
    assert_matches_truth(duck_target.warehouse, emu.truth())


def whole_channels(wh: Warehouse, truth: dict[str, Any]) -> tuple[int, int, int]:
    """The channels loaded with every message the API has of them, and of those how many have
    messages (a channel without any is whole whether or not its chain was read); and how many
    the ledger knows (a channel is known once its chain is read: a cut run reads the rest next)."""
    want = Counter(m["account_id"] for m in truth["chat_messages"])
    have = dict(wh.query("select c.id, count(m.id) from {ds}.communication_channels c "
                         "left join {ds}.chat_messages m on m.account_id = c.id group by c.id"))
    whole = [channel for channel, messages in have.items() if messages == want.get(channel, 0)]
    known = wh.query("select count(distinct entity_id) from {ds}._chatfunnel_entities "
                     "where resource = 'communication_channels'")[0][0]
    return len(whole), sum(1 for channel in whole if want.get(channel)), int(known)


@pytest.mark.parametrize("details", [True, False])
def test_the_share_by_the_api_s_count_counts_every_entity_loaded(emulator, duck_target: Target, monkeypatch,
                                                                 details: bool) -> None:
    """A first load cut halfway through its costliest history step (in the orders' details, or
    without them in the people's and channels'): what it loaded of that step is in the
    warehouse, and the share by the API's count says so (loaded of those the API has)."""
    monkeypatch.setenv("SOURCES__LEELOO__ORDER_DETAILS", str(details).lower())
    emu = emulator(scale=60)
    truth = emu.truth()
    whole = Warehouse("duckdb", "leeloo_whole", duckdb_path=duck_target.warehouse.duckdb_path)
    assert run(duck_target, whole.dataset, "--no-transform") == 0
    cost = [w["requests"] for w in last_facts(whole)["history_windows"]]
    costliest = max(range(1, len(cost)), key=cost.__getitem__)
    assert run(duck_target, "leeloo", "--max-requests", str(sum(cost[:costliest]) + cost[costliest] // 2)) == 0
    wh = duck_target.warehouse
    assert last_facts(wh)["history_steps"] >= 1 and last_facts(wh)["history_pending"]
    api = {r: (len(truth[r]), wh.query(f"select count(*) from {{ds}}.{r}")[0][0])
           for r in ("people", *(("orders",) if details else ()))}
    counted = entity_counts(wh)
    assert {r: counted[r] for r in api} == api, "(the API's count, those loaded)"
    complete, with_messages, known = whole_channels(wh, truth)
    total, loaded = counted["communication_channels"]
    assert total == len(truth["communication_channels"]) and loaded == known, (total, loaded, known)
    assert with_messages <= loaded <= complete, (with_messages, loaded, complete)
    api["communication_channels"] = (total, loaded)
    status = io.StringIO()
    with redirect_stdout(status):
        print_status("duckdb", ["leeloo"], dataset="leeloo")
    said = {f"({loaded:,} of {total:,})" for total, loaded in api.values() if loaded < total}
    assert any(s in status.getvalue() for s in said), (said, status.getvalue())


def test_a_list_is_counted_once_when_the_one_window_check_stops_early(emulator, duck_target: Target,
                                                                     monkeypatch) -> None:
    """The account-wide "fits one window" check stops counting once the people alone are too
    many; the channels and orders are counted later, for their coverage: once each, as
    the API sees it (a one-item request per list)."""
    emu = emulator(scale=60)
    asked: list[tuple[str, dict[str, list[str]]]] = []
    answer = emu.dispatch

    def noted(method: str, target: str, headers: Any, body: bytes = b"") -> Any:
        parts = urlsplit(target)
        asked.append((parts.path, parse_qs(parts.query)))
        return answer(method, target, headers, body)

    monkeypatch.setattr(emu, "dispatch", noted)
    assert run(duck_target, "leeloo", "--no-transform") == 0
    counts = [path for path, query in asked if query.get("limit") == ["1"]]
    assert sorted(counts) == ["/api/v2/communication-channels", "/api/v2/orders", "/api/v2/people"], counts
    people_page = next(i for i, (path, query) in enumerate(asked)
                       if path == "/api/v2/people" and query.get("limit") != ["1"])
    channels_count = next(i for i, (path, query) in enumerate(asked)
                          if path == "/api/v2/communication-channels" and query.get("limit") == ["1"])
    assert people_page < channels_count, "the check stopped after the people: the channels were counted later"
    assert last_facts(duck_target.warehouse)["history_windows"]
