"""The destinations chatfunnel loads into, described once, so that no other module branches on
a destination's name: each module asks the description what it needs to know (is it a SQL
database or a Parquet lake, does a local file lock guard it, is a BI snapshot published from
it, how many load jobs at once, which load files, how to open it, where its data is).

Adding a destination is one more `Destination` here; adding a capability is one more field,
set for each destination, and the modules that need it ask for it.

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

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.common.destination import TLoaderFileFormat

from pipelines.config.settings import operations
from pipelines.errors import DuckDBFileNamedLikeSchema, UsageError

DUCKDB_DESTINATION_NAME = "chatfunnel"
DEFAULT_DUCKDB_FILE = f"{DUCKDB_DESTINATION_NAME}.duckdb"
DUCKDB_KEYS = (f"destination.{DUCKDB_DESTINATION_NAME}.credentials", "destination.duckdb.credentials")


@dataclass(frozen=True)
class Destination:
    """What one destination is and can do. Every module asks this, never the name."""

    name: str  # what `--destination` takes, and dlt's destination type
    # tables in a SQL database: the reports are SQL models in it, deletions are marked on the
    # raw rows, a full refresh sets aside what the API cannot give back. Otherwise a Parquet
    # lake: files appended to, whose reports are views in a local DuckDB file
    sql: bool
    # one local file every account takes turns at: each step that opens it holds its lock,
    # its disk can fill up, and a reader opening a missing one would create it
    file_lock: bool
    publishes_snapshot: bool  # a run ends by publishing the BI snapshot of the file
    # a database server other hosts and sessions share: the run checks its grants first, holds
    # an advisory lock across hosts, bounds its lock waits and watches its connections
    shared_server: bool
    load_workers: int  # load jobs at once (bench/README.md has the figures)
    file_format: TLoaderFileFormat  # the load files a run writes (`account_pipeline.loader_file_format`)
    location_setting: str  # the setting that says where the data is: DESTINATION__<NAME>__<setting>
    pipeline_suffix: str  # appended to the pipeline's name, so that destinations never share state
    # SQL that keeps one row of each `_dlt_id` in `{target}` (a replayed load job's twins)
    delete_replayed_rows: str
    open: Callable[[], Any]  # the dlt destination a run loads into
    describe: Callable[[dlt.Pipeline], str]  # where the data is, for a human; never a password

    @property
    def lake(self) -> bool:
        return not self.sql


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


def duckdb_connect_config() -> dict[str, Any]:
    """What dlt passes to `duckdb.connect` for the configured credentials (their
    `global_config`'s `custom_user_agent`): a second open of a file in one process must
    give the same, or DuckDB refuses it."""
    for key in DUCKDB_KEYS:
        for accessor in (dlt.secrets, dlt.config):
            value: Any
            try:
                value = accessor.get(f"{key}.global_config")
            except Exception:  # noqa: BLE001 - absent config is the default case
                value = None
            if isinstance(value, str):  # an environment variable: the JSON dlt would read
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            if isinstance(value, dict) and "custom_user_agent" in value:
                return {"custom_user_agent": value["custom_user_agent"]}
    return {}


def duckdb_file() -> Path:
    """The working DuckDB file, as dlt resolves it (relative paths from the working dir)."""
    return (Path.cwd() / (configured_duckdb_credentials() or DEFAULT_DUCKDB_FILE)).resolve()


def duckdb_catalog(path: Path) -> str:
    """The catalog DuckDB names after a file it opens: the file's name up to its first dot."""
    return path.name.split(".", 1)[0]


def check_duckdb_catalog(path: Path, schemas: list[str], *, step: str = "preflight") -> None:
    """Raises when a schema the run writes has the DuckDB file's catalog name (DuckDB compares
    names without case): dlt names tables `<schema>.<table>`, which DuckDB then cannot resolve,
    and the first load would fail only after the whole extract, then again on every run."""
    catalog = duckdb_catalog(path)
    clash = next((schema for schema in schemas if schema.lower() == catalog.lower()), None)
    if clash is None:
        return
    raise DuckDBFileNamedLikeSchema(
        f"The DuckDB file {path} is named like the schema `{clash}` this run writes: DuckDB calls the "
        f"file's catalog `{catalog}` and then cannot tell `{clash}.<table>` the catalog from the schema, "
        f"so every load would fail. Rename the file (DESTINATION__DUCKDB__CREDENTIALS, e.g. "
        f"{DEFAULT_DUCKDB_FILE}) or load into another dataset (--dataset). Nothing was run.",
        path=str(path), schema=clash, step=step)


def postgres_destination() -> Any:
    """dlt's Postgres destination, with what a nightly job needs on top of the user's DSN:

    - timeouts on everything a run can wait for: connecting, a statement, a transaction left
      idle, and a peer that stops answering without closing (TCP user timeout, keepalives),
      so a silent network ends a run with an error instead of hanging it for ever;
    - Parquet files loaded through our own COPY (`pgcopy`), which keeps an empty text apart
      from NULL;
    - no unique index on `_dlt_id` (`create_indexes=False`): dlt's merge deduplicates rows
      that a replayed job writes twice into the staging dataset after a crash, and that index
      was the only thing that made such a replay fail, every night, for good.
    """
    from dlt.common.configuration import resolve_configuration
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    from pipelines.warehouse import pgcopy  # pyarrow: only when Postgres is the destination

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


def _duckdb_destination() -> Any:
    return dlt.destinations.duckdb(str(duckdb_file()), destination_name=DUCKDB_DESTINATION_NAME)


def _lake_destination() -> Any:
    return dlt.destinations.filesystem()


def _file_location(pipeline: dlt.Pipeline) -> str:
    return str(duckdb_file())


def _configured_location(pipeline: dlt.Pipeline) -> str:
    """`host:port/db` or a bucket URL, from the destination's resolved configuration."""
    name = kind(pipeline)
    try:
        config = pipeline.destination_client().config
    except Exception:  # noqa: BLE001 - not configured: say which destination at least
        return name
    bucket = getattr(config, "bucket_url", None)
    if bucket:
        return f"{bucket}/{pipeline.dataset_name}"
    credentials = getattr(config, "credentials", None)
    if isinstance(credentials, ConnectionStringCredentials):
        host = f"{credentials.host}:{credentials.port}" if credentials.port else str(credentials.host)
        user = f"{credentials.username}@" if credentials.username else ""
        return f"{credentials.drivername}://{user}{host}/{credentials.database} (schema {pipeline.dataset_name})"
    return name


# Every destination loads Parquet: DuckDB and the lake read it natively (on DuckDB ~6x faster
# and in a fifth of the memory of dlt's default INSERT statements), Postgres through our COPY
# (`pgcopy`), 4 jobs at once (see `pipelines.warehouse.account_pipeline.loader_file_format`
# and `load_workers`).
DUCKDB = Destination(
    name="duckdb", sql=True, file_lock=True, publishes_snapshot=True, shared_server=False, load_workers=20,
    file_format="parquet", location_setting="CREDENTIALS", pipeline_suffix="",
    delete_replayed_rows=("delete from {target} where rowid in (select rowid from (select rowid, row_number() "
                          "over (partition by _dlt_id order by rowid) as copy from {target}) where copy > 1)"),
    open=_duckdb_destination, describe=_file_location,
)
POSTGRES = Destination(
    name="postgres", sql=True, file_lock=False, publishes_snapshot=False, shared_server=True, load_workers=4,
    file_format="parquet", location_setting="CREDENTIALS", pipeline_suffix="_postgres",
    delete_replayed_rows="delete from {target} a using {target} b where a._dlt_id = b._dlt_id and a.ctid > b.ctid",
    open=postgres_destination, describe=_configured_location,
)
LAKE = Destination(
    name="filesystem", sql=False, file_lock=False, publishes_snapshot=False, shared_server=False, load_workers=20,
    file_format="parquet", location_setting="BUCKET_URL", pipeline_suffix="_filesystem",
    delete_replayed_rows="", open=_lake_destination, describe=_configured_location,
)
BY_NAME = {d.name: d for d in (DUCKDB, POSTGRES, LAKE)}
DESTINATIONS = tuple(BY_NAME)


def destination(name: str) -> Destination:
    """The destination `--destination name` means."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise UsageError(f"Unknown destination '{name}'. Use one of: {', '.join(DESTINATIONS)}.") from None


def kind(pipeline: dlt.Pipeline) -> str:
    """`duckdb`, `postgres`, `filesystem`: the destination's type, whatever its name."""
    return str(pipeline.destination.destination_type).rsplit(".", 1)[-1]


def destination_of(pipeline: dlt.Pipeline) -> Destination:
    """The destination a pipeline loads into."""
    return destination(kind(pipeline))
