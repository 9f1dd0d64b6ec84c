"""Parquet record batches as the data of a binary COPY (Postgres' own wire form, written by
pgpq): a value is its length and bytes and NULL a length of -1, so Postgres stores it without
parsing text, about twice as fast as CSV. Binary has no coercion, so a file goes this way only
when every column lands in a table column of exactly the type pgpq writes (`binary_encoder`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import LargeStringEncoderBuilder, StringEncoderBuilder
from pgpq.schema import Jsonb

if TYPE_CHECKING:
    from pgpq._pgpq import EncoderBuilder


def binary_copy_statement(qualified_table: str, quoted_columns: list[str]) -> str:
    return f"COPY {qualified_table} ({','.join(quoted_columns)}) FROM STDIN WITH (FORMAT BINARY)"


# pgpq's type for an Arrow field -> the Postgres column types that read that binary form as is
BINARY_READERS: dict[str, frozenset[str]] = {
    "TEXT": frozenset({"text", "character varying"}),
    "INT2": frozenset({"smallint"}),
    "INT4": frozenset({"integer"}),
    "INT8": frozenset({"bigint"}),
    "FLOAT4": frozenset({"real"}),
    "FLOAT8": frozenset({"double precision"}),
    "BOOL": frozenset({"boolean"}),
    "NUMERIC": frozenset({"numeric"}),
    "DATE": frozenset({"date"}),
    "TIME": frozenset({"time without time zone"}),
    "BYTEA": frozenset({"bytea"}),
}


def binary_encoder(schema: pa.Schema, column_types: Mapping[str, str]) -> ArrowToPostgresBinaryEncoder | None:
    """An encoder writing `schema`'s batches (dictionaries decoded: `plain_batch`) as binary
    COPY data, when each field lands in a column (`column_types`: name -> Postgres type as
    `format_type` names it) that reads pgpq's binary form of it unchanged; None when any does
    not, and the file goes as CSV. Binary has no coercion: a `real` sent to a `double
    precision` column fails, and a naive timestamp sent to a zoned column would be read as UTC
    rather than as the session's zone."""
    plain = plain_schema(schema)
    builders = {name: builder for name, builder in _builders(plain, column_types).items() if builder is not None}
    if len(builders) < len(plain):
        return None
    return ArrowToPostgresBinaryEncoder.new_with_encoders(plain, builders)


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with each dictionary field as its values' type: dlt writes `_dlt_load_id` as a
    dictionary, which pgpq does not encode."""
    return pa.schema([pa.field(f.name, f.type.value_type, f.nullable) if pa.types.is_dictionary(f.type) else f
                      for f in schema])


def plain_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def not_binary(schema: pa.Schema, column_types: Mapping[str, str]) -> list[str]:
    """Each field that keeps a file from binary COPY, with its Arrow type and its column's."""
    plain = plain_schema(schema)
    refused = [name for name, builder in _builders(plain, column_types).items() if builder is None]
    return [f"{name} ({plain.field(name).type} into {column_types.get(name, 'no column')})" for name in refused]


def _builders(plain: pa.Schema, column_types: Mapping[str, str]) -> dict[str, EncoderBuilder | None]:
    """Each field's pgpq encoder for its column, None where the column does not read it as is."""
    return {field.name: _binary_builder(field, column_types.get(field.name)) for field in plain}


def _binary_builder(field: pa.Field, column_type: str | None) -> EncoderBuilder | None:
    if column_type is None:
        return None
    if column_type == "jsonb" and pa.types.is_string(field.type):
        return StringEncoderBuilder.new_with_output(field, Jsonb())
    if column_type == "jsonb" and pa.types.is_large_string(field.type):
        return LargeStringEncoderBuilder.new_with_output(field, Jsonb())
    if isinstance(field.type, pa.TimestampType):
        zoned = field.type.tz is not None
        if field.type.unit == "ns" or column_type != f"timestamp {'with' if zoned else 'without'} time zone":
            return None  # pgpq refuses nanoseconds: CSV lets Postgres round them as it always has
        return ArrowToPostgresBinaryEncoder.infer_encoder(field)
    try:
        written = ArrowToPostgresBinaryEncoder(pa.schema([field])).schema().columns[0].data_type.ddl()
    except ValueError:  # a type pgpq does not encode
        return None
    if column_type not in BINARY_READERS.get(written or "", ()):
        return None
    return ArrowToPostgresBinaryEncoder.infer_encoder(field)


def binary_chunks(batches: Iterable[pa.RecordBatch], encoder: ArrowToPostgresBinaryEncoder) -> Iterator[bytes]:
    """The batches as binary COPY data, a chunk per batch: memory holds one batch, not the file."""
    yield encoder.write_header()
    for batch in batches:
        yield encoder.write_batch(plain_batch(batch))
    yield encoder.finish()


class ChunkReader:
    """The `read` psycopg2's `copy_expert` calls, over an iterator of byte chunks. An empty
    chunk (pgpq buffers small batches) is skipped: an empty read is the end of the data, and
    binary COPY ends without complaint at a row boundary, so an early one would drop rows."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._rest = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._rest = memoryview(chunk)
        taken = self._rest if size < 0 else self._rest[:size]
        self._rest = self._rest[len(taken):]
        return bytes(taken)
