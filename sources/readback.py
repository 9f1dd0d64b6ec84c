"""Reads of the running pipeline's own dataset during an extract, all through `query`.

A source reads back what the warehouse holds (its ledger, deletion marks, loaded message
ids). Some warehouses admit one process at a time: a DuckDB file that another process is
loading into cannot be opened beside it. The run that drives the extract knows how to take
its turn and installs that turn with `read_guard`; each read then holds it only while it
runs, so accounts extracting side by side take turns at the file for milliseconds, not for
their whole extract. Without a guard (a plain `pipeline.run`), reads are unguarded.

A few reads that belong together (every ledger and the raw rows that complete them, the
deletion marks of every table) run inside `batch`: one turn and one connection for all of
them, as opening a DuckDB file costs more than a small read itself. Under a guard, every
turn of a thread reuses one dlt dataset per pipeline (building one resolves the
destination's configuration again, ~20 ms), opening its connection for the turn and
closing it at the turn's end; `remembered` keeps what a turn read for later reads of the
same extract.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dlt
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.destinations.exceptions import DatabaseUndefinedRelation

Guard = Callable[[], AbstractContextManager[Any]]
T = TypeVar("T")


@dataclass
class _Scope:
    """What one `read_guard` keeps across its turns, per thread and pipeline: the dataset
    its turns query, and what `remembered` read."""

    guard: Guard
    datasets: dict[Hashable, Any] = field(default_factory=dict)
    memo: dict[Hashable, Any] = field(default_factory=dict)


_scopes: list[_Scope] = []  # the innermost installed guard is last


class _Batch(threading.local):
    """The open batch of this thread: its guard turn and dataset, both taken at its first read."""

    depth = 0
    stack: contextlib.ExitStack | None = None
    dataset: Any = None
    columns: dict[str, frozenset[str]] | None = None


_batch = _Batch()


@contextlib.contextmanager
def read_guard(guard: Guard) -> Iterator[None]:
    """Every `query` inside this block runs inside `guard()`."""
    scope = _Scope(guard)
    _scopes.append(scope)
    try:
        yield
    finally:
        _scopes.remove(scope)


def current_pipeline() -> dlt.Pipeline:
    """The pipeline that is extracting. `dlt.current.pipeline()` resolves the pipeline
    configuration again on every call (tens of milliseconds); the active pipeline is in
    dlt's context already."""
    context = Container()[PipelineContext]
    if context.is_active():
        return context.pipeline()  # type: ignore[return-value]
    return dlt.current.pipeline()


def _key(pipeline: dlt.Pipeline) -> tuple[int, str, str]:
    return threading.get_ident(), pipeline.pipeline_name, pipeline.dataset_name


@contextlib.contextmanager
def _turn() -> Iterator[Any]:
    """One turn at the warehouse: the guard held and a connection open for the dataset it
    yields. Unguarded, the dataset is a new one."""
    pipeline = current_pipeline()
    if not _scopes:
        with pipeline.dataset() as dataset:  # a dlt dataset keeps its connection open as a context
            yield dataset
        return
    scope = _scopes[-1]
    with scope.guard():
        key = _key(pipeline)
        if key not in scope.datasets:
            scope.datasets[key] = pipeline.dataset()
        dataset = scope.datasets[key]
        client = dataset.sql_client  # the dataset's shared client: its relations use an open connection
        client.open_connection()
        try:
            yield dataset
        finally:
            client.close_connection()


def guarded() -> bool:
    """A guard is installed: reads take turns, and `remembered` keeps what they read."""
    return bool(_scopes)


def remembered(key: Hashable, read: Callable[[], T]) -> T:
    """`read()`, kept under the innermost guard for this thread and pipeline: later calls
    with `key` return it without reading. Unguarded, every call reads."""
    if not _scopes:
        return read()
    memo, full = _scopes[-1].memo, (*_key(current_pipeline()), key)
    if full not in memo:
        memo[full] = read()
    return memo[full]


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Every `query` inside this block (of this thread) shares one guard turn and one open
    connection, both taken at the first read and given back when the block ends; a block
    that reads nothing opens nothing. Keep it to reads that follow each other: the turn is
    held for the whole block."""
    _batch.depth += 1
    try:
        if _batch.depth > 1:
            yield
            return
        with contextlib.ExitStack() as stack:
            _batch.stack = stack
            yield
    finally:
        _batch.depth -= 1
        if _batch.depth == 0:
            _batch.stack = _batch.dataset = _batch.columns = None


def _batch_dataset(stack: contextlib.ExitStack) -> Any:
    if _batch.dataset is None:
        _batch.dataset = stack.enter_context(_turn())
    return _batch.dataset


def _schema_columns() -> dict[str, frozenset[str]]:
    pipeline = current_pipeline()
    if not pipeline.default_schema_name:
        return {}
    return {name: frozenset(table.get("columns", {})) for name, table in pipeline.default_schema.tables.items()}


def stored_columns(table: str) -> frozenset[str] | None:
    """The columns the running pipeline's schema knows for `table`; None when it knows no
    such table. dlt reads the schema file again on each access to a committed schema (ten
    milliseconds), so a `batch` reads it once for all its reads."""
    if _batch.stack is None:
        return _schema_columns().get(table)
    if _batch.columns is None:
        _batch.columns = _schema_columns()
    return _batch.columns.get(table)


def _rows(dataset: Any, sql: str) -> list[tuple[Any, ...]]:
    """Runs `sql` as written: its tables are the dataset's own, by the names the warehouse
    gives them, so dlt need not resolve it against the schema first (most of a small read)."""
    try:
        return [tuple(row) for row in dataset.query(sql, _execute_raw_query=True).fetchall()]
    except DatabaseUndefinedRelation:
        return []


def query(sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` over the running pipeline's dataset; none while the table is not there."""
    if _batch.stack is not None:
        return _rows(_batch_dataset(_batch.stack), sql)
    with _turn() as dataset:
        return _rows(dataset, sql)
