"""Strangers' strings and odd shapes: the load equals the truth on DuckDB and Postgres, NUL
bytes become U+FFFD, empty texts stay empty, objects where text is expected are kept as
JSON, undocumented fields arrive as columns, and the run's warnings say so."""

from __future__ import annotations

import json
from typing import Any

from emulators.salebot import SalebotEmulator
from tests.salebot.conftest import Warehouse, as_stored, assert_equals_truth, stored_text


def _stored(wh: Warehouse, table: str, column: str) -> dict[int, Any]:
    return {int(i): v for i, v in wh.query(f"select id, {column} from {{{table}}}")}


def test_hostile_data_loads_equal_to_the_truth(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    emu.knobs.update({"hostile": True})
    emu.regenerate()
    emu.simulate(active_clients=5, new_clients=3, new_orders=3, variable_changes=4)
    report = warehouse.run()
    assert not report.incomplete
    assert_equals_truth(warehouse, emu)
    truth = emu.truth()

    names = _stored(warehouse, "clients", "name")
    for c in truth["clients"]:
        assert as_stored(names[c["id"]], c["name"]) == stored_text(c["name"]), c["id"]
    texts = _stored(warehouse, "messages", "text")
    for m in truth["messages"]:
        assert as_stored(texts[m["id"]], m["text"]) == stored_text(m["text"]), m["id"]
    assert any(m["text"] == "" for m in truth["messages"]) and all(
        texts[m["id"]] == "" for m in truth["messages"] if m["text"] == ""
    ), "an empty text stays empty"
    assert any("\ufffd" in t for t in texts.values() if isinstance(t, str))
    assert not any("\x00" in t for t in texts.values() if isinstance(t, str))

    # text where a number is: NULL in the number column, the text beside it
    project = {
        int(i): (p, raw) for i, p, raw in warehouse.query("select id, project_id, project_id__v_text from {clients}")
    }
    for c in truth["clients"]:
        if isinstance(c["project_id"], str):
            assert project[c["id"]] == (None, c["project_id"])
        else:
            assert project[c["id"]] == (c["project_id"], None)
    # a number as text is a number
    managers = _stored(warehouse, "messages", "manager_id")
    assert all(managers[m["id"]] == int(m["manager_id"]) for m in truth["messages"] if m["manager_id"] is not None)

    # fields the document does not list arrive as columns
    utm = _stored(warehouse, "clients", "utm")
    comment = _stored(warehouse, "clients", "comment")
    forwarded = _stored(warehouse, "messages", "forwarded_from")
    for c in truth["clients"]:
        got = utm[c["id"]] if isinstance(utm[c["id"]], dict) else json.loads(utm[c["id"]])
        assert got == json.loads(json.dumps(c["utm"]).replace("\\u0000", "\\ufffd"))
        assert comment[c["id"]] == stored_text(c["comment"])
    assert all(forwarded[m["id"]] == stored_text(m["forwarded_from"]) for m in truth["messages"])

    # order variables keep every shape, as JSON
    variables = _stored(warehouse, "orders", "variables")
    for o in truth["orders"]:
        got = variables[o["id"]] if isinstance(variables[o["id"]], dict) else json.loads(variables[o["id"]])
        assert got == json.loads(json.dumps(o["variables"]).replace("\\u0000", "\\ufffd"))

    # the small snapshots too: an object as a block's name, a list as a bot's short name
    blocks = _stored(warehouse, "blocks", "name")
    assert all(as_stored(blocks[b["id"]], b["name"]) == stored_text(b["name"]) for b in truth["blocks"])
    bots = {
        (m, int(i)): (n, s) for m, i, n, s in warehouse.query("select messenger, id, name, short_name from {channels}")
    }
    for messenger, items in truth["channels"].items():
        for item in items if isinstance(items, list) else []:
            name, short = bots[(messenger, item["id"])]
            assert as_stored(name, item.get("name")) == stored_text(item.get("name"))
            assert as_stored(short, item.get("short_name")) == stored_text(item.get("short_name"))

    said = " ".join(report.warnings)
    for where in (
        "clients.name",
        "messages.text",
        "clients.project_id",
        "client_variables.value",
        "blocks.name",
        "channels.short_name",
    ):
        assert where in said, where
    assert "NUL" in said and "clients.utm" in said and "messages.forwarded_from" in said


def test_a_second_hostile_night_still_loads(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    """The first night fixed the column types; odd values later must not fail a run either."""
    warehouse.run()
    emu.knobs.update({"hostile": True})
    emu.simulate(active_clients=8, new_clients=4, new_orders=4, variable_changes=6)
    report = warehouse.run()
    assert not report.incomplete
    assert_equals_truth(warehouse, emu)
