"""Warehouse rows from API items, one builder per table, and each table's declared columns.

Builders take whatever JSON arrived and never raise (see `shapes`): known fields go to
their typed columns; fields the API adds arrive as extra columns under dlt's names, so
dlt's schema evolution makes them new columns instead of our code dropping them.
An item without a usable id has no row (the builder returns None; callers count it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.kit import values as shapes
from sources.kit.columns import column_of as _col
from sources.kit.columns import money_column as _money
from sources.kit.columns import timestamp_column as _ts
from sources.kit.values import QUIET, Oddities, boolean, entity_id, integer, money, optional_text, put, text, timestamp

DELETED_AT = {"deleted_at": _ts()}  # NULL as loaded; set after the load when the entity is proved gone

PEOPLE_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "name": _col("text"), "email": _col("text"), "phone": _col("text"),
    "profile_image": _col("text"), "gender": _col("text"), "locale": _col("text"),
    "last_message_time": _ts(), "created_at": _ts(), "updated_at": _ts(), **DELETED_AT,
}
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
CHANNEL_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "person_id": _col("text"), "name": _col("text"), "from": _col("text"),
    "bot_status": _col("text"), "last_message_time": _ts(), "created_at": _ts(),
    **{f"utm_marks__{k}": _col("text") for k in UTM_KEYS}, **DELETED_AT,
}
MESSAGE_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "account_id": _col("text"), "text": _col("text"), "type": _col("text"),
    "read": _col("bool"), "created_at": _ts(), "updated_at": _ts(), "links__created_by__type": _col("text"),
    "links__created_by__id": _col("text"), **DELETED_AT,
}
ORDER_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "person_id": _col("text"), "title": _col("text"), "description": _col("text"),
    "price": _money(), "currency": _col("text"), "status": _col("text"), "payment_method": _col("text"),
    "created_at": _ts(), "updated_at": _ts(), **DELETED_AT,
}
STAT_COUNTERS = {
    "subscribers": "subscribers", "uniqSubscribers": "uniq_subscribers", "orders": "orders", "sales": "sales",
    "uniqSales": "uniq_sales", "visits": "visits", "uniqVisits": "uniq_visits", "shows": "shows",
    "uniqShows": "uniq_shows",
}
STATS_COLUMNS: dict[str, Any] = {
    "tunnel_id": _col("text"), "snapshot_date": _col("date"), "snapshot_at": _ts(),
    **{c: _col("bigint") for c in STAT_COUNTERS.values()},
    "total_sale": _money(), "total_expenses": _money(),
}
NAMED_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "name": _col("text"), "created_at": _ts(), "updated_at": _ts(), **DELETED_AT,
}
TAG_COLUMNS: dict[str, Any] = {"id": _col("text"), "name": _col("text"), **DELETED_AT}
CONNECTION_COLUMNS: dict[str, Any] = {"id": _col("text"), "type": _col("text"), "name": _col("text"), **DELETED_AT}
TEMPLATE_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "message_name": _col("text"), "category_id": _col("text"), **DELETED_AT,
}
LEADGENTOOL_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "tunnel_id": _col("text"), "name": _col("text"), "type": _col("text"), **DELETED_AT,
}
V1_ACCOUNT_COLUMNS: dict[str, Any] = {
    "id": _col("text"), "name": _col("text"), "from": _col("text"), "bot_status": _col("text"),
    "last_message_time": _ts(), "created_at": _ts(),
}
STATUS_CHANGE_COLUMNS: dict[str, Any] = {
    "change_id": {"data_type": "text", "nullable": False}, "order_id": _col("text"),
    "old_status": _col("text"), "new_status": _col("text"), "price": _money(), "currency": _col("text"),
    "changed_at": _ts(), "observed_at": _ts(),
}

_naming = NamingConvention()


@lru_cache(maxsize=4096)
def column_name(key: str) -> str:
    return _naming.normalize_identifier(key)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    """A list as sent; an object where a list is expected gives its values, a scalar itself."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return list(value.values())
    return [value]


def add_extras(row: dict[str, Any], item: Mapping[str, Any], known: frozenset[str], entity: str,
               odd: Oddities) -> None:
    """Fields the API sends that we do not know yet, under dlt's column names (counted, as
    Salebot's are, so the run names them)."""
    for key, value in item.items():
        if key in known or not isinstance(key, str) or not key.strip():
            continue
        name = column_name(key)
        if name in row or name.startswith("_dlt") or name + shapes.SIDE in row:
            continue
        if value is not None:
            odd.note(f"{entity}.{_unposed(name)}", "field")
        row[_unposed(name)] = _unposed_keys(shapes.clean_deep(value, f"{entity}.{name}", odd))


