"""Pipelines: which dlt pipeline loads an account, and where to (the destinations
themselves are described in `pipelines.warehouse.destinations`).

One dlt pipeline (and so one set of cursors and one local state folder) per account,
destination and dataset: loading the same account into DuckDB and Postgres must not
share state. The unnamed account keeps the names it always had (`chatfunnel_leeloo`,
`chatfunnel_leeloo_postgres`), so an upgrade finds its state.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import TLoaderFileFormat

from pipelines.config.accounts import Account
from pipelines.warehouse.destinations import DESTINATIONS, DUCKDB, DUCKDB_DESTINATION_NAME, destination_of, duckdb_file
from pipelines.warehouse.destinations import destination as described
from pipelines.warehouse.destinations import kind as destination_kind

__all__ = ["DESTINATIONS", "destination_kind", "duckdb_file"]  # where callers have always found them

PIPELINE_PREFIX = "chatfunnel_"


PIPELINE_NAME_MAX = 64  # dlt names the pipeline's default schema after it, and refuses longer schema names


def pipeline_name(account: Account, destination: str = DUCKDB.name, dataset: str | None = None) -> str:
    name = PIPELINE_PREFIX + account.dataset + described(destination).pipeline_suffix
    if dataset and dataset != account.dataset:
        name += f"_{dataset}"
    return fitted_name(name)


def fitted_name(name: str) -> str:
    """`name` when dlt accepts its length; else its start and a hash of the whole, so that two
    long names stay apart. Names that fit never change, so no pipeline's state moves: the
    longer ones (a long account or dataset name on Postgres) could never run before."""
    if len(name) <= PIPELINE_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:PIPELINE_NAME_MAX - len(digest) - 1]}_{digest}"


def make_destination(name: str) -> Any:
    return described(name).open()


def drop_replay_traps(pipeline: dlt.Pipeline) -> int:
    """Postgres datasets created before `create_indexes=False` still carry a unique constraint
    on `_dlt_id` in their staging tables and their state table: drop those (a replayed job
    would violate them). Returns how many were dropped."""
    if not destination_of(pipeline).shared_server:
        return 0
    with pipeline.sql_client() as client:
        schemas = [pipeline.dataset_name, f"{pipeline.dataset_name}_staging"]
        rows = client.execute_sql(
            "select n.nspname, t.relname, c.conname from pg_constraint c join pg_class t on t.oid = c.conrelid "
            "join pg_namespace n on n.oid = t.relnamespace where c.contype = 'u' and n.nspname = any(%s) "
            "and c.conname like %s and (n.nspname = %s or t.relname = '_dlt_pipeline_state')",
            schemas, "%\\_dlt\\_id\\_key", schemas[1],
        ) or []
        for schema, table, constraint in rows:
            client.execute_sql(f'alter table "{schema}"."{table}" drop constraint if exists "{constraint}"')
    return len(rows)


def loader_file_format(destination: str) -> TLoaderFileFormat | None:
    """The load files a run writes for `destination` (bench/README.md has the figures).

    DuckDB and the lake: Parquet, read natively; on DuckDB it loads ~6x faster and in a
    fifth of the memory of dlt's default INSERT statements.

    Postgres: Parquet too, loaded through COPY by `pgcopy` (row tables and Arrow tables
    alike). dlt's own CSV COPY cannot tell an empty text from NULL (it names every nullable
    column in FORCE_NULL), and its INSERT statements load several times slower."""
    return described(destination).file_format


def load_workers(destination: str) -> int:
    """Load jobs run at once. Postgres: 4, not dlt's 20. It was set for INSERT jobs, each
    holding its whole file's statements in memory (20 peaked at 1.16 GB at 50,000 people, 4 at
    817 MB); with Parquet through COPY, 8 jobs gained only 0.5 s of a 6 s load step there
    (bench/README.md), so it stays at 4 and leaves the server's connections to its other users."""
    return described(destination).load_workers


def make_pipeline(
    account: Account, destination: str = DUCKDB.name, dataset: str | None = None, progress: Any = None
) -> dlt.Pipeline:
    dataset = dataset or account.dataset
    return dlt.pipeline(
        pipeline_name=pipeline_name(account, destination, dataset),
        destination=make_destination(destination),
        dataset_name=dataset,
        progress=progress,
    )


def reader_pipeline(account: Account, dataset: str, path: str | Path) -> dlt.Pipeline:
    """The account's DuckDB pipeline (its name, local state and schema) reading the file at
    `path` read-only: what `chatfunnel status` reads the warehouse or the BI snapshot with.
    Open it only inside `locks.reader_lock` for a working file: a run's step holds it."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    return dlt.pipeline(
        pipeline_name=pipeline_name(account, DUCKDB.name, dataset),
        destination=dlt.destinations.duckdb(DuckDbCredentials(str(path), read_only=True),
                                            destination_name=DUCKDB_DESTINATION_NAME),
        dataset_name=dataset,
    )


def describe_location(pipeline: dlt.Pipeline) -> str:
    """Where the pipeline's data is, for a human: a file path, `host:port/db` or a bucket URL.
    Never a password, never an object's repr."""
    return destination_of(pipeline).describe(pipeline)
