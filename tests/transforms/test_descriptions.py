"""The warehouse explains itself: every report and every report column carries its
description as a database comment on DuckDB and Postgres, the same text as docs/reports.md
(the model header; the column tables); any column without one is listed."""

from __future__ import annotations

from typing import Any

from tests.transforms.conftest import Warehouse
from transforms.descriptions import column_descriptions, parse, plain
from transforms.runner import load_models


def comments(wh: Warehouse) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(relation -> comment, (relation, column) -> comment) of the reports dataset."""
    schema = f"{wh.dataset}_reports"
    with wh.pipeline.sql_client() as client:
        def rows(sql: str) -> list[Any]:
            with client.execute_query(sql) as cur:
                return list(cur.fetchall())

        if wh.engine == "duckdb":
            relations = rows(f"select table_name, comment from duckdb_tables() where schema_name = '{schema}' "
                             f"union all select view_name, comment from duckdb_views() where schema_name = '{schema}'")
            columns = rows(f"select table_name, column_name, comment from duckdb_columns() "
                           f"where schema_name = '{schema}'")
        else:
            relations = rows(f"select c.relname, obj_description(c.oid, 'pg_class') from pg_class c join "
                             f"pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' "
                             "and c.relkind in ('r', 'v')")
            columns = rows(f"select c.relname, a.attname, col_description(c.oid, a.attnum) from pg_class c "
                           f"join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid "
                           f"where n.nspname = '{schema}' and a.attnum > 0 and not a.attisdropped "
                           "and c.relkind in ('r', 'v')")
    return dict(relations), {(t, c): text for t, c, text in columns}


def check(wh: Warehouse, source: str) -> None:
    relations, columns = comments(wh)
    reports = [m for m in load_models(source) if m.layer == "reports"]
    for model in load_models(source):
        assert relations.get(model.name) == plain(model.description), model.name
    without = sorted(f"{t}.{c}" for (t, c), text in columns.items()
                     if t in {m.name for m in reports} and not text)
    assert not without, f"report columns without a description: {without}"
    for model in reports:
        for column, text in column_descriptions(source, model.name).items():
            if (model.name, column) in columns:
                assert columns[(model.name, column)] == text


def test_every_leeloo_report_column_is_described(fixture_warehouse: Warehouse) -> None:
    check(fixture_warehouse, "leeloo")


def test_every_salebot_report_column_is_described(salebot_warehouse: Warehouse) -> None:
    check(salebot_warehouse, "salebot")


def test_descriptions_come_from_the_column_tables() -> None:
    docs = parse("## Leeloo (`x`)\n### `a` and `b`\n| column | meaning |\n|---|---|\n"
                 "| `c1`, `c2` | the **first** `x` |\n## Salebot\n### `a` (Salebot)\n| `c1` | sb's |\n")
    assert docs["leeloo"] == {"a": {"c1": "the first x", "c2": "the first x"},
                              "b": {"c1": "the first x", "c2": "the first x"}}
    assert docs["salebot"] == {"a": {"c1": "sb's"}}
