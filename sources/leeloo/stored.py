"""What the warehouse already holds, read back at the start of an extract.

Three questions need the loaded data itself rather than the per-entity ledger: which
entities are marked deleted (so one that reappears is loaded again, which clears the
mark), which messages of a channel are loaded (so a chain read in full shows which
ones are gone), and which channels hold messages marked deleted (the sweep reads those
chains whole, to check each mark where it stands).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import dlt

from sources import readback
from sources.bookkeeping import DELETIONS_TABLE, from_completed_loads


def _has_table(table: str, column: str | None = None) -> bool:
    pipeline = dlt.current.pipeline()
    if not pipeline.default_schema_name or table not in pipeline.default_schema.tables:
        return False
    return column is None or column in pipeline.default_schema.tables[table].get("columns", {})


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def deleted_ids(tables: Iterable[str]) -> dict[str, set[str]]:
    """Per table, the ids marked gone: by a deletion row that still stands, or by
    `deleted_at` on the raw row (also set when a parent's deletion took the row with it)."""
    found: dict[str, set[str]] = {table: set() for table in tables}
    if _has_table(DELETIONS_TABLE):
        sql = (
            "select table_name, entity_id from (select table_name, entity_id, deleted_at, row_number() over "
            f"(partition by table_name, entity_id order by _dlt_load_id desc) as version from {DELETIONS_TABLE} "
            f"where {from_completed_loads()}) v "
            "where version = 1 and deleted_at is not null"
        )
        for table, entity in readback.query(sql):
            found.setdefault(str(table), set()).add(str(entity))
    for table, ids in found.items():
        if _has_table(table, "deleted_at"):
            marked = readback.query(f"select distinct id from {table} where deleted_at is not null")
            ids.update(str(r[0]) for r in marked)
    return found


def channels_with_marked_messages() -> set[str]:
    """Channels holding messages marked deleted. The sweep reads their chains whole: a mark
    must be checked against the API where it stands, however old the message, so a mark a
    read that proved nothing once left is cleared (and a true one stands)."""
    if not _has_table("chat_messages", "deleted_at"):
        return set()
    sql = "select distinct account_id from chat_messages where deleted_at is not null"
    return {str(row[0]) for row in readback.query(sql)}


def message_ids(channel_ids: Collection[str]) -> dict[str, set[str]]:
    """The loaded (and not deleted) message ids of these channels."""
    if not channel_ids or not _has_table("chat_messages"):
        return {}
    live = " and deleted_at is null" if _has_table("chat_messages", "deleted_at") else ""
    found: dict[str, set[str]] = {channel: set() for channel in channel_ids}
    ordered = sorted(channel_ids)
    for start in range(0, len(ordered), 500):
        chunk = ", ".join(_literal(c) for c in ordered[start : start + 500])
        sql = f"select distinct id, account_id from chat_messages where account_id in ({chunk}){live}"
        for message_id, channel in readback.query(sql):
            found.setdefault(str(channel), set()).add(str(message_id))
    return found
