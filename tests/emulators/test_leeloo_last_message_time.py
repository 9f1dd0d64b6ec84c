"""The ``last_message_time`` knob: the two readings of lastMessageTime, over HTTP."""
from __future__ import annotations

import argparse
import datetime as dt
import time

import pytest
import requests

from emulators.base import parse_iso
from emulators.cli import add_leeloo_arguments, knobs_from_args
from emulators.leeloo import Knobs, LeelooEmulator, LeelooKnobs
from tests.emulators.conftest import ANCHOR, TOKEN, Client

WIDE = {"filter[last_message][from]": "2000-01-01", "filter[last_message][to]": "2100-01-01"}


def ms(s: str) -> int:
    return parse_iso(s)


def inbound_times(truth: dict) -> dict[str, int]:
    """Per channel: the newest FRIEND_MESSAGE's createdAt, else the channel's createdAt (the v1 definition)."""
    out = {c["id"]: ms(c["createdAt"]) for c in truth["communication_channels"]}
    for m in truth["chat_messages"]:
        if m["type"] == "FRIEND_MESSAGE":
            out[m["account_id"]] = max(out[m["account_id"]], ms(m["createdAt"]))
    return out


def any_times(truth: dict) -> dict[str, int]:
    out = {c["id"]: ms(c["createdAt"]) for c in truth["communication_channels"]}
    for m in truth["chat_messages"]:
        out[m["account_id"]] = max(out[m["account_id"]], ms(m["createdAt"]))
    return out


