"""Whether the rows staged for a merge are already unique, so dlt's merge may skip its
deduplication.

dlt deduplicates the staging tables of every merge: a window function over each table of
the chain, sorting the whole staged table. It guards against two things: a source that sends
a key twice in one load, and a load job replayed after a crash or a lost connection, which
leaves its rows twice in staging. On Postgres that sort is most of a merge's cost (534,140
messages: 2.0 s with it, 0.4 s without). Both cases can be ruled out exactly, and cheaply:

- the chain's load files hold each key once (read from their Parquet key columns: the
  primary key of the root table, the row key of a nested one), and
- each staging table holds exactly as many rows as those files (a replayed job shows as more).

Only then is the chain's root marked `x-stage-data-deduplicated` (`mark_deduplicated`), dlt's
own switch for staged data known to be unique; anything not proven (a file that is not
Parquet, a count that differs, a file that cannot be read) leaves the merge deduplicating as
always. A chain of fewer than `WORTH_PROVING` rows is not looked at: its sort takes
milliseconds, less than the connection the count needs (tens of ms to a remote server, for
each of a load's ~15 merges).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

DEDUPLICATED_HINT = "x-stage-data-deduplicated"
WORTH_PROVING = 20_000  # staged rows of a chain below which its merge simply sorts


@dataclass(frozen=True)
class StagedTable:
    """One table of a merge chain as this load staged it."""

    name: str
    keys: tuple[str, ...]  # what dlt deduplicates it on: the root's primary key, a nested table's row key
    files: tuple[str, ...]  # its load files in this package


def worth_proving(tables: Sequence[StagedTable]) -> bool:
    """Whether the chain's files hold enough rows for the sort to cost more than the proof
    (counted from the Parquet footers; a file that is not Parquet is never proven anyway)."""
    rows = sum(pq.ParquetFile(path).metadata.num_rows for table in tables for path in table.files
               if path.endswith(".parquet"))
    return rows >= WORTH_PROVING


def keys_unique(files: Sequence[str], keys: Sequence[str]) -> tuple[bool, int]:
    """(each key appears once across `files`, the rows the files hold)."""
    parts = [pq.read_table(path, columns=list(keys)) for path in files]
    rows = sum(part.num_rows for part in parts)
    if rows == 0:
        return True, 0
    keyed = pa.concat_tables(parts, promote_options="default")
    return keyed.group_by(list(keys)).aggregate([]).num_rows == rows, rows


def proven_unique(tables: Sequence[StagedTable], staged_rows: Mapping[str, int]) -> bool:
    """True when every table's files hold each key once and its staging table holds exactly
    their rows: then no staged key appears twice."""
    for table in tables:
        if not table.keys or not all(path.endswith(".parquet") for path in table.files):
            return False
        unique, rows = keys_unique(table.files, table.keys)
        if not unique or staged_rows.get(table.name) != rows:
            return False
    return True


def mark_deduplicated(table_chain: Sequence[dict]) -> list[dict]:
    """The chain with its root marked as holding unique staged rows (dlt reads the root's hint
    for the whole chain)."""
    return [{**table_chain[0], DEDUPLICATED_HINT: True}, *table_chain[1:]]