def _unposed(column: str) -> str:
    """A field the API names like a side column keeps its value under `<name>_field`."""
    return column + "_field" if shapes.poses_as_side(column) else column


def _unposed_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {(k + "_field" if isinstance(k, str) and k.strip() and shapes.poses_as_side(column_name(k)) else k):
                _unposed_keys(v) for k, v in value.items()}
    return value


def _list_of_records(value: Any, build: Any, where: str, odd: Oddities) -> list[dict[str, Any]]:
    """Child rows; an item that is not an object is kept whole as JSON text in `raw`."""
    rows = []
    for item in _items(value):
        if isinstance(item, Mapping):
            rows.append(build(item))
        elif item is not None:
            odd.note(where, "json")
            rows.append({"raw": shapes.as_json(item, where, odd)})
    return rows


PERSON_KNOWN = frozenset({
    "id", "name", "email", "phone", "tags", "accounts", "lastMessageTime", "profileImage", "gender", "locale",
    "subscribeHistory", "links", "custom_fields", "created_at", "updated_at", "createdAt", "updatedAt",
})


def custom_fields_rows(value: Any, odd: Oddities = QUIET) -> list[dict[str, Any]]:
    """v2 sends a list of {type, name, value}; v1 (and drifting accounts) an object {name: value}."""
    where = "people.custom_fields"
    if isinstance(value, Mapping):
        return [{"type": None, "name": text(k, where, odd), "value": optional_text(v, where, odd)}
                for k, v in value.items()]
    return _list_of_records(value, lambda f: {
        "type": optional_text(f.get("type"), where, odd),
        "name": optional_text(f.get("name"), where, odd),
        "value": optional_text(f.get("value"), where, odd),
    }, where, odd)


def _links(links: Any, key: str, where: str, odd: Oddities) -> list[dict[str, Any]]:
    return _list_of_records(_mapping(links).get(key), lambda item: {
        "type": text(item.get("type"), where, odd), "id": text(item.get("id"), where, odd),
    }, where, odd)


def person_row(listed: Any, detail: Any = None, odd: Oddities = QUIET) -> dict[str, Any] | None:
    """One `people` row from the list item and, where fetched, the person's detail."""
    listed, detail = _mapping(listed), _mapping(detail)
    merged: dict[str, Any] = {**listed, **detail}
    person_id = entity_id(merged.get("id"))
    if person_id is None:
        return None
    e = "people"
    row: dict[str, Any] = {"id": person_id, "name": text(merged.get("name"), f"{e}.name", odd)}
    for column, key in (("email", "email"), ("phone", "phone"), ("profile_image", "profileImage"),
                        ("gender", "gender"), ("locale", "locale")):
        row[column] = optional_text(merged.get(key), f"{e}.{column}", odd)
    put(row, "last_message_time",
        timestamp(listed.get("lastMessageTime") or merged.get("lastMessageTime"), f"{e}.last_message_time", odd))
    put(row, "created_at", timestamp(merged.get("created_at") or merged.get("createdAt"), f"{e}.created_at", odd))
    put(row, "updated_at", timestamp(merged.get("updated_at") or merged.get("updatedAt"), f"{e}.updated_at", odd))
    row["tags"] = [text(t, f"{e}.tags", odd) for t in _items(merged.get("tags"))]
    where = f"{e}.accounts"
    row["accounts"] = _list_of_records(merged.get("accounts"), lambda a: {
        "account_id": text(a.get("account_id"), where, odd),
        "connection_id": text(a.get("connection_id"), where, odd),
        "connection_status": optional_text(a.get("connection_status"), where, odd),
        "from": optional_text(a.get("from"), where, odd),
    }, where, odd)
    history = f"{e}.subscribe_history"
    row["subscribe_history"] = _list_of_records(merged.get("subscribeHistory"), lambda h: {
        column: optional_text(h.get(key), history, odd) for column, key in (
            ("tunnel_name", "tunnelName"), ("leadgentool_name", "leadgentoolName"),
            ("traffic_source", "trafficSource"), ("tunnel_id", "tunnelId"),
            ("leadgentool_id", "leadgentoolId"), ("traffic_source_id", "trafficSourceId"),
            ("account_id", "accountId"))
    }, history, odd)
    row["custom_fields"] = custom_fields_rows(merged.get("custom_fields"), odd)
    links = merged.get("links")
    row["links"] = {"contacted_users": _links(links, "contactedUsers", f"{e}.links", odd),
                    "orders": _links(links, "orders", f"{e}.links", odd)}
    add_extras(row, merged, PERSON_KNOWN, e, odd)
    return row


CHANNEL_KNOWN = frozenset({"id", "person_id", "name", "from", "botStatus", "lastMessageTime", "createdAt", "utmMarks"})


