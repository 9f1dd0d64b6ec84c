"""Postgres loads Parquet files through COPY, keeping an empty text apart from NULL.

dlt's own fast Postgres paths do not fit: its CSV COPY names every nullable column in
FORCE_NULL (and its CSV writer cannot tell a missing value from an empty text either), so an
empty text arrives as NULL; its Parquet path needs an ADBC driver and creates JSON columns as
`json` instead of `jsonb`. Parquet keeps NULL and "" apart, and Arrow's CSV writer quotes every
text and leaves NULL unquoted: that is exactly what COPY's CSV format reads back as "" and NULL
when no column is forced. So a Parquet file is streamed as such a CSV into one COPY.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.destination.client import HasFollowupJobs, LoadJob, PreparedTableSchema, RunnableLoadJob
from dlt.common.schema import TColumnSchema
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations import postgres as dlt_postgres
from dlt.destinations.impl.postgres.factory import PostgresTypeMapper
from dlt.destinations.impl.postgres.postgres import PostgresClient
from dlt.destinations.impl.postgres.postgres_adapter import GEOMETRY_HINT

BATCH_ROWS = 50_000
SPOOL_BYTES = 64 * 1024 * 1024


def copy_statement(qualified_table: str, quoted_columns: list[str]) -> str:
    """COPY in CSV format where only an unquoted empty field is NULL: no FORCE_NULL, no FORCE_NOT_NULL."""
    return f"COPY {qualified_table} ({','.join(quoted_columns)}) FROM STDIN WITH (FORMAT CSV, NULL '', ENCODING 'UTF8')"


def _bytea_hex(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Binary values as Postgres reads bytea text (`\\x` and hex): Arrow's CSV writer would put raw bytes."""
    return pa.array([None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.string())


def _utc_text(column: pa.Array, unit: str) -> pa.Array:
    """A time-zone-aware timestamp column as UTC text with an explicit `+00`. Arrow's CSV writer
    looks the zone up for every value (~1.4 µs each: 0.75 s per column of 534,140 messages);
    Arrow keeps such values as UTC instants, so dropping the zone and naming UTC is exact and
    ten times faster. The offset makes Postgres read the instant whatever the session's zone."""
    utc = column.cast(pa.timestamp(unit))
    return pc.binary_join_element_wise(utc.cast(pa.string()), "+00", "")


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with its binary columns as bytea text (Arrow writes raw bytes into CSV) and its
    zoned timestamps as UTC text (Arrow writes them slowly)."""
    arrays = [_csv_column(field.type, column) for field, column in zip(batch.schema, batch.columns, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _csv_column(kind: pa.DataType, column: pa.Array) -> pa.Array:
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _bytea_hex(column)
    if isinstance(kind, pa.TimestampType) and kind.tz is not None:
        return _utc_text(column, kind.unit)
    return column


def write_csv(parquet_path: str, out: IO[bytes]) -> list[str]:
    """Writes the Parquet file as headerless CSV into `out` (texts quoted, NULL an empty field)
    and returns its column names, in the file's order."""
    parquet = pq.ParquetFile(parquet_path)
    names = parquet.schema_arrow.names
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    writer: pa_csv.CSVWriter | None = None
    for batch in _batches(parquet):
        ready = _csv_ready(batch)
        if writer is None:
            writer = pa_csv.CSVWriter(out, ready.schema, write_options=options)
        writer.write_batch(ready)
    if writer is not None:
        writer.close()
    return list(names)


def _batches(parquet: pq.ParquetFile) -> Iterator[pa.RecordBatch]:
    yield from parquet.iter_batches(batch_size=BATCH_ROWS)


class ParquetCopyJob(RunnableLoadJob, HasFollowupJobs):
    """Loads one Parquet file into its table in one COPY, inside one transaction (a replayed
    job either loaded all of it before or nothing)."""

    _job_client: PostgresClient

    def run(self) -> None:
        sql_client = self._job_client.sql_client
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            names = write_csv(self._file_path, spool)
            spool.seek(0)
            columns = [sql_client.escape_column_name(name, quote=True) for name in names]
            statement = copy_statement(sql_client.make_qualified_table_name(self.load_table_name), columns)
            with sql_client.begin_transaction(), sql_client.native_connection.cursor() as cursor:
                cursor.copy_expert(statement, spool, size=1024 * 1024)


class CopyingPostgresClient(PostgresClient):
    """dlt's Postgres client, with Parquet files loaded by `ParquetCopyJob`."""

    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> LoadJob:
        if ParsedLoadJobFileName.parse(file_path).file_format == "parquet":
            return ParquetCopyJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)


class JsonbTypeMapper(PostgresTypeMapper):
    """dlt's Postgres types, with JSON kept `jsonb` in tables loaded from Parquet (dlt makes
    them `json` for its ADBC path, which cannot copy into `jsonb`; COPY can)."""

    def to_destination_type(self, column: TColumnSchema, table: PreparedTableSchema) -> str:
        if column["data_type"] == "json" and not column.get(GEOMETRY_HINT):
            return "jsonb"
        return super().to_destination_type(column, table)


class postgres(dlt_postgres):  # noqa: N801 - the destination's type is read from the class name
    """dlt's Postgres destination whose Parquet files load through `ParquetCopyJob`, with no
    ADBC driver required (dlt drops Parquet from the formats when that driver is missing)."""

    def _raw_capabilities(self) -> DestinationCapabilitiesContext:
        caps = super()._raw_capabilities()
        caps.loader_file_format_selector = None  # type: ignore[assignment]
        caps.type_mapper = JsonbTypeMapper
        return caps

    @property
    def client_class(self) -> type[PostgresClient]:
        return CopyingPostgresClient


def destination(**kwargs: Any) -> postgres:
    """The Postgres destination factory with `kwargs` as dlt's own takes them."""
    return postgres(**kwargs)
