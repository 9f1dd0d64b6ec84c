"""Order status paths: open orders get paid (simulate(payments=)), and the truth keeps each order's path."""
from __future__ import annotations

import time

import requests

from emulators.base import parse_iso
from tests.emulators.conftest import Client

OPEN = {"OPENED", "ORDER", "PENDING"}
PAID = {"SUCCESS", "RESOLVED"}
STATUSES = OPEN | PAID | {"REJECTED", "FAILED", "REFUNDED"}


def paths(truth: dict) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for h in truth["order_status_history"]:
        out.setdefault(h["order_id"], []).append((h["status"], parse_iso(h["at"])))
    return out


def test_history_of_generated_orders(fresh: Client):
    t = fresh.truth()
    hist = paths(t)
    assert set(hist) == {o["id"] for o in t["orders"]}
    for o in t["orders"]:
        h = hist[o["id"]]
        created, updated = parse_iso(o["createdAt"]), parse_iso(o["updatedAt"])
        assert h[0][1] == created  # the creation status at createdAt
        assert h[-1] == (o["status"], updated)  # the current status since updatedAt
        assert [at for _, at in h] == sorted(at for _, at in h)
        assert {s for s, _ in h} <= STATUSES
        if len(h) == 2:
            assert h[0][0] == "OPENED" and o["status"] != "OPENED"
    assert any(len(h) == 2 for h in hist.values()) and any(len(h) == 1 for h in hist.values())


def test_new_orders_get_paid_and_the_path_is_recorded(fresh: Client):
    emu = fresh.emu
    stats0 = fresh.json("/api/v2/tunnels/stats")["data"][0]
    now = int(time.time() * 1000)
    new = emu.simulate(new_orders=6)["new_orders"]
    t1 = fresh.truth()
    open_ids = {o["id"] for o in t1["orders"] if o["status"] in OPEN}
    assert set(new) <= open_ids
    assert all(paths(t1)[oid] == [("OPENED", parse_iso(o["createdAt"]))]
               for o in t1["orders"] if (oid := o["id"]) in new)
    fresh.page_all("/api/v2/orders")  # warm the list cache: payment must drop stale rows
    out = fresh.admin("simulate", {"payments": len(open_ids) + 5})  # more than there are: all open ones
    paid = {p["id"]: p for p in out["payments"]}
    assert set(paid) == open_ids and set(new) <= set(paid)
    t2 = fresh.truth()
    orders = {o["id"]: o for o in t2["orders"]}
    hist = paths(t2)
    for oid, p in paid.items():
        o = orders[oid]
        assert o["status"] == p["status"] in PAID and o["updatedAt"] == p["updatedAt"]
        assert abs(parse_iso(o["updatedAt"]) - now) < 60_000
        assert hist[oid][-1] == (o["status"], parse_iso(o["updatedAt"]))
        assert hist[oid][:-1] == paths(t1)[oid]  # the path so far is kept, not overwritten
        assert fresh.json(f"/api/v2/orders/{oid}")["data"]["status"] == o["status"]
    assert {p["status"] for p in paid.values()} == PAID
    # hours from creation to the first paid status, as an order-timing report computes them
    for oid in new:
        created = parse_iso(orders[oid]["createdAt"])
        first_paid = next(at for s, at in hist[oid] if s in PAID)
        assert 0 <= first_paid - created < 60_000
    listed = {o["id"]: o for o in fresh.page_all("/api/v2/orders")}
    assert all(listed[oid]["status"] == orders[oid]["status"] for oid in paid)
    person = next(o["person_id"] for o in t2["orders"] if o["id"] == new[0])
    included = fresh.json(f"/api/v2/people/{person}", {"include": "orders"})["included"]["orders"]
    assert {o["id"]: o["status"] for o in included}[new[0]] == orders[new[0]]["status"]
    # tunnel stats count the new sales
    stats = fresh.json("/api/v2/tunnels/stats")["data"][0]
    assert stats["sales"] > stats0["sales"] and stats["orders"] == stats0["orders"] + 6
    assert not emu.simulate(payments=3)["payments"]  # nothing open is left


def test_status_changes_are_recorded_and_deleted_orders_leave_the_history(fresh: Client):
    emu = fresh.emu
    t0 = emu.truth()
    before = paths(t0)
    changes = emu.simulate(status_changes=5)["status_changes"]
    again = emu.simulate(status_changes=40)["status_changes"]
    hist = paths(emu.truth())
    for ch in changes:
        h = hist[ch["id"]]
        assert h[: len(before[ch["id"]])] == before[ch["id"]]
        assert (ch["status"], parse_iso(ch["updatedAt"])) in h
        assert h[-1][0] == next(o for o in emu.truth()["orders"] if o["id"] == ch["id"])["status"]
    twice = {c["id"] for c in changes} & {c["id"] for c in again}
    assert twice
    for oid in twice:  # two changes: both steps on the path
        assert len(hist[oid]) >= len(before[oid]) + 2
    gone = emu.simulate(delete={"orders": 3})["deleted"]["orders"]
    assert not set(gone) & set(paths(emu.truth()))


def test_bad_payments_argument(fresh: Client):
    for body in ({"payments": -2}, {"payments": "all"}):
        r = requests.post(fresh.base + "/__admin/simulate", json=body, timeout=5)
        assert r.status_code == 400, body
