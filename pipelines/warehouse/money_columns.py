"""Money columns an older version loaded as floats, made exact decimals in place.

Prices, sales and expenses are `decimal(38, 9)` (see `sources.kit.values.money`). A
warehouse an older version loaded holds them as `double`, and dlt never changes the type
of a column it created: the first load of today's declarations would stop with "cannot
coerce". So the layout migration alters each such column once, on the engine, and records
the new type in the dlt schema, before anything is extracted.

A stored double is the nearest float to what the API sent, and its shortest text is the
API's amount (up to 15 significant digits, and most with 16 or 17); that text is what the
column gets, rounded to 9 decimal places if it has more. The reports are dropped first (a
Postgres view cannot outlive a type change of a column it reads); the run rebuilds them
after its load. A Parquet lake keeps its older files as they are (their column is double);
the new type applies to the files written from now on.
"""

from __future__ import annotations

from typing import Any

import dlt

from pipelines.warehouse.destinations import destination_of
from sources.kit.values import MONEY_PRECISION, MONEY_SCALE

# (table, column) of every money column, per source (Salebot keeps no amount in a column)
MONEY_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "leeloo": (("orders", "price"), ("order_status_changes", "price"),
               ("tunnel_stats", "total_sale"), ("tunnel_stats", "total_expenses")),
    "salebot": (),
}
DECIMAL = {"data_type": "decimal", "precision": MONEY_PRECISION, "scale": MONEY_SCALE}


def float_money_columns(schema_tables: dict[str, Any], source: str) -> list[tuple[str, str]]:
    """The money columns of `source` that the stored schema holds with another type."""
    found = []
    for table, column in MONEY_COLUMNS.get(source, ()):
        stored = schema_tables.get(table, {}).get("columns", {}).get(column)
        if stored and stored.get("data_type") and stored.get("data_type") != "decimal":
            found.append((table, column))
    return found


def alter_statement(qualified_table: str, quoted_column: str) -> str:
    """One column to decimal(38, 9), the same text on Postgres and DuckDB. Through the
    float's shortest text, which both engines print: a direct cast gives DuckDB's binary
    expansion (12345678901234.560546875) and Postgres' 15 digits (12345678901234.6)."""
    decimal = f"numeric({MONEY_PRECISION}, {MONEY_SCALE})"
    return (f"alter table {qualified_table} alter column {quoted_column} type {decimal} "
            f"using cast(cast({quoted_column} as text) as {decimal})")


def make_money_exact(pipeline: dlt.Pipeline, source: str) -> list[str]:
    """Alter the float money columns of the dataset to exact decimals; what it changed."""
    schema = pipeline.default_schema
    columns = float_money_columns(schema.tables, source)
    if not columns:
        return []
    if destination_of(pipeline).sql:
        from transforms.runner import drop_reports

        drop_reports(pipeline, source)
        with pipeline.sql_client() as client, client.begin_transaction():
            for table, column in columns:
                client.execute_sql(alter_statement(client.make_qualified_table_name(table),
                                                   client.escape_column_name(column)))
    for table, column in columns:
        schema.tables[table]["columns"][column].update(DECIMAL)  # type: ignore[typeddict-item]
    pipeline.schemas.save_schema(schema)
    names = ", ".join(f"{t}.{c}" for t, c in columns)
    return [f"money columns made exact decimals (numeric({MONEY_PRECISION}, {MONEY_SCALE})), "
            f"were floating point: {names}"]
