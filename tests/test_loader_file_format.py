"""The load files chosen per destination keep what the source yielded: on Postgres an empty
text stays an empty text and NULL stays NULL, and every awkward text (quotes, separators,
newlines, backslashes, `\\N`, "NULL", unicode) arrives byte for byte, in row tables and in
Arrow tables alike, through the COPY of `pipelines.warehouse.pgcopy`; column types are those dlt's own
INSERT path creates."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import dlt
import psycopg2
import pyarrow as pa
import pytest

from pipelines.config.accounts import Account
from pipelines.warehouse import pgcopy
from pipelines.warehouse.account_pipeline import loader_file_format, make_pipeline

TEXTS = [
    "", None, "NULL", "null", "\\N", "N", '"', '""', "a,b", 'say "hi", then\nleave', "tab\there",
    "back\\slash\\", "\r\n", "  padded  ", "Привет, мир 👋", "emoji 🎉 and ümlaut", ",", "\\.", "'single'",
]
WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc)
ROWS = [{"id": i, "text": t, "note": TEXTS[-1 - i], "flag": i % 2 == 0, "at": WHEN, "amount": i * 1.5}
        for i, t in enumerate(TEXTS)]
EXPECTED = [(r["id"], r["text"], r["note"], r["flag"], r["at"], r["amount"]) for r in ROWS]
COLUMNS: Any = {"id": {"data_type": "bigint"}, "text": {"data_type": "text"}, "note": {"data_type": "text"},
                "flag": {"data_type": "bool"}, "at": {"data_type": "timestamp"}, "amount": {"data_type": "double"},
                "extra": {"data_type": "json"}}
TYPES = {"id": "bigint", "text": "character varying", "note": "character varying", "flag": "boolean",
         "at": "timestamp with time zone", "amount": "double precision", "extra": "jsonb"}


@pytest.mark.postgres
def test_postgres_keeps_every_text_as_the_source_sent_it(
    dlt_env: Path, pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    pipeline = make_pipeline(Account("leeloo", "formats"), "postgres", unique_dataset)
    rows = dlt.resource([dict(r, extra={"k": r["text"]}) for r in ROWS], name="rows", columns=COLUMNS)
    arrow = dlt.resource(pa.Table.from_pylist(ROWS), name="arrow_rows")
    with caplog.at_level(logging.WARNING):
        pipeline.extract([rows, arrow], loader_file_format=loader_file_format("postgres"))
        pipeline.normalize()
        info = pipeline.load()
        info.raise_on_failed_jobs()
    jobs = [job for package in info.load_packages for job in package.jobs["completed_jobs"]]
    assert {j.job_file_info.table_name for j in jobs if j.file_path.endswith(".parquet")} >= {"rows", "arrow_rows"}
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        for table in ("rows", "arrow_rows"):
            cur.execute(f'select id, text, note, flag, at, amount from "{unique_dataset}"."{table}" order by id')
            assert cur.fetchall() == EXPECTED, table
        cur.execute(f'select id, extra from "{unique_dataset}"."rows" order by id')
        assert cur.fetchall() == [(r["id"], {"k": r["text"]}) for r in ROWS]
        cur.execute("select column_name, data_type from information_schema.columns "
                    "where table_schema = %s and table_name = 'rows'", (unique_dataset,))
        types = dict(cur.fetchall())
    assert {c: types[c] for c in TYPES} == TYPES
    assert not [r for r in caplog.records if "ArrowToInsertValuesWriter" in r.getMessage()]


def test_parquet_files_load_through_our_copy_on_dlts_postgres_client() -> None:
    """Pins what `pgcopy` relies on in dlt: the job a Postgres client makes for a Parquet file,
    the capability that would drop Parquet without an ADBC driver, and dlt's CSV COPY still
    forcing NULLs (were that gone, dlt's CSV path could replace ours)."""
    import inspect

    from dlt.destinations.impl.postgres import postgres as dlt_postgres_module

    destination = pgcopy.destination(credentials="postgresql://u:p@localhost:5432/db")
    assert destination.destination_type.rsplit(".", 1)[-1] == "postgres"
    assert destination.client_class is pgcopy.CopyingPostgresClient
    assert issubclass(pgcopy.CopyingPostgresClient, dlt_postgres_module.PostgresClient)
    caps = destination.capabilities()
    assert caps.loader_file_format_selector is None
    assert "parquet" in caps.supported_loader_file_formats
    assert "FORCE_NULL" in inspect.getsource(dlt_postgres_module.PostgresCsvCopyJob.run)
    assert inspect.signature(dlt_postgres_module.PostgresClient.create_load_job).parameters.keys() == {
        "self", "table", "file_path", "load_id", "restore"}


def test_our_csv_quotes_every_text_and_leaves_null_bare(tmp_path: Path) -> None:
    """The distinction COPY reads: `""` is an empty text, a bare empty field is NULL."""
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"t": ["", None, "NULL"], "n": [1, None, 3], "b": [b"\x00\xff", None, b""]}), path)
    with (tmp_path / "t.csv").open("wb") as out:
        assert pgcopy.write_csv(str(path), out) == ["t", "n", "b"]
    assert (tmp_path / "t.csv").read_bytes() == b'"",1,"\\x00ff"\n,,\n"NULL",3,"\\x"\n'
    assert "FORCE" not in pgcopy.copy_statement('"s"."t"', ['"t"'])


