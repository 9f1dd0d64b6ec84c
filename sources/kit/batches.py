"""Rows to dlt in batches, each batch followed by the ledger rows of the work it holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dlt

from sources.bookkeeping import Ledger
from sources.http import BudgetExhausted


class Batches:
    """A table's rows in batches with their hints (the variant pattern: a resource that
    writes several tables gives each batch its table's hints), then the ledger's pending
    rows, so the bookkeeping of a batch always lands in the same load as the batch."""

    def __init__(self, hints: Any, ledger: Ledger, size: int = 200,
                 companions: Callable[[], Iterator[Any]] | None = None) -> None:
        self.hints = hints
        self.ledger = ledger
        self.size = size
        self.companions = companions  # other tables' rows made with the batch

    def batch(self, rows: list[dict[str, Any]]) -> Iterator[Any]:
        if rows:
            yield dlt.mark.with_hints(rows, self.hints, create_table_variant=True)
        yield from self.flush()

    def rows(self, rows: Iterator[dict[str, Any]]) -> Iterator[Any]:
        batch: list[dict[str, Any]] = []
        try:
            for row in rows:
                batch.append(row)
                if len(batch) >= self.size:
                    yield from self.batch(batch)
                    batch = []
        except BudgetExhausted:
            yield from self.batch(batch)  # work already noted in the ledger must reach the table
            raise
        yield from self.batch(batch)

    def flush(self, *more: Any) -> Iterator[Any]:
        """The ledger's pending rows and any other bookkeeping items (None is skipped)."""
        if self.companions is not None:
            yield from self.companions()
        pending = self.ledger.rows()
        if pending is not None:
            yield pending
        for item in more:
            if item is not None:
                yield item
