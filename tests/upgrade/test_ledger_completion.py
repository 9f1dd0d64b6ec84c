"""The ledger never knows less than the warehouse, today's version alone: a ledger that
lost its rows (a restore of the data without it, rows deleted by hand) is completed from
the raw tables, so deletions are still proved within the sweep period; and a full
refresh, whose load drops the raw tables, completes nothing from them."""

from __future__ import annotations

import duckdb

from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.truth import assert_matches_truth


def test_a_ledger_that_lost_its_rows_still_proves_deletions(emulator, duck_target: Target, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "1")
    emu = emulator(scale=25, seed=5)
    assert run_leeloo(duck_target) == 0
    assert duck_target.warehouse.query("select count(*) from {ds}._chatfunnel_entities")[0][0] > 0
    assert duck_target.warehouse.duckdb_path is not None
    with duckdb.connect(str(duck_target.warehouse.duckdb_path)) as con:
        con.execute("delete from leeloo._chatfunnel_entities")
    emu.simulate(delete={"people": 2, "communication_channels": 2, "orders": 2, "tags": 1})
    for _ in range(2):  # within the sweep period
        assert run_leeloo(duck_target) == 0
    assert_matches_truth(duck_target.warehouse, emu.truth())


def test_a_full_refresh_observes_every_order_anew(emulator, duck_target: Target) -> None:
    emu = emulator(scale=25, seed=5)
    assert run_leeloo(duck_target) == 0
    assert run_leeloo(duck_target, "--full-refresh") == 0
    first_seen = {r[0] for r in duck_target.warehouse.query(
        "select order_id from {ds}.order_status_changes where old_status is null")}
    assert first_seen == {o["id"] for o in emu.truth()["orders"]}, "the reloaded table starts with every order"
    assert_matches_truth(duck_target.warehouse, emu.truth())
