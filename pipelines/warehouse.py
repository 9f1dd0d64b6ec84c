"""Destinations and pipeline names: which dlt pipeline loads an account, and where to.

One dlt pipeline (and so one set of cursors and one local state folder) per account,
destination and dataset: loading the same account into DuckDB and Postgres must not
share state. The unnamed account keeps the names it always had (`chatfunnel_leeloo`,
`chatfunnel_leeloo_postgres`), so an upgrade finds its state.

The DuckDB destination is named `chatfunnel` (a dlt named destination of type duckdb), so
its default file is dlt's own `chatfunnel.duckdb` in the working directory, one file for
every pipeline; dlt keeps the name in the pipeline state, so `dlt.attach("chatfunnel_leeloo")`,
`dlt pipeline chatfunnel_leeloo show` and `pipeline.dataset()` open that same file with no
setting at all. Another file is `DESTINATION__DUCKDB__CREDENTIALS` (or
`[destination.duckdb] credentials` in `.dlt/secrets.toml`: dlt refuses credentials in
config.toml); dlt's own tools read a custom file from `DESTINATION__CHATFUNNEL__CREDENTIALS`,
which chatfunnel honours too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.common.destination import TLoaderFileFormat

from . import pgcopy
from .accounts import Account
from .errors import UsageError

DESTINATIONS = ("duckdb", "postgres", "filesystem")
DUCKDB_DESTINATION_NAME = "chatfunnel"
DEFAULT_DUCKDB_FILE = f"{DUCKDB_DESTINATION_NAME}.duckdb"
PIPELINE_PREFIX = "chatfunnel_"
DUCKDB_KEYS = (f"destination.{DUCKDB_DESTINATION_NAME}.credentials", "destination.duckdb.credentials")


def destination_kind(pipeline: dlt.Pipeline) -> str:
    """`duckdb`, `postgres`, `filesystem`: the destination's type, whatever its name."""
    return str(pipeline.destination.destination_type).rsplit(".", 1)[-1]


def pipeline_name(account: Account, destination: str = "duckdb", dataset: str | None = None) -> str:
    name = PIPELINE_PREFIX + account.dataset
    if destination != "duckdb":
        name += f"_{destination}"
    if dataset and dataset != account.dataset:
        name += f"_{dataset}"
    return name


def configured_duckdb_credentials() -> str | None:
    """The DuckDB file the user configured (environment, secrets or config), if any."""
    for key in DUCKDB_KEYS:
        for accessor in (dlt.secrets, dlt.config):
            value: Any
            try:
                value = accessor.get(key)
            except Exception:  # noqa: BLE001 - absent config is the default case
                value = None
            if isinstance(value, str) and value:
                return value
    return None


def duckdb_file() -> Path:
    """The working DuckDB file, as dlt resolves it (relative paths from the working dir)."""
    return (Path.cwd() / (configured_duckdb_credentials() or DEFAULT_DUCKDB_FILE)).resolve()


def make_destination(name: str) -> Any:
    if name == "duckdb":
        return dlt.destinations.duckdb(str(duckdb_file()), destination_name=DUCKDB_DESTINATION_NAME)
    if name == "postgres":
        return postgres_destination()
    if name == "filesystem":
        return dlt.destinations.filesystem()
    raise UsageError(f"Unknown destination '{name}'. Use one of: {', '.join(DESTINATIONS)}.")


def postgres_destination() -> Any:
    """dlt's Postgres destination, with what a nightly job needs on top of the user's DSN:

    - timeouts on everything a run can wait for: connecting, a statement, a transaction left
      idle, and a peer that stops answering without closing (TCP user timeout, keepalives),
      so a silent network ends a run with an error instead of hanging it for ever;
    - no unique index on `_dlt_id` (`create_indexes=False`): dlt's merge deduplicates rows
      that a replayed job writes twice into the staging dataset after a crash, and that index
      was the only thing that made such a replay fail, every night, for good.
    """
    from dlt.common.configuration import resolve_configuration
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    from .settings import operations

    ops = operations()
    credentials = resolve_configuration(PostgresCredentials(), sections=("destination", "postgres", "credentials"))
    query = dict(credentials.query or {})
    options = " ".join(filter(None, [
        str(query.get("options", "")),
        f"-c statement_timeout={ops.postgres_statement_timeout_seconds * 1000}",
        f"-c idle_in_transaction_session_timeout={ops.postgres_idle_in_transaction_timeout_seconds * 1000}",
        # and the server's side: a session whose client vanished is ended in about a minute, so
        # the advisory lock it held is free again (the server's default is two hours)
        "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3",
    ]))
    query.update(options=options, keepalives=1, keepalives_idle=15, keepalives_interval=5, keepalives_count=3,
                 tcp_user_timeout=ops.postgres_tcp_user_timeout_seconds * 1000)
    credentials.query = query
    credentials.connect_timeout = ops.postgres_connect_timeout_seconds
    return pgcopy.destination(credentials=credentials, create_indexes=False)


def drop_replay_traps(pipeline: dlt.Pipeline) -> int:
    """Postgres datasets created before `create_indexes=False` still carry a unique constraint
    on `_dlt_id` in their staging tables and their state table: drop those (a replayed job
    would violate them). Returns how many were dropped."""
    if destination_kind(pipeline) != "postgres":
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
    if destination in ("duckdb", "filesystem", "postgres"):
        return "parquet"
    return None


def load_workers(destination: str) -> int:
    """Load jobs run at once. Postgres: 4, not dlt's 20: each INSERT job holds its whole file's
    statements in memory, and at 50,000 people 20 of them peak at 1.16 GB; 4 peak at 817 MB
    for a load step of 15.3 s instead of 11.6 s (bench/README.md)."""
    return 4 if destination == "postgres" else 20


def make_pipeline(
    account: Account, destination: str = "duckdb", dataset: str | None = None, progress: Any = None
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
        pipeline_name=pipeline_name(account, "duckdb", dataset),
        destination=dlt.destinations.duckdb(DuckDbCredentials(str(path), read_only=True),
                                            destination_name=DUCKDB_DESTINATION_NAME),
        dataset_name=dataset,
    )


def describe_location(pipeline: dlt.Pipeline) -> str:
    """Where the pipeline's data is, for a human: a file path, `host:port/db` or a bucket URL.
    Never a password, never an object's repr."""
    destination = destination_kind(pipeline)
    if destination == "duckdb":
        return str(duckdb_file())
    try:
        config = pipeline.destination_client().config
    except Exception:  # noqa: BLE001 - not configured: say which destination at least
        return destination
    bucket = getattr(config, "bucket_url", None)
    if bucket:
        return f"{bucket}/{pipeline.dataset_name}"
    credentials = getattr(config, "credentials", None)
    if isinstance(credentials, ConnectionStringCredentials):
        host = f"{credentials.host}:{credentials.port}" if credentials.port else str(credentials.host)
        user = f"{credentials.username}@" if credentials.username else ""
        return f"{credentials.drivername}://{user}{host}/{credentials.database} (schema {pipeline.dataset_name})"
    return destination
