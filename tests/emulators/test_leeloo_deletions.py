"""simulate(delete={table: n}): gone from every list, 404 on every detail, recorded in the truth."""
from __future__ import annotations

import threading
import time

import requests

from emulators.leeloo.data import DELETABLE, DELETED_TABLES
from tests.emulators.conftest import Client

WIDE = {"filter[last_message][from]": "2000-01-01", "filter[last_message][to]": "2100-01-01"}
ALL = {"people": 10, "communication_channels": 3, "orders": 3, "tunnels": 1, "leadgentools": 2, "users": 1,
       "tags": 2, "connections": 1, "template_categories": 1, "templates": 1}


def ids(rows: list[dict]) -> set[str]:
    return {r["id"] for r in rows}


def served_ids(c: Client) -> dict[str, set[str]]:
    """Every listable table as the API serves it."""
    cats = c.json("/api/v2/categories/templates")["data"]["categories"]
    tunnels = c.page_all("/api/v2/tunnels")
    return {
        "leadgentools": {lgt["id"] for t in tunnels for lgt in
                         c.json(f"/api/v2/tunnels/{t['id']}", {"include": "leadgentools"})["linked"]["leadgentools"]},
        "people": ids(c.page_all("/api/v2/people", WIDE)),
        "communication_channels": ids(c.page_all("/api/v2/communication-channels")),
        "v1_accounts": ids(c.page_all("/api/v1/accounts")),
        "orders": ids(c.page_all("/api/v2/orders")),
        "tunnels": ids(tunnels),
        "users": ids(c.page_all("/api/v2/users")),
        "tags": ids(c.json("/api/v2/tags")["data"]),
        "connections": ids(c.json("/api/v2/connections")["data"]["connections"]),
        "template_categories": ids(cats),
        "templates": {t["id"] for cat in cats
                      for t in c.json(f"/api/v2/categories/templates/{cat['id']}")["data"]["templates"]},
    }


def assert_404(c: Client, path: str) -> None:
    r = c.get(path)
    assert r.status_code == 404, (path, r.status_code)
    body = r.json()
    assert body["status"] == 0 and isinstance(body["error"], str) and "data" not in body, path


