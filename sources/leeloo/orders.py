"""`orders` and `order_status_changes`: the whole list every run, detail for what changed.

Orders have no date filter. The cheapest strategy that still catches a status change on
a three-year-old order is to re-read the order list every run (one request per 100
orders) and fetch the detail of, and load, only orders whose list entry changed. Each
run that sees an order in a status other than the one it saw last records the change.

A first load read newest first fetches the detail only of the orders of its window, and
each history step those of its own (`deferred`); the orders keep their frontier in their
dlt resource state, as the windowed resources do (`history`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Entry, Ledger, proof_rows, table_hints
from sources.deletions import NOT_FOUND, Proof
from sources.kit.batches import Batches
from sources.kit.paging import Listing, envelope_items
from sources.marks import Mark

from . import deferred, history, settings
from .rows import ORDER_COLUMNS, STATUS_CHANGE_COLUMNS, order_row, status_change_row
from .run import LeelooRun, Listed, fingerprint, listed_changed
from .times import utc_now
from .windowed import coverage, nothing_older, open_ledger

NAME = "orders"
CHANGES = "order_status_changes"
TABLES = (NAME, CHANGES)
HINTS = table_hints(NAME, ORDER_COLUMNS)
CHANGE_HINTS = table_hints(CHANGES, STATUS_CHANGE_COLUMNS, "change_id")


@dataclass
class OrdersRead:
    """One run of the orders: the ledger, the whole list, the proof and the changes seen;
    newest first, the cutoff before which orders never read wait, and what this run read."""

    ledger: Ledger
    listing: Listing
    proof: Proof
    changes: list[dict[str, Any]] = field(default_factory=list)
    cutoff: datetime | None = None
    first: bool = False  # newest first: the first load's window, the last day
    listed: int = 0
    details: int = 0
    waiting: list[datetime] = field(default_factory=list)  # dates of the orders left to a later window

    @property
    def requests(self) -> int:
        """What this run of the orders cost: the list's pages and the details."""
        return self.listed // max(1, self.listing.page_size) + 1 + self.details


def last_status(entry: Entry | None) -> str | None:
    """The status the ledger saw last (kept as its mark; "" for none)."""
    return (entry.mark or None) if entry is not None else None


def records_change(entry: Entry | None, status: str | None) -> bool:
    """A status change is recorded for an order seen for the first time, or in a status
    other than the one seen last."""
    return entry is None or last_status(entry) != status


def pending_changes(changes: list[dict[str, Any]], mark: Mark) -> Iterator[Any]:
    if changes:
        yield mark(changes[:], CHANGE_HINTS)
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
    """The listed orders whose list entry calls for their detail now (an order never read,
    dated before the cutoff, waits for its window)."""
    for order, order_id in read.listing.identified():
        read.proof.see([order_id])
        read.listed += 1
        listed_print = fingerprint(order)
        entry = read.ledger.get(order_id)
        if not listed_changed(entry, listed_print, marked_deleted=order_id in run.deleted(NAME)):
            continue
        date = deferred.order_date(order)
        if deferred.waits(entry, date, read.cutoff) and date is not None:
            read.waiting.append(date)
        else:
            yield order, order_id, listed_print


def news(run: LeelooRun, read: OrdersRead) -> Iterator[dict[str, Any]]:
    concurrency = run.concurrency if run.order_details else 1
    for listed, found in run.fan_out(changed(run, read), partial(listed_detail, run), concurrency):
        read.details += int(run.order_details)
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


def first_window_start(run: LeelooRun, state: dict[str, Any], ledger: Ledger) -> datetime | None:
    """A first load read newest first (nothing known of the orders yet: no order in the
    ledger, no frontier; an account whose history does not fit one window) reads the details
    of the last day's orders only: the start of that day; None otherwise."""
    first = run.order_details and run.first_window(state, False) and history.KEY not in state and not len(ledger)
    if not first or run.history_fits_one_window():
        return None
    return deferred.cutoff({}, run.start_of_history, run.first_window_start)


def open_orders(run: LeelooRun, state: dict[str, Any]) -> OrdersRead:
    """The ledger, the whole list, the proof of deletions and the cutoff of one run."""
    ledger = open_ledger(run, state, NAME)
    first = first_window_start(run, state, ledger)
    window_start = deferred.step_start(state, run.start_of_history) if run.history_step else first
    cut = deferred.cutoff(state, run.start_of_history, window_start) if run.order_details and not run.backfill \
        else None
    return OrdersRead(ledger, Listing(run.client, settings.ORDERS, {}, run.page_size, whole_list=True),
                      Proof(NAME, known=list(ledger.entries), marked=run.deleted(NAME)), cutoff=cut,
                      first=first is not None)


def advance(run: LeelooRun, state: dict[str, Any], read: OrdersRead) -> Iterator[Any]:
    """The frontier moves to the window's start (the first window, a history step done) and
    the next window is planned, or history is complete once no order waits; the coverage,
    however the run ended (its spans move only with what completed; the orders loaded count
    those of a window cut short too), as people's and channels' do."""
    done = read.listing.complete and not run.stopped(NAME)
    if read.first and read.cutoff is not None:  # an order this run did not reach is after it: read next run
        history.first_done(state, read.cutoff, entities=run.history_size(settings.ORDERS, windowed=False))
    elif run.history_step and done and read.cutoff is not None:
        history.step_done(state, read.cutoff, read.requests, read=read.details)
    history.note_loaded(state, len(read.ledger))
    if read.cutoff is not None:
        deferred.plan(state, read.waiting, run.window_requests, run.start_of_history)
    if done and not read.waiting and not run.backfill:
        history.complete(state, run.start_of_history)
    if done and not (run.history_step or run.backfill):
        state["complete_until"] = run.now.isoformat()
    if history.pending(state, run.start_of_history) and not run.backfill:
        run.report.history_pending.add(NAME)
    else:
        run.report.history_pending.discard(NAME)
    yield coverage(run, state, TABLES)


def orders(run: LeelooRun) -> Iterator[Any]:
    state = dlt.current.resource_state()
    if nothing_older(run, state, NAME):
        yield coverage(run, state, TABLES)
        return
    read = open_orders(run, state)
    out = Batches(HINTS, read.ledger, companions=partial(pending_changes, read.changes))
    try:
        yield from run.guarded(NAME, lambda: out.rows(news(run, read)))
        if not run.stopped(NAME):
            yield from run.guarded(NAME, lambda: missing(run, read))
        yield from out.flush(*proof_rows(read.proof, out.mark))
    finally:
        run.gate.finished(NAME)
    if not read.listing.complete:
        run.report.incomplete.add(NAME)
    yield from advance(run, state, read)
    run.skipped(NAME, read.listing)
    run.warn_oddities([NAME])


def orders_resource(run: LeelooRun) -> DltResource:
    return dlt.resource(orders, name=NAME, write_disposition="merge")(run)
