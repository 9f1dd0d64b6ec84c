"""Making a Leeloo account live: people write, arrive and buy, managers reply, broadcasts
go out, the CRM is edited and entities are deleted (``LeelooEmulator.simulate`` and
``POST /__admin/simulate``; the emulators' README lists what each count does).

Every step draws from the account's own simulation stream, in a fixed order, so the same
calls on the same account touch the same entities. Deletions come first, so nothing else
in the same call lands on a deleted entity. The caller holds the data lock."""
from __future__ import annotations

import random
from typing import Any

from emulators.base import iso_ms
from emulators.leeloo.data import LeelooData
from emulators.leeloo.vocab import DAY, DELETABLE, OPEN_STATUSES

# the counts of simulate, in the order they are checked
COUNTS = ("new_people", "new_orders", "status_changes", "replies", "broadcasts", "crm_edits", "payments")
RECENT_ORDER_MS = 30 * DAY  # an order's status moves only once it is this old


def nonneg(name: str, value: Any) -> int:
    """``value`` when it is an integer >= 0 (not a bool), else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, not {value!r}")
    return value


def delete_counts(delete: dict | None) -> dict[str, int]:
    """``{table: count}`` checked against the deletable tables."""
    if delete is None:
        return {}
    if not isinstance(delete, dict):
        raise ValueError("delete must be an object {table: count}")
    unknown = sorted(set(delete) - set(DELETABLE))
    if unknown:
        raise ValueError(f"delete: unknown table(s) {', '.join(unknown)}; known: {', '.join(DELETABLE)}")
    return {t: nonneg(f"delete[{t}]", n) for t, n in delete.items()}


def _is_fraction(active_people: float | int) -> bool:
    return isinstance(active_people, float) and not active_people.is_integer()


def simulate(d: LeelooData, *, active_people: float | int, counts: dict[str, Any], delete: dict | None) -> dict:
    """Apply one simulate call to ``d``; returns the ids touched (and when)."""
    r = d.sim_rng
    out: dict[str, Any] = {"active_people": [], "new_messages": [], "touched_channels": [],
                           "new_subscriptions": [], "new_people": [], "new_channels": [],
                           "new_orders": [], "status_changes": [], "replied_channels": [],
                           "reply_messages": [], "broadcast_channels": [], "broadcast_messages": [],
                           "crm_edits": [], "payments": [], "deleted": {}, "untagged_people": []}
    if isinstance(active_people, bool) or not isinstance(active_people, (int, float)):
        raise ValueError("active_people must be a number")
    n = {name: nonneg(name, counts.get(name, 0)) for name in COUNTS}
    to_delete = delete_counts(delete)
    if _is_fraction(active_people):
        if not 0 < active_people < 1:
            raise ValueError("active_people: a fraction must be in (0, 1)")
    elif active_people < 0:
        raise ValueError("counts must be >= 0")
    if to_delete:
        out["deleted"], out["untagged_people"] = d.delete(r, to_delete)
    _people_write(d, r, active_people, out)
    _people_arrive(d, r, n["new_people"], out)
    _orders_open(d, r, n["new_orders"], out)
    _statuses_move(d, r, n["status_changes"], out)
    _managers_reply(d, r, n["replies"], out)
    _broadcasts_go_out(d, r, n["broadcasts"], out)
    _crm_edits(d, r, n["crm_edits"], out)
    _payments(d, r, n["payments"], out)
    out["at"] = iso_ms(d.clock())
    return out


def _people_write(d: LeelooData, r: random.Random, active_people: float | int, out: dict) -> None:
    """Existing people (a count, or a fraction of the live ones) write 1-3 messages;
    one in five also subscribes to a tunnel again."""
    live = d.live_people()
    n_existing = len(live)
    n_active = max(1, round(active_people * n_existing)) if _is_fraction(active_people) else int(active_people)
    for p in r.sample(live, min(n_active, n_existing)):
        w = d.person_writes(p, r, n_msgs=r.randint(1, 3))
        out["active_people"].append(p.id)
        out["new_messages"].extend(w["message_ids"])
        out["touched_channels"].append(w["account_id"])
        if r.random() < 0.2:
            s = d.add_subscription(r, p)
            out["new_subscriptions"].append({"person_id": p.id, **s})


def _people_arrive(d: LeelooData, r: random.Random, n: int, out: dict) -> None:
    for _ in range(n):
        p = d.add_person_now(r)
        out["new_people"].append(p.id)
        out["new_channels"].extend(c.id for c in p.channels)
        out["new_messages"].extend(m["id"] for c in p.channels for m in (c.extra or []))


def _orders_open(d: LeelooData, r: random.Random, n: int, out: dict) -> None:
    for _ in range(n):
        o = d.add_order_now(r, r.choice(d.live_people()))
        out["new_orders"].append(o.id)


def _statuses_move(d: LeelooData, r: random.Random, n: int, out: dict) -> None:
    """Orders older than RECENT_ORDER_MS move to another status."""
    cutoff = d.clock() - RECENT_ORDER_MS
    old = [o for o in d.orders if o.created_ms < cutoff]
    for o in r.sample(old, min(n, len(old))):
        st = d.change_order_status(r, o)
        out["status_changes"].append({"id": o.id, "status": st, "updatedAt": iso_ms(o.updated_ms)})


def _managers_reply(d: LeelooData, r: random.Random, n: int, out: dict) -> None:
    if not n:
        return
    for ch in d.reply_targets(r, n):
        ids = [m["id"] for m in d.send_outbound(ch, r, broadcast=False)]
        out["replied_channels"].append(ch.id)
        out["reply_messages"].extend(ids)
        out["new_messages"].extend(ids)


def _broadcasts_go_out(d: LeelooData, r: random.Random, n: int, out: dict) -> None:
    if not n:
        return
    for ch in d.silent_channels(r, n):
        ids = [m["id"] for m in d.send_outbound(ch, r, broadcast=True)]
        out["broadcast_channels"].append(ch.id)
        out["broadcast_messages"].extend(ids)
        out["new_messages"].extend(ids)


def _crm_edits(d: LeelooData, r: random.Random, n: int, out: dict) -> None:
    if not n:
        return
    live = d.live_people()
    for p in r.sample(live, min(n, len(live))):
        d.crm_edit(p, r)
        out["crm_edits"].append(p.id)


def _payments(d: LeelooData, r: random.Random, n: int, out: dict) -> None:
    """Open orders are paid (SUCCESS or RESOLVED)."""
    if not n:
        return
    open_orders = [o for o in d.orders if o.status in OPEN_STATUSES]
    for o in r.sample(open_orders, min(n, len(open_orders))):
        st = d.pay_order(r, o)
        out["payments"].append({"id": o.id, "status": st, "updatedAt": iso_ms(o.updated_ms)})