def test_deleted_entities_are_gone_everywhere(fresh: Client):
    before = fresh.truth()
    for path in ("/api/v2/people", "/api/v2/communication-channels", "/api/v1/accounts", "/api/v2/orders"):
        fresh.page_all(path, WIDE)  # warm every cache the deletion has to drop
    cats0 = {c["id"]: [t["id"] for t in before["templates"] if t["category_id"] == c["id"]]
             for c in before["template_categories"]}
    out = fresh.admin("simulate", {"delete": ALL})
    gone = out["deleted"]
    after = fresh.truth()
    assert set(gone) == set(DELETED_TABLES) and after["deleted"] == gone
    for table, n in ALL.items():
        if table not in ("communication_channels", "templates", "leadgentools"):
            assert len(gone[table]) == n, table
    # cascades: a person takes their channels and those channels' messages; a channel its messages
    people0 = {p["id"]: p for p in before["people"]}
    cascaded = {a["account_id"] for pid in gone["people"] for a in people0[pid]["accounts"]}
    direct = set(gone["communication_channels"]) - cascaded
    assert cascaded <= set(gone["communication_channels"]) and len(direct) == 3
    assert set(gone["chat_messages"]) == {m["id"] for m in before["chat_messages"]
                                          if m["account_id"] in set(gone["communication_channels"])}
    assert set(gone["templates"]) >= set(cats0[gone["template_categories"][0]])
    lgts0 = {x["id"]: x for x in before["leadgentools"]}
    assert {x["id"] for x in before["leadgentools"] if x["tunnel_id"] in gone["tunnels"]} <= set(gone["leadgentools"])
    assert set(gone["traffic_sources"]) == {s["id"] for s in before["traffic_sources"]
                                            if s["leadgentool_id"] in set(gone["leadgentools"])}
    assert all(lgts0[x]["tunnel_id"] not in gone["tunnels"] for x in gone["leadgentools"][-2:])

    # gone from the truth and from every list the API serves
    served = served_ids(fresh)
    for table in DELETABLE:
        truth_ids = ids(after[table])
        assert not truth_ids & set(gone[table]), table
        assert served[table] == truth_ids, table
        assert truth_ids == ids(before[table]) - set(gone[table]), table
    assert served["v1_accounts"] == served["communication_channels"]
    assert not ids(after["chat_messages"]) & set(gone["chat_messages"])
    assert not ids(after["traffic_sources"]) & set(gone["traffic_sources"])
    assert {s["tunnel_id"] for s in after["tunnel_stats"]} == ids(after["tunnels"])

    # every detail of a deleted entity answers 404 with Leeloo's error envelope
    for pid in gone["people"][:3]:
        assert_404(fresh, f"/api/v2/people/{pid}")
    for cid in gone["communication_channels"][:4]:
        for path in (f"/api/v2/communication-channels/{cid}/chat-messages",
                     f"/api/v2/communication-channels/{cid}/person",
                     f"/api/v1/accounts/{cid}", f"/api/v1/accounts/{cid}/chat-messages"):
            assert_404(fresh, path)
    for oid in gone["orders"]:
        assert_404(fresh, f"/api/v2/orders/{oid}")
    for tid in gone["tunnels"]:
        assert_404(fresh, f"/api/v2/tunnels/{tid}")
        assert_404(fresh, f"/api/v2/tunnels/{tid}/stats")
    assert_404(fresh, f"/api/v2/users/{gone['users'][0]}")
    assert_404(fresh, f"/api/v2/categories/templates/{gone['template_categories'][0]}")

    # what stays: orders of a deleted person (the order list is separate), a person who lost a channel
    orphan_orders = [o for o in after["orders"] if o["person_id"] in set(gone["people"])]
    assert orphan_orders
    assert all(fresh.json(f"/api/v2/orders/{o['id']}")["data"]["id"] == o["id"] for o in orphan_orders)
    people1 = {p["id"]: p for p in after["people"]}
    lmt = {c["id"]: c["lastMessageTime"] for c in after["communication_channels"]}
    for cid in direct:
        owner = next(p for p in before["people"] if cid in {a["account_id"] for a in p["accounts"]})
        kept = people1[owner["id"]]
        assert cid not in {a["account_id"] for a in kept["accounts"]} and kept["accounts"]
        assert kept["lastMessageTime"] == max(lmt[a["account_id"]] for a in kept["accounts"])
        served_person = fresh.json(f"/api/v2/people/{owner['id']}")["data"]
        assert [a["account_id"] for a in served_person["accounts"]] == [a["account_id"] for a in kept["accounts"]]
    # a deleted tag leaves every person's tags; a deleted user every person's contacted users
    dead_tags = {t["name"] for t in before["tags"] if t["id"] in gone["tags"]}
    assert all(not dead_tags & set(p["tags"]) for p in after["people"])
    assert set(out["untagged_people"]) == {p["id"] for p in before["people"]
                                          if dead_tags & set(p["tags"]) and p["id"] not in gone["people"]}
    dead_user = gone["users"][0]
    had_user = [p["id"] for p in after["people"]
                if dead_user in {u["id"] for u in people0[p["id"]]["links"]["contactedUsers"]}]
    assert had_user
    for pid in had_user[:3]:
        d = fresh.json(f"/api/v2/people/{pid}", {"include": "contactedUsers"})
        assert dead_user not in {u["id"] for u in d["data"]["links"]["contactedUsers"]}
        assert dead_user not in {u["id"] for u in d["included"]["users"]}
    # a second call accumulates in the truth
    more = fresh.emu.simulate(delete={"orders": 2})
    assert fresh.truth()["deleted"]["orders"] == gone["orders"] + more["deleted"]["orders"]