def channel_row(channel: Any, odd: Oddities = QUIET) -> dict[str, Any] | None:
    channel = _mapping(channel)
    channel_id = entity_id(channel.get("id"))
    if channel_id is None:
        return None
    e = "communication_channels"
    utm = _mapping(channel.get("utmMarks"))
    row: dict[str, Any] = {
        "id": channel_id,
        "person_id": text(channel.get("person_id"), f"{e}.person_id", odd),
        "name": text(channel.get("name"), f"{e}.name", odd),
        "from": optional_text(channel.get("from"), f"{e}.from", odd),
        "bot_status": optional_text(channel.get("botStatus"), f"{e}.bot_status", odd),
    }
    put(row, "last_message_time", timestamp(channel.get("lastMessageTime"), f"{e}.last_message_time", odd))
    put(row, "created_at", timestamp(channel.get("createdAt"), f"{e}.created_at", odd))
    marks = {k: optional_text(utm.get(k), f"{e}.utm_marks__{k}", odd) for k in UTM_KEYS}
    for key, value in utm.items():
        if isinstance(key, str) and key.strip() and key not in UTM_KEYS and column_name(key) not in marks:
            marks[column_name(key)] = optional_text(value, f"{e}.utm_marks__{column_name(key)}", odd)
    row["utm_marks"] = marks
    add_extras(row, channel, CHANNEL_KNOWN, e, odd)
    return row


MESSAGES_ARROW_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),  # the primary key, as dlt declares it
    ("account_id", pa.string()),
    ("text", pa.string()),
    ("type", pa.string()),
    ("read", pa.bool_()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")),
    ("links__created_by__type", pa.string()),
    ("links__created_by__id", pa.string()),
    ("deleted_at", pa.timestamp("us", tz="UTC")),
])
MESSAGE_FIELDS = frozenset(MESSAGES_ARROW_SCHEMA.names)
MESSAGE_KNOWN = frozenset({"id", "text", "type", "read", "createdAt", "updatedAt", "links", "account_id"})


def message_row(message: Any, account_id: str, odd: Oddities = QUIET) -> dict[str, Any] | None:
    """One chat message, flat, typed to `MESSAGES_ARROW_SCHEMA`; a value that does not fit
    goes to a text side column, and fields the API adds to text columns (JSON text where
    they are not strings), which become new columns of the table."""
    message = _mapping(message)
    message_id = entity_id(message.get("id"))
    if message_id is None:
        return None
    e = "chat_messages"
    created_by = _mapping(_mapping(message.get("links")).get("createdBy"))
    row: dict[str, Any] = {
        "id": message_id,
        "account_id": account_id,
        "text": text(message.get("text"), f"{e}.text", odd),
        "type": optional_text(message.get("type"), f"{e}.type", odd),
        "links__created_by__type": optional_text(created_by.get("type"), f"{e}.links__created_by__type", odd),
        "links__created_by__id": optional_text(created_by.get("id"), f"{e}.links__created_by__id", odd),
    }
    put(row, "read", boolean(message.get("read"), f"{e}.read", odd))
    put(row, "created_at", timestamp(message.get("createdAt"), f"{e}.created_at", odd))
    put(row, "updated_at", timestamp(message.get("updatedAt"), f"{e}.updated_at", odd))
    for key, value in message.items():
        if key in MESSAGE_KNOWN or not isinstance(key, str) or not key.strip():
            continue
        name = column_name(key)
        if name not in row and name not in MESSAGE_FIELDS and not name.startswith("_dlt"):
            if value is not None:
                odd.note(f"{e}.{name}", "field")
            row[name] = text(value, f"{e}.{name}", odd)
    return row


