"""One name for a value that does not fit its column: `<column>__v_text`, in both sources.

Leeloo always named the text side column `<column>__v_text` (the name dlt gives a text
variant); Salebot, before 0.16.0, `<column>_raw`. The layout migration renames Salebot's
existing side columns, on the engine and in the dlt schema, so the values kept there stay
where an analyst now looks for them. Only a `<column>_raw` beside a column `<column>` of the
same table is one (a field the API sends named `..._raw` went to `extra_fields`). A Parquet
lake keeps the old name in its older files; the dlt schema and new files use the new one.
"""

from __future__ import annotations

from typing import Any

import dlt

from pipelines.warehouse.destinations import destination_of
from sources.kit.values import SIDE
from sources.salebot.rows import LEGACY_SIDE

RENAMED_SOURCES = frozenset({"salebot"})


def legacy_side_columns(schema_tables: dict[str, Any], source: str) -> list[tuple[str, str]]:
    """(table, column) of every side column under the old name, in schema order."""
    if source not in RENAMED_SOURCES:
        return []
    found = []
    for table, spec in schema_tables.items():
        columns = spec.get("columns", {})
        for name in columns:
            base = name[: -len(LEGACY_SIDE)]
            if name.endswith(LEGACY_SIDE) and base in columns and base + SIDE not in columns:
                found.append((table, name))
    return found


def _renamed(columns: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The columns in the same order, `old` under the name `new`."""
    out = {}
    for name, spec in columns.items():
        out[new if name == old else name] = {**spec, "name": new} if name == old else spec
    return out


def rename_side_columns(pipeline: dlt.Pipeline, source: str) -> list[str]:
    """Rename `<column>_raw` to `<column>__v_text`; what it changed."""
    schema = pipeline.default_schema
    found = legacy_side_columns(schema.tables, source)
    if not found:
        return []
    if destination_of(pipeline).sql:
        with pipeline.sql_client() as client, client.begin_transaction():
            for table, column in found:
                new = column[: -len(LEGACY_SIDE)] + SIDE
                client.execute_sql(f"alter table {client.make_qualified_table_name(table)} rename column "
                                   f"{client.escape_column_name(column)} to {client.escape_column_name(new)}")
    for table, column in found:
        spec = schema.tables[table]
        spec["columns"] = _renamed(spec["columns"], column, column[: -len(LEGACY_SIDE)] + SIDE)
    pipeline.schemas.save_schema(schema)
    names = ", ".join(f"{t}.{c}" for t, c in found)
    return [f"side columns renamed to <column>{SIDE}, the name both sources use: {names}"]
