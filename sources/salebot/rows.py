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

The value rule is the kit's, the same as Leeloo's (:mod:`sources.kit.values`, by declared
kind through :func:`sources.kit.kinds.typed`); each repair is counted in the kit's one
tally (:class:`Shapes`), which the source turns into run warnings worded as Leeloo's.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.kit.kinds import Kind, Shapes, typed
from sources.kit.values import NUL, clean, clean_deep, parse_time, poses_as_side, text, whole_number
from sources.salebot import settings

EXTRA_FIELDS = "extra_fields"
LEGACY_SIDE = "_raw"  # the suffix before 0.16.0, renamed by the layout migration

_naming = NamingConvention()


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
            or poses_as_side(normal)
            or normal.endswith(LEGACY_SIDE)
            or normal == EXTRA_FIELDS
        ):
            odd[clean(name, where, shapes)] = clean_deep(value, where, shapes)
            shapes.note(f"{table}.{EXTRA_FIELDS}", "collision")
            continue
        taken.add(normal)
        if value is None:
            continue
        shapes.note(where, "field")
        row[name] = clean_deep(value, where, shapes)
    if odd:
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
    shapes.note(table, "skipped")
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
    if whole_number(record.get("id")) is None:
        shapes.note(table, "skipped")
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
    client_id = whole_number(client.get("id")) if isinstance(client, Mapping) else None
    if record is None or whole_number(record.get("id")) is None or client_id is None:
        if record is not None:
            shapes.note("messages", "skipped")
        return None
    at = parse_time(received_at)
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
        row["variables"] = clean_deep(variables, "orders.variables", shapes)
    elif variables is not None:
        typed(row, "variables", "json", variables, table="orders", shapes=shapes)
    else:
        row["variables"] = None
    return row


def variable_rows(client_id: int, body: Any, shapes: Shapes) -> list[dict[str, Any]]:
    """``get_variables``: one row per variable, the value as text (JSON text unless a string)."""
    if not isinstance(body, Mapping):
        shapes.note("client_variables", "answer")
        return []
    rows = []
    for name, value in body.items():
        clean_name = clean(str(name), "client_variables.name", shapes)
        rows.append(
            {
                "id": f"{client_id}:{clean_name}",
                "client_id": client_id,
                "name": clean_name,
                "value": text(value, "client_variables.value", shapes),
            }
        )
    return rows


def channel_rows(body: Any, shapes: Shapes) -> list[dict[str, Any]]:
    """``connected_channels`` is a dict keyed by messenger: one row per connected bot."""
    if not isinstance(body, Mapping):
        shapes.note("channels", "answer")
        return []
    project_id = whole_number(body.get("project_id"))
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


def salebot_shapes() -> Shapes:
    """A fresh tally of what the row builders repaired (warnings worded as Leeloo's)."""
    return Shapes()
