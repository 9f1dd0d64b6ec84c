"""A list read once per run, shared by every resource that needs it, with its verdict.

Several resources of a run plan from the same list (the rows of the list itself, the
details to re-read, the deletions to prove). Reading it once keeps them consistent and
pays for it once. `complete` is the verdict everything downstream leans on: an entity is
marked deleted only when a complete listing lacks it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from sources.http import BudgetExhausted, UnexpectedAnswer
from sources.report import SourceReport

logger = logging.getLogger("chatfunnel.sources")

K = TypeVar("K", bound=Hashable)


class SharedListing(Generic[K]):
    """Rows of one list, keyed by `key(row)`, read at the first `get` and kept for the run.

    A page of unexpected shape leaves the listing incomplete (and says so in the report);
    a spent budget leaves it incomplete and marks the resource `name` as cut short."""

    def __init__(self, name: str, noun: str, *, pages: Callable[[], Iterable[Iterable[Any]]],
                 row: Callable[[Any], dict[str, Any] | None], key: Callable[[dict[str, Any]], K],
                 report: SourceReport) -> None:
        self.name = name
        self.noun = noun
        self._pages = pages
        self._row = row
        self._key = key
        self._report = report
        self._rows: dict[K, dict[str, Any]] | None = None
        self.complete = False

    def get(self) -> Mapping[K, dict[str, Any]]:
        if self._rows is None:
            self._rows = {}
            self._read(self._rows)
        return self._rows

    def _read(self, rows: dict[K, dict[str, Any]]) -> None:
        try:
            for page in self._pages():
                for item in page:
                    row = self._row(item)
                    if row is not None:
                        rows[self._key(row)] = row  # seen twice (the list moved): once
            self.complete = True
        except UnexpectedAnswer as exc:
            self._report.incomplete.add(self.name)
            self._report.warn(f"{self.name}: the {self.noun} list could not be read whole, no {self.noun} was "
                              f"marked deleted and the next run reads it again: {exc}")
        except BudgetExhausted:
            self._report.spent(self.name)
            logger.warning("request budget spent while listing %s: %d listed so far", self.name, len(rows))
