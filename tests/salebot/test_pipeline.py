"""End to end against the emulator over HTTP, on DuckDB and Postgres."""

from __future__ import annotations

import datetime as dt
import math
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
    # every request of a full load is accounted for: per client one history call, three
    # order lists and one variables call; per order its state and its variables
    counts = emu.request_counts()["by_endpoint"]
    assert counts["GET /api/{api_key}/get_history"] == len(emu.clients)
    assert counts["GET /api/{api_key}/get_orders"] == 3 * len(emu.clients)
    assert counts["GET /api/{api_key}/get_variables"] == len(emu.clients)
    assert counts["GET /api/{api_key}/get_order_state"] == len(emu.orders)
    assert counts["POST /api/{api_key}/get_order_vars"] == len(emu.orders)


def test_incremental_run_after_activity_equals_truth_with_far_fewer_requests(
    emu: SalebotEmulator, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.run()
    full = emu.request_counts()["total"]
    emu.reset_counts()
    emu.simulate(active_clients=5, new_clients=3, new_orders=4, status_changes=4)
    report = warehouse.run()
    incremental = emu.request_counts()["total"]
    assert_equals_truth(warehouse, emu)
    planned = report.planned["client_details"]
    assert planned["new"] == 3 and planned["changed"] >= 5
    # full reads: at most the 13 clients the activity touched, the 3 new ones and the sweep's
    # seventh of the 60 known; the rest is a look at each open order
    full_reads = planned["new"] + planned["changed"] + planned["sweep"] + planned["webhook"]
    assert full_reads <= 5 + 4 + 4 + 3 + math.ceil(60 / 7)
    assert incremental < full * 0.6, (incremental, full)

    # a quiet night without the sweep: exactly one open-order list per client with open
    # orders and one state per open order; no history, no variables, no order variables
    monkeypatch.setenv("SOURCES__SALEBOT__SWEEP_RUNS", "0")
    emu.reset_counts()
    report = warehouse.run()
    planned = report.planned["client_details"]
    open_orders = [o for o in emu.truth()["orders"] if o["status"] == 0]
    assert planned == {
        **planned,
        "changed": 0,
        "new": 0,
        "sweep": 0,
        "open_orders": len({o["client_id"] for o in open_orders}),
    }
    counts = emu.request_counts()["by_endpoint"]
    assert counts["GET /api/{api_key}/get_orders"] == planned["open_orders"]
    assert counts["GET /api/{api_key}/get_order_state"] == len(open_orders)
    assert not {
        "GET /api/{api_key}/get_history",
        "GET /api/{api_key}/get_variables",
        "POST /api/{api_key}/get_order_vars",
    } & set(counts)


def test_request_budget_stops_cleanly_and_runs_converge(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    budget = 150  # a full load needs ~460; a quiet night (open orders, the sweep) ~120
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
        {
            "error_rate": 0.05,
            "bad_status_rate": 0.05,
            "short_pages": True,
            "page_cap": 17,
            "sort": "random",
            "drift": True,
            "mutate_rate": 0.3,
        }
    )
    warehouse.run()
    emu.knobs.update({"error_rate": 0.0, "bad_status_rate": 0.0, "mutate_rate": 0.0})
    warehouse.run()  # what moved during the first run is picked up by the next one
    assert_equals_truth(warehouse, emu)


def test_a_silent_order_change_is_found_by_the_sweep(
    emu: SalebotEmulator, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SALEBOT__SWEEP_DAYS", "3")  # the old name still counts runs
    warehouse.run()
    emu.simulate(status_changes=5, touch_clients=False)  # updated_at does not move
    report = warehouse.run()
    assert report.planned["client_details"]["changed"] == 0
    assert report.facts["sweep_runs"] == 3
    assert_equals_truth(warehouse, emu)  # open orders are re-checked every night


def test_backfill_window_reads_every_client_without_moving_cursors(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    memory_before = warehouse.query("select entity_id, fingerprint, mark, verified_run from {_chatfunnel_entities}")
    # activity the nightly plan would not see: the clients' updated_at is left alone
    with emu.data_lock:
        for cid in sorted(emu.clients)[:5]:
            emu._new_message(emu._sim_rng, cid, emu._now(), "client")
            emu.clients[cid]["updated_at"] -= 10**6
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    emu.reset_counts()
    report = warehouse.run(since=today - dt.timedelta(days=1), resources=["messages"])  # the resource that loads it
    assert report.planned["client_details"]["backfill"] == len(emu.clients)
    counts = emu.request_counts()["by_endpoint"]
    assert counts["GET /api/{api_key}/get_history"] == len(emu.clients)
    assert "GET /api/{api_key}/get_orders" not in counts  # a backfill is of message history only
    assert warehouse.ids("messages") == sorted(m["id"] for m in emu.truth()["messages"])
    memory_after = warehouse.query("select entity_id, fingerprint, mark, verified_run from {_chatfunnel_entities}")
    assert sorted(memory_after) == sorted(memory_before)


@pytest.mark.parametrize("tz_hours", [-12, 14])
def test_day_windows_survive_any_project_time_zone(emu: SalebotEmulator, warehouse: Warehouse, tz_hours: int) -> None:
    """dd.mm.yyyy days may be the project's days, not UTC: the one-day overlap covers both extremes."""
    emu.knobs.update({"history_tz_hours": tz_hours})
    warehouse.run()
    emu.simulate(active_clients=6, new_clients=2)
    warehouse.run()
    assert_equals_truth(warehouse, emu)


def test_memory_kept_in_dlt_state_by_an_earlier_version_moves_into_the_dataset(
    emu: SalebotEmulator, warehouse: Warehouse
) -> None:
    """A pipeline of a version that kept per-client memory in dlt state: the next run does
    not re-read every client as new, and the state sheds the memory."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    old = {str(c["id"]): {"seen": c["updated_at"], "through": today, "checked": 1.0} for c in emu.truth()["clients"]}
    warehouse.run(resources=["channels"])  # the pipeline exists, with no memory of clients
    p = warehouse.pipeline()
    with p.managed_state() as state:
        resources = state.setdefault("sources", {}).setdefault("salebot", {}).setdefault("resources", {})
        resources["messages"] = {"clients": old, "webhook_through": 0, "flagged": []}
        resources["orders"] = {"clients": old, "webhook_through": 0, "flagged": []}
    report = warehouse.run()
    planned = report.planned["client_details"]
    assert planned["new"] == 0 and planned["changed"] == 0, "the migrated clients are known, as they were"
    assert planned["sweep"] == math.ceil(len(old) / 7)
    resources = warehouse.pipeline().state["sources"]["salebot"]["resources"]
    assert "messages" not in resources and "orders" not in resources
    (known,) = warehouse.query("select count(*) from {_chatfunnel_entities} where entity_id like 'client:%'")[0]
    assert known == len(old)


def test_an_order_gets_a_creation_window_not_an_invented_date(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    """The API gives no order creation time: an order that appears after its client was read
    is known to be created between that read and the run that first saw it."""
    warehouse.run()
    first = {
        int(i): (seen, after)
        for i, seen, after in warehouse.query("select id, first_seen_at, created_after from {orders}")
    }
    assert first and all(after is None for _, after in first.values()), "orders of a first read have no known creation"
    new = emu.simulate(new_orders=4)["new_orders"]
    warehouse.run()
    rows = {
        int(i): (seen, after)
        for i, seen, after in warehouse.query("select id, first_seen_at, created_after from {orders}")
    }
    made = {o["id"]: o["created_at"] for o in emu.truth()["orders"]}
    for oid in new:
        seen, after = rows[oid]
        # (the emulator stamps events in whole seconds, at least a second apart, so its clock may
        # run ahead of ours: only the lower bound is compared with the truth, to the second)
        assert after is not None and after.timestamp() < made[oid] + 1 and after < seen, oid
    assert all(rows[oid] == first[oid] for oid in first), "re-reads keep the first sighting"
    assert "created_at" not in warehouse.pipeline().default_schema.tables["orders"]["columns"]


def test_coverage_is_null_until_a_run_read_every_client(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    """Salebot is loaded forward: what it holds is complete only once a run read every client
    it planned; from then on complete from the oldest client's creation, and a later run cut
    short leaves that row as it was."""
    query = "select resource, complete_since, complete_until, history_since from {_chatfunnel_coverage}"
    assert warehouse.run(max_requests=150).budget_exhausted
    first = {r[0]: r[1:] for r in warehouse.query(query)}
    assert set(first) == {"clients", "messages", "orders", "client_variables", "order_status_changes"}
    assert all(since is None and until is None and history is not None for since, until, history in first.values())
    for _ in range(12):
        if not warehouse.run(max_requests=150).budget_exhausted:
            break
    done = {r[0]: r[1:] for r in warehouse.query(query)}
    oldest = min(c["created_at"] for c in emu.truth()["clients"])
    for since, until, history in done.values():
        assert since == history and until is not None
        assert abs(since.timestamp() - _seconds(oldest)) < 86400
    assert warehouse.run(max_requests=5).budget_exhausted
    assert {r[0]: r[1:] for r in warehouse.query(query)} == done


def _seconds(value: object) -> float:
    import datetime as dt

    if isinstance(value, (int, float)):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
