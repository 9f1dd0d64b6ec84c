"""Warehouse rows from Salebot answers, whatever shape a stranger's data arrives in.

Every name, message, variable and order field was typed by a chatbot subscriber or a bot
author, and the document shows examples, not a schema. So a row builder never raises and
never puts a value of the wrong type into a declared column:

- a value that does not fit its column (an object where text is expected, text where a
  number is) is kept losslessly: as JSON text in a text column, or, for a number, flag,
  time or JSON column, in a text side column ``<column>__v_text`` beside a NULL (the
  name dlt gives a text variant, as in the Leeloo tables);
- a NUL byte becomes U+FFFD (Postgres text and jsonb cannot store NUL), everywhere,
  nested values and keys included; an empty text stays an empty text;
- fields the document does not list pass through as new columns (dlt's schema evolution);
  a field whose name would collide with a declared column or dlt's own is kept under
  ``extra_fields`` (JSON) instead;
- a record without a usable id cannot be merged: it is skipped.

Each repair is counted in a :class:`Shapes`, which the source turns into run warnings.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.salebot import settings

UTC = dt.UTC
NUL = "\x00"
REPLACEMENT = "\ufffd"
BIGINT = (-(2**63), 2**63 - 1)
EXTRA_FIELDS = "extra_fields"
SIDE = "__v_text"  # suffix of the text side column of a value its column cannot hold
LEGACY_SIDE = "_raw"  # the suffix before 0.16.0, renamed by the layout migration

Kind = Literal["text", "bigint", "bool", "timestamp", "json"]

_naming = NamingConvention()


class Shapes:
    """What the row builders repaired this run, per ``table.column`` (thread-safe)."""

    def __init__(self) -> None:
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
                "Salebot sent values of an unexpected shape, kept as JSON text (a text column, or "
                "<column>__v_text beside a NULL): " + _listing(self.odd)
            )
        if self.nul:
            out.append("Salebot sent text with NUL bytes, stored with U+FFFD instead: " + _listing(self.nul))
        if self.skipped:
            out.append("Salebot sent records without a usable id, skipped: " + _listing(self.skipped))
        if self.new_fields:
            names = ", ".join(f"{t}.{n}" for t in sorted(self.new_fields) for n in sorted(self.new_fields[t]))
            out.append(f"Salebot sent fields its document does not list, loaded as new columns: {names}")
        return out


def _listing(counts: Counter[str]) -> str:
    return ", ".join(f"{where} ({n})" for where, n in sorted(counts.items()))


# --------------------------------------------------------------------------- values


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


def to_utc(value: Any) -> dt.datetime | None:
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
        converted = to_utc(value)
    else:
        converted = clean(value, where, shapes) if isinstance(value, (dict, list)) else None
    row[column] = converted
    if converted is None:
        shapes.count_odd(where)
        row[column + SIDE] = as_json_text(value, where, shapes)


def _extras(
    row: dict[str, Any],
    raw: Mapping[Any, Any],
    declared: Mapping[str, Kind],
    *,
    table: str,
    shapes: Shapes,
    reserved: frozenset[str] = frozenset(),
) -> None:
    """Fields the document does not list: new columns, or ``extra_fields`` when the name is not safe."""
    taken = set(_taken(tuple(declared), reserved))
    odd: dict[str, Any] = {}
    for key, value in raw.items():
        if key in declared or key in reserved:
            continue
        name = key if isinstance(key, str) else str(key)
        normal = _normal(name)
        where = f"{table}.{normal or EXTRA_FIELDS}"
        if (
            not normal
            or normal in taken
            or normal.startswith("_dlt")
            or normal.endswith((SIDE, LEGACY_SIDE))
            or normal == EXTRA_FIELDS
        ):
            odd[clean(name, where, shapes)] = clean(value, where, shapes)
            continue
        taken.add(normal)
        if value is None:
            continue
        shapes.note_field(table, normal)
        row[name] = clean(value, where, shapes)
    if odd:
        shapes.note_field(table, EXTRA_FIELDS)
        row[EXTRA_FIELDS] = odd


@functools.lru_cache(maxsize=64)
def _taken(declared: tuple[str, ...], reserved: frozenset[str]) -> frozenset[str]:
    return frozenset(_normal(c) for c in (*declared, *reserved))


@functools.lru_cache(maxsize=4096)
def _normal(name: str) -> str:
    """The column name dlt will give a field, or "" when it gives none we can rely on."""
    if not name.strip() or NUL in name:
        return ""
    try:
        return str(_naming.normalize_identifier(name))
    except Exception:  # noqa: BLE001 - a name dlt cannot normalise is kept in extra_fields
        return ""


def _record(raw: Any, table: str, shapes: Shapes) -> Mapping[Any, Any] | None:
    if isinstance(raw, Mapping):
        return raw
    shapes.count_skipped(table)
    return None


# --------------------------------------------------------------------------- rows

CLIENT_FIELDS: dict[str, Kind] = {
    "id": "bigint",
    "platform_id": "text",
    "client_type": "bigint",
    "name": "text",
    "avatar": "text",
    "message_id": "bigint",
    "project_id": "bigint",
    "created_at": "timestamp",
    "updated_at": "timestamp",
    "custom_answer": "text",
    "tag": "text",
    "group": "text",
    "operator_start_dialog": "text",
}
MESSAGE_FIELDS: dict[str, Kind] = {
    "id": "bigint",
    "answered": "bool",
    "client_replica": "bool",
    "message_id": "bigint",
    "message_from_outside": "bigint",
    "created_at": "timestamp",
    "text": "text",
    "attachments": "json",
    "delivered": "bool",
    "error_message": "text",
    "manager_id": "bigint",
    "manager_email": "text",
}
MESSAGE_OWN = frozenset({"client_id", "origin", "received_at", "deleted_at"})
CHANNEL_FIELDS: dict[str, Kind] = {
    "id": "bigint",
    "name": "text",
    "short_name": "text",
    "uri": "text",
    "group": "text",
    "group_id": "text",
    "enabled": "bool",
    "status": "bigint",
}
BLOCK_FIELDS: dict[str, Kind] = {"id": "bigint", "name": "text", "text": "text", "is_start": "bool"}


def _build(
    raw: Any, fields: Mapping[str, Kind], table: str, shapes: Shapes, reserved: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    record = _record(raw, table, shapes)
    if record is None:
        return None
    if to_int(record.get("id")) is None:
        shapes.count_skipped(table)
        return None
    row: dict[str, Any] = {}
    for column, kind in fields.items():
        if column in record or column == "id":
            typed(row, column, kind, record.get(column), table=table, shapes=shapes)
    _extras(row, record, fields, table=table, shapes=shapes, reserved=reserved)
    return row


def client_row(raw: Any, shapes: Shapes) -> dict[str, Any] | None:
    """A ``get_clients`` item; None without a usable ``id``."""
    return _build(raw, CLIENT_FIELDS, "clients", shapes, frozenset({"deleted_at"}))


def message_row(raw: Any, client_id: int, shapes: Shapes) -> dict[str, Any] | None:
    """A ``get_history`` item of ``client_id``; None without a usable ``id``."""
    row = _build(raw, MESSAGE_FIELDS, "messages", shapes, MESSAGE_OWN)
    if row is None:
        return None
    row.update(client_id=client_id, origin="history", received_at=None)
    return row


def webhook_message_row(payload: Any, received_at: float, shapes: Shapes) -> dict[str, Any] | None:
    """A push in the shape of a history row. ``created_at`` is the time we received it
    (the push carries none); the history row, when polled, replaces it."""
    record = _record(payload, "messages", shapes)
    client = record.get("client") if record is not None else None
    client_id = to_int(client.get("id")) if isinstance(client, Mapping) else None
    if record is None or to_int(record.get("id")) is None or client_id is None:
        if record is not None:
            shapes.count_skipped("messages")
        return None
    at = to_utc(received_at)
    row: dict[str, Any] = {}
    typed(row, "id", "bigint", record.get("id"), table="messages", shapes=shapes)
    typed(row, "text", "text", record.get("message"), table="messages", shapes=shapes)
    typed(row, "client_replica", "bool", record.get("is_input"), table="messages", shapes=shapes)
    typed(row, "message_id", "bigint", record.get("message_id"), table="messages", shapes=shapes)
    typed(row, "delivered", "bool", record.get("delivered"), table="messages", shapes=shapes)
    typed(row, "error_message", "text", record.get("error_message"), table="messages", shapes=shapes)
    attachments = record.get("attachments")
    if attachments is not None:
        typed(row, "attachments", "json", attachments, table="messages", shapes=shapes)
    row.update(client_id=client_id, created_at=at, origin="webhook", received_at=at)
    return row


def order_row(
    order_id: int, client_id: int, *, status: int, state_id: int | None, variables: Any, shapes: Shapes
) -> dict[str, Any]:
    """An order from its list (``status``), ``get_order_state`` and ``get_order_vars``."""
    row: dict[str, Any] = {
        "id": order_id,
        "client_id": client_id,
        "status": status,
        "status_name": settings.ORDER_STATUSES.get(status),
        "state_id": state_id,
    }
    if isinstance(variables, Mapping):
        row["variables"] = clean(variables, "orders.variables", shapes)
    elif variables is not None:
        typed(row, "variables", "json", variables, table="orders", shapes=shapes)
    else:
        row["variables"] = None
    return row


def variable_rows(client_id: int, body: Any, shapes: Shapes) -> list[dict[str, Any]]:
    """``get_variables``: one row per variable, the value as text (JSON text unless a string)."""
    if not isinstance(body, Mapping):
        shapes.count_odd("client_variables.value")
        return []
    rows = []
    for name, value in body.items():
        where = "client_variables.value"
        if isinstance(value, (dict, list, tuple)):
            shapes.count_odd(where)
        clean_name = clean(str(name), "client_variables.name", shapes)
        rows.append(
            {
                "id": f"{client_id}:{clean_name}",
                "client_id": client_id,
                "name": clean_name,
                "value": None if value is None else as_json_text(value, where, shapes),
            }
        )
    return rows


def channel_rows(body: Any, shapes: Shapes) -> list[dict[str, Any]]:
    """``connected_channels`` is a dict keyed by messenger: one row per connected bot."""
    if not isinstance(body, Mapping):
        shapes.count_odd("channels")
        return []
    project_id = to_int(body.get("project_id"))
    rows = []
    for messenger, items in body.items():
        if not isinstance(items, list):
            continue
        for item in items:
            row = _build(item, CHANNEL_FIELDS, "channels", shapes, frozenset({"messenger", "project_id"}))
            if row is not None:
                row["messenger"] = clean(str(messenger), "channels.messenger", shapes)
                row["project_id"] = project_id
                rows.append(row)
    return rows


def block_rows(items: list[Any], shapes: Shapes) -> list[dict[str, Any]]:
    """``get_messages``: the blocks of the bot scheme."""
    return [row for item in items if (row := _build(item, BLOCK_FIELDS, "blocks", shapes)) is not None]