def test_deletions_keep_what_the_account_cannot_lose(fresh: Client):
    emu = fresh.emu
    out = emu.simulate(delete={"tunnels": 100, "leadgentools": 1000, "communication_channels": 10_000,
                               "connections": 100, "tags": 100, "users": 100})
    t = emu.truth()
    assert len(t["tunnels"]) == 1 and len(out["deleted"]["tunnels"]) >= 2
    assert sum(x["tunnel_id"] == t["tunnels"][0]["id"] for x in t["leadgentools"]) == 1
    assert all(len(p["accounts"]) == 1 for p in t["people"])
    assert not t["tags"] and not t["users"] and all(not p["tags"] for p in t["people"])
    messengers = [c for c in t["connections"] if c["type"] != "sendGrid"]
    assert len(messengers) == 1
    # the account still lives: new people subscribe to what is left, managers are gone so bots reply
    later = emu.simulate(new_people=3, active_people=5, replies=5, new_orders=2, crm_edits=3)
    t2 = emu.truth()
    assert set(later["new_people"]) <= ids(t2["people"])
    new_people = [p for p in t2["people"] if p["id"] in set(later["new_people"])]
    assert all(s["tunnelId"] == t["tunnels"][0]["id"] for p in new_people for s in p["subscribeHistory"])
    msgs = {m["id"]: m for m in t2["chat_messages"]}
    assert all(msgs[m]["type"] == "BOT_MESSAGE" for m in later["reply_messages"])


def test_deletions_come_first_in_a_call(fresh: Client):
    out = fresh.emu.simulate(delete={"people": 40, "communication_channels": 10, "orders": 20},
                             active_people=30, replies=20, broadcasts=10, crm_edits=20, status_changes=10)
    gone = {i for v in out["deleted"].values() for i in v}
    touched = (set(out["active_people"]) | set(out["touched_channels"]) | set(out["replied_channels"])
               | set(out["broadcast_channels"]) | set(out["crm_edits"]) | {s["id"] for s in out["status_changes"]})
    assert touched and not touched & gone
    t = fresh.truth()
    assert set(out["new_messages"]) <= ids(t["chat_messages"])


def test_bad_delete_arguments(fresh: Client):
    for body in ({"delete": {"people": -1}}, {"delete": {"persons": 1}}, {"delete": ["people"]},
                 {"delete": {"orders": "2"}}):
        r = requests.post(fresh.base + "/__admin/simulate", json=body, timeout=5)
        assert r.status_code == 400 and r.json()["status"] == 0, body
    assert not any(fresh.truth()["deleted"].values())


def test_reads_during_changes_never_fail(fresh: Client):
    """The data lock: clients page and fetch details while people, channels and orders vanish."""
    emu = fresh.emu
    t = emu.truth()
    people = [p["id"] for p in t["people"]]
    channels = [c["id"] for c in t["communication_channels"]]
    orders = [o["id"] for o in t["orders"]]
    stop = threading.Event()
    seen: list[int] = []

    def read(k: int) -> None:
        c = Client(fresh.base, emu)
        i = 0
        while not stop.is_set():
            i += 1
            window = "&".join(f"{a}={b}" for a, b in WIDE.items())
            paths = (f"/api/v2/people?{window}&limit=7&offset={i % 90}",
                     f"/api/v2/people/{people[(i + k) % len(people)]}?include=contactedUsers,orders",
                     f"/api/v2/communication-channels/{channels[(i * 3 + k) % len(channels)]}/chat-messages",
                     "/api/v2/communication-channels?limit=9&offset=" + str(i % 100),
                     f"/api/v2/orders/{orders[(i + k) % len(orders)]}", "/api/v1/accounts?limit=11",
                     "/api/v2/tags", "/api/v2/tunnels/stats", "/api/v2/users")
            seen.append(c.get(paths[i % len(paths)]).status_code)

    threads = [threading.Thread(target=read, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    try:
        for _ in range(25):
            emu.simulate(delete={"people": 2, "communication_channels": 1, "orders": 1, "tags": 1},
                         active_people=2, replies=2, crm_edits=2, new_people=1, new_orders=1)
            time.sleep(0.01)  # let the readers in between changes
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert len(seen) > 50 and set(seen) <= {200, 404} and 404 in seen
    assert "500" not in emu.request_counts()["by_status"]