INSTANTS = [WHEN, None, dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc),
            dt.datetime(2026, 3, 8, 10, 30, tzinfo=dt.timezone.utc)]  # Los Angeles' clocks had just gone forward


def test_our_csv_writes_a_zoned_timestamp_as_its_utc_instant(tmp_path: Path) -> None:
    """Arrow holds zoned timestamps as UTC instants: each zone and unit writes the same text, with
    `+00`, and NULL stays a bare empty field."""
    import pyarrow.parquet as pq

    zones = {f"{zone}_{unit}": pa.array(INSTANTS, pa.timestamp("us", tz="UTC")).cast(pa.timestamp(unit, tz=zone))
             for zone in ("UTC", "Asia/Tokyo", "America/Sao_Paulo") for unit in ("us", "ns")}
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table(zones), path)
    with (tmp_path / "t.csv").open("wb") as out:
        pgcopy.write_csv(str(path), out)
    lines = (tmp_path / "t.csv").read_bytes().decode().splitlines()
    assert lines[1] == ",,,,,"
    assert set(lines[0].split(",")[::2]) == {'"2024-05-06 07:08:09.123456+00"'}
    assert set(lines[0].split(",")[1::2]) == {'"2024-05-06 07:08:09.123456000+00"'}
    assert set(lines[2].split(",")[::2]) == {'"1969-12-31 23:59:59.999999+00"'}


@pytest.mark.postgres
def test_postgres_reads_each_zoned_timestamp_as_the_same_instant_in_any_session_zone(
    dlt_env: Path, pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    monkeypatch.setenv("PGTZ", "America/Los_Angeles")  # the load's sessions read text in this zone
    pipeline = make_pipeline(Account("leeloo", "formats"), "postgres", unique_dataset)
    utc = pa.array(INSTANTS, pa.timestamp("us", tz="UTC"))
    table = pa.table({"id": range(len(INSTANTS)), "utc": utc,
                      "tokyo": utc.cast(pa.timestamp("ns", tz="Asia/Tokyo")),
                      "plus_three": utc.cast(pa.timestamp("ms", tz="+03:00"), safe=False)})
    pipeline.extract(dlt.resource(table, name="stamps"), loader_file_format=loader_file_format("postgres"))
    pipeline.normalize()
    pipeline.load().raise_on_failed_jobs()
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'select utc, tokyo, plus_three from "{unique_dataset}"."stamps" order by id')
        rows = cur.fetchall()
    assert rows == list(zip(INSTANTS, INSTANTS, table["plus_three"].to_pylist(), strict=True))
    assert rows[0][2] == WHEN.replace(microsecond=123000)


def test_duckdb_and_the_lake_load_parquet() -> None:
    assert {loader_file_format(d) for d in ("duckdb", "filesystem", "postgres")} == {"parquet"}
