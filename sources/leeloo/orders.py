"""`orders` and `order_status_changes`: the whole list every run, detail for what changed.

Orders have no date filter. The cheapest strategy that still catches a status change on
a three-year-old order is to re-read the order list every run (one request per 100
orders) and fetch the detail of, and load, only orders whose list entry changed. Each
run that sees an order in a status other than the one it saw last records the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Entry, Ledger, proof_rows, table_hints
from sources.deletions import NOT_FOUND, Proof
from sources.kit.batches import Batches
from sources.kit.paging import Listing, envelope_items

from . import settings
from .rows import ORDER_COLUMNS, STATUS_CHANGE_COLUMNS, order_row, status_change_row
from .run import LeelooRun, Listed, fingerprint, hinted, listed_changed
from .times import utc_now

NAME = "orders"
CHANGES = "order_status_changes"
HINTS = table_hints(NAME, ORDER_COLUMNS)
CHANGE_HINTS = table_hints(CHANGES, STATUS_CHANGE_COLUMNS, "change_id")


@dataclass
class OrdersRead:
    """One run of the orders: the ledger, the whole list, the proof and the changes seen."""

    ledger: Ledger
    listing: Listing
    proof: Proof
    changes: list[dict[str, Any]] = field(default_factory=list)


def last_status(entry: Entry | None) -> str | None:
    """The status the ledger saw last (kept as its mark; "" for none)."""
    return (entry.mark or None) if entry is not None else None


def records_change(entry: Entry | None, status: str | None) -> bool:
    """A status change is recorded for an order seen for the first time, or in a status
    other than the one seen last."""
    return entry is None or last_status(entry) != status


def pending_changes(changes: list[dict[str, Any]]) -> Iterator[Any]:
    if changes:
        yield hinted(changes[:], CHANGE_HINTS)
        changes.clear()


def order_detail(run: LeelooRun, order_id: str, needed: bool = True) -> dict[str, Any] | None:
    """The order's detail ({} when not wanted); None when a 404 says the order is gone."""
    if not needed:
        return {}
    body = run.get_or_none(settings.ORDER.format(id=order_id))
    if body is None:
        return None
    found = envelope_items(body)
    return found[0] if found else {}


def listed_detail(run: LeelooRun, listed: Listed) -> dict[str, Any] | None:
    return order_detail(run, listed[1], run.order_details)


def observe(run: LeelooRun, read: OrdersRead, listed: Listed, found: dict[str, Any] | None) -> dict[str, Any] | None:
    """The order's row, its status change noted; a 404 proves the order gone."""
    order, order_id, listed_print = listed
    if found is None:
        read.proof.prove([order_id], NOT_FOUND)
        read.ledger.forget(order_id)
        return None
    row = order_row(order, found, run.odd)
    if row is None:
        return None
    entry = read.ledger.get(order_id)
    if records_change(entry, row["status"]):
        read.changes.append(status_change_row(row, last_status(entry), utc_now()))
    read.ledger.put(order_id, fingerprint=listed_print, mark=row["status"] or "")
    return row


def changed(run: LeelooRun, read: OrdersRead) -> Iterator[Listed]:
    """The listed orders whose list entry calls for their detail."""
    for order, order_id in read.listing.identified():
        read.proof.see([order_id])
        listed_print = fingerprint(order)
        if listed_changed(read.ledger.get(order_id), listed_print, marked_deleted=order_id in run.deleted(NAME)):
            yield order, order_id, listed_print


def news(run: LeelooRun, read: OrdersRead) -> Iterator[dict[str, Any]]:
    concurrency = run.concurrency if run.order_details else 1
    for listed, found in run.fan_out(changed(run, read), partial(listed_detail, run), concurrency):
        if (row := observe(run, read, listed, found)) is not None:
            yield row


def missing(run: LeelooRun, read: OrdersRead) -> Iterator[Any]:
    """Known orders a complete listing lacks: a 404 on their detail proves them gone
    (one that answers was created or moved while we paged; the next run lists it)."""
    read.proof.complete = read.listing.complete
    read.proof.confirm(run.fan_out(read.proof.absent(), partial(order_detail, run)))
    for order_id in read.proof.gone:
        read.ledger.forget(order_id)
    yield from ()


def orders(run: LeelooRun) -> Iterator[Any]:
    ledger = Ledger(NAME, dlt.current.resource_state())
    read = OrdersRead(ledger, Listing(run.client, settings.ORDERS, {}, run.page_size, whole_list=True),
                      Proof(NAME, known=list(ledger.entries), marked=run.deleted(NAME)))
    out = Batches(HINTS, ledger, companions=partial(pending_changes, read.changes))
    try:
        yield from run.guarded(NAME, lambda: out.rows(news(run, read)))
        if not run.stopped(NAME):
            yield from run.guarded(NAME, lambda: missing(run, read))
        yield from out.flush(*proof_rows(read.proof))
    finally:
        run.gate.finished(NAME)
    if not read.listing.complete:
        run.report.incomplete.add(NAME)
    yield from run.read_whole([NAME, "order_status_changes"], read.listing.complete)
    run.skipped(NAME, read.listing)
    run.warn_oddities([NAME])


def orders_resource(run: LeelooRun) -> DltResource:
    return dlt.resource(orders, name=NAME, write_disposition="merge")(run)
