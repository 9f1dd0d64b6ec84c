"""What a run decides per client: which of them the list proves gone or back, the task a
planned client gets, and what one client's read means for its rows and memory. Plain
functions over the listing, the read and the memory (no dlt)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sources.deletions import LISTING, absent, returned
from sources.http import BudgetExhausted, UnexpectedAnswer
from sources.kit.batches import TableRows
from sources.kit.kinds import Shapes
from sources.salebot import settings
from sources.salebot.api import ActionDenied, SalebotApi
from sources.salebot.client_read import ClientRead, ClientTask
from sources.salebot.memory import ClientMemory, Memory
from sources.salebot.orders import absorb_orders
from sources.salebot.plan import Task, history_days
from sources.salebot.rows import message_row, variable_rows


def client_exists(api: SalebotApi, cid: int) -> bool:
    """Whether a client the list left out still answers (its history of today reads): what
    cannot be asked (budget, an answer of unexpected shape) counts as still there."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        return api.history(cid, today, today) is not None
    except (BudgetExhausted, UnexpectedAnswer, ActionDenied):
        return True


def reconcile_listing(
    listed: Mapping[int, Any], complete: bool, memory: Memory, rows: TableRows, exists: Callable[[int], bool]
) -> list[int]:
    """Clients a complete listing no longer has are gone once ``exists`` denies them too (the
    list has no count, so one cut short looks whole); tombstoned ones it has again are back.
    Returns the clients the list left out that still exist."""
    known = [str(c) for c, m in memory.clients.items() if not m.deleted]
    kept = []
    for cid in absent(known, {str(c) for c in listed}, complete):
        if exists(int(cid)):
            kept.append(int(cid))
        else:
            client_gone(int(cid), LISTING, memory, rows)
    marked = {str(c) for c, m in memory.clients.items() if m.deleted}
    for cid in returned((str(c) for c in listed), marked):
        rows.gone("clients", int(cid), None)
        memory.put_client(int(cid), ClientMemory(), verified=False)
    return kept


def client_gone(cid: int, proof: str, memory: Memory, rows: TableRows) -> None:
    """A client proved gone: marked deleted, with every order memory holds of it."""
    rows.gone("clients", cid, proof)
    known = memory.client(cid) or ClientMemory()
    memory.put_client(cid, replace(known, deleted=True, flagged=False), verified=False)
    for oid, order in memory.orders_of(cid).items():
        memory.put_order(oid, replace(order, deleted=True))


def client_task(task: Task, memory: Memory, listed: Mapping[int, Mapping[str, Any]], today: dt.date, *,
                since: dt.datetime | None, until: dt.datetime | None) -> ClientTask:
    """What a worker reads for a planned client: its history days, its known orders."""
    cid = task.client_id
    known = memory.client(cid)
    start, stop = history_days(
        known.through if known is not None else None, listed[cid].get("created_at"), today, since=since, until=until
    )
    orders = memory.orders_of(cid)
    return ClientTask(
        cid,
        task.scope,
        start,
        stop,
        open_orders=frozenset(o for o, m in orders.items() if m.status == settings.OPEN_STATUS),
        known={o: (m.status, m.state_id) for o, m in orders.items()},
    )


def history_messages(read: ClientRead, shapes: Shapes) -> list[dict[str, Any]]:
    """The message rows of a client's history as read."""
    return [row for m in read.messages or () if (row := message_row(m, read.client_id, shapes)) is not None]


def _variables(read: ClientRead, shapes: Shapes) -> list[dict[str, Any]]:
    """A client's variable rows; none left is one row that makes dlt delete the client's rows."""
    cid = read.client_id
    return variable_rows(cid, read.variables, shapes) or [
        {"id": f"{cid}:", "client_id": cid, "name": "", "no_variables": True}
    ]


def absorb(
    task: ClientTask,
    read: ClientRead,
    *,
    listed: Mapping[int, Mapping[str, Any]],
    memory: Memory,
    rows: TableRows,
    shapes: Shapes,
    now: dt.datetime,
) -> None:
    """Turn one client's read into rows, change records, deletions and memory."""
    cid = read.client_id
    if read.gone:
        client_gone(cid, settings.CLIENT_NOT_FOUND, memory, rows)
        return
    known = memory.client(cid) or ClientMemory()
    if read.messages is not None:
        rows.add("messages", history_messages(read, shapes))
    if read.orders is not None:
        absorb_orders(read, known, memory=memory, rows=rows, shapes=shapes, now=now)
    if read.variables_read:
        rows.add("client_variables", _variables(read, shapes))
    if read.problems:  # a part came back in an unexpected shape: read the client again next run
        memory.put_client(cid, replace(known, flagged=True), verified=False)
    elif task.scope == "orders":
        memory.put_client(cid, replace(known, orders_run=memory.run), verified=False)
    else:
        memory.put_client(cid, verified_memory(known, read, listed[cid].get("updated_at"), now.date(), memory.run),
                          verified=True)


def verified_memory(known: ClientMemory, read: ClientRead, updated: Any, today: dt.date, run: int) -> ClientMemory:
    """A client's memory after a full read: what the list showed, how far its history is read."""
    return replace(
        known,
        seen=int(updated.timestamp()) if isinstance(updated, dt.datetime) else None,
        through=today if read.messages is not None else known.through,
        orders_run=run if read.orders is not None else known.orders_run,
        flagged=False,
        deleted=False,
    )
