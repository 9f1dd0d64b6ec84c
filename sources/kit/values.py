"""The one rule for values as a stranger sent them, made into the types our columns declare,
for every source (Leeloo's row builders call the converters by name, Salebot's through
:func:`sources.kit.kinds.typed`).

Every field comes from an API whose documents leave shapes open (a list may come as an
object, a number as text) and whose texts were typed by anyone. The rules:

- nothing here raises, whatever JSON it is given;
- a value that fits its column is stored in it, converted only where the conversion
  loses nothing and guesses nothing: a whole number sent as the text `"12"`, a unix time
  in seconds sent as `"1700000000"`, a flag sent as `1` or `"true"`;
- a value that does not fit is kept, never dropped: an object or list where text is
  expected becomes its JSON text; anything else where a number, flag, time or JSON is
  expected goes, as its text, to the side column `<column>__v_text` (the name dlt gives
  a text variant) and the column stays NULL. An empty text is such a value too: `""` is
  not a number, a flag or a time;
- a NUL character (valid JSON, which Postgres text and jsonb cannot store) becomes
  U+FFFD, in texts, keys and JSON texts alike, on every destination, so a load never
  fails on it and both engines hold the same;
- inside JSON (objects kept as JSON, fields loaded as new columns), a number no
  destination can hold (NaN, infinity, an integer beyond 64 bits) is kept as its text;
- only an API's own placeholders for "unknown" are NULL: Leeloo's `NOT_DEFINED` and
  `NO_DATA` (the default of every converter); an API that has none passes
  `NO_PLACEHOLDERS`, so a text a user typed there is never taken for "no value".

`Oddities` counts what did not fit, per table, field and kind, so a run reports one
warning per kind with a count instead of one per row, in the same words for every source.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"
SIDE = "__v_text"  # suffix of the side column that keeps a value its column cannot hold
INT64 = (-(2**63), 2**63 - 1)
EXACT_FLOAT = 2**53  # beyond it a float may already have lost digits the API wrote
PLACEHOLDERS = frozenset({"NOT_DEFINED", "NO_DATA"})  # texts Leeloo writes for "no value"
NO_PLACEHOLDERS: frozenset[str] = frozenset()  # for an API that writes none (Salebot)
TRUE_TEXTS, FALSE_TEXTS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
_UNIX_TEXT = re.compile(r"[+-]?[0-9]{1,12}(\.[0-9]{1,9})?")

_KEPT = "of the wrong shape ({why}), kept as text in {field}" + SIDE
KINDS = {
    "json": "value{s} of the wrong shape (an object or list instead of text), stored as JSON text",
    "number": "value{s} " + _KEPT.replace("{why}", "not a number"),
    "money": "value{s} " + _KEPT.replace("{why}", "not a number, or more digits than decimal(38, 9) holds"),
    "integer": "value{s} " + _KEPT.replace("{why}", "not a whole number within 64 bits"),
    "boolean": "value{s} " + _KEPT.replace("{why}", "not true/false"),
    "timestamp": "value{s} " + _KEPT.replace("{why}", "not an ISO time or unix seconds"),
    "object": "value{s} " + _KEPT.replace("{why}", "not an object or list"),
    "unrepresentable": "number{s} no column can hold (NaN, infinity or beyond 64 bits), kept as text in the JSON",
    "nul": "value{s} with NUL characters, replaced by U+FFFD",
    "field": "value{s} of a field the API's documents do not list, loaded as a new column",
    "collision": "field{s} whose name{s} would collide with a column of ours or dlt's, kept in it as JSON",
    "skipped": "record{s} without a usable id, skipped",
    "answer": "answer{s} that {were} not an object, read as empty",
}


class Oddities:
    """Counts of values that did not fit their column, per `table.column` (or `table`) and
    kind, safe to share between threads; one tally for every source."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def note(self, where: str, kind: str) -> None:
        entity, _, column = where.partition(".")
        with self._lock:
            self._counts[(entity, column, kind)] += 1

    def count(self, entity: str | None = None, kind: str | None = None) -> int:
        with self._lock:
            return sum(n for (e, _, k), n in self._counts.items()
                       if (entity is None or e == entity) and (kind is None or k == kind))

    def warnings(self, entities: Iterable[str] | None = None) -> list[str]:
        """One line per table, field and kind, e.g. `orders.price: 2 values of the wrong shape ...`."""
        wanted = None if entities is None else set(entities)
        with self._lock:
            items = sorted(self._counts.items())
        return [
            f"{entity}{'.' if column else ''}{column}: {n} "
            + KINDS[kind].format(s="" if n == 1 else "s", were="was" if n == 1 else "were", field=column)
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
    """The same JSON value, safe for every destination: every NUL in its strings (keys too)
    replaced, and a number no destination holds (NaN, infinity, beyond 64 bits) as its text."""
    if isinstance(value, str):
        return clean(value, where, odd)
    if isinstance(value, Mapping):
        return {clean(str(k), where, odd): clean_deep(v, where, odd) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_deep(v, where, odd) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and INT64[0] <= value <= INT64[1]:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    odd.note(where, "unrepresentable")
    return clean(_scalar_text(value), where, odd)


def _scalar_text(value: Any) -> str:
    """A number's or flag's text as JSON writes it (`NaN`, `Infinity` as Python's parser reads them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return str(value)


def as_json(value: Any, where: str, odd: Oddities) -> str:
    """JSON text of an object or list: keys in the order the API sent them, no spaces, NUL
    replaced before it is written (an escaped `\\u0000` would still be refused by jsonb)."""
    return json.dumps(clean_deep(value, where, odd), ensure_ascii=False, separators=(",", ":"), default=str)


def side_text(value: Any, where: str, odd: Oddities) -> str:
    """What a column could not hold, as text for its side column (counted by the caller)."""
    if isinstance(value, str):
        return clean(value, where, odd)
    if isinstance(value, (Mapping, list, tuple)):
        return as_json(value, where, odd)
    return _scalar_text(value)


def text(value: Any, where: str, odd: Oddities = QUIET) -> str | None:
    """Free text: "" stays "", a number or flag its JSON text, an object or list its JSON
    text (counted: it is the wrong shape)."""
    if value is None:
        return None
    if isinstance(value, (Mapping, list, tuple)):
        odd.note(where, "json")
    return side_text(value, where, odd)


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


def _absent(value: Any, placeholders: frozenset[str]) -> bool:
    return value is None or (isinstance(value, str) and value in placeholders)


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


def number(value: Any, where: str, odd: Oddities = QUIET, *,
           placeholders: frozenset[str] = PLACEHOLDERS) -> tuple[float | None, str | None]:
    """(the number, None) or, when it is not one, (None, the value as text for the side column)."""
    if _absent(value, placeholders):
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


def money(value: Any, where: str, odd: Oddities = QUIET, *,
          placeholders: frozenset[str] = PLACEHOLDERS) -> tuple[Decimal | None, str | None]:
    """(the exact amount, None), or (None, the value as text for the side column) when it is
    not a number or would have to be rounded to fit decimal(38, 9): money is never a float."""
    if _absent(value, placeholders):
        return None, None
    parsed = _parse_money(value)
    if parsed is not None:
        return parsed, None
    odd.note(where, "money")
    return None, side_text(value, where, odd)


def whole_number(value: Any) -> int | None:
    """A whole number within 64 bits, or None. Accepted: a JSON integer; a float with no
    fraction up to 2**53 (beyond it the float may already differ from what the API wrote);
    a text of ASCII digits with an optional sign (`" 42 "`, `"+5"`). Not accepted, because
    each would be a guess: `"3.0"`, `"1e3"`, `"1 000"`, `"1_000"`, other scripts' digits."""
    parsed: int
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        parsed = value
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer() and abs(value) <= EXACT_FLOAT):
            return None
        parsed = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        parsed = int(value.strip())
    else:
        return None
    return parsed if INT64[0] <= parsed <= INT64[1] else None


def integer(value: Any, where: str, odd: Oddities = QUIET, *,
            placeholders: frozenset[str] = PLACEHOLDERS) -> tuple[int | None, str | None]:
    if _absent(value, placeholders):
        return None, None
    parsed = whole_number(value)
    if parsed is not None:
        return parsed, None
    odd.note(where, "integer")
    return None, side_text(value, where, odd)


def flag(value: Any) -> bool | None:
    """A JSON boolean, the integers 0 and 1, or the texts true/false, 1/0, yes/no (any case,
    spaces around); None for anything else (a float 1.0 included: no API writes a flag so)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_TEXTS | FALSE_TEXTS:
        return value.strip().lower() in TRUE_TEXTS
    return None


def boolean(value: Any, where: str, odd: Oddities = QUIET, *,
            placeholders: frozenset[str] = PLACEHOLDERS) -> tuple[bool | None, str | None]:
    if _absent(value, placeholders):
        return None, None
    parsed = flag(value)
    if parsed is not None:
        return parsed, None
    odd.note(where, "boolean")
    return None, side_text(value, where, odd)


def _plain_utc(moment: datetime) -> datetime:
    """UTC, as a plain `datetime` (a subclass such as pendulum's would reach the warehouse otherwise)."""
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                    moment.microsecond, tzinfo=UTC)


def _unix(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC) if math.isfinite(seconds) else None
    except (OverflowError, OSError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime, or None for anything that is not a time (never raises).

    A time is unix seconds (a JSON number, or a text of digits: `"1700000000"`, as Salebot
    writes them) or an ISO 8601 text (`2024-01-02T03:04:05.678Z`, an offset, or none = UTC;
    a date alone is its midnight UTC). Milliseconds are not guessed from the size of a
    number, and free-form texts (`"1/2/2024"`: January or February?) are not times."""
    if isinstance(value, datetime):
        return _plain_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _unix(value) if abs(value) < 2**63 else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    candidate = value.strip()
    if _UNIX_TEXT.fullmatch(candidate):
        return _unix(float(candidate))
    if candidate[-1:] in ("z", "Z"):
        candidate = candidate[:-1] + "+00:00"
    try:
        return _plain_utc(datetime.fromisoformat(candidate))
    except (ValueError, OverflowError):
        return None


def to_utc(value: Any) -> datetime | None:
    """An API timestamp as an aware UTC datetime; placeholders and junk become None."""
    if isinstance(value, str) and value in PLACEHOLDERS:
        return None
    return parse_time(value)


def timestamp(value: Any, where: str, odd: Oddities = QUIET, *,
              placeholders: frozenset[str] = PLACEHOLDERS) -> tuple[datetime | None, str | None]:
    if _absent(value, placeholders):
        return None, None
    moment = parse_time(value)
    if moment is not None:
        return moment, None
    odd.note(where, "timestamp")
    return None, side_text(value, where, odd)


def json_value(value: Any, where: str, odd: Oddities = QUIET, *,
               placeholders: frozenset[str] = PLACEHOLDERS) -> tuple[Any, str | None]:
    """An object or list for a JSON column, cleaned (`clean_deep`); anything else is kept as
    text beside it: a JSON column holds structures, and a scalar there is the wrong shape."""
    if _absent(value, placeholders):
        return None, None
    if isinstance(value, (Mapping, list, tuple)):
        return clean_deep(value, where, odd), None
    odd.note(where, "object")
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
