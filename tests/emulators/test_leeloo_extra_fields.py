"""extra_fields=True: list items and details carry fields the documents do not list."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from emulators.leeloo import LeelooEmulator
from tests.emulators.conftest import ANCHOR, TOKEN, Client, cli_emulator

WIDE = {"filter[last_message][from]": "2000-01-01", "filter[last_message][to]": "2100-01-01"}
# the documented keys (as tests/emulators/test_leeloo_emulator.py takes them from the examples)
PEOPLE_LIST_KEYS = {"id", "name", "email", "phone", "tags", "accounts", "lastMessageTime"}
PERSON_KEYS = {"id", "name", "tags", "profileImage", "gender", "phone", "email", "locale", "accounts",
               "subscribeHistory", "links", "custom_fields", "created_at", "updated_at"}
CHANNEL_KEYS = {"id", "person_id", "name", "from", "botStatus", "lastMessageTime", "createdAt", "utmMarks"}
V1_ACCOUNT_KEYS = {"id", "name", "tags", "from", "botStatus", "lastMessageTime", "createdAt"}
MESSAGE_KEYS = {"id", "text", "type", "read", "createdAt", "updatedAt"}
ORDER_LIST_KEYS = {"id", "person_id", "title", "price", "currency", "status", "createdAt", "updatedAt"}
ORDER_DETAIL_KEYS = {"id", "createdAt", "updatedAt", "title", "description", "price", "currency", "status",
                     "paymentMethod"}
TUNNEL_KEYS = {"id", "name", "createdAt", "updatedAt"}


def extras(row: dict, names: list[str]) -> dict:
    return {k: row[k] for k in names}


@pytest.fixture(scope="module")
def extra() -> Iterator[Client]:
    emu = LeelooEmulator(seed=5, scale=80, token=TOKEN, anchor=ANCHOR, extra_fields=True)
    with emu.serve() as url:
        yield Client(url, emu)


def test_truth_names_the_fields_and_every_row_has_them(extra: Client):
    t = extra.truth()
    names = t["extra_fields"]
    assert set(names) == {"people", "communication_channels", "orders", "chat_messages", "tunnels"}
    documented = {"people": PERSON_KEYS | {"lastMessageTime"}, "communication_channels": CHANNEL_KEYS,
                  "orders": ORDER_DETAIL_KEYS | {"person_id"}, "chat_messages": MESSAGE_KEYS | {"account_id", "links"},
                  "tunnels": TUNNEL_KEYS}
    for table, fields in names.items():
        assert fields and not set(fields) & documented[table], table
        for row in t[table]:
            assert set(fields) <= set(row), (table, row["id"])
        values = [tuple(extras(r, fields).values()) for r in t[table]]
        assert len(set(values)) > 1, table  # values vary per record, as real data would
    plain = LeelooEmulator(seed=5, scale=80, anchor=ANCHOR).truth()
    assert plain["extra_fields"] == {} and set(plain["people"][0]) == PERSON_KEYS | {"lastMessageTime"}


def test_lists_and_details_serve_them(extra: Client):
    t = extra.truth()
    names = t["extra_fields"]
    people = {p["id"]: p for p in t["people"]}
    for p in extra.page_all("/api/v2/people", WIDE):
        assert set(p) == PEOPLE_LIST_KEYS | set(names["people"])
        assert extras(p, names["people"]) == extras(people[p["id"]], names["people"])
    for pid in list(people)[:10]:
        d = extra.json(f"/api/v2/people/{pid}")["data"]
        assert set(d) == PERSON_KEYS | set(names["people"])
        assert d == {k: v for k, v in people[pid].items() if k != "lastMessageTime"}
    channels = {c["id"]: c for c in t["communication_channels"]}
    assert {c["id"]: c for c in extra.page_all("/api/v2/communication-channels", WIDE)} == channels
    for a in extra.page_all("/api/v1/accounts"):
        assert set(a) == V1_ACCOUNT_KEYS | set(names["communication_channels"])
        assert extras(a, names["communication_channels"]) == extras(channels[a["id"]], names["communication_channels"])
    orders = {o["id"]: o for o in t["orders"]}
    for o in extra.page_all("/api/v2/orders"):
        assert set(o) == ORDER_LIST_KEYS | set(names["orders"])
        assert extras(o, names["orders"]) == extras(orders[o["id"]], names["orders"])
    oid = next(iter(orders))
    assert extra.json(f"/api/v2/orders/{oid}")["data"] == {k: v for k, v in orders[oid].items() if k != "person_id"}
    tunnels = {x["id"]: x for x in t["tunnels"]}
    assert {x["id"]: x for x in extra.page_all("/api/v2/tunnels")} == tunnels
    tid = next(iter(tunnels))
    detail = extra.json(f"/api/v2/tunnels/{tid}")["data"]
    assert {k: v for k, v in detail.items() if k != "links"} == tunnels[tid]
    cid = max(channels, key=lambda c: sum(m["account_id"] == c for m in t["chat_messages"]))
    served = extra.page_all(f"/api/v2/communication-channels/{cid}/chat-messages")
    expected = {m["id"]: {k: v for k, v in m.items() if k != "account_id"} for m in t["chat_messages"]
                if m["account_id"] == cid}
    assert served and {m["id"]: m for m in served} == expected


def test_new_records_carry_them_too(extra: Client):
    emu = extra.emu
    out = emu.simulate(new_people=2, active_people=3, replies=3, broadcasts=2, new_orders=2)
    t = extra.truth()
    names = t["extra_fields"]
    msgs = {m["id"]: m for m in t["chat_messages"]}
    assert all(set(names["chat_messages"]) <= set(msgs[m]) for m in out["new_messages"])
    people = {p["id"]: p for p in t["people"]}
    assert all(set(names["people"]) <= set(people[p]) for p in out["new_people"])
    new_channels = {c["id"]: c for c in t["communication_channels"] if c["id"] in set(out["new_channels"])}
    assert new_channels and all(set(names["communication_channels"]) <= set(c) for c in new_channels.values())
    orders = {o["id"]: o for o in t["orders"]}
    assert all(set(names["orders"]) <= set(orders[o]) for o in out["new_orders"])


def test_cli_flags_all_modes_at_once(tmp_path):
    with cli_emulator(tmp_path, "--extra-fields", "--hostile", "--odd-shapes",
                      "--last-message-time", "inbound") as (url, banner):
        assert "extra_fields" in banner and "lastMessageTime: inbound" in banner, banner
        t = requests.get(url + "/__admin/truth", timeout=30).json()
        knobs = requests.get(url + "/__admin/knobs", timeout=5).json()
    assert knobs["last_message_time"] == "inbound" and t["last_message_time"] == "inbound"
    emu = LeelooEmulator(seed=1, scale=60, anchor=ANCHOR, extra_fields=True, hostile=True, odd_shapes=True)
    emu.knobs.last_message_time = "inbound"
    assert t == emu.truth()
    assert t["extra_fields"] and t["odd_values"]
