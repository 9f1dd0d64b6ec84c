"""What the source remembers of each Salebot client and order between runs.

Salebot has no "changed since", so each run decides from memory whom to re-read, and
compares what it reads with what it saw: a client's ``updated_at`` at its last full read,
how far its history is loaded, the status and CRM state of each order. That memory lives
in the dataset (:class:`sources.bookkeeping.Ledger`, committed with the data it
describes), not in dlt state: dlt rewrites its whole state on every load.

One ledger holds both kinds of entry, ``client:<id>`` and ``order:<id>``; the ledger's
``fingerprint`` is what a change is recognised by (``updated_at``; ``status/state``), its
``mark`` the rest as a small JSON object.

The memory is never smaller than the warehouse: every live client and order of the raw
tables the ledger lacks (loaded by a version that kept its memory elsewhere, restored from
a backup) is added as never read in full (`SEEDS`). Such a client is read first, and one a
complete client list lacks is proved gone with its orders; such an order keeps the status,
CRM state and change count loaded, so reading it again records no change that did not happen.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sources.bookkeeping import TABLE, Entry, Ledger, Row, Seed, register_seeds
from sources.marks import Mark, hinted

CLIENT = "client:"
ORDER = "order:"


@dataclass(frozen=True)
class ClientMemory:
    """``seen``: ``updated_at`` (unix seconds) at the last full read; ``through``: the last UTC
    day the history is loaded through; ``verified_run``: the run of the last full read (None:
    listed, never read in full); ``orders_run``: the run its orders were last checked;
    ``flagged``: a webhook push named it and its history is still to be read; ``deleted``:
    proven gone (a tombstone, so that a reappearance is noticed)."""

    seen: int | None = None
    through: dt.date | None = None
    verified_run: int | None = None
    verified_at: dt.datetime | None = None
    orders_run: int | None = None
    flagged: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class OrderMemory:
    """The order as last observed; ``changes`` is the sequence number of the last row it
    wrote to ``order_status_changes`` (0 = the first observation)."""

    client_id: int
    status: int | None
    state_id: int | None
    changes: int
    first_seen_at: dt.datetime | None
    created_after: dt.datetime | None
    deleted: bool = False


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mark(values: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in values.items() if v is not None and v is not False}, separators=(",", ":"))


def _decode_client(entry: Entry) -> ClientMemory:
    mark = _load(entry.mark)
    seen = None
    if entry.fingerprint not in (None, ""):
        try:
            seen = int(str(entry.fingerprint))
        except ValueError:
            seen = None
    return ClientMemory(
        seen=seen,
        through=_date(mark.get("through")),
        verified_run=entry.verified_run,
        verified_at=entry.verified_at,
        orders_run=_int(mark.get("orders_run")),
        flagged=bool(mark.get("flagged")),
        deleted=bool(mark.get("deleted")),
    )


def _decode_order(entry: Entry) -> OrderMemory | None:
    mark = _load(entry.mark)
    client_id = _int(mark.get("client_id"))
    if client_id is None:
        return None
    status, _, state = (entry.fingerprint or "").partition("/")
    return OrderMemory(
        client_id=client_id,
        status=int(status) if status.lstrip("-").isdigit() else None,
        state_id=int(state) if state.lstrip("-").isdigit() else None,
        changes=_int(mark.get("changes")) or 0,
        first_seen_at=_time(mark.get("first_seen_at")),
        created_after=_time(mark.get("created_after")),
        deleted=bool(mark.get("deleted")),
    )


def _load(mark: str | None) -> dict[str, Any]:
    try:
        value = json.loads(mark) if mark else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def carry_first_sightings(client: Any, orders: Mapping[str, Mapping[str, Any]]) -> None:
    """A full refresh put back the orders' ``first_seen_at`` and ``created_after`` (what
    only an earlier run saw): the memory of each order says the same, so the next row the
    source writes for the order keeps them. ``client``: dlt's SQL client of the dataset."""
    table = client.make_qualified_table_name(TABLE)
    rows = client.execute_sql(f"select resource, entity_id, mark from {table} where entity_id like %s",
                              ORDER + "%") or []
    for resource, entity_id, mark in rows:
        values = orders.get(str(entity_id)[len(ORDER):])
        current = _load(mark)
        if values is None or not current:
            continue
        updated = {**current, **{k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in values.items()}}
        if updated != current:
            client.execute_sql(f"update {table} set mark = %s where resource = %s and entity_id = %s",
                               _mark(updated), resource, entity_id)


