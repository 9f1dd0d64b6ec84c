"""The one rule for values as a stranger sent them, made into the types our columns declare.

Every field comes from an API whose documents leave shapes open (a list may come as an
object, a number as text) and whose texts were typed by anyone. The rules:

- nothing here raises, whatever JSON it is given;
- a value that fits its column is stored in it, converted where the conversion loses
  nothing (a number sent as `"12.50"`, a phone sent as a number);
- a value that does not fit is kept, never dropped: an object or list where text is
  expected becomes its JSON text; text where a number, boolean or time is expected goes
  to the side column `<column>__v_text` (the name dlt gives a text variant) and the
  column stays NULL;
- a NUL character (valid JSON, which Postgres text cannot store) becomes U+FFFD, on
  every destination alike, so a load never fails on it and both engines hold the same;
- an empty text stays an empty text; only the API's placeholders (`NOT_DEFINED`,
  `NO_DATA`) mean "no value".

`Oddities` counts what did not fit, per entity, field and kind, so a run reports one
warning per kind with a count instead of one per row.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import pendulum

NUL = "\x00"
REPLACEMENT = "\ufffd"
SIDE = "__v_text"  # suffix of the side column that keeps a value its column cannot hold
INT64 = (-(2**63), 2**63 - 1)
# texts an API writes for "no value" (Leeloo's); no Salebot field is read through them
PLACEHOLDERS = frozenset({"NOT_DEFINED", "NO_DATA"})

KINDS = {
    "json": "of the wrong shape (an object or list instead of text), stored as JSON text",
    "number": "of the wrong shape (not a number), kept as text in {field}" + SIDE,
    "money": "of the wrong shape (not a number, or more digits than decimal(38, 9) holds), kept as text in {field}"
             + SIDE,
    "integer": "of the wrong shape (not a whole number), kept as text in {field}" + SIDE,
    "boolean": "of the wrong shape (not true/false), kept as text in {field}" + SIDE,
    "timestamp": "of the wrong shape (not a time), kept as text in {field}" + SIDE,
    "nul": "with NUL characters, replaced by U+FFFD",
}


class Oddities:
    """Counts of values that did not fit their column, safe to share between threads."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def note(self, where: str, kind: str) -> None:
        entity, _, column = where.partition(".")
        with self._lock:
            self._counts[(entity, column, kind)] += 1

    def count(self, entity: str | None = None) -> int:
        with self._lock:
            return sum(n for (e, _, _), n in self._counts.items() if entity is None or e == entity)

    def warnings(self, entities: Iterable[str] | None = None) -> list[str]:
        """One line per entity, field and kind, e.g. `orders.price: 2 values of the wrong shape ...`."""
        wanted = None if entities is None else set(entities)
        with self._lock:
            items = sorted(self._counts.items())
        return [
            f"{entity}.{column}: {n} value{'' if n == 1 else 's'} {KINDS[kind].format(field=column)}"
            for (entity, column, kind), n in items
            if wanted is None or entity in wanted
        ]


QUIET = Oddities()  # for callers that do not report (tests, one-off reads)


def clean(text: str, where: str, odd: Oddities) -> str:
    if NUL in text:
        odd.note(where, "nul")
        return text.replace(NUL, REPLACEMENT)
    return text


