"""After a load: deletions the source proved become `deleted_at` on the raw rows.

A source that proves an entity gone (a complete listing without it, a 404 for its id)
yields a row into `_chatfunnel_deletions` (`sources.bookkeeping.deletion_rows`); dlt loads
it with the data. This step then sets `deleted_at` on the entity's raw row, and on the rows
that hang off it (`DELETION_CASCADES` of the source: a deleted channel's messages), in one
transaction. The raw rows stay, for audit; staging models and reports leave them out. A
row the source loads again (the entity came back) arrives with `deleted_at` NULL, and the
ledger row says so too, so nothing marks it again.

A proof is tied to the load that wrote it: it marks a row only if that row was loaded no
later than the proof (`_dlt_load_id`). A row loaded live after the proof is newer word
from the API than the proof, so a stale proof is never applied to it again.
"""

from __future__ import annotations

from collections.abc import Sequence

import dlt

from pipelines.warehouse.destinations import destination_of
from sources.bookkeeping import DELETIONS_TABLE, from_completed_loads
from transforms.engine import bound_lock_waits, sql_engine

Cascade = tuple[str, str, str]  # (child table, child column, parent table)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def apply_deletions(pipeline: dlt.Pipeline, cascades: Sequence[Cascade] = ()) -> dict[str, int]:
    """Set `deleted_at` from the ledger; returns {"deleted_<table>": rows marked by this run}."""
    if not pipeline.default_schema_name:
        return {}
    schema = pipeline.default_schema
    if DELETIONS_TABLE not in schema.tables:
        return {}
    deletable = {name for name, table in schema.tables.items()
                 if name != DELETIONS_TABLE and {"deleted_at", "id"} <= set(table.get("columns", {}))}
    with_load_id = {name for name in deletable if "_dlt_load_id" in schema.tables[name].get("columns", {})}
    marked: dict[str, int] = {}
    with pipeline.sql_client() as client:
        # proofs of completed loads only: a load that failed halfway proves nothing
        completed = from_completed_loads(client.make_qualified_table_name("_dlt_loads"))
        ledger = f"(select * from {client.make_qualified_table_name(DELETIONS_TABLE)} where {completed})"
        if not client.execute_sql(f"select 1 from {ledger} d where deleted_at is not null limit 1"):
            return {}
        with client.begin_transaction():
            bound_lock_waits(client, sql_engine(pipeline))
            for table in sorted(deletable):
                target = client.make_qualified_table_name(table)
                not_newer = f" and {target}._dlt_load_id <= l._dlt_load_id" if table in with_load_id else ""
                rows = client.execute_sql(
                    f"update {target} set deleted_at = l.deleted_at from {ledger} l "
                    f"where l.table_name = {_lit(table)} and l.entity_id = cast({target}.id as varchar) "
                    f"and l.deleted_at is not null and {target}.deleted_at is null{not_newer} returning 1"
                )
                if rows:
                    marked[f"deleted_{table}"] = len(rows)
            for child, column, parent in cascades:
                if child not in deletable or parent not in deletable:
                    continue
                target = client.make_qualified_table_name(child)
                source = client.make_qualified_table_name(parent)
                rows = client.execute_sql(
                    f"update {target} set deleted_at = p.deleted_at from {source} p "
                    f"where cast({target}.{_q(column)} as varchar) = cast(p.id as varchar) "
                    f"and p.deleted_at is not null and {target}.deleted_at is null returning 1"
                )
                if rows:
                    marked[f"deleted_{child}"] = marked.get(f"deleted_{child}", 0) + len(rows)
    return marked


def remove_replayed_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """After finishing an interrupted load: rows a replayed job loaded twice, removed.

    A kill between a load job's commit and dlt's record of it makes dlt run that job again
    when the package is resumed. dlt's merge deduplicates nested tables for exactly that
    case, but a root table with nested tables keeps both copies (they share one `_dlt_id`,
    which is what the merge selects by). Two rows with one `_dlt_id` are always such a
    replay, never data: this keeps one of each. Returns {table: rows removed}.
    """
    if not pipeline.default_schema_name:
        return {}
    tables = [name for name, table in pipeline.default_schema.tables.items()
              if "_dlt_id" in table.get("columns", {}) and not name.startswith("_dlt")]
    delete_twins = destination_of(pipeline).delete_replayed_rows
    removed: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in tables:
            target = client.make_qualified_table_name(table)
            try:
                extra = client.execute_sql(f"select count(*) - count(distinct _dlt_id) from {target}")[0][0]
            except Exception:  # noqa: BLE001 - a table of the schema not created yet
                continue
            if not extra:
                continue
            client.execute_sql(delete_twins.format(target=target))
            removed[table] = int(extra)
    return removed
