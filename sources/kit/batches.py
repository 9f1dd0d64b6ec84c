"""Rows to dlt in batches: one table's rows each followed by the ledger rows of the work
they hold (`Batches`), or several tables' rows gathered together with the deletions they
prove (`TableRows`). Either way each batch carries its table's hints (dlt's variant
pattern: a resource that writes several tables gives each batch its table's hints, with the
first batch of each table only: `sources.marks`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sources.bookkeeping import Ledger, deletion_rows
from sources.http import BudgetExhausted
from sources.marks import Mark, TableMarks


class Batches:
    """A table's rows in batches with their hints (the variant pattern: a resource that
    writes several tables gives each batch its table's hints), then the ledger's pending
    rows, so the bookkeeping of a batch always lands in the same load as the batch."""

    def __init__(self, hints: Any, ledger: Ledger, size: int = 200,
                 companions: Callable[[Mark], Iterator[Any]] | None = None) -> None:
        self.hints = hints
        self.ledger = ledger
        self.size = size
        self.companions = companions  # other tables' rows made with the batch
        self.mark = TableMarks()  # one resource run's: make a Batches inside the generator

    def batch(self, rows: list[dict[str, Any]]) -> Iterator[Any]:
        if rows:
            yield self.mark(rows, self.hints)
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
            yield from self.companions(self.mark)
        pending = self.ledger.rows(self.mark)
        if pending is not None:
            yield pending
        for item in more:
            if item is not None:
                yield item


class TableRows:
    """Rows of several tables made by one resource, and the entities each run proved gone
    (or back), gathered until one table holds a batch; `flush` yields each table's rows
    with its hints (`hints(table)`), then the deletion rows."""

    def __init__(self, hints: Callable[[str], Any], size: int = 2000) -> None:
        self.hints = hints
        self.size = size
        self.mark = TableMarks()  # one resource run's: make a TableRows inside the generator
        self.tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.deleted: dict[tuple[str, str | None], list[int | str]] = defaultdict(list)

    def add(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        self.tables[table].extend(rows)

    def gone(self, table: str, entity_id: int | str, proof: str | None) -> None:
        """`entity_id` of `table` is gone (`proof` says how it was proved) or, with None, back."""
        self.deleted[(table, proof)].append(entity_id)

    def full(self) -> bool:
        return any(len(rows) >= self.size for rows in self.tables.values())

    def flush(self) -> Iterator[Any]:
        for table, rows in self.tables.items():
            if rows:
                yield self.mark(rows, self.hints(table))
        self.tables = defaultdict(list)
        for (table, proof), ids in self.deleted.items():
            marked = deletion_rows(table, [str(i) for i in ids], proof, self.mark)
            if marked is not None:
                yield marked
        self.deleted = defaultdict(list)
