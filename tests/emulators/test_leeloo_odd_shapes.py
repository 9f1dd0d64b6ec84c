"""odd_shapes=True: objects and lists where text is promised, text where a number is; served raw."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from emulators.hostile import NOT_NUMBERS
from emulators.leeloo import LeelooEmulator
from tests.emulators.conftest import ANCHOR, TOKEN, Client, cli_emulator

WIDE = {"filter[last_message][from]": "2000-01-01", "filter[last_message][to]": "2100-01-01"}
TEXT_PLACES = {("people", "name"), ("people", "phone"), ("people", "email"), ("people", "tags"),
               ("people", "custom_fields"), ("communication_channels", "name"),
               ("communication_channels", "utmMarks"), ("orders", "title"), ("chat_messages", "text"),
               ("tunnels", "name"), ("users", "name"), ("tags", "name"), ("templates", "message_name")}
NUMBER_PLACES = {("orders", "price"), ("tunnel_stats", None)}


def odd_value(row: dict, field: str):
    """The value the odd field carries (the odd item of a list field)."""
    if field == "tags":
        return next(t for t in row["tags"] if not isinstance(t, str))
    if field == "custom_fields":
        return next(f["value"] for f in row["custom_fields"] if isinstance(f["value"], (dict, list)))
    if field == "utmMarks":
        return row["utmMarks"]["utm_source"]
    return row[field]


def rows_by_id(t: dict, table: str) -> dict[str, dict]:
    if table == "tunnel_stats":
        return {s["tunnel_id"]: s for s in t["tunnel_stats"]}
    return {r["id"]: r for r in t[table]}


@pytest.fixture(scope="module")
def odd() -> Iterator[Client]:
    emu = LeelooEmulator(seed=6, scale=90, token=TOKEN, anchor=ANCHOR, odd_shapes=True)
    with emu.serve() as url:
        yield Client(url, emu)


@pytest.mark.parametrize("seed", [1, 2, 9])
def test_every_place_has_odd_values_and_only_a_few_records_do(seed):
    t = LeelooEmulator(seed=seed, scale=60, anchor=ANCHOR, odd_shapes=True).truth()
    kinds = {(v["table"], v["field"]) for v in t["odd_values"]}
    assert kinds >= TEXT_PLACES
    assert ("orders", "price") in kinds and any(table == "tunnel_stats" for table, _ in kinds)
    for v in t["odd_values"]:
        row = rows_by_id(t, v["table"])[v["id"]]
        value = odd_value(row, v["field"])
        if (v["table"], v["field"]) in TEXT_PLACES:
            assert isinstance(value, (dict, list)), v
        else:  # text where a number is promised
            assert isinstance(value, str) and value in NOT_NUMBERS, v
    per_table: dict[str, int] = {}
    for v in t["odd_values"]:
        per_table[v["table"]] = per_table.get(v["table"], 0) + 1
    assert per_table["people"] <= 8 and per_table["chat_messages"] <= 4  # "a few records per entity"
    plain = LeelooEmulator(seed=seed, scale=60, anchor=ANCHOR).truth()
    assert plain["odd_values"] == [] and all(isinstance(p["name"], str) for p in plain["people"])


def test_odd_values_are_served_exactly(odd: Client):
    t = odd.truth()
    people = {p["id"]: p for p in odd.page_all("/api/v2/people", WIDE)}
    channels = {c["id"]: c for c in odd.page_all("/api/v2/communication-channels", WIDE)}
    orders = {o["id"]: o for o in odd.page_all("/api/v2/orders")}
    tunnels = {x["id"]: x for x in odd.page_all("/api/v2/tunnels")}
    users = {u["id"]: u for u in odd.page_all("/api/v2/users")}
    tags = {x["id"]: x for x in odd.json("/api/v2/tags")["data"]}
    cats = odd.json("/api/v2/categories/templates")["data"]["categories"]
    templates = {x["id"]: x for c in cats
                 for x in odd.json(f"/api/v2/categories/templates/{c['id']}")["data"]["templates"]}
    account_of = {m["id"]: m["account_id"] for m in t["chat_messages"]}
    checked = set()
    for v in t["odd_values"]:
        table, eid, field = v["table"], v["id"], v["field"]
        expected = odd_value(rows_by_id(t, table)[eid], field)
        if table == "people":
            detail = odd.json(f"/api/v2/people/{eid}")["data"]
            served = odd_value(detail if field == "custom_fields" else people[eid], field)
        elif table == "communication_channels":
            served = odd_value(channels[eid], field)
        elif table == "orders":
            served = odd_value(orders[eid], field)
            assert odd_value(odd.json(f"/api/v2/orders/{eid}")["data"], field) == expected
        elif table == "chat_messages":
            msgs = odd.page_all(f"/api/v2/communication-channels/{account_of[eid]}/chat-messages")
            served = next(m for m in msgs if m["id"] == eid)["text"]
        elif table == "tunnels":
            served = tunnels[eid]["name"]
            assert odd.json(f"/api/v2/tunnels/{eid}")["data"]["name"] == expected
        elif table == "tunnel_stats":
            served = odd.json(f"/api/v2/tunnels/{eid}/stats")["data"][0][field]
            expected = rows_by_id(t, table)[eid][field]
        else:
            served = {"users": users, "tags": tags, "templates": templates}[table][eid][field]
        assert served == expected and type(served) is type(expected), v
        checked.add((table, field if table != "tunnel_stats" else None))
    assert checked >= TEXT_PLACES | NUMBER_PLACES


def test_filters_knobs_and_simulate_survive_odd_records(odd: Client):
    emu = odd.emu
    t = odd.truth()
    assert any(not isinstance(p["email"], str) for p in t["people"])  # the filter below must step over it
    real = next(p for p in t["people"] if isinstance(p["email"], str) and "@" in p["email"])
    by_email = odd.page_all("/api/v2/people", dict(WIDE, **{"filter[email]": real["email"]}))
    assert [p["id"] for p in by_email] == [real["id"]]
    tag = next(x for x in t["tags"] if isinstance(x["name"], str))
    tagged = odd.page_all("/api/v2/people", dict(WIDE, **{"filter[tags]": tag["name"]}))
    assert {p["id"] for p in tagged} == {p["id"] for p in t["people"] if tag["name"] in p["tags"]}
    assert odd.page_all("/api/v1/accounts", {"filter[tags]": tag["name"]})
    emu.knobs.drift = True  # drift formats prices: an odd text price stays as it is
    odd_price = next(v["id"] for v in t["odd_values"] if v["field"] == "price")
    assert {o["id"]: o["price"] for o in odd.page_all("/api/v2/orders")}[odd_price] in NOT_NUMBERS
    assert odd.json("/api/v2/tunnels/stats")["data"][0]["totalSale"]
    emu.knobs.drift = False
    out = emu.simulate(crm_edits=30, replies=10, payments=5, active_people=10, new_people=3)
    assert len(out["crm_edits"]) == 30
    t2 = odd.truth()
    assert {p["id"]: p["email"] for p in odd.page_all("/api/v2/people", WIDE)} == \
        {p["id"]: p["email"] for p in t2["people"]}
    total = odd.json("/api/v2/tunnels/stats")["data"][0]
    assert all(isinstance(total[k], (int, float)) for k in total)  # totals stay numbers
    assert "500" not in emu.request_counts()["by_status"]


def test_cli_flag(tmp_path):
    with cli_emulator(tmp_path, "--odd-shapes") as (url, banner):
        assert "odd_shapes" in banner, banner
        t = requests.get(url + "/__admin/truth", timeout=30).json()
    assert {(v["table"], v["field"]) for v in t["odd_values"]} >= TEXT_PLACES
    assert t == LeelooEmulator(seed=1, scale=60, anchor=ANCHOR, odd_shapes=True).truth()
