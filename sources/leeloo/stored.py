"""What the warehouse already holds, read back at the start of an extract.

Several questions need the loaded data itself rather than the per-entity ledger: which
entities are marked deleted (so one that reappears is loaded again, which clears the
mark), which messages of a channel are loaded (so a chain read in full shows which
ones are gone), and which channels hold messages marked deleted (the sweep reads those
chains whole, to check each mark where it stands). And which entities the warehouse holds
at all: every ledger is completed from its raw table (`sources.bookkeeping.Seed`),
declared here per resource.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sources import readback
from sources.bookkeeping import DELETIONS_TABLE, Entry, Row, Seed, from_completed_loads, register_seeds

SOURCE = "leeloo"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def marked_entry(row: Row) -> tuple[str, Entry] | None:
    """An entry whose mark is the raw row's second column, as the resource writes it
    (a person's last message time, an order's status, the tunnel of a tool, the category
    of a template): an order's next status change then starts from the status loaded."""
    return None if row[0] is None else (str(row[0]), Entry(mark=_text(row[1])))


# A channel's entry gets no mark: never loaded "until" anything, so its whole chain is read
# once and every message the warehouse holds that the chain lacks is proved gone.
for _resource, _seed in {
    "people": Seed("people", ("id", "last_message_time"), marked_entry),
    "communication_channels": Seed("communication_channels"),
    "orders": Seed("orders", ("id", "status"), marked_entry),
    "leadgentools": Seed("leadgentools", ("id", "tunnel_id"), marked_entry),
    "templates": Seed("templates", ("id", "category_id"), marked_entry),
    **{name: Seed(name) for name in ("tunnels", "users", "tags", "connections", "template_categories")},
}.items():
    register_seeds(SOURCE, _resource, _seed)


def _has_table(table: str, column: str | None = None) -> bool:
    columns = readback.stored_columns(table)
    return columns is not None and (column is None or column in columns)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def deleted_ids(tables: Iterable[str]) -> dict[str, set[str]]:
    """Per table, the ids marked gone: by a deletion row that still stands, or by
    `deleted_at` on the raw row (also set when a parent's deletion took the row with it).
    Read once per extract."""
    names = tuple(tables)

    def read() -> dict[str, set[str]]:
        with readback.batch():
            return _deleted_ids(names)

    return readback.remembered(("deleted ids", names), read)


def _deleted_ids(tables: Iterable[str]) -> dict[str, set[str]]:
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
    read that proved nothing once left is cleared (and a true one stands). Read once per
    extract."""
    return readback.remembered(("channels with marked messages",), _channels_with_marked_messages)


def _channels_with_marked_messages() -> set[str]:
    if not _has_table("chat_messages", "deleted_at"):
        return set()
    sql = "select distinct account_id from chat_messages where deleted_at is not null"
    return {str(row[0]) for row in readback.query(sql)}


def message_ids(channel_ids: Collection[str]) -> dict[str, set[str]]:
    """The loaded (and not deleted) message ids of these channels."""
    with readback.batch():
        return _message_ids(channel_ids)


def _message_ids(channel_ids: Collection[str]) -> dict[str, set[str]]:
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
