"""simulate(replies=, broadcasts=, crm_edits=): changes a window on lastMessageTime may not show."""
from __future__ import annotations

import time

import requests

from emulators.base import parse_iso
from tests.emulators.conftest import Client

WIDE = {"filter[last_message][from]": "2000-01-01", "filter[last_message][to]": "2100-01-01"}
PEOPLE_LIST_KEYS = {"id", "name", "email", "phone", "tags", "accounts", "lastMessageTime"}


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


def messages_of(truth: dict, channel_id: str) -> list[dict]:
    return [m for m in truth["chat_messages"] if m["account_id"] == channel_id]


def test_replies_are_outbound_messages_now(fresh: Client):
    before = fresh.truth()
    people = by_id(before["people"])
    now = int(time.time() * 1000)
    out = fresh.admin("simulate", {"replies": 12})
    after = fresh.truth()
    assert len(out["replied_channels"]) == len(set(out["replied_channels"])) == 12
    assert set(out["reply_messages"]) == set(out["new_messages"]) and out["reply_messages"]
    assert not out["active_people"] and not out["touched_channels"]
    msgs = by_id(after["chat_messages"])
    channel_owner = {c["id"]: c["person_id"] for c in after["communication_channels"]}
    users = {u["id"] for u in after["users"]}
    for mid in out["reply_messages"]:
        m = msgs[mid]
        assert m["account_id"] in out["replied_channels"]
        assert m["type"] in ("YOUR_MESSAGE", "BOT_MESSAGE") and m["read"] is True
        assert abs(parse_iso(m["createdAt"]) - now) < 60_000
        if m["type"] == "YOUR_MESSAGE":  # from one of the person's contacted users
            contacted = {u["id"] for u in people[channel_owner[m["account_id"]]]["links"]["contactedUsers"]}
            assert m["links"]["createdBy"]["id"] in contacted & users
    assert {msgs[m]["type"] for m in out["reply_messages"]} == {"YOUR_MESSAGE", "BOT_MESSAGE"}
    # each reply is the newest message of its channel, as the chat-messages endpoint serves it
    for cid in out["replied_channels"]:
        served = fresh.page_all(f"/api/v2/communication-channels/{cid}/chat-messages")
        assert served == sorted(served, key=lambda m: m["createdAt"], reverse=True)
        assert served[0]["id"] in out["reply_messages"]
        assert {m["id"] for m in served} == {m["id"] for m in messages_of(after, cid)}
    # the default reading: an outbound message moves lastMessageTime (today's behaviour)
    chans = by_id(after["communication_channels"])
    assert all(abs(parse_iso(chans[c]["lastMessageTime"]) - now) < 60_000 for c in out["replied_channels"])
    # half of the replies go to the channels that were the most recently active
    newest = sorted(before["communication_channels"], key=lambda c: c["lastMessageTime"])
    recent = {c["id"] for c in newest[-max(1, len(newest) // 10):]}
    assert len(recent & set(out["replied_channels"])) >= 6


def test_broadcasts_reach_silent_subscribers_only(fresh: Client):
    emu = fresh.emu
    recent = emu.simulate(active_people=10)  # these subscribers just wrote: not silent
    out = fresh.admin("simulate", {"broadcasts": 15})
    t = fresh.truth()
    assert len(out["broadcast_channels"]) == len(set(out["broadcast_channels"])) == 15
    assert len(out["broadcast_messages"]) == 15
    assert not set(out["broadcast_channels"]) & set(recent["touched_channels"])
    msgs = by_id(t["chat_messages"])
    thirty_days_ago = int(time.time() * 1000) - 30 * 86_400_000
    for mid in out["broadcast_messages"]:
        m = msgs[mid]
        assert m["type"] == "BOT_MESSAGE" and "links" not in m
        own = [x for x in messages_of(t, m["account_id"]) if x["type"] == "FRIEND_MESSAGE"]
        assert all(parse_iso(x["createdAt"]) < thirty_days_ago for x in own)  # silent for 30 days or never wrote
    # more broadcasts than silent channels: every silent one gets one, no more
    n_silent = len(t["communication_channels"]) - len(recent["touched_channels"])
    many = emu.simulate(broadcasts=10_000)
    assert len(many["broadcast_channels"]) == n_silent


def test_crm_edits_change_tags_custom_fields_email_without_a_message(fresh: Client):
    before = fresh.truth()
    fresh.page_all("/api/v2/people", WIDE)  # warm the list cache: the edit must drop stale rows
    now = int(time.time() * 1000)
    out = fresh.admin("simulate", {"crm_edits": 15})
    after = fresh.truth()
    assert len(out["crm_edits"]) == len(set(out["crm_edits"])) == 15
    assert not out["new_messages"]
    assert after["chat_messages"] == before["chat_messages"]
    assert after["communication_channels"] == before["communication_channels"]
    p0, p1 = by_id(before["people"]), by_id(after["people"])
    tag_names = {t["name"] for t in after["tags"]}
    for pid in out["crm_edits"]:
        a, b = p0[pid], p1[pid]
        assert b["tags"] != a["tags"] and set(b["tags"]) <= tag_names
        assert b["custom_fields"] != a["custom_fields"]
        assert b["email"] != a["email"] and "@" in b["email"]
        assert b["lastMessageTime"] == a["lastMessageTime"]  # no message: the window does not see it
        assert abs(parse_iso(b["updated_at"]) - now) < 60_000  # the detail's updated_at does
        # the list entry shows tags and e-mail, the detail shows all three
        d = fresh.json(f"/api/v2/people/{pid}")["data"]
        assert (d["tags"], d["custom_fields"], d["email"]) == (b["tags"], b["custom_fields"], b["email"])
    untouched = set(p0) - set(out["crm_edits"])
    assert all(p0[pid] == p1[pid] for pid in untouched)
    served = by_id(fresh.page_all("/api/v2/people", WIDE))
    assert served == {pid: {k: p[k] for k in PEOPLE_LIST_KEYS} for pid, p in p1.items()}
    # a tag added in the CRM is found by the tag filter; v1 accounts show the person's new tags
    pid = next(p for p in out["crm_edits"] if set(p1[p]["tags"]) - set(p0[p]["tags"]))
    new_tag = sorted(set(p1[pid]["tags"]) - set(p0[pid]["tags"]))[0]
    tagged = fresh.page_all("/api/v2/people", dict(WIDE, **{"filter[tags]": new_tag}))
    assert pid in {p["id"] for p in tagged}
    account = p1[pid]["accounts"][0]["account_id"]
    assert by_id(fresh.page_all("/api/v1/accounts"))[account]["tags"] == p1[pid]["tags"]


def test_combined_call_and_bad_arguments(fresh: Client):
    out = fresh.emu.simulate(active_people=2, replies=3, broadcasts=2, crm_edits=2, new_orders=1)
    assert len(out["active_people"]) == 2 and len(out["replied_channels"]) == 3
    assert len(out["broadcast_channels"]) == 2 and len(out["crm_edits"]) == 2
    assert set(out["new_messages"]) >= set(out["reply_messages"]) | set(out["broadcast_messages"])
    for body in ({"replies": -1}, {"broadcasts": "3"}, {"crm_edits": 1.5}, {"replies": True}, {"nonsense": 1}):
        r = requests.post(fresh.base + "/__admin/simulate", json=body, timeout=5)
        assert r.status_code == 400 and r.json()["status"] == 0, body
