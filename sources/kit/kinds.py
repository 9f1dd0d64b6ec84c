"""Values put into columns by declared kind (text, bigint, bool, timestamp, json), for a
source that names its columns' kinds in a table (Salebot) rather than calling a
converter per field (Leeloo).

There is no second rule here: :func:`typed` picks :mod:`sources.kit.values`'s converter
for the kind, so a fix to the rule is a fix for both sources, and :class:`Shapes` is that
module's one tally, :class:`~sources.kit.values.Oddities`, under the name the Salebot
modules know it by.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from sources.kit.values import (
    NO_PLACEHOLDERS,
    Oddities,
    boolean,
    integer,
    json_value,
    put,
    text,
    timestamp,
)

Kind = Literal["text", "bigint", "bool", "timestamp", "json"]
Shapes = Oddities

Converter = Callable[..., tuple[Any, "str | None"]]
CONVERTERS: dict[str, Converter] = {"bigint": integer, "bool": boolean, "timestamp": timestamp, "json": json_value}


def typed(row: dict[str, Any], column: str, kind: Kind, value: Any, *, table: str, shapes: Oddities,
          placeholders: frozenset[str] = NO_PLACEHOLDERS) -> None:
    """Put ``value`` into ``row[column]`` as ``kind``; a value that does not fit goes to
    ``<column>__v_text`` as text and the column gets NULL. An API without placeholders for
    "unknown" (the default here) has every text it sends kept."""
    where = f"{table}.{column}"
    if kind == "text":
        row[column] = text(value, where, shapes)
        return
    put(row, column, CONVERTERS[kind](value, where, shapes, placeholders=placeholders))
