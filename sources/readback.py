"""Reads of the running pipeline's own dataset during an extract, all through `query`.

A source reads back what the warehouse holds (its ledger, deletion marks, loaded message
ids). Some warehouses admit one process at a time: a DuckDB file that another process is
loading into cannot be opened beside it. The run that drives the extract knows how to take
its turn and installs that turn with `read_guard`; each read then holds it only while it
runs, so accounts extracting side by side take turns at the file for milliseconds, not for
their whole extract. Without a guard (a plain `pipeline.run`), reads are unguarded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

Guard = Callable[[], AbstractContextManager[Any]]
_guards: list[Guard] = []  # the innermost installed guard is last


@contextlib.contextmanager
def read_guard(guard: Guard) -> Iterator[None]:
    """Every `query` inside this block runs inside `guard()`."""
    _guards.append(guard)
    try:
        yield
    finally:
        _guards.remove(guard)


def query(sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` over the running pipeline's dataset; none while the table is not there."""
    pipeline = dlt.current.pipeline()
    with _guards[-1]() if _guards else contextlib.nullcontext():
        try:
            return [tuple(row) for row in pipeline.dataset().query(sql).fetchall()]
        except DatabaseUndefinedRelation:
            return []
