"""The load files chosen per destination keep what the source yielded: on Postgres an empty
text stays an empty text and NULL stays NULL, and every awkward text (quotes, separators,
newlines, backslashes, `\\N`, "NULL", unicode) arrives byte for byte, in row tables and in
Arrow tables alike, through the COPY of `pipelines.warehouse.pgcopy`; column types are those dlt's own
INSERT path creates."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import psycopg2
import pyarrow as pa
import pytest

from pipelines.config.accounts import Account
from pipelines.warehouse import pgcopy, pgcopy_binary, pgcopy_csv
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
        pgcopy_csv.write_csv(pq.ParquetFile(path).iter_batches(), out)
    assert (tmp_path / "t.csv").read_bytes() == b'"",1,"\\x00ff"\n,,\n"NULL",3,"\\x"\n'
    assert "FORCE" not in pgcopy_csv.copy_statement('"s"."t"', ['"t"'])


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
        pgcopy_csv.write_csv(pq.ParquetFile(path).iter_batches(), out)
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


BINARY_COLUMNS = {  # Arrow type of a Parquet column -> the Postgres column dlt makes for it
    "text": (pa.string(), "character varying"),
    "long_text": (pa.large_string(), "character varying"),
    "count": (pa.int64(), "bigint"),
    "small": (pa.int32(), "integer"),
    "ratio": (pa.float64(), "double precision"),
    "flag": (pa.bool_(), "boolean"),
    "at": (pa.timestamp("us", tz="UTC"), "timestamp with time zone"),
    "at_ms": (pa.timestamp("ms", tz="Asia/Tokyo"), "timestamp with time zone"),
    "naive": (pa.timestamp("us"), "timestamp with time zone"),  # dlt takes a naive time as UTC
    "day": (pa.date32(), "date"),
    "money": (pa.decimal128(38, 9), "numeric"),
    "raw": (pa.binary(), "bytea"),
    "extra": (pa.string(), "jsonb"),
}


def test_binary_copy_only_where_every_column_reads_the_binary_form_as_is() -> None:
    """Binary COPY converts nothing, so a file goes binary only when each column's type is
    exactly the one pgpq writes (JSON text written as jsonb); any one mismatch sends the whole
    file as CSV, which Postgres coerces as before."""
    schema = pa.schema([(name, kind) for name, (kind, _) in BINARY_COLUMNS.items()])
    types = {name: column for name, (_, column) in BINARY_COLUMNS.items()} | {"naive": "timestamp without time zone"}
    encoder = pgcopy_binary.binary_encoder(schema, types)
    assert encoder is not None
    written = {c.name: c.data_type.ddl() for c in encoder.schema().columns}
    assert written["extra"] == "JSONB" and written["text"] == written["long_text"] == "TEXT"
    mismatches = {
        "ratio": (pa.float32(), "double precision"),  # 4 bytes where 8 are read
        "small": (pa.int32(), "bigint"),
        "at": (pa.timestamp("ns", tz="UTC"), "timestamp with time zone"),  # pgpq refuses nanoseconds
        "naive": (pa.timestamp("us"), "timestamp with time zone"),  # binary: as UTC; CSV: in the session's zone
        "day": (pa.timestamp("us", tz="UTC"), "date"),
        "count": (pa.uint64(), "bigint"),  # pgpq writes numeric
        "text": (pa.string(), "json"),  # json's binary form is not jsonb's
        "flag": (pa.bool_(), "smallint"),
    }
    for name, (kind, column) in mismatches.items():
        other = schema.set(schema.get_field_index(name), pa.field(name, kind))
        assert pgcopy_binary.binary_encoder(other, types | {name: column}) is None, name
    assert pgcopy_binary.binary_encoder(schema, {k: v for k, v in types.items() if k != "raw"}) is None
    load_id = pa.field("_dlt_load_id", pa.dictionary(pa.int8(), pa.string()))  # as dlt writes it
    with_load_id = types | {"_dlt_load_id": "character varying"}
    assert pgcopy_binary.binary_encoder(schema.append(load_id), with_load_id) is not None


def test_the_copy_reader_ends_only_at_the_end_of_the_data() -> None:
    """pgpq returns an empty chunk for a batch it buffers; an empty read tells psycopg2 the data
    ended, and binary COPY would accept the rows so far without an error."""
    reader = pgcopy_binary.ChunkReader(iter([b"head", b"", b"", b"rows", b"", b"end"]))
    assert [reader.read(3) for _ in range(5)] == [b"hea", b"d", b"row", b"s", b"end"]
    assert reader.read(3) == b""
    assert pgcopy_binary.ChunkReader(iter([b"", b"all"])).read() == b"all"


ODD = [
    {"text": "", "long_text": "", "count": 0, "small": -2**31, "ratio": -0.0, "flag": False, "day": dt.date(1, 1, 1),
     "at": dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc),
     "at_ms": dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=dt.timezone.utc), "money": Decimal("0"),
     "naive": dt.datetime(2000, 1, 1), "raw": b"", "extra": '""'},
    dict.fromkeys(BINARY_COLUMNS),
    {"text": "Привет, \"мир\"\n\\N,", "long_text": "🎉" * 1000, "count": 2**63 - 1, "small": 2**31 - 1,
     "ratio": 1e308, "flag": True, "day": dt.date(9999, 12, 31), "at": WHEN,
     "at_ms": WHEN.replace(microsecond=123000),
     "money": Decimal("-99999999999999999999999999999.999999999"), "naive": dt.datetime(2026, 3, 8, 2, 30),
     "raw": b"\x00\xff\\", "extra": '{"k": ["", null, "\\u00e9"]}'},
]


@pytest.mark.postgres
def test_a_binary_copy_loads_each_value_as_the_source_sent_it(
    dlt_env: Path, pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every column type our tables use, at its edges (empty, NULL, extremes, before 1970,
    awkward text), through a real load that the log says went binary."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    monkeypatch.setenv("PGTZ", "America/Los_Angeles")
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")  # as a run sets it
    pipeline = make_pipeline(Account("leeloo", "formats"), "postgres", unique_dataset)
    schema = pa.schema([(name, kind) for name, (kind, _) in BINARY_COLUMNS.items()])
    table = pa.Table.from_pylist([dict(r, id=i) for i, r in enumerate(ODD)], schema.append(pa.field("id", pa.int64())))
    columns: Any = {"extra": {"data_type": "json"}, "money": {"data_type": "decimal", "precision": 38, "scale": 9}}
    with caplog.at_level(logging.DEBUG, logger="chatfunnel.copy"):
        pipeline.extract(dlt.resource(table, name="odd", columns=columns),
                         loader_file_format=loader_file_format("postgres"))
        pipeline.normalize()
        pipeline.load().raise_on_failed_jobs()
    assert [r.getMessage() for r in caplog.records if '"odd"' in r.getMessage()] == [
        f'COPY "{unique_dataset}"."odd": 3 rows as binary']
    names = list(BINARY_COLUMNS)
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'select {", ".join(names)} from "{unique_dataset}"."odd" order by id')
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        cur.execute(f'select distinct _dlt_load_id from "{unique_dataset}"."odd"')
        assert cur.fetchall() == [(pipeline.last_trace.last_load_info.loads_ids[0],)]
        cur.execute("select column_name, data_type from information_schema.columns where table_schema = %s "
                    "and table_name = 'odd'", (unique_dataset,))
        types = dict(cur.fetchall())
    assert {n: types[n] for n in names} == {n: c for n, (_, c) in BINARY_COLUMNS.items()}
    for loaded, sent in zip(rows, ODD, strict=True):
        expected = dict(sent, raw=None if sent["raw"] is None else memoryview(sent["raw"]),
                        extra=None if sent["extra"] is None else json.loads(sent["extra"]),
                        naive=sent["naive"] and sent["naive"].replace(tzinfo=dt.timezone.utc))
        got = dict(loaded, raw=loaded["raw"] and memoryview(bytes(loaded["raw"])))
        assert got == expected


@pytest.mark.postgres
def test_a_binary_copy_reads_texts_as_utf8_whatever_the_client_encoding(
    dlt_env: Path, pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Binary COPY converts each text from the session's client encoding (CSV names UTF-8 in its
    statement); a LATIN1 client would turn every UTF-8 byte into a letter of its own, silently."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    pipeline = make_pipeline(Account("leeloo", "formats"), "postgres", unique_dataset)
    texts = ["Привет, мир 👋", "ümlaut", "", None]
    table = pa.table({"id": range(len(texts)), "text": pa.array(texts, pa.string())})
    pipeline.extract(dlt.resource(table, name="encoded"), loader_file_format=loader_file_format("postgres"))
    pipeline.normalize()
    pipeline.load().raise_on_failed_jobs()
    monkeypatch.delenv("PGCLIENTENCODING")
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'select text from "{unique_dataset}"."encoded" order by id')
        assert [row[0] for row in cur.fetchall()] == texts
