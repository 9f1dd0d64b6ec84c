"""`orders` and `order_status_changes`: the whole list every run, detail for what changed.

Orders have no date filter. The cheapest strategy that still catches a status change on
a three-year-old order is to re-read the order list every run (one request per 100
orders) and fetch the detail of, and load, only orders whose list entry changed. Each
run that sees an order in a status other than the one it saw last records the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Ledger, proof_rows, table_hints
from sources.deletions import NOT_FOUND, Proof
from sources.kit.batches import Batches
from sources.kit.paging import Listing, envelope_items
from sources.kit.values import entity_id

from . import settings
from .rows import ORDER_COLUMNS, STATUS_CHANGE_COLUMNS, order_row, status_change_row
from .run import LeelooRun, fingerprint, hinted
from .times import utc_now

NAME = "orders"
CHANGES = "order_status_changes"
HINTS = table_hints(NAME, ORDER_COLUMNS)
CHANGE_HINTS = table_hints(CHANGES, STATUS_CHANGE_COLUMNS, "change_id")


def orders_resource(run: LeelooRun) -> DltResource:
    @dlt.resource(name=NAME, write_disposition="merge")
    def orders() -> Iterator[Any]:
        state = dlt.current.resource_state()
        ledger = Ledger(NAME, state)
        listing = Listing(run.client, settings.ORDERS, {}, run.page_size, whole_list=True)
        proof = Proof(NAME, known=list(ledger.entries), marked=run.deleted(NAME))
        changes: list[dict[str, Any]] = []

        def pending_changes() -> Iterator[Any]:
            if changes:
                yield hinted(changes[:], CHANGE_HINTS)
                changes.clear()

        out = Batches(HINTS, ledger, companions=pending_changes)

        def detail(order_id: str, needed: bool = run.order_details) -> dict[str, Any] | None:
            if not needed:
                return {}
            body = run.get_or_none(settings.ORDER.format(id=order_id))
            if body is None:
                return None
            found = envelope_items(body)
            return found[0] if found else {}

        def observe(order: dict[str, Any], order_id: str, found: dict[str, Any] | None,
                    listed_print: str | None) -> dict[str, Any] | None:
            if found is None:  # a 404 for this id proves it gone
                proof.prove([order_id], NOT_FOUND)
                ledger.forget(order_id)
                return None
            row = order_row(order, found, run.odd)
            if row is None:
                return None
            entry = ledger.get(order_id)
            if entry is None or (entry.mark or None) != row["status"]:
                old = (entry.mark or None) if entry is not None else None
                changes.append(status_change_row(row, old, utc_now()))
            ledger.put(order_id, fingerprint=listed_print, mark=row["status"] or "")
            return row

        def changed() -> Iterator[tuple[dict[str, Any], str, str]]:
            for page in listing:
                for order in page:
                    order_id = entity_id(order.get("id"))
                    if order_id is None:
                        continue
                    proof.see([order_id])
                    entry = ledger.get(order_id)
                    listed_print = fingerprint(order)
                    if entry is None or entry.fingerprint != listed_print or order_id in run.deleted(NAME):
                        yield order, order_id, listed_print

        def news() -> Iterator[dict[str, Any]]:
            concurrency = run.concurrency if run.order_details else 1
            for (order, order_id, listed_print), found in run.fan_out(changed(), lambda o: detail(o[1]), concurrency):
                if (row := observe(order, order_id, found, listed_print)) is not None:
                    yield row

        def missing() -> Iterator[Any]:
            """Known orders a complete listing lacks: a 404 on their detail proves them gone
            (one that answers was created or moved while we paged; the next run lists it)."""
            proof.complete = listing.complete
            proof.confirm(run.fan_out(proof.absent(), lambda o: detail(o, needed=True)))
            for order_id in proof.gone:
                ledger.forget(order_id)
            yield from ()

        try:
            yield from run.guarded(NAME, lambda: out.rows(news()))
            if not run.stopped(NAME):
                yield from run.guarded(NAME, missing)
            yield from out.flush(*proof_rows(proof))
        finally:
            run.gate.finished(NAME)
        if not listing.complete:
            run.report.incomplete.add(NAME)
        run.skipped(NAME, listing)
        run.warn_oddities([NAME])

    return orders