def held_client(row: Row) -> tuple[str, Entry] | None:
    """A client the warehouse holds: known, never read in full."""
    return None if row[0] is None else (CLIENT + str(row[0]), Entry())


def held_order(row: Row) -> tuple[str, Entry] | None:
    """An order the warehouse holds, as ``put_order`` would have written it (row: id,
    client_id, status, state_id, first_seen_at, created_after, the last change's number)."""
    order_id, client_id, status, state_id, first_seen, after, changes = row
    if order_id is None or _int(client_id) is None:
        return None
    mark = _mark({"client_id": client_id, "changes": _int(changes) or 0, "first_seen_at": _iso(_moment(first_seen)),
                  "created_after": _iso(_moment(after))})
    return ORDER + str(order_id), Entry(fingerprint=f"{_blank(_int(status))}/{_blank(_int(state_id))}", mark=mark)


def _moment(value: Any) -> dt.datetime | None:
    return value if isinstance(value, dt.datetime) else _time(value)


SEEDS = (
    Seed("clients", build=held_client),
    Seed("orders", ("id", "client_id", "status", "state_id", "first_seen_at", "created_after"), held_order,
         derived=(("(select max(c.change_seq) from order_status_changes c where c.order_id = t.id)",
                   "order_status_changes"),)),
)

register_seeds("salebot", "client_details", *SEEDS)  # the source's name and its resource that keeps the memory


class Memory:
    """Clients and orders as the last runs left them, and the changes this run makes."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.run = ledger.run
        self.clients: dict[int, ClientMemory] = {}
        self.orders: dict[int, OrderMemory] = {}
        self._orders_of: dict[int, set[int]] = defaultdict(set)
        for key, entry in ledger.entries.items():
            kind, _, raw_id = key.partition(":")
            if not raw_id.lstrip("-").isdigit():
                continue
            if kind + ":" == CLIENT:
                self.clients[int(raw_id)] = _decode_client(entry)
            elif kind + ":" == ORDER and (order := _decode_order(entry)) is not None:
                self.orders[int(raw_id)] = order
                self._orders_of[order.client_id].add(int(raw_id))

    def client(self, client_id: int) -> ClientMemory | None:
        return self.clients.get(client_id)

    def orders_of(self, client_id: int) -> dict[int, OrderMemory]:
        """The client's orders not known to be deleted."""
        return {
            oid: self.orders[oid] for oid in sorted(self._orders_of.get(client_id, ())) if not self.orders[oid].deleted
        }

    def open_order_clients(self) -> set[int]:
        return {o.client_id for o in self.orders.values() if o.status == 0 and not o.deleted}

    def put_client(self, client_id: int, memory: ClientMemory, *, verified: bool) -> None:
        self.clients[client_id] = memory
        self.ledger.put(
            CLIENT + str(client_id),
            fingerprint="" if memory.seen is None else str(memory.seen),
            mark=_mark(
                {
                    "through": _iso(memory.through),
                    "orders_run": memory.orders_run,
                    "flagged": memory.flagged,
                    "deleted": memory.deleted,
                }
            ),
            verified=verified,
        )
        if verified:
            entry = self.ledger.entries[CLIENT + str(client_id)]
            self.clients[client_id] = replace(memory, verified_run=entry.verified_run, verified_at=entry.verified_at)

    def put_order(self, order_id: int, memory: OrderMemory) -> None:
        self.orders[order_id] = memory
        self._orders_of[memory.client_id].add(order_id)
        self.ledger.put(
            ORDER + str(order_id),
            fingerprint=f"{_blank(memory.status)}/{_blank(memory.state_id)}",
            mark=_mark(
                {
                    "client_id": memory.client_id,
                    "changes": memory.changes,
                    "first_seen_at": _iso(memory.first_seen_at),
                    "created_after": _iso(memory.created_after),
                    "deleted": memory.deleted,
                }
            ),
        )

    def flag(self, client_id: int) -> None:
        """A webhook push named the client: read its history before anything else."""
        known = self.clients.get(client_id) or ClientMemory()
        if not known.flagged:
            self.put_client(client_id, replace(known, flagged=True), verified=False)

    def flagged(self) -> Iterator[int]:
        return (cid for cid, c in self.clients.items() if c.flagged and not c.deleted)

    def rows(self, mark: Mark = hinted) -> Any:
        return self.ledger.rows(mark)
