"""Postgres loads Parquet files through COPY, keeping an empty text apart from NULL.

dlt's own fast Postgres paths do not fit: its CSV COPY names every nullable column in
FORCE_NULL (and its CSV writer cannot tell a missing value from an empty text either), so an
empty text arrives as NULL; its Parquet path needs an ADBC driver and creates JSON columns as
`json` instead of `jsonb`. Parquet keeps NULL and "" apart, and so do both COPY formats a job
uses: binary (`pgcopy_binary`) when every column of the file lands in a table column of
exactly the type it carries, which the job asks the catalog for, and CSV (`pgcopy_csv`)
otherwise (a nanosecond timestamp, a column an older release typed differently, a type pgpq
does not write).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.destination.client import HasFollowupJobs, LoadJob, PreparedTableSchema, RunnableLoadJob
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.common.schema import TColumnSchema
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations import postgres as dlt_postgres
from dlt.destinations.impl.postgres.factory import PostgresTypeMapper
from dlt.destinations.impl.postgres.postgres import PostgresClient
from dlt.destinations.impl.postgres.postgres_adapter import GEOMETRY_HINT

from pipelines.warehouse import pgcopy_binary, pgcopy_csv
from pipelines.warehouse.proven_merge import ProvenMergeMixin

logger = logging.getLogger("chatfunnel.copy")

BATCH_ROWS = 50_000
SPOOL_BYTES = 64 * 1024 * 1024
COPY_READ_BYTES = 1024 * 1024

COLUMN_TYPES_SQL = (
    "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
    " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
)


class CopiedRowsMismatch(DestinationTerminalException):
    """A COPY took a different number of rows than its file holds. Its transaction is rolled
    back, so the table keeps none of them; the job fails terminally, so a run (which sets
    dlt's `auto_abort_on_terminal_error`) abandons the load and reads that data again."""

    def __init__(self, table: str, in_file: int, copied: int) -> None:
        self.table, self.in_file, self.copied = table, in_file, copied
        super().__init__(f"COPY into {table} took {copied} rows of the {in_file} in its load file; none were kept")


class ParquetCopyJob(RunnableLoadJob, HasFollowupJobs):
    """Loads one Parquet file into its table in one COPY, binary where the table's column types
    allow and CSV otherwise, inside one transaction (a replayed job either loaded all of it
    before or nothing)."""

    _job_client: PostgresClient

    def run(self) -> None:
        sql_client = self._job_client.sql_client
        table = sql_client.make_qualified_table_name(self.load_table_name)
        parquet = pq.ParquetFile(self._file_path)
        columns = [sql_client.escape_column_name(name, quote=True) for name in parquet.schema_arrow.names]
        with sql_client.begin_transaction(), sql_client.native_connection.cursor() as cursor:
            cursor.execute(COLUMN_TYPES_SQL, (table,))
            column_types = dict(cursor.fetchall())
            encoder = pgcopy_binary.binary_encoder(parquet.schema_arrow, column_types)
            batches = parquet.iter_batches(batch_size=BATCH_ROWS)
            if encoder is not None:
                _copy_binary(cursor, table, columns, pgcopy_binary.binary_chunks(batches, encoder))
            else:
                _copy_csv(cursor, table, columns, batches)
            if cursor.rowcount != parquet.metadata.num_rows:
                raise CopiedRowsMismatch(table, parquet.metadata.num_rows, cursor.rowcount)
        logger.debug("COPY %s: %d rows as %s", table, cursor.rowcount, "binary" if encoder else "CSV")
        if encoder is None:
            logger.debug("not binary: %s", pgcopy_binary.not_binary(parquet.schema_arrow, column_types))


def _copy_binary(cursor: Any, table: str, columns: list[str], chunks: Iterator[bytes]) -> None:
    cursor.execute("SET LOCAL client_encoding TO 'UTF8'")  # binary COPY reads texts in the client's encoding
    reader = pgcopy_binary.ChunkReader(chunks)
    cursor.copy_expert(pgcopy_binary.binary_copy_statement(table, columns), reader, size=COPY_READ_BYTES)


def _copy_csv(cursor: Any, table: str, columns: list[str], batches: Iterable[pa.RecordBatch]) -> None:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        pgcopy_csv.write_csv(batches, spool)
        spool.seek(0)
        cursor.copy_expert(pgcopy_csv.copy_statement(table, columns), spool, size=COPY_READ_BYTES)


class CopyingPostgresClient(ProvenMergeMixin, PostgresClient):
    """dlt's Postgres client, with Parquet files loaded by `ParquetCopyJob`, and its merge
    without the deduplication sort where the staged rows are proven unique (`proven_merge`)."""

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
