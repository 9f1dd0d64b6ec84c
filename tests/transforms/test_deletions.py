"""Deleted entities disappear from every model while their raw rows stay.

Each scenario marks entities deleted the way the run's reconcile step does (`deleted_at`
set on the raw rows after the load), on purpose WITHOUT the cascade to what they own (a
deleted person's channels and messages keep deleted_at NULL), and compares every model
with a second warehouse loaded from the fixture with those entities, and what belongs to
them, never there. The Python below is the rule, written independently of the SQL:
- a person owns its channels, a channel its messages, a tunnel its stats and lead-
  generation tools, a category its templates, an order its status changes, a Salebot
  client its messages, orders and variables: all go with it;
- a subscribe-history entry naming a deleted tunnel or tool is left out;
- orders are not owned by their person (the order listing proves each order gone itself).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.transforms import fixture_data as leeloo
from tests.transforms import salebot_fixture as salebot
from tests.transforms.conftest import ENGINES, Warehouse
from transforms.runner import load_models

# columns that differ between the two warehouses for reasons other than deletions
NOT_COMPARED = {"_dlt_id", "_dlt_load_id", "position", "manager_deleted"}


def leeloo_without(gone: dict[str, set[str]]) -> dict[str, tuple[list[dict[str, Any]], Any]]:
    people = gone.get("people", set())
    tunnels = gone.get("tunnels", set())
    tools = gone.get("leadgentools", set()) | {t["id"] for t in leeloo.LEADGENTOOLS if t["tunnel_id"] in tunnels}
    channels = gone.get("communication_channels", set()) | {
        c["id"] for c in leeloo.CHANNELS if c["person_id"] in people
    }
    messages = gone.get("chat_messages", set()) | {m["id"] for m in leeloo.MESSAGES if m["account_id"] in channels}
    categories = gone.get("template_categories", set())
    templates = gone.get("templates", set()) | {t["id"] for t in leeloo.TEMPLATES if t["category_id"] in categories}
    orders = gone.get("orders", set())

    def keep(rows: list[dict], ids: set[str], key: str = "id") -> list[dict]:
        return [r for r in rows if r[key] not in ids]

    tables = {
        "people": [
            dict(
                p,
                subscribe_history=[
                    h
                    for h in p["subscribe_history"]
                    if h["tunnel_id"] not in tunnels and h["leadgentool_id"] not in tools
                ],
            )
            for p in keep(leeloo.PEOPLE, people)
        ],
        "communication_channels": keep(leeloo.CHANNELS, channels),
        "chat_messages": keep(leeloo.MESSAGES, messages),
        "orders": keep(leeloo.ORDERS, orders),
        "order_status_changes": keep(leeloo.ORDER_STATUS_CHANGES, orders, "order_id"),
        "tunnels": keep(leeloo.TUNNELS, tunnels),
        "leadgentools": keep(leeloo.LEADGENTOOLS, tools),
        "tunnel_stats": keep(leeloo.TUNNEL_STATS, tunnels, "tunnel_id"),
        "users": keep(leeloo.USERS, gone.get("users", set())),
        "tags": keep(leeloo.TAGS, gone.get("tags", set())),
        "connections": keep(leeloo.CONNECTIONS, gone.get("connections", set())),
        "template_categories": keep(leeloo.TEMPLATE_CATEGORIES, categories),
        "templates": keep(leeloo.TEMPLATES, templates),
    }
    return {name: (rows, leeloo.TABLES[name][1]) for name, rows in tables.items() if rows}


def salebot_without(clients: set[int], messages: set[int], orders: set[int], variables: set[tuple[int, str]]) -> dict:
    orders = orders | {o["id"] for o in salebot.ORDERS if o["client_id"] in clients}
    tables = {
        "clients": [c for c in salebot.CLIENTS if c["id"] not in clients],
        "messages": [m for m in salebot.MESSAGES if m["id"] not in messages and m["client_id"] not in clients],
        "orders": [o for o in salebot.ORDERS if o["id"] not in orders],
        "client_variables": [
            v
            for v in salebot.VARIABLES
            if v["client_id"] not in clients and (v["client_id"], v["name"]) not in variables
        ],
        "order_status_changes": [c for c in salebot.CHANGES if c["order_id"] not in orders],
        "channels": salebot.CHANNELS,
    }
    return {name: (rows, salebot.TABLES[name][1]) for name, rows in tables.items()}


def every_model(wh: Warehouse, skip: frozenset[str] | set[str] = frozenset()) -> dict[str, list[tuple]]:
    """Every model's rows, minus the columns not compared, in a canonical order."""
    out = {}
    for model in load_models(wh.source):
        if model.name in skip:
            continue
        rows = [tuple(sorted((k, v) for k, v in row.items() if k not in NOT_COMPARED)) for row in wh.rows(model.name)]
        out[model.name] = sorted(rows, key=repr)
    return out


