"""End to end against the emulator over HTTP, on DuckDB and Postgres."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from emulators.salebot import SalebotEmulator
from tests.salebot.conftest import Warehouse, assert_equals_truth


def test_full_load_equals_truth(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    report = warehouse.run()
    assert not report.budget_exhausted and not report.incomplete
    assert_equals_truth(warehouse, emu)
    # timestamps are typed UTC instants, equal to the unix seconds the API gave
    truth = {m["id"]: m["created_at"] for m in emu.truth()["messages"]}
    rows = warehouse.query("select id, created_at from {messages}")
    assert all(isinstance(at, dt.datetime) and at.utcoffset() == dt.timedelta(0) for _, at in rows)
    assert all(int(at.timestamp()) == truth[int(i)] for i, at in rows)
    (created,) = warehouse.query("select min(created_at) from {clients}")[0]
    assert isinstance(created, dt.datetime)
    # every request of a full load is accounted for: one history call per client, three order lists
    counts = emu.request_counts()["by_endpoint"]
    assert counts["GET /api/{api_key}/get_history"] == len(emu.clients)
    assert counts["GET /api/{api_key}/get_orders"] == 3 * len(emu.clients)


def test_incremental_run_after_activity_equals_truth_with_far_fewer_requests(
    emu: SalebotEmulator, warehouse: Warehouse
) -> None:
    warehouse.run()
    full = emu.request_counts()["total"]
    emu.reset_counts()
    emu.simulate(active_clients=5, new_clients=3, new_orders=4, status_changes=4)
    report = warehouse.run()
    incremental = emu.request_counts()["total"]
    assert_equals_truth(warehouse, emu)
    assert report.planned["messages"]["new"] == 3 and report.planned["messages"]["changed"] >= 5
    assert incremental < full / 2, (incremental, full)
    # a night without activity re-reads only the sweep slice
    emu.reset_counts()
    report = warehouse.run()
    assert report.planned["messages"]["changed"] == 0 and report.planned["messages"]["new"] == 0
    assert emu.request_counts()["by_endpoint"]["GET /api/{api_key}/get_history"] == report.planned["messages"]["sweep"]


def test_request_budget_stops_cleanly_and_runs_converge(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    budget = 90  # a full load needs ~400
    runs = []
    for night in range(12):
        emu.reset_counts()
        report = warehouse.run(max_requests=budget)
        made = emu.request_counts()["total"]
        assert made <= budget, f"night {night}: {made} requests over a budget of {budget}"
        runs.append(report.budget_exhausted)
        if night == 1:
            emu.simulate(active_clients=4, new_clients=2, new_orders=2, status_changes=2)
        if not report.budget_exhausted and night > 1:
            break
    assert runs[0] is True, "the first night should have hit the budget"
    assert runs[-1] is False, f"never converged: {runs}"
    assert_equals_truth(warehouse, emu)


def test_history_windows_split_when_a_window_is_full(
    emu: SalebotEmulator, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    msk = dt.timezone(dt.timedelta(hours=3))
    per_day = Counter(
        (m["client_id"], dt.datetime.fromtimestamp(m["created_at"], msk).date()) for m in emu.truth()["messages"]
    )
    monkeypatch.setenv("SOURCES__SALEBOT__HISTORY_LIMIT", str(max(per_day.values()) + 1))
    warehouse.run()
    assert_equals_truth(warehouse, emu)
    assert emu.request_counts()["by_endpoint"]["GET /api/{api_key}/get_history"] > len(emu.clients)


def test_misbehaving_api_still_converges(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    """5xx with HTML, 200s with status error, short and capped pages, random order,
    numbers as strings, and clients writing while the list is paged."""
    emu.knobs.update(
        {"error_rate": 0.05, "bad_status_rate": 0.05, "short_pages": True, "page_cap": 17,
         "sort": "random", "drift": True, "mutate_rate": 0.3}
    )
    warehouse.run()
    emu.knobs.update({"error_rate": 0.0, "bad_status_rate": 0.0, "mutate_rate": 0.0})
    warehouse.run()  # what moved during the first run is picked up by the next one
    assert_equals_truth(warehouse, emu)


def test_a_silent_order_change_is_found_by_the_sweep(
    emu: SalebotEmulator, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SALEBOT__SWEEP_DAYS", "3")
    warehouse.run()
    emu.simulate(status_changes=5, touch_clients=False)  # updated_at does not move
    report = warehouse.run()
    assert report.planned["orders"]["changed"] == 0
    for _ in range(3):
        warehouse.run()
    assert_equals_truth(warehouse, emu)


def test_backfill_window_reads_every_client_without_moving_cursors(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    state_before = dict(warehouse.pipeline().state["sources"]["salebot"]["resources"]["messages"]["clients"])
    # activity the nightly plan would not see: the clients' updated_at is left alone
    with emu.data_lock:
        for cid in sorted(emu.clients)[:5]:
            emu._new_message(emu._sim_rng, cid, emu._now(), "client")
            emu.clients[cid]["updated_at"] -= 10**6
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    emu.reset_counts()
    report = warehouse.run(since=today - dt.timedelta(days=1), resources=["messages"])
    assert report.planned["messages"]["backfill"] + report.planned["messages"]["changed"] == len(emu.clients)
    assert emu.request_counts()["by_endpoint"]["GET /api/{api_key}/get_history"] == len(emu.clients)
    assert warehouse.ids("messages") == sorted(m["id"] for m in emu.truth()["messages"])
    state_after = warehouse.pipeline().state["sources"]["salebot"]["resources"]["messages"]["clients"]
    assert state_after == state_before


@pytest.mark.parametrize("tz_hours", [-12, 14])
def test_day_windows_survive_any_project_time_zone(emu: SalebotEmulator, warehouse: Warehouse, tz_hours: int) -> None:
    """dd.mm.yyyy days may be the project's days, not UTC: the one-day overlap covers both extremes."""
    emu.knobs.update({"history_tz_hours": tz_hours})
    warehouse.run()
    emu.simulate(active_clients=6, new_clients=2)
    warehouse.run()
    assert_equals_truth(warehouse, emu)
