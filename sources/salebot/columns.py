"""The tables the Salebot source writes: their declared columns and keys.

These are chatfunnel's own layout, never fields the API started to send (those arrive as
new columns, see :mod:`sources.salebot.rows`).
"""

from __future__ import annotations

from typing import Any, cast

import dlt

from sources.bookkeeping import table_hints
from sources.kit.columns import column_of, key_column
from sources.kit.columns import timestamp_column as _ts


def _text() -> dict[str, Any]:
    return column_of("text")


def _bigint() -> dict[str, Any]:
    return column_of("bigint")


CLIENT_COLUMNS: dict[str, Any] = {
    "id": key_column("bigint"),
    "platform_id": _text(),
    "client_type": _bigint(),
    "name": _text(),
    "avatar": _text(),
    "message_id": _bigint(),
    "project_id": _bigint(),
    "created_at": _ts(),
    "updated_at": _ts(),
    "custom_answer": _text(),
    "tag": _text(),
    "group": _text(),
    "operator_start_dialog": _text(),
    "deleted_at": _ts(),
}
MESSAGE_COLUMNS: dict[str, Any] = {
    "id": key_column("bigint"),
    "client_id": _bigint(),
    "created_at": _ts(),
    "received_at": _ts(),
    "text": _text(),
    "client_replica": column_of("bool"),
    "answered": column_of("bool"),
    "delivered": column_of("bool"),
    "error_message": _text(),
    "message_id": _bigint(),
    "manager_id": _bigint(),
    "manager_email": _text(),
    "message_from_outside": _bigint(),
    "attachments": column_of("json"),
    "origin": _text(),
    "deleted_at": _ts(),
}
ORDER_COLUMNS: dict[str, Any] = {
    "id": key_column("bigint"),
    "client_id": _bigint(),
    "status": _bigint(),
    "status_name": _text(),
    "state_id": _bigint(),
    "variables": column_of("json"),
    "first_seen_at": _ts(),
    "created_after": _ts(),
    "deleted_at": _ts(),
}
VARIABLE_COLUMNS: dict[str, Any] = {
    "id": key_column("text"),  # "<client_id>:<name>"
    "client_id": key_column("bigint"),
    "name": key_column("text"),
    "value": _text(),
    "deleted_at": _ts(),
    # a client whose every variable is gone sends one row with this set: dlt deletes the
    # client's rows (merge key `client_id`) and stores none
    "no_variables": {"data_type": "bool", "hard_delete": True},
}
CHANGE_COLUMNS: dict[str, Any] = {
    "order_id": key_column("bigint"),
    "change_seq": key_column("bigint"),
    "client_id": _bigint(),
    "old_status": _bigint(),
    "new_status": _bigint(),
    "old_status_name": _text(),
    "new_status_name": _text(),
    "old_state_id": _bigint(),
    "new_state_id": _bigint(),
    "changed_at": _ts(),
    "observed_at": _ts(),
}

# the columns chatfunnel declares per table: its own layout, never fields the API started to send
DECLARED_COLUMNS: dict[str, dict[str, Any]] = {
    "clients": CLIENT_COLUMNS, "messages": MESSAGE_COLUMNS, "orders": ORDER_COLUMNS,
    "client_variables": VARIABLE_COLUMNS, "order_status_changes": CHANGE_COLUMNS,
}

_KEYS: dict[str, tuple[dict[str, Any], str | tuple[str, ...]]] = {
    "messages": (MESSAGE_COLUMNS, "id"),
    "orders": (ORDER_COLUMNS, "id"),
    "order_status_changes": (CHANGE_COLUMNS, ("order_id", "change_seq")),
}


def hints(table: str) -> Any:
    """Hints for the rows `client_details` yields into `table`: variables merge per client
    (a client's rows are replaced whole), the others per row key."""
    if table == "client_variables":
        return dlt.mark.make_hints(
            table_name=table,
            primary_key="id",
            merge_key="client_id",
            write_disposition="merge",
            columns=cast(Any, {k: dict(v) for k, v in VARIABLE_COLUMNS.items()}),
        )
    columns, key = _KEYS[table]
    return table_hints(table, columns, key)