def assert_models_equal(got: dict[str, list[tuple]], want: dict[str, list[tuple]]) -> None:
    assert got.keys() == want.keys()
    for name, rows in want.items():
        assert got[name] == rows, name


LEELOO_SCENARIOS = {
    # a person with two channels, messages and orders; another person's channel; an order;
    # a message; a tunnel with stats, a tool and history entries; a manager; a tag; a
    # connection; a template category with its template
    "many": {
        "people": {"p1"},
        "communication_channels": {"c3"},
        "orders": {"o6"},
        "chat_messages": {"m14"},
        "tunnels": {"t2"},
        "users": {"u2"},
        "tags": {"tag2"},
        "connections": {"con1"},
        "template_categories": {"cat1"},
    },
    # a lead-generation tool that most history entries name; a template on its own
    "tool": {"leadgentools": {"l1"}, "templates": {"tpl1"}},
}


@pytest.mark.parametrize("scenario", sorted(LEELOO_SCENARIOS))
@pytest.mark.parametrize("engine", ENGINES)
def test_leeloo_deleted_entities_leave_every_model(warehouse_factory, engine: str, scenario: str) -> None:
    gone = LEELOO_SCENARIOS[scenario]
    marked = warehouse_factory(engine)
    marked.load(leeloo.resources(deletable=leeloo.DELETABLE))
    before = every_model_after_build(marked)
    for table, ids in gone.items():
        marked.mark_deleted(table, sorted(ids))
    result = marked.build()
    assert result.failed_tests == []

    expected = warehouse_factory(engine)
    expected.load(leeloo.resources(leeloo_without(gone), deletable=leeloo.DELETABLE))
    expected.build()
    got = every_model(marked, skip={"manager_response_times"})
    assert_models_equal(got, every_model(expected, skip={"manager_response_times"}))
    assert got != {k: v for k, v in before.items() if k != "manager_response_times"}  # not vacuous

    for table, ids in gone.items():
        # the raw rows stay, marked, for audit
        raw = marked.raw_rows(table, where=f"id in ({', '.join(repr(i) for i in sorted(ids))})")
        assert len(raw) == len(ids) and all(r["deleted_at"] is not None for r in raw), table