def messages_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Messages are most of a load's rows, and flat: as an Arrow table they skip dlt's
    row-by-row JSON normalizer, which was the larger part of normalizing a full load.
    Side and added columns (text) join the fixed schema only in batches that have them."""
    extra = sorted({k for row in rows for k in row if k not in MESSAGE_FIELDS})
    schema = MESSAGES_ARROW_SCHEMA
    for name in extra:
        schema = schema.append(pa.field(name, pa.string()))
    return pa.Table.from_pylist(rows, schema=schema)


ORDER_KNOWN = frozenset({"id", "person_id", "title", "description", "price", "currency", "status", "paymentMethod",
                         "createdAt", "updatedAt"})


def order_row(order: Any, detail: Any = None, odd: Oddities = QUIET) -> dict[str, Any] | None:
    order, detail = _mapping(order), _mapping(detail)
    merged = {**order, **detail}
    order_id = entity_id(merged.get("id"))
    if order_id is None:
        return None
    e = "orders"
    row: dict[str, Any] = {
        "id": order_id,
        "person_id": text(order.get("person_id") or merged.get("person_id"), f"{e}.person_id", odd),
        "title": text(merged.get("title"), f"{e}.title", odd),
        "description": text(merged.get("description"), f"{e}.description", odd),
        "currency": optional_text(merged.get("currency"), f"{e}.currency", odd),
        "status": optional_text(merged.get("status"), f"{e}.status", odd),
        "payment_method": optional_text(merged.get("paymentMethod"), f"{e}.payment_method", odd),
    }
    put(row, "price", money(merged.get("price"), f"{e}.price", odd))
    put(row, "created_at", timestamp(merged.get("createdAt"), f"{e}.created_at", odd))
    put(row, "updated_at", timestamp(merged.get("updatedAt"), f"{e}.updated_at", odd))
    add_extras(row, merged, ORDER_KNOWN, e, odd)
    return row


def status_change_row(order: Mapping[str, Any], old_status: str | None, observed_at: datetime) -> dict[str, Any]:
    """A row of `order_status_changes` from an order row whose status differs from the last
    one seen (`old_status` None: the first time the order is seen).

    The key is the transition itself (order, old and new status, the API's `updatedAt`),
    so the same change observed again, after a crash or a replayed package, merges into
    the same row."""
    changed = order.get("updated_at")
    when = changed.isoformat() if isinstance(changed, datetime) else str(order.get("updated_at" + shapes.SIDE))
    key = json.dumps([order["id"], old_status, order.get("status"), when])
    return {
        "change_id": hashlib.blake2b(key.encode(), digest_size=12).hexdigest(),
        "order_id": order["id"],
        "old_status": old_status,
        "new_status": order.get("status"),
        "price": order.get("price"),
        "currency": order.get("currency"),
        "changed_at": changed,
        "observed_at": observed_at,
    }


def stats_row(tunnel_id: str, data: Any, taken_at: datetime, odd: Oddities = QUIET) -> dict[str, Any]:
    """Tunnel stats carry no date: the snapshot date is the UTC day they were read."""
    stats = _mapping(data[0] if isinstance(data, list) and data else data)
    e = "tunnel_stats"
    row: dict[str, Any] = {"tunnel_id": tunnel_id, "snapshot_date": taken_at.date(), "snapshot_at": taken_at}
    for api_name, column in STAT_COUNTERS.items():
        put(row, column, integer(stats.get(api_name), f"{e}.{column}", odd))
    put(row, "total_sale", money(stats.get("totalSale"), f"{e}.total_sale", odd))
    put(row, "total_expenses", money(stats.get("totalExpenses"), f"{e}.total_expenses", odd))
    return row


def simple_row(item: Any, entity: str, columns: Iterable[str], odd: Oddities = QUIET,
               **fixed: Any) -> dict[str, Any] | None:
    """A reference-list row: id, the text columns named (camelCase in the API, as dlt names
    them here), `createdAt`/`updatedAt` as timestamps, fixed values, and any added field."""
    item = _mapping(item)
    item_id = entity_id(item.get("id"))
    if item_id is None:
        return None
    row: dict[str, Any] = {"id": item_id, **fixed}
    known = {"id", *fixed}
    for key in columns:
        if key in ("createdAt", "updatedAt"):
            put(row, column_name(key), timestamp(item.get(key), f"{entity}.{column_name(key)}", odd))
        else:
            row[column_name(key)] = text(item.get(key), f"{entity}.{column_name(key)}", odd)
        known.add(key)
    add_extras(row, item, frozenset(known), entity, odd)
    return row


def leadgentool_row(tool: Any, tunnel_id: str, odd: Oddities = QUIET) -> dict[str, Any] | None:
    kind = optional_text(_mapping(tool).get("type"), "leadgentools.type", odd)
    return simple_row(tool, "leadgentools", ("name",), odd, tunnel_id=tunnel_id, type=kind)


V1_KNOWN = frozenset({"id", "name", "tags", "from", "botStatus", "lastMessageTime", "createdAt"})


def v1_account_row(account: Any, odd: Oddities = QUIET) -> dict[str, Any] | None:
    account = _mapping(account)
    account_id = entity_id(account.get("id"))
    if account_id is None:
        return None
    e = "v1_accounts"
    row: dict[str, Any] = {
        "id": account_id,
        "name": text(account.get("name"), f"{e}.name", odd),
        "from": optional_text(account.get("from"), f"{e}.from", odd),
        "bot_status": optional_text(account.get("botStatus"), f"{e}.bot_status", odd),
        "tags": [text(t, f"{e}.tags", odd) for t in _items(account.get("tags"))],
    }
    put(row, "last_message_time", timestamp(account.get("lastMessageTime"), f"{e}.last_message_time", odd))
    put(row, "created_at", timestamp(account.get("createdAt"), f"{e}.created_at", odd))
    add_extras(row, account, V1_KNOWN, e, odd)
    return row
