"""The example queries in README.md and docs/ that are said to work on the warehouse parse on
Postgres and on DuckDB. Nothing is loaded: a query that parses fails only for want of its
table (Postgres: undefined_table; DuckDB: a catalog error), a syntax error is a bug in the docs
(`interval 7 day` is DuckDB's alone)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WAREHOUSE_SCHEMA = re.compile(r"\b(leeloo|salebot)\w*\.\w+")


def example_queries() -> list[str]:
    """Inline `select ...` spans and ```sql blocks that read the warehouse's schemas (the lake's
    read_parquet queries are DuckDB over files, the webhook inbox's SQLite: not warehouse SQL)."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        candidates = re.findall(r"`(select [^`]+)`", text) + re.findall(r"```sql\n(.*?)```", text, re.S)
        for sql in candidates:
            body = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
            for statement in (s.strip() for s in body.split(";")):
                if statement.lower().startswith("select") and WAREHOUSE_SCHEMA.search(statement) \
                        and "read_parquet" not in statement:
                    found.append(statement)
    return found


def test_the_docs_have_example_queries() -> None:
    queries = example_queries()
    assert len(queries) >= 10
    assert any("_chatfunnel_runs" in q and "interval" in q for q in queries)


@pytest.mark.parametrize("sql", example_queries())
def test_an_example_query_parses_on_postgres(sql: str, pg_dsn: str) -> None:
    import psycopg2
    from psycopg2 import errors

    # parsed when the only complaint is the table, which is not loaded here
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur, contextlib.suppress(errors.UndefinedTable):
        cur.execute(sql)


@pytest.mark.parametrize("sql", example_queries())
def test_an_example_query_parses_on_duckdb(sql: str) -> None:
    import duckdb

    con = duckdb.connect()
    try:
        with contextlib.suppress(duckdb.CatalogException):  # parsed; the table is not loaded here
            con.execute(sql)
    finally:
        con.close()
