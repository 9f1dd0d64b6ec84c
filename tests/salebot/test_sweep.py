"""The sweep re-verifies every client within a bounded, stated number of runs, even when a
request budget and busy nights would rather spend everything on fresh activity; and the
per-client memory stays out of dlt state."""

from __future__ import annotations

import math

import pytest

from emulators.salebot import SalebotEmulator
from sources.salebot import settings
from sources.salebot.plan import reverify_within
from tests.salebot.conftest import Warehouse, assert_equals_truth


def test_the_bound_at_fifty_thousand_clients_and_five_thousand_calls() -> None:
    clients, cap = 50_000, 5_000
    listing = math.ceil(clients / settings.CLIENTS_PAGE_LIMIT) + 1  # 101 pages, the last one empty
    cost = 5 + 2 * 1.0  # history, three order lists, variables; state and variables of one order
    per_night = math.floor(settings.SWEEP_BUDGET_SHARE * (cap - listing) / cost)
    bound = reverify_within(clients, 7, cap, orders_per_client=1.0)
    assert bound == math.ceil(clients / per_night) == 288
    # without a cap the sweep period is the setting itself; a cap too small for one client: never
    assert reverify_within(clients, 7, None) == 7
    assert reverify_within(clients, 0, cap) is None
    assert reverify_within(clients, 7, 110) is None


@pytest.mark.slow
def test_busy_nights_under_a_budget_still_reverify_every_quiet_client_within_the_bound(
    emu: SalebotEmulator, warehouse: Warehouse
) -> None:
    budget = 200
    warehouse.run()  # the first load, unbudgeted
    ids = sorted(emu.clients)
    busy, quiet = ids[::2], ids[1::2]
    report = warehouse.run(max_requests=budget)
    bound = report.facts["reverify_within_runs"]
    assert bound is not None and bound < 60
    first_run = _runs(warehouse)
    for _ in range(bound):
        with emu.data_lock:  # the same half of the clients writes every night: more than the budget reads
            for cid in busy:
                emu._new_message(emu._sim_rng, cid, emu._now(), "client")
        report = warehouse.run(max_requests=budget)
        assert report.budget_exhausted
    last = _runs(warehouse)
    latest = max(last.values())
    stale = [cid for cid in quiet if last[cid] <= latest - bound]
    assert not stale, f"{len(stale)} quiet clients not re-verified within {bound} runs"
    assert any(last[cid] > first_run[cid] for cid in quiet)


def _runs(wh: Warehouse) -> dict[int, int]:
    """The run of each client's last full read, from the memory in the dataset."""
    rows = wh.query(
        "select entity_id, verified_run from (select entity_id, verified_run, row_number() over "
        "(partition by entity_id order by _dlt_load_id desc) as n from {_chatfunnel_entities} "
        "where entity_id like 'client:%') v where n = 1"
    )
    return {int(e.split(":")[1]): int(r or 0) for e, r in rows}


@pytest.mark.slow
def test_per_client_memory_stays_out_of_dlt_state(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.salebot.conftest import API_KEY

    e = SalebotEmulator(seed=3, scale=1000, api_key=API_KEY)
    with e.serve() as url:
        monkeypatch.setenv("SOURCES__SALEBOT__BASE_URL", url)
        monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", API_KEY)
        monkeypatch.setenv("SOURCES__SALEBOT__REQUESTS_PER_MINUTE", "0")
        monkeypatch.setenv("SOURCES__SALEBOT__CONCURRENCY", "8")
        # one plain dlt run reads every client forward (it drives no newest-first history steps)
        monkeypatch.setenv("SOURCES__SALEBOT__BACKFILL_NEWEST_FIRST", "false")
        sizes = []
        for _ in range(2):
            warehouse.run()
            e.simulate(active_clients=10, new_clients=5, new_orders=10)
            (size,) = warehouse.query(
                "select length(state) from {_dlt_pipeline_state} order by _dlt_load_id desc limit 1"
            )[0]
            sizes.append(int(size))
        assert max(sizes) < 1_000, f"dlt state of {sizes} bytes: per-client memory leaked into it"
        (clients,) = warehouse.query(
            "select count(distinct entity_id) from {_chatfunnel_entities} where entity_id like 'client:%'"
        )[0]
        assert clients == len(e.clients) - 5  # the five newest are read on the next run
        warehouse.run()
        assert_equals_truth(warehouse, e)
