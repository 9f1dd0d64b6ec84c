"""Values put into columns by declared kind (text, bigint, bool, timestamp, json), for
APIs that write times as unix seconds and ids as digits (Salebot).

The rule is :mod:`sources.kit.values`'s: nothing raises; a value that does not fit its
column is kept losslessly, as JSON text in a text column or in the side column
``<column>__v_text`` beside a NULL; a NUL becomes U+FFFD, nested values and keys
included; an empty text stays an empty text. :class:`Shapes` counts each repair so a
run reports one warning per kind, naming where it happened.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from sources.kit.values import INT64 as BIGINT
from sources.kit.values import NUL, REPLACEMENT, SIDE

UTC = dt.UTC

Kind = Literal["text", "bigint", "bool", "timestamp", "json"]


class Shapes:
    """What the row builders repaired this run, per ``table.column`` (thread-safe)."""

    def __init__(self, sender: str = "The API") -> None:
        self.sender = sender
        self._lock = threading.Lock()
        self.odd: Counter[str] = Counter()
        self.nul: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.new_fields: dict[str, set[str]] = {}

    def count_odd(self, where: str) -> None:
        with self._lock:
            self.odd[where] += 1

    def count_nul(self, where: str) -> None:
        with self._lock:
            self.nul[where] += 1

    def count_skipped(self, table: str) -> None:
        with self._lock:
            self.skipped[table] += 1

    def note_field(self, table: str, name: str) -> None:
        with self._lock:
            self.new_fields.setdefault(table, set()).add(name)

    def warnings(self) -> list[str]:
        """One sentence per kind of repair, naming where it happened."""
        out = []
        if self.odd:
            out.append(
                f"{self.sender} sent values of an unexpected shape, kept as JSON text (a text column, or "
                "<column>__v_text beside a NULL): " + _listing(self.odd)
            )
        if self.nul:
            out.append(f"{self.sender} sent text with NUL bytes, stored with U+FFFD instead: " + _listing(self.nul))
        if self.skipped:
            out.append(f"{self.sender} sent records without a usable id, skipped: " + _listing(self.skipped))
        if self.new_fields:
            names = ", ".join(f"{t}.{n}" for t in sorted(self.new_fields) for n in sorted(self.new_fields[t]))
            out.append(f"{self.sender} sent fields its document does not list, loaded as new columns: {names}")
        return out


def _listing(counts: Counter[str]) -> str:
    return ", ".join(f"{where} ({n})" for where, n in sorted(counts.items()))


def clean(value: Any, where: str, shapes: Shapes) -> Any:
    """A JSON value safe for every destination: NUL replaced in strings and keys, non-finite
    numbers and integers beyond bigint as text (Postgres jsonb refuses them)."""
    if isinstance(value, str):
        if NUL in value:
            shapes.count_nul(where)
            return value.replace(NUL, REPLACEMENT)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if BIGINT[0] <= value <= BIGINT[1]:
            return value
        shapes.count_odd(where)
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        shapes.count_odd(where)
        return str(value)
    if isinstance(value, Mapping):
        return {clean(str(k), where, shapes): clean(v, where, shapes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v, where, shapes) for v in value]
    shapes.count_odd(where)
    return clean(str(value), where, shapes)


def as_json_text(value: Any, where: str, shapes: Shapes) -> str:
    """Lossless text of any JSON value (a string is itself)."""
    value = clean(value, where, shapes)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def to_text(value: Any, where: str, shapes: Shapes) -> str | None:
    if value is None or isinstance(value, str):
        return clean(value, where, shapes)
    if isinstance(value, (dict, list, tuple, bool)):
        shapes.count_odd(where)
    return as_json_text(value, where, shapes)


def to_int(value: Any) -> int | None:
    """An integer from a number or a numeric string; None when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if BIGINT[0] <= value <= BIGINT[1] else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and BIGINT[0] <= value <= BIGINT[1] else None
    if isinstance(value, str):
        text = value.strip()
        sign = text[:1] in "+-" and text[:1] != ""
        digits = text[1:] if sign else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 19:
            number = int(text)
            return number if BIGINT[0] <= number <= BIGINT[1] else None
    return None


_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def unix_or_iso_time(value: Any) -> dt.datetime | None:
    """Unix seconds (a number or a numeric string) or an ISO text -> aware UTC datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool) or value is None:
        return None
    seconds: float | None = None
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
                return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except (ValueError, OverflowError):
                return None
    if seconds is None or not math.isfinite(seconds):
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def typed(row: dict[str, Any], column: str, kind: Kind, value: Any, *, table: str, shapes: Shapes) -> None:
    """Put ``value`` into ``row[column]`` as ``kind``; a value that does not fit goes to
    ``<column>__v_text`` as JSON text and the column gets NULL."""
    where = f"{table}.{column}"
    if kind == "text":
        row[column] = to_text(value, where, shapes)
        return
    if value is None or (value == "" and kind != "json"):
        row[column] = None
        return
    converted: Any
    if kind == "bigint":
        converted = to_int(value)
    elif kind == "bool":
        converted = to_bool(value)
    elif kind == "timestamp":
        converted = unix_or_iso_time(value)
    else:
        converted = clean(value, where, shapes) if isinstance(value, (dict, list)) else None
    row[column] = converted
    if converted is None:
        shapes.count_odd(where)
        row[column + SIDE] = as_json_text(value, where, shapes)
