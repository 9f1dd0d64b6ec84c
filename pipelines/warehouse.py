"""Destinations and pipeline names: which dlt pipeline loads an account, and where to.

One dlt pipeline (and so one set of cursors and one local state folder) per account,
destination and dataset: loading the same account into DuckDB and Postgres must not
share state. The unnamed account keeps the names it always had (`chatfunnel_leeloo`,
`chatfunnel_leeloo_postgres`), so an upgrade finds its state.

The DuckDB file is dlt's own setting, `[destination.duckdb] credentials` in
`.dlt/config.toml` (`chatfunnel.duckdb`), so `dlt.attach("chatfunnel_leeloo")`,
`dlt pipeline chatfunnel_leeloo show` and `pipeline.dataset()` open the file chatfunnel
wrote. Run outside a project folder that has that setting, the same default applies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.common.destination import TLoaderFileFormat

from .accounts import Account
from .errors import UsageError

DESTINATIONS = ("duckdb", "postgres", "filesystem")
DEFAULT_DUCKDB_FILE = "chatfunnel.duckdb"
PIPELINE_PREFIX = "chatfunnel_"


def pipeline_name(account: Account, destination: str = "duckdb", dataset: str | None = None) -> str:
    name = PIPELINE_PREFIX + account.dataset
    if destination != "duckdb":
        name += f"_{destination}"
    if dataset and dataset != account.dataset:
        name += f"_{dataset}"
    return name


def configured_duckdb_credentials() -> str | None:
    try:
        value = dlt.config.get("destination.duckdb.credentials")
    except Exception:  # noqa: BLE001 - absent config is the default case
        value = None
    return str(value) if value else None


def duckdb_file() -> Path:
    """The working DuckDB file, as dlt resolves it (relative paths from the working dir)."""
    return (Path.cwd() / (configured_duckdb_credentials() or DEFAULT_DUCKDB_FILE)).resolve()


def make_destination(name: str) -> Any:
    if name == "duckdb":
        # dlt's own default would be `<pipeline name>.duckdb`: keep one file for every pipeline
        configured = configured_duckdb_credentials()
        return dlt.destinations.duckdb() if configured else dlt.destinations.duckdb(str(duckdb_file()))
    if name == "postgres":
        return dlt.destinations.postgres()
    if name == "filesystem":
        return dlt.destinations.filesystem()
    raise UsageError(f"Unknown destination '{name}'. Use one of: {', '.join(DESTINATIONS)}.")


def loader_file_format(destination: str) -> TLoaderFileFormat | None:
    """The load files a run writes for `destination` (bench/README.md has the figures).

    DuckDB and the lake: Parquet, read natively; on DuckDB it loads ~6x faster and in a
    fifth of the memory of dlt's default INSERT statements.

    Postgres: INSERT statements, for every table, Arrow ones (chat messages) included. dlt's
    faster Postgres format, CSV through COPY, cannot tell an empty text from NULL: its COPY
    names every nullable column in FORCE_NULL, so a quoted empty string becomes NULL however
    the CSV is quoted, and an empty message text, e-mail or tag would be lost. Left to
    itself dlt would pick CSV for Arrow tables even with INSERT as the default."""
    if destination in ("duckdb", "filesystem"):
        return "parquet"
    if destination == "postgres":
        _quiet_arrow_conversion_warning()
        return "insert_values"
    return None


class _ArrowConversionFilter(logging.Filter):
    """dlt warns, per Arrow table and per run, that it converts Arrow rows into INSERT
    statements "which will degrade performance": on Postgres that is the choice made above
    on purpose (the load step's figures are in bench/README.md), not news for the user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.funcName == "_get_items_normalizer" and "ArrowToInsertValuesWriter" in str(record.msg))


_arrow_conversion = _ArrowConversionFilter()


def _quiet_arrow_conversion_warning() -> None:
    dlt_logger = logging.getLogger("dlt")
    if _arrow_conversion not in dlt_logger.filters:
        dlt_logger.addFilter(_arrow_conversion)


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


def describe_location(pipeline: dlt.Pipeline) -> str:
    """Where the pipeline's data is, for a human: a file path, `host:port/db` or a bucket URL.
    Never a password, never an object's repr."""
    destination = pipeline.destination.destination_name
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
