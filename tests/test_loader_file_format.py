"""The load files chosen per destination keep what the source yielded: on Postgres an empty
text stays an empty text and NULL stays NULL, in row tables and in Arrow tables alike (dlt's
CSV through COPY turns every empty text of a nullable column into NULL), and the choice
does not print dlt's conversion warning into every night's log."""

from __future__ import annotations

import logging
from pathlib import Path

import dlt
import psycopg2
import pyarrow as pa
import pytest

from pipelines.accounts import Account
from pipelines.warehouse import loader_file_format, make_pipeline

ROWS = [{"id": 1, "text": "", "note": None}, {"id": 2, "text": None, "note": "x"}, {"id": 3, "text": "a", "note": ""}]
EXPECTED = [(1, "", None), (2, None, "x"), (3, "a", "")]


@pytest.mark.postgres
def test_postgres_keeps_empty_texts_and_nulls_apart(
    dlt_env: Path, pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    pipeline = make_pipeline(Account("leeloo", "formats"), "postgres", unique_dataset)
    columns = {"id": {"data_type": "bigint"}, "text": {"data_type": "text"}, "note": {"data_type": "text"}}
    rows = dlt.resource([dict(r) for r in ROWS], name="rows", columns=columns)
    arrow = dlt.resource(pa.Table.from_pylist(ROWS), name="arrow_rows")
    with caplog.at_level(logging.WARNING):
        pipeline.extract([rows, arrow], loader_file_format=loader_file_format("postgres"))
        pipeline.normalize()
        pipeline.load().raise_on_failed_jobs()
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        for table in ("rows", "arrow_rows"):
            cur.execute(f'select id, text, note from "{unique_dataset}"."{table}" order by id')
            assert cur.fetchall() == EXPECTED, table
    assert not [r for r in caplog.records if "ArrowToInsertValuesWriter" in r.getMessage()]


def test_duckdb_and_the_lake_load_parquet() -> None:
    assert loader_file_format("duckdb") == loader_file_format("filesystem") == "parquet"
