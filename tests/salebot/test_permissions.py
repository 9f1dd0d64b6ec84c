"""A key without a permission loads everything else, says once which permission is missing,
records it, and the run succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.salebot import SalebotEmulator
from pipelines.config.options import RunOptions
from pipelines.run.lifecycle import run_account
from sources.salebot import settings
from tests.salebot.conftest import Warehouse, assert_equals_truth, expected_variables, variables_of


def _requests(emu: SalebotEmulator, action: str) -> int:
    counts = emu.request_counts()["by_endpoint"]
    return counts.get(f"GET /api/{{api_key}}/{action}", 0) + counts.get(f"POST /api/{{api_key}}/{action}", 0)


@pytest.mark.parametrize("status", [403, 404])
def test_without_the_crm_state_everything_else_loads(
    emu: SalebotEmulator, warehouse: Warehouse, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.knobs.update({"denied_actions": ["get_order_state"], "denied_status": status})
    report = warehouse.run()
    assert report.facts["missing_permissions"] == [settings.READ_CRM]
    crm = [w for w in report.warnings if settings.READ_CRM in w]
    assert len(crm) == 1 and "get_order_state" in crm[0] and f"HTTP {status}" in crm[0]
    # the refusal is learnt once: at most one refused call per worker in flight
    assert 1 <= _requests(emu, "get_order_state") <= 4
    truth = emu.truth()
    orders = {
        int(i): (int(c), int(s), st)
        for i, c, s, st in warehouse.query("select id, client_id, status, state_id from {orders}")
    }
    assert orders == {o["id"]: (o["client_id"], o["status"], None) for o in truth["orders"]}
    assert warehouse.ids("messages") == sorted(m["id"] for m in truth["messages"])
    assert variables_of(warehouse, truth) == expected_variables(truth)
    # once the key gets the permission, the states arrive: open orders the next run, the
    # others with the sweep (two runs here)
    monkeypatch.setenv("SOURCES__SALEBOT__SWEEP_RUNS", "2")
    emu.knobs.update({"denied_actions": []})
    for _ in range(2):
        report = warehouse.run()
    assert report.facts["missing_permissions"] == []
    assert_equals_truth(warehouse, emu)


def test_without_any_crm_permission_clients_messages_and_variables_load(
    emu: SalebotEmulator, warehouse: Warehouse
) -> None:
    emu.knobs.update({"denied_actions": ["get_orders", "get_order_state", "get_order_vars"]})
    report = warehouse.run()
    assert report.facts["missing_permissions"] == [settings.READ_CRM]
    assert [w for w in report.warnings if "permission" in w] == [w for w in report.warnings if settings.READ_CRM in w]
    assert warehouse.ids("clients") == sorted(emu.clients)
    assert warehouse.ids("messages") == sorted(m["id"] for m in emu.truth()["messages"])
    assert "orders" not in warehouse.pipeline().default_schema.data_table_names() or warehouse.ids("orders") == []
    assert _requests(emu, "get_order_state") == 0 and _requests(emu, "get_order_vars") == 0


def test_without_client_reads_the_run_says_nothing_can_be_loaded(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    emu.knobs.update({"denied_actions": ["get_clients"]})
    with pytest.raises(Exception, match="read client information"):
        warehouse.run()


def test_the_run_succeeds_and_the_history_records_the_missing_permission(
    emu: SalebotEmulator, dlt_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(dlt_env / "w.duckdb"))
    emu.knobs.update({"denied_actions": ["get_order_state", "get_variables"]})
    outcome = run_account(RunOptions(source="salebot", transform=False, progress="none"), publish=False, alert=False)
    assert outcome.error is None and outcome.exit_code == 0, outcome.error
    assert outcome.facts["missing_permissions"] == sorted([settings.READ_CRM, settings.READ_CLIENTS])
    said = [w for w in outcome.warnings if "lacks the permission" in w]
    assert len(said) == 2 and any("get_variables" in w and "client_variables" in w for w in said)
    assert outcome.rows.get("messages", 0) == len(emu.truth()["messages"])
    record = outcome.record(None)
    assert record.facts["missing_permissions"] == outcome.facts["missing_permissions"]
