"""What one client's order read means: order rows, the status changes observed, and the
orders proved gone or back. Plain functions over the read and the memory."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from sources.deletions import LISTING, absent
from sources.kit.batches import TableRows
from sources.kit.kinds import Shapes
from sources.salebot import settings
from sources.salebot.client_read import ClientRead, OrderSeen
from sources.salebot.memory import ClientMemory, Memory, OrderMemory
from sources.salebot.rows import order_row


def status_change_row(order_id: int, client_id: int, old: OrderMemory | None, *, status: int,
                      state_id: int | None, seq: int, now: dt.datetime) -> dict[str, Any]:
    """One observed change of an order's status or CRM state (`old` None: its first sighting).
    The API gives no time of the change: `observed_at` is when this run saw it."""
    return {
        "order_id": order_id,
        "change_seq": seq,
        "client_id": client_id,
        "old_status": None if old is None else old.status,
        "new_status": status,
        "old_status_name": None if old is None or old.status is None else settings.ORDER_STATUSES.get(old.status),
        "new_status_name": settings.ORDER_STATUSES.get(status),
        "old_state_id": None if old is None else old.state_id,
        "new_state_id": state_id,
        "changed_at": None,
        "observed_at": now,
    }


def _take_order(oid: int, seen: OrderSeen, cid: int, created_after: dt.datetime | None, *,
                memory: Memory, rows: TableRows, shapes: Shapes, now: dt.datetime) -> None:
    """An order read with its details: its row, a change record when it moved, its memory."""
    old = memory.orders.get(oid)
    if old is not None and old.deleted:
        rows.gone("orders", oid, None)  # it is back
    state_id = seen.state_id if seen.state_read else (old.state_id if old is not None else None)
    first_seen = old.first_seen_at if old is not None and old.first_seen_at else now
    after = old.created_after if old is not None else created_after
    row = order_row(oid, cid, status=seen.status, state_id=state_id, variables=seen.variables, shapes=shapes)
    row.update(first_seen_at=first_seen, created_after=after)
    rows.add("orders", [row])
    changes = old.changes if old is not None else 0
    if old is None or old.status != seen.status or old.state_id != state_id:
        changes = 0 if old is None else old.changes + 1
        change = status_change_row(oid, cid, old, status=seen.status, state_id=state_id, seq=changes, now=now)
        rows.add("order_status_changes", [change])
    memory.put_order(oid, OrderMemory(cid, seen.status, state_id, changes, first_seen, after))


def absorb_orders(read: ClientRead, client: ClientMemory, *, memory: Memory, rows: TableRows, shapes: Shapes,
                  now: dt.datetime) -> None:
    """Rows, changes and deletions of one client's orders as read."""
    cid = read.client_id
    known = memory.orders_of(cid)
    # an order not there at the client's last full read was created after it
    created_after = client.verified_at if client.verified_run is not None and not client.deleted else None
    for oid, seen in (read.orders or {}).items():
        if seen.unchanged:
            continue
        if seen.gone:
            if oid in known:
                rows.gone("orders", oid, "order_not_found")
                memory.put_order(oid, replace(known[oid], deleted=True))
            continue
        _take_order(oid, seen, cid, created_after, memory=memory, rows=rows, shapes=shapes, now=now)
    for missing in absent(map(str, known), {str(o) for o in read.listed_orders}, read.orders_complete):
        rows.gone("orders", int(missing), LISTING)
        memory.put_order(int(missing), replace(known[int(missing)], deleted=True))