def clean_deep(value: Any, where: str, odd: Oddities) -> Any:
    """The same JSON value with every NUL in its strings (keys too) replaced."""
    if isinstance(value, str):
        return clean(value, where, odd)
    if isinstance(value, Mapping):
        return {clean(str(k), where, odd): clean_deep(v, where, odd) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_deep(v, where, odd) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no such number; a parser that lets it through gets NULL
    return value


def as_json(value: Any, where: str, odd: Oddities) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return clean(text, where, odd)  # json escapes NUL as \u0000; keys from non-JSON input might not


def text(value: Any, where: str, odd: Oddities = QUIET) -> str | None:
    """Free text: "" stays "", an object or list becomes JSON text, a number its digits."""
    if value is None or isinstance(value, str):
        return value if value is None or NUL not in value else clean(value, where, odd)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return as_json(value, where, odd) if not isinstance(value, float) or math.isfinite(value) else None
    odd.note(where, "json")
    return as_json(value, where, odd)


def side_text(value: Any, where: str, odd: Oddities) -> str:
    """What a column could not hold, as text for its side column (counted by the caller)."""
    return clean(value, where, odd) if isinstance(value, str) else as_json(value, where, odd)


def optional_text(value: Any, where: str, odd: Oddities = QUIET) -> str | None:
    """Text where the API writes a placeholder for "unknown": the placeholder is NULL."""
    if isinstance(value, str) and value in PLACEHOLDERS:
        return None
    return text(value, where, odd)


def entity_id(value: Any) -> str | None:
    """An id we can merge on and put in a URL: a non-empty string or an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and value.isprintable() and "/" not in value:
        return value
    return None


def _finite(number: float) -> float | None:
    return number if math.isfinite(number) else None


def _parse_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 2**1023 else None
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, str):
        candidate = value.strip().replace(" ", "")
        if candidate.count(",") == 1 and "." not in candidate:
            candidate = candidate.replace(",", ".")
        try:
            return _finite(float(candidate))
        except ValueError:
            return None
    return None


def number(value: Any, where: str, odd: Oddities = QUIET) -> tuple[float | None, str | None]:
    """(the number, None) or, when it is not one, (None, the value as text for the side column)."""
    if value is None or (isinstance(value, str) and value in PLACEHOLDERS):
        return None, None
    parsed = _parse_number(value)
    if parsed is not None:
        return parsed, None
    odd.note(where, "number")
    return None, side_text(value, where, odd)


MONEY_PRECISION, MONEY_SCALE = 38, 9  # decimal(38, 9): 29 digits before the point, 9 after


def _parse_money(value: Any) -> Decimal | None:
    """The exact decimal the API wrote. Text is read digit by digit; a JSON number arrives
    parsed as a float, whose shortest repr is the text the API sent (up to 17 significant
    digits). None when it is not a finite number or does not fit decimal(38, 9) unrounded."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    candidate = repr(value) if isinstance(value, float) else str(value).strip().replace(" ", "")
    if candidate.count(",") == 1 and "." not in candidate:
        candidate = candidate.replace(",", ".")
    try:
        parsed = Decimal(candidate)
    except InvalidOperation:
        return None
    if not parsed.is_finite():
        return None
    exponent = parsed.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    digits_after = max(0, -exponent)
    digits_before = max(0, parsed.adjusted() + 1)
    if digits_after > MONEY_SCALE or digits_before > MONEY_PRECISION - MONEY_SCALE:
        return None
    return parsed


def money(value: Any, where: str, odd: Oddities = QUIET) -> tuple[Decimal | None, str | None]:
    """(the exact amount, None), or (None, the value as text for the side column) when it is
    not a number or would have to be rounded to fit decimal(38, 9): money is never a float."""
    if value is None or (isinstance(value, str) and value in PLACEHOLDERS):
        return None, None
    parsed = _parse_money(value)
    if parsed is not None:
        return parsed, None
    odd.note(where, "money")
    return None, side_text(value, where, odd)


def integer(value: Any, where: str, odd: Oddities = QUIET) -> tuple[int | None, str | None]:
    if value is None or (isinstance(value, str) and value in PLACEHOLDERS):
        return None, None
    parsed = _parse_number(value)
    if parsed is not None and parsed.is_integer() and INT64[0] <= parsed <= INT64[1]:
        return int(parsed), None
    odd.note(where, "integer")
    return None, side_text(value, where, odd)


def boolean(value: Any, where: str, odd: Oddities = QUIET) -> tuple[bool | None, str | None]:
    if value is None or isinstance(value, bool):
        return value, None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes"), None
    odd.note(where, "boolean")
    return None, side_text(value, where, odd)


def _plain_utc(moment: datetime) -> datetime:
    """UTC, as a plain `datetime` (pendulum's subclass would reach the warehouse otherwise)."""
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                    moment.microsecond, tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime, or None for anything that is not a time (never raises)."""
    try:
        if isinstance(value, datetime):
            return _plain_utc(value)
        if isinstance(value, date):
            return datetime.combine(value, time.min, tzinfo=UTC)
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            if not math.isfinite(value):
                return None
            return datetime.fromtimestamp(value / 1000 if abs(value) > 1e11 else value, tz=UTC)
        if not isinstance(value, str):
            return None
        candidate = value.strip()
        if not candidate or len(candidate) > 64:
            return None
        try:
            parsed: Any = datetime.fromisoformat(candidate.replace("Z", "+00:00"))
        except ValueError:
            parsed = pendulum.parse(candidate, strict=False)
        if isinstance(parsed, datetime):
            return _plain_utc(parsed)
        if isinstance(parsed, date):
            return datetime.combine(parsed, time.min, tzinfo=UTC)
        return None
    except Exception:  # noqa: BLE001 - a value that is no time is missing data, not a failed run
        return None


def to_utc(value: Any) -> datetime | None:
    """An API timestamp as an aware UTC datetime; placeholders and junk become None."""
    if isinstance(value, str) and value in PLACEHOLDERS:
        return None
    return parse_time(value)


def timestamp(value: Any, where: str, odd: Oddities = QUIET) -> tuple[datetime | None, str | None]:
    if value is None or (isinstance(value, str) and (value == "" or value in PLACEHOLDERS)):
        return None, None
    moment = parse_time(value)
    if moment is not None:
        return moment, None
    odd.note(where, "timestamp")
    return None, side_text(value, where, odd)


def put(row: dict[str, Any], column: str, converted: tuple[Any, str | None]) -> None:
    """Store a converted value, and its side column when it did not fit."""
    value, side = converted
    row[column] = value
    if side is not None:
        row[column + SIDE] = side


def poses_as_side(column: str) -> bool:
    """Whether a column named by the API would look like a side column: `<col>__v_text` (or
    a nested `v_text` key, which dlt flattens into one) is chatfunnel's alone."""
    return column == SIDE[2:] or column.endswith(SIDE)
