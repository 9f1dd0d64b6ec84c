"""The warehouse converges to the API whichever way `updated_at` reads: open orders the same
night, everything else within the sweep period; deletions proven and cascaded; every
observed status change recorded once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from emulators.salebot import SalebotEmulator
from pipelines.config.options import RunOptions
from pipelines.config.registry import SOURCES
from tests.salebot.conftest import Warehouse, assert_equals_truth


def _orders(wh: Warehouse) -> dict[int, tuple[int, int]]:
    return {int(i): (int(s), int(st)) for i, s, st in wh.query("select id, status, state_id from {orders}")}


def test_a_silent_crm_night_leaves_no_open_order_stale_and_the_sweep_finds_the_rest(
    emu: SalebotEmulator, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server that lost 9 of 183 orders for a night: orders created by blocks and moved
    on the CRM board, `updated_at` untouched."""
    monkeypatch.setenv("SOURCES__SALEBOT__SWEEP_RUNS", "3")
    emu.knobs.update({"silent_crm": True})
    warehouse.run()
    before = {o["id"]: o for o in emu.truth()["orders"]}
    open_clients = {o["client_id"] for o in before.values() if o["status"] == 0}
    changes = emu.simulate(new_orders=8, status_changes=6, variable_changes=5)
    truth = {o["id"]: o for o in emu.truth()["orders"]}

    report = warehouse.run()
    assert report.planned["client_details"]["changed"] == 0, "nothing moved updated_at"
    got = _orders(warehouse)
    # every order that was open is current tonight: its new status and state are loaded
    for oid in changes["status_changes"]:
        assert got[oid] == (truth[oid]["status"], truth[oid]["state_id"]), oid
    assert all(got[o] == (truth[o]["status"], truth[o]["state_id"]) for o in before if o in truth)
    # a new order of a client that had an open order is found tonight too
    for oid in changes["new_orders"]:
        if truth[oid]["client_id"] in open_clients:
            assert oid in got, oid
    # the rest (new orders elsewhere, variables) within the sweep period
    for _ in range(3):
        warehouse.run()
    assert_equals_truth(warehouse, emu)


