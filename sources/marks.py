"""Rows marked with the table they go to: dlt's variant pattern, at one schema computation
per table and resource run instead of one per batch.

A resource that writes several tables gives an item the hints of its table
(`dlt.mark.with_hints(..., create_table_variant=True)`). dlt merges those hints into a
variant of the resource and recomputes and re-validates every table's schema on each such
item: ~5 ms a batch, a second of CPU in a 3,400-request run. Once a variant is on the
resource, naming its table (`dlt.mark.with_table_name`) sends rows there with the variant's
hints and no recomputation. `TableMarks` gives the hints with the first rows of each table
and only the name after that. It lives as long as one run of a resource's generator, so the
variant it relies on is always on the resource that is running.
"""

from __future__ import annotations

from typing import Any, Protocol

import dlt
from dlt.extract.hints import HintsMeta
from dlt.extract.items import TableNameMeta


class Mark(Protocol):
    def __call__(self, rows: Any, hints: Any) -> Any: ...


def hinted(rows: Any, hints: Any) -> Any:
    """`rows` with their table's hints (made with `dlt.mark.make_hints(table_name=...)`)."""
    return dlt.mark.with_hints(rows, hints, create_table_variant=True)


class TableMarks:
    """Marks for one run of one resource's generator: a table's hints with its first rows,
    its name alone after that. Never share one between resources or runs."""

    def __init__(self) -> None:
        self._given: set[str] = set()

    def __call__(self, rows: Any, hints: Any) -> Any:
        table = hints["table_name"]
        if table in self._given:
            return dlt.mark.with_table_name(rows, table)
        self._given.add(table)
        return hinted(rows, hints)


def table_of(meta: Any) -> str | None:
    """The table an item was marked for (None: the resource's own), as a transformer sees
    its parent's items."""
    if isinstance(meta, HintsMeta):
        name = meta.hints.get("table_name")
        return name if isinstance(name, str) else None
    if isinstance(meta, TableNameMeta):
        return meta.table_name
    return None
