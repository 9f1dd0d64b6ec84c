"""Salebot list answers of unexpected shape (`{"clients": null}`, `{"order_id": null}`) are
failed reads, never empty lists: nothing is marked deleted by them, the run says which list
it could not read, and the next clean run equals the API. Over HTTP, DuckDB and Postgres."""

from __future__ import annotations

import pytest

from emulators.salebot import SalebotEmulator
from tests.salebot.conftest import Warehouse, assert_equals_truth

pytestmark = pytest.mark.usefixtures("quick_retries")  # a spoiled answer is retried six times


def test_a_client_list_answering_null_deletes_nothing_and_says_so(emu: SalebotEmulator,
                                                                   warehouse: Warehouse) -> None:
    warehouse.run()
    emu.knobs.update({"odd_page": "null", "odd_page_where": "*/get_clients"})
    report = warehouse.run()
    assert "clients" in report.incomplete
    assert any(w.startswith("clients: the client list could not be read whole") for w in report.warnings), \
        report.warnings
    assert not warehouse.deleted(), "a client list that was not read proved deletions"
    emu.knobs.update({"odd_page": None})
    warehouse.run()
    assert_equals_truth(warehouse, emu)


def test_order_lists_answering_null_delete_no_order(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    emu.knobs.update({"odd_page": "null", "odd_page_where": "*/get_orders"})
    report = warehouse.run()  # open orders are re-checked every night: their lists are read
    assert any(w.startswith("client_details: client ") for w in report.warnings), report.warnings
    assert "orders" not in warehouse.deleted(), "an order list that was not read proved deletions"
    emu.knobs.update({"odd_page": None})
    warehouse.run()
    assert_equals_truth(warehouse, emu)


def test_histories_answering_null_lose_no_message(emu: SalebotEmulator, warehouse: Warehouse,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A history whose `result` is null is not an empty history: the client's history does
    not move past it, and the next clean run loads every message."""
    monkeypatch.setenv("SOURCES__SALEBOT__SWEEP_RUNS", "1")  # every client is read every run
    warehouse.run()
    emu.simulate(active_clients=10)  # new messages that the spoiled histories hold
    emu.knobs.update({"odd_page": "null", "odd_page_where": "*/get_history"})
    report = warehouse.run()
    assert any(w.startswith("client_details: client ") for w in report.warnings), report.warnings
    emu.knobs.update({"odd_page": None})
    warehouse.run()
    assert_equals_truth(warehouse, emu)