@pytest.mark.parametrize("engine", ENGINES)
def test_leeloo_deleted_person_everywhere_by_hand(warehouse_factory, engine: str) -> None:
    wh = warehouse_factory(engine)
    wh.load(leeloo.resources(deletable=leeloo.DELETABLE))
    wh.mark_deleted("people", ["p1"])
    wh.mark_deleted("users", ["u2"])
    wh.build()
    # p1's channels c1, c2 and their messages m01-m06 carry no deleted_at of their own
    assert {r["channel_id"] for r in wh.rows("stg_channels")} == {"c3", "c4", "c5"}
    assert not {f"m0{i}" for i in range(1, 7)} & {r["message_id"] for r in wh.rows("stg_chat_messages")}
    assert all(r["person_id"] != "p1" for r in wh.rows("stg_subscribe_history"))
    assert wh.rows("stg_people_tags") == [] and wh.rows("stg_people_custom_fields") == []
    # p1 was the only payer through (t2, l2, s1) and one of two through (t1, l1, s1)
    funnel = {(r["tunnel_id"], r["traffic_source_id"]): r for r in wh.rows("source_funnel")}
    assert (funnel[("t1", "s1")]["people"], funnel[("t1", "s1")]["paying_people"]) == (1, 0)
    # p1's orders stay orders (the order listing still has them), but no longer attributed
    assert {r["order_id"] for r in wh.rows("stg_orders")} >= {"o1", "o2", "o3"}
    timing = {(r["tunnel_id"], str(r["week_start"])): r for r in wh.rows("order_timing")}
    assert timing[(None, "2024-01-01")]["orders"] == 3  # o1, o2, o3 of the deleted p1
    # manager u2 is gone: m06 went with p1's channel c2, and m13 was u2's reply to m12 on c4,
    # now not counted. u1 keeps m07 -> m08 (2 min, p2's c3) and m09 -> m11 (30 min): median 16
    times = wh.rows("manager_response_times", order_by="manager_id, week_start")
    assert [(r["manager_id"], r["answered_messages"], r["median_response_minutes"]) for r in times] == [
        ("u1", 2, 16.0),
    ]
    assert [r["message_id"] for r in wh.rows("stg_chat_messages", where="manager_deleted")] == ["m13"]


@pytest.mark.parametrize("engine", ENGINES)
def test_leeloo_an_entity_that_comes_back_is_back(warehouse_factory, engine: str) -> None:
    wh = warehouse_factory(engine)
    wh.load(leeloo.resources(deletable=leeloo.DELETABLE))
    full = every_model_after_build(wh)
    wh.mark_deleted("leadgentools", ["l1"])
    wh.build()
    assert "l1" not in {r["leadgentool_id"] for r in wh.rows("stg_leadgentools")}
    # the source sees l1 again: a newer version with deleted_at NULL (the old row stays)
    tool = ([dict(leeloo.LEADGENTOOLS[0], deleted_at=None)], "id")
    wh.load(leeloo.resources({"leadgentools": tool}, write_disposition="append", deletable=leeloo.DELETABLE))
    assert len(wh.raw_rows("leadgentools", where="id = 'l1'")) == 2
    assert every_model_after_build(wh) == full


def every_model_after_build(wh: Warehouse) -> dict[str, list[tuple]]:
    wh.build()
    return every_model(wh)


GONE_CLIENTS, GONE_MESSAGES, GONE_ORDERS, GONE_VARIABLES = {101}, {1004}, {5004}, {(102, "utm_campaign")}


@pytest.mark.parametrize("engine", ENGINES)
def test_salebot_deleted_entities_leave_every_model(warehouse_factory, engine: str) -> None:
    marked = warehouse_factory(engine, source="salebot")
    marked.load(salebot.resources())
    before = every_model_after_build(marked)
    marked.mark_deleted("clients", [101])  # its messages, orders and variables unmarked
    marked.mark_deleted("messages", [1004])
    marked.mark_deleted("orders", [5004])
    marked.mark_deleted("client_variables", ["102:utm_campaign"], key="cast(client_id as text) || ':' || name")
    assert marked.build().failed_tests == []

    expected = warehouse_factory(engine, source="salebot")
    expected.load(salebot.resources(salebot_without(GONE_CLIENTS, GONE_MESSAGES, GONE_ORDERS, GONE_VARIABLES)))
    expected.build()
    got = every_model(marked)
    assert_models_equal(got, every_model(expected))
    assert got != before
    assert "101" not in {r["client_id"] for r in marked.rows("stg_client_variables")}
    assert len(marked.raw_rows("clients", where="id = 101")) == 1
