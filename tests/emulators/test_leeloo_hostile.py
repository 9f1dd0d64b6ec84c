"""hostile=True: strangers' strings in every place a stranger types, served as JSON exactly."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from emulators.hostile import LONG_TEXT, PAYLOADS
from emulators.leeloo import LeelooEmulator
from tests.emulators.conftest import ANCHOR, TOKEN, Client, cli_emulator

WIDE = {"filter[last_message][from]": "2000-01-01", "filter[last_message][to]": "2100-01-01"}


def places(t: dict) -> dict[str, list]:
    """Every place the mode promises payloads in, as the truth holds it."""
    return {
        "people names": [p["name"] for p in t["people"]],
        "message texts": [m["text"] for m in t["chat_messages"]],
        "tunnel names": [x["name"] for x in t["tunnels"]],
        "leadgentool names": [x["name"] for x in t["leadgentools"]],
        "traffic source names": [x["name"] for x in t["traffic_sources"]],
        "utm marks": [v for c in t["communication_channels"] for v in c["utmMarks"].values()],
        "custom field values": [f["value"] for p in t["people"] for f in p["custom_fields"]],
        "tag names": [x["name"] for x in t["tags"]],
        "order titles": [o["title"] for o in t["orders"]],
    }


@pytest.fixture(scope="module")
def hostile() -> Iterator[Client]:
    emu = LeelooEmulator(seed=4, scale=60, token=TOKEN, anchor=ANCHOR, hostile=True)
    with emu.serve() as url:
        yield Client(url, emu)


@pytest.mark.parametrize("seed", [1, 2, 3, 17, 99])
def test_every_payload_in_every_place_at_scale_60(seed):
    t = LeelooEmulator(seed=seed, scale=60, token=TOKEN, anchor=ANCHOR, hostile=True).truth()
    for place, values in places(t).items():
        strings = {v for v in values if isinstance(v, str)}
        missing = [p[:40] for p in PAYLOADS if p not in strings]
        assert not missing, (seed, place, missing)
    # subscribeHistory copies the names of the tunnels people subscribed to
    copied = {s[k] for p in t["people"] for s in p["subscribeHistory"]
              for k in ("tunnelName", "leadgentoolName", "trafficSource")}
    assert len(copied & set(PAYLOADS)) >= len(PAYLOADS) // 2
    # beyond the first records, ordinary strings remain the rule
    names = places(t)["people names"]
    assert sum(n in PAYLOADS for n in names) < len(names) / 2


def test_deterministic_per_seed_and_off_by_default():
    a = LeelooEmulator(seed=8, scale=60, anchor=ANCHOR, hostile=True).truth()
    b = LeelooEmulator(seed=8, scale=60, anchor=ANCHOR, hostile=True).truth()
    assert a == b
    plain = LeelooEmulator(seed=8, scale=60, anchor=ANCHOR).truth()
    hostile_strings = set(PAYLOADS) - {""}  # an empty SYSTEM_MESSAGE text is ordinary data
    for place, values in places(plain).items():
        assert not hostile_strings & {v for v in values if isinstance(v, str)}, place


def test_served_as_json_exactly(hostile: Client):
    t = hostile.truth()
    assert t == json.loads(json.dumps(hostile.emu.truth()))  # the admin route and the object agree
    people = {p["id"]: p for p in t["people"]}
    listed = hostile.page_all("/api/v2/people", WIDE)
    assert {p["id"]: (p["name"], p["tags"]) for p in listed} == \
        {pid: (p["name"], p["tags"]) for pid, p in people.items()}
    for pid in [p["id"] for p in t["people"]][: len(PAYLOADS)]:  # the first people carry every payload
        d = hostile.json(f"/api/v2/people/{pid}")["data"]
        assert d == {k: v for k, v in people[pid].items() if k != "lastMessageTime"}
    by_channel: dict[str, list[dict]] = {}
    for m in t["chat_messages"]:
        by_channel.setdefault(m["account_id"], []).append({k: v for k, v in m.items() if k != "account_id"})
    for c in t["communication_channels"][: len(PAYLOADS)]:
        served = hostile.page_all(f"/api/v2/communication-channels/{c['id']}/chat-messages")
        assert sorted(served, key=lambda m: m["id"]) == sorted(by_channel[c["id"]], key=lambda m: m["id"])
    assert {c["id"]: c for c in hostile.page_all("/api/v2/communication-channels", WIDE)} == \
        {c["id"]: c for c in t["communication_channels"]}
    assert {x["id"]: x for x in hostile.page_all("/api/v2/tunnels")} == {x["id"]: x for x in t["tunnels"]}
    assert hostile.json("/api/v2/tags")["data"] == t["tags"]
    orders = {o["id"]: o for o in t["orders"]}
    assert {o["id"]: o["title"] for o in hostile.page_all("/api/v2/orders")} == \
        {oid: o["title"] for oid, o in orders.items()}
    lgt_names = {x["id"]: x["name"] for x in t["leadgentools"]}
    for tun in t["tunnels"]:
        linked = hostile.json(f"/api/v2/tunnels/{tun['id']}", {"include": "leadgentools"})["linked"]["leadgentools"]
        assert {x["id"]: x["name"] for x in linked} == {k: v for k, v in lgt_names.items()
                                                       if k in {x["id"] for x in linked}}


def test_nul_long_text_and_script_closers_on_the_wire(hostile: Client):
    t = hostile.truth()
    pid = next(p["id"] for p in t["people"] if p["name"] == "nul\u0000byte")
    r = hostile.get(f"/api/v2/people/{pid}")
    assert "\\u0000" in r.text and "\x00" not in r.text  # valid JSON: the NUL is escaped, never raw
    assert r.json()["data"]["name"] == "nul\u0000byte"
    long_person = next(p["id"] for p in t["people"] if p["name"] == LONG_TEXT)
    assert hostile.json(f"/api/v2/people/{long_person}")["data"]["name"] == LONG_TEXT
    assert len(LONG_TEXT) == 70_000
    closer = next(x["id"] for x in t["tunnels"] if x["name"] == "</script><script>window.__xss=1</script>")
    r = hostile.get(f"/api/v2/tunnels/{closer}")
    assert "</script><script>" in r.text  # served as the stranger typed it: escaping is the reader's job
    rtl = next(x for x in t["tags"] if x["name"].startswith("\u202e"))
    assert rtl in hostile.json("/api/v2/tags")["data"]


def test_simulate_in_hostile_mode(hostile: Client):
    emu = hostile.emu
    before = len(emu.truth()["people"])
    out = emu.simulate(new_people=10, active_people=20, replies=10, new_orders=10, crm_edits=5)
    t = hostile.truth()
    assert len(t["people"]) == before + 10
    msgs = {m["id"]: m["text"] for m in t["chat_messages"]}
    assert set(out["new_messages"]) <= set(msgs)
    new_strings = [msgs[m] for m in out["new_messages"]] + [p["name"] for p in t["people"]
                                                            if p["id"] in out["new_people"]]
    assert set(new_strings) & set(PAYLOADS)  # new strangers type too
    listed = {p["id"]: p["name"] for p in hostile.page_all("/api/v2/people", WIDE)}
    assert listed == {p["id"]: p["name"] for p in t["people"]}


def test_cli_flag(tmp_path):
    with cli_emulator(tmp_path, "--hostile") as (url, banner):
        assert "hostile" in banner, banner
        t = requests.get(url + "/__admin/truth", timeout=30).json()
    assert set(PAYLOADS) <= {x["name"] for x in t["tunnels"]}
    assert t == LeelooEmulator(seed=1, scale=60, anchor=ANCHOR, hostile=True).truth()