def window_at(t_ms: int) -> dict:
    """A window holding exactly one millisecond."""
    iso = dt.datetime.fromtimestamp(t_ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
    return {"filter[last_message][from]": iso, "filter[last_message][to]": iso}


def around_now(minutes: int = 5) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {"filter[last_message][from]": (now - dt.timedelta(minutes=minutes)).isoformat(),
            "filter[last_message][to]": (now + dt.timedelta(minutes=minutes)).isoformat()}


def test_default_reading_is_any_message(client):
    assert client.emu.knobs.last_message_time == "any"
    assert requests.get(client.base + "/__admin/knobs", timeout=5).json()["last_message_time"] == "any"
    truth = client.emu.truth()
    assert truth["last_message_time"] == "any"
    assert {c["id"]: ms(c["lastMessageTime"]) for c in truth["communication_channels"]} == any_times(truth)


def test_inbound_reading_of_the_generated_history(client):
    """Every list serves, filters and sorts by the subscriber's own last message."""
    client.admin("knobs", {"last_message_time": "inbound"})
    truth = client.truth()
    assert truth["last_message_time"] == "inbound"
    inbound, anyway = inbound_times(truth), any_times(truth)
    assert {c["id"]: ms(c["lastMessageTime"]) for c in truth["communication_channels"]} == inbound
    # the readings differ where the conversation ends with a reply, a bot message or no message from the client
    differ = [cid for cid in inbound if inbound[cid] < anyway[cid]]
    assert len(differ) > len(inbound) // 4
    channels_of = {p["id"]: [a["account_id"] for a in p["accounts"]] for p in truth["people"]}
    for p in truth["people"]:
        assert ms(p["lastMessageTime"]) == max(inbound[c] for c in channels_of[p["id"]])

    served = {c["id"]: c["lastMessageTime"] for c in client.page_all("/api/v2/communication-channels", WIDE)}
    assert served == {c["id"]: c["lastMessageTime"] for c in truth["communication_channels"]}
    assert {a["id"]: a["lastMessageTime"] for a in client.page_all("/api/v1/accounts")} == served
    people = client.page_all("/api/v2/people", WIDE)
    assert {p["id"]: p["lastMessageTime"] for p in people} == {p["id"]: p["lastMessageTime"] for p in truth["people"]}
    keys = [ms(p["lastMessageTime"]) for p in people]
    assert keys == sorted(keys, reverse=True)  # newest first by the reading served

    # a window on a channel's last bot/manager message finds it only under the "any" reading
    cid = max(differ, key=lambda c: anyway[c] - inbound[c])
    assert cid not in {c["id"] for c in client.page_all("/api/v2/communication-channels", window_at(anyway[cid]))}
    assert cid in {c["id"] for c in client.page_all("/api/v2/communication-channels", window_at(inbound[cid]))}
    client.admin("knobs", {"last_message_time": "any"})
    assert cid in {c["id"] for c in client.page_all("/api/v2/communication-channels", window_at(anyway[cid]))}
    assert client.truth()["communication_channels"] == client.emu.truth()["communication_channels"]


def test_inbound_replies_and_broadcasts_leave_last_message_time(fresh: Client):
    fresh.admin("knobs", {"last_message_time": "inbound"})
    before = fresh.truth()
    lmt = {c["id"]: c["lastMessageTime"] for c in before["communication_channels"]}
    people_lmt = {p["id"]: p["lastMessageTime"] for p in before["people"]}
    out = fresh.admin("simulate", {"replies": 8, "broadcasts": 5})
    assert len(out["replied_channels"]) == 8 and len(out["broadcast_channels"]) == 5
    after = fresh.truth()
    assert {c["id"]: c["lastMessageTime"] for c in after["communication_channels"]} == lmt
    assert {p["id"]: p["lastMessageTime"] for p in after["people"]} == people_lmt
    # the messages are there, the window just does not show them
    assert not fresh.page_all("/api/v2/people", around_now())
    assert not fresh.page_all("/api/v2/communication-channels", around_now())
    for cid in out["replied_channels"] + out["broadcast_channels"]:
        served = {m["id"] for m in fresh.page_all(f"/api/v2/communication-channels/{cid}/chat-messages")}
        assert served & set(out["new_messages"])
    # the subscriber writes: now it moves, and the window shows exactly them
    wrote = fresh.admin("simulate", {"active_people": 3})
    assert {p["id"] for p in fresh.page_all("/api/v2/people", around_now())} == set(wrote["active_people"])
    moved = {c["id"] for c in fresh.page_all("/api/v2/communication-channels", around_now())}
    assert moved == set(wrote["touched_channels"])
    # under the other reading the replies show up again (both readings are kept all along)
    fresh.admin("knobs", {"last_message_time": "any"})
    shown = {c["id"] for c in fresh.page_all("/api/v2/communication-channels", around_now())}
    assert shown == set(out["replied_channels"]) | set(out["broadcast_channels"]) | moved


def test_inbound_index_follows_new_people_and_deletions(fresh: Client):
    """Changes made before and after the inbound indices exist keep both readings right."""
    emu = fresh.emu
    emu.simulate(new_people=2, replies=3, delete={"people": 2, "communication_channels": 2})
    emu.knobs.last_message_time = "inbound"  # the live object works like the admin route
    emu.truth()  # builds the inbound indices: the changes below must keep them right
    out = emu.simulate(new_people=2, active_people=2, replies=4,
                       delete={"people": 2, "communication_channels": 2})
    t = fresh.truth()
    inbound = inbound_times(t)
    assert {c["id"]: ms(c["lastMessageTime"]) for c in t["communication_channels"]} == inbound
    assert set(out["new_people"]) <= {p["id"] for p in t["people"]}
    served = {c["id"]: c["lastMessageTime"] for c in fresh.page_all("/api/v2/communication-channels", WIDE)}
    assert served == {c["id"]: c["lastMessageTime"] for c in t["communication_channels"]}
    people = {p["id"]: p["lastMessageTime"] for p in fresh.page_all("/api/v2/people", WIDE)}
    assert people == {p["id"]: p["lastMessageTime"] for p in t["people"]}
    emu.knobs.last_message_time = "any"
    t_any = emu.truth()
    assert {c["id"]: ms(c["lastMessageTime"]) for c in t_any["communication_channels"]} == any_times(t_any)


def test_mutate_rate_moves_both_readings(fresh: Client):
    fresh.emu.knobs.update({"last_message_time": "inbound", "mutate_rate": 1.0})
    start = int(time.time() * 1000)
    fresh.page_all("/api/v2/orders", limit=50)
    fresh.emu.knobs.mutate_rate = 0.0
    t = fresh.truth()
    moved = [c for c in t["communication_channels"] if ms(c["lastMessageTime"]) >= start - 1000]
    assert moved  # a FRIEND_MESSAGE moves the inbound reading too
    assert {c["id"]: ms(c["lastMessageTime"]) for c in t["communication_channels"]} == inbound_times(t)


def test_knob_validation_and_flags(client):
    r = requests.post(client.base + "/__admin/knobs", json={"last_message_time": "outbound"}, timeout=5)
    assert r.status_code == 400 and client.emu.knobs.last_message_time == "any"
    with pytest.raises(ValueError):
        LeelooKnobs(last_message_time="sometimes").validate()
    parser = argparse.ArgumentParser()
    add_leeloo_arguments(parser)
    knobs = knobs_from_args(parser.parse_args(["--last-message-time", "inbound", "--page-cap", "9"]), LeelooKnobs)
    assert isinstance(knobs, LeelooKnobs) and knobs.last_message_time == "inbound" and knobs.page_cap == 9
    assert knobs_from_args(parser.parse_args([]), LeelooKnobs).last_message_time == "any"  # type: ignore[attr-defined]
    # shared knobs given to the constructor are carried over into the Leeloo knobs
    emu = LeelooEmulator(seed=2, scale=20, token=TOKEN, anchor=ANCHOR, knobs=Knobs(page_cap=4))
    assert isinstance(emu.knobs, LeelooKnobs) and emu.knobs.page_cap == 4 and emu.knobs.last_message_time == "any"