def test_deletions_are_proven_cascaded_and_cleared_on_return(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    before = emu.truth()
    out = emu.simulate(delete_clients=3, delete_orders=3)
    gone_orders = set(out["delete_orders"])  # a deleted client's orders go with it, marked through it
    warehouse.run()
    assert_equals_truth(warehouse, emu)
    proofs = warehouse.deleted()
    assert proofs["clients"] == dict.fromkeys(out["delete_clients"], "listing")
    assert set(proofs["orders"]) == gone_orders and set(proofs["orders"].values()) == {"listing"}
    # what hangs off a deleted client is in the warehouse, to be marked with it
    gone = ",".join(str(c) for c in out["delete_clients"])
    for table in ("messages", "orders", "client_variables"):
        assert (table, "client_id", "clients") in SOURCES["salebot"].deletion_cascades
        assert warehouse.query(f"select count(*) from {{{table}}} where client_id in ({gone})")[0][0] > 0, table
    # a client that comes back (its deletion undone: the same id, its data) is no longer gone
    cid = out["delete_clients"][0]
    with emu.data_lock:
        emu.clients[cid] = next(c for c in before["clients"] if c["id"] == cid)
        emu.client_vars[cid] = before["client_variables"][cid]
        emu.messages[cid] = [
            {k: v for k, v in m.items() if k != "client_id"} for m in before["messages"] if m["client_id"] == cid
        ]
        emu.orders.update({o["id"]: o for o in before["orders"] if o["client_id"] == cid})
    warehouse.run()
    assert cid not in warehouse.deleted()["clients"]
    assert_equals_truth(warehouse, emu)


def test_the_reconcile_step_marks_deleted_clients_and_what_hangs_off_them(
    emu: SalebotEmulator, warehouse: Warehouse
) -> None:
    from pipelines.run.reconcile import apply_deletions

    warehouse.run()
    out = emu.simulate(delete_clients=6, delete_orders=2)  # six: some of them have orders
    warehouse.run()
    apply_deletions(warehouse.pipeline(), SOURCES["salebot"].deletion_cascades)
    assert sorted(
        int(i) for (i,) in warehouse.query("select id from {clients} where deleted_at is not null")
    ) == sorted(out["delete_clients"])
    gone = ",".join(str(c) for c in out["delete_clients"])
    for table in ("messages", "orders", "client_variables"):
        total, marked = warehouse.query(
            f"select count(*), count(deleted_at) from {{{table}}} where client_id in ({gone})"
        )[0]
        assert total > 0 and marked == total, table
    marked_orders = {int(i) for (i,) in warehouse.query("select id from {orders} where deleted_at is not null")}
    assert set(out["delete_orders"]) <= marked_orders
    assert_equals_truth(warehouse, emu)


class _DeletesAfterListing(SalebotEmulator):
    """Deletes one client right after the client list was served: the loader meets it as
    `client_not_found` when it reads the client's history."""

    victim: int | None = None

    def _h_get_clients(self, req: Any) -> Any:
        answer = super()._h_get_clients(req)
        if self.victim is not None and self.victim in self.clients and req.arg("offset") not in (None, "0"):
            with self.data_lock:
                self._delete_client(self.victim)
        return answer


def test_a_client_gone_between_the_list_and_its_read_is_proven_by_client_not_found(
    dlt_env: Any, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.salebot.conftest import API_KEY

    e = _DeletesAfterListing(seed=11, api_key=API_KEY)
    with e.serve() as url:
        monkeypatch.setenv("SOURCES__SALEBOT__BASE_URL", url)
        monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", API_KEY)
        monkeypatch.setenv("SOURCES__SALEBOT__REQUESTS_PER_MINUTE", "0")
        e.victim = max(e.clients)
        warehouse.run()
        assert warehouse.deleted()["clients"] == {e.victim: "client_not_found"}
        assert_equals_truth(warehouse, e)


def test_a_cut_listing_deletes_nothing(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    emu.simulate(delete_clients=2)
    emu.knobs.update({"page_cap": 7})
    report = warehouse.run(max_requests=3)  # the client list needs 9 pages of 7
    assert report.budget_exhausted and "clients" in report.incomplete
    assert "clients" not in warehouse.deleted()
    emu.knobs.update({"page_cap": None})
    warehouse.run()
    assert_equals_truth(warehouse, emu)


def test_order_status_changes_hold_every_observed_change_once(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    first = warehouse.query(
        "select order_id, change_seq, old_status, new_status, new_state_id from {order_status_changes}"
    )
    truth = {o["id"]: o for o in emu.truth()["orders"]}
    assert sorted((int(o), int(s)) for o, s, *_ in first) == sorted((o, 0) for o in truth), "one first observation each"
    assert all(
        old is None and (int(new), int(st)) == (truth[int(o)]["status"], truth[int(o)]["state_id"])
        for o, _, old, new, st in first
    )

    before = {o: (t["status"], t["state_id"]) for o, t in truth.items()}
    moved = emu.simulate(status_changes=5)["status_changes"]
    after = {o["id"]: (o["status"], o["state_id"]) for o in emu.truth()["orders"]}
    # the run that sees the change is extracted but never loaded, and its package dropped:
    # the memory did not move, so the next run observes the same change again
    p = warehouse.pipeline()
    p.extract(SOURCES["salebot"].build(RunOptions(source="salebot", dataset=warehouse.dataset)).source)
    p.abort_packages()
    warehouse.run()
    warehouse.run()
    rows = warehouse.query(
        "select order_id, change_seq, old_status, new_status, old_state_id, new_state_id, changed_at, observed_at "
        "from {order_status_changes} where change_seq > 0"
    )
    keys = Counter((int(r[0]), int(r[1])) for r in rows)
    assert all(n == 1 for n in keys.values()), "a replayed observation is merged, not duplicated"
    assert {(o, s) for o, s in keys} == {(o, 1) for o in moved}
    for order_id, _, old_status, new_status, old_state, new_state, changed_at, observed_at in rows:
        oid = int(order_id)
        assert (int(old_status), int(old_state)) == before[oid] and (int(new_status), int(new_state)) == after[oid]
        assert changed_at is None and observed_at is not None  # the API gives no time of a change
