"""Every resource the README names can be loaded alone; each table has its own columns;
per-entity memory lives in the dataset, not in dlt's state."""

from __future__ import annotations

import pytest

from tests.leeloo.conftest import Target, run_leeloo

# resource (or table alias) -> the tables it must load
README_RESOURCES = {
    "people": {"people", "people__tags", "people__subscribe_history"},
    "communication_channels": {"communication_channels", "chat_messages"},
    "chat_messages": {"communication_channels", "chat_messages"},
    "orders": {"orders", "order_status_changes"},
    "order_status_changes": {"orders", "order_status_changes"},
    "tunnels": {"tunnels"},
    "leadgentools": {"leadgentools"},
    "tunnel_stats": {"tunnel_stats"},
    "users": {"users"},
    "tags": {"tags"},
    "connections": {"connections"},
    "template_categories": {"template_categories"},
    "templates": {"templates"},
    "v1_accounts": {"v1_accounts"},
}


@pytest.mark.parametrize("resource", sorted(README_RESOURCES))
def test_each_resource_loads_alone(resource: str, emulator, duck_target: Target) -> None:
    emulator(scale=20)
    assert run_leeloo(duck_target, "--resources", resource) == 0
    tables = duck_target.warehouse.tables()
    wanted = README_RESOURCES[resource]
    assert wanted <= tables, f"--resources {resource} did not load {wanted - tables}"
    for table in wanted:
        assert duck_target.warehouse.query(f"select count(*) from {{ds}}.{table}")[0][0] > 0, table
    others = {"people", "orders", "chat_messages", "tunnels", "users", "v1_accounts"} - wanted
    assert not tables & others, f"--resources {resource} also loaded {tables & others}"


def columns(target: Target, table: str) -> set[str]:
    return {r[0] for r in target.warehouse.query(
        "select column_name from information_schema.columns "
        f"where table_schema = '{target.dataset}' and table_name = '{table}'")}


def test_chat_messages_carry_message_columns_only(emulator, target: Target) -> None:
    """The channel resource writes both tables, each with its own hints: no channel column
    (always NULL there) may appear in chat_messages."""
    emulator(scale=20)
    assert run_leeloo(target) == 0
    assert columns(target, "chat_messages") == {
        "id", "account_id", "text", "type", "read", "created_at", "updated_at", "links__created_by__type",
        "links__created_by__id", "deleted_at", "_dlt_load_id", "_dlt_id"}
    channel = columns(target, "communication_channels")
    assert {"person_id", "from", "bot_status", "utm_marks__utm_source", "deleted_at"} <= channel
    assert not channel & {"text", "type", "read", "account_id"}
    assert "with time zone" in target.warehouse.column_type("chat_messages", "deleted_at")


def test_per_entity_memory_is_in_the_dataset_not_in_dlt_state(emulator, duck_target: Target) -> None:
    emu = emulator(scale=60)
    assert run_leeloo(duck_target) == 0
    truth = emu.truth()
    allowed = {"cursor", "ledger_epoch", "ledger_run", "full_listing_run", "recent_run_starts", "history",
               "complete_until"}
    for resource in ("people", "communication_channels", "orders", "tunnels", "leadgentools", "templates"):
        state = duck_target.resource_state(resource)
        assert set(state) <= allowed, f"{resource} keeps {set(state) - allowed} in dlt state"
    known = dict(duck_target.warehouse.query(
        "select resource, count(*) from {ds}._chatfunnel_entities group by resource"))
    assert known["people"] == len(truth["people"])
    assert known["communication_channels"] == len(truth["communication_channels"])
    assert known["orders"] == len(truth["orders"])
    detections = duck_target.pipeline().default_schema.settings.get("detections") or []
    assert "iso_timestamp" not in detections, "a text value that looks like a time must stay text"
