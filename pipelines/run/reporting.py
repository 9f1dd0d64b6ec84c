"""The reports of a dataset, rebuilt: SQL models in the warehouse, or views over the Parquet
files of a lake; and every lock wait on the way bounded on a shared database server (see
`pipelines.warehouse.lockwaits`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import dlt

from pipelines.config.redaction import scrub
from pipelines.config.registry import SourceSpec
from pipelines.config.settings import operations
from pipelines.errors import ReportsFailed, SessionBlocked
from pipelines.run.stopping import duration
from pipelines.warehouse import lake
from pipelines.warehouse.destinations import destination as described
from pipelines.warehouse.destinations import destination_of
from pipelines.warehouse.lockwaits import LockWaitsExhausted, blocking_sessions, retry_lock_waits
from transforms.engine import lock_timeout

T = TypeVar("T")

logger = logging.getLogger("chatfunnel.reporting")


def build_reports(pipeline: dlt.Pipeline, spec: SourceSpec, destination: str, zone: str = "UTC",
                  ahead: threading.Thread | None = None) -> Any:
    """The source's reports for the pipeline's dataset: SQL models on DuckDB/Postgres, or over
    the Parquet files in the lake's DuckDB file. `zone`: the account's
    `reports_timezone`, what a day and a week are; `ahead`: `prepare_ahead`'s thread."""
    from transforms.runner import TransformError
    from transforms.runner import build_reports as build_sql_reports

    if ahead is not None:
        ahead.join()
    try:
        if described(destination).lake:
            return lake.lake_reports_for_pipeline(pipeline, spec.name, reports_timezone=zone)
        return bounded_lock_waits(pipeline, lambda: build_sql_reports(pipeline, spec.name, reports_timezone=zone),
                                  schemas=[f"{pipeline.dataset_name}_reports"],
                                  what=f"rebuilding the {spec.name} reports", step="reports")
    except TransformError as exc:
        raise ReportsFailed(
            f"Building the {spec.name} reports failed: {scrub(exc)}. The raw data was loaded and is intact; "
            f"fix the model or the data and run `chatfunnel transform {spec.name}`.",
            step="reports",
        ) from exc


def prepare_ahead(pipeline: dlt.Pipeline, spec: SourceSpec, destination: str,
                  zone: str = "UTC") -> threading.Thread | None:
    """Start reading and rendering what the SQL reports need and no data decides (the models,
    their data tests' queries: `transforms.runner.prepare_reports`) beside the extract, which
    mostly waits on the API; `build_reports` joins the thread and finds it done. None for a
    lake (its reports are built over its files, elsewhere)."""
    from transforms.engine import sql_engine

    if described(destination).lake:
        return None
    thread = threading.Thread(target=_prepare, name="chatfunnel-reports-ahead", daemon=True,
                              args=(spec.name, sql_engine(pipeline).dialect, pipeline.dataset_name, zone))
    thread.start()
    return thread


def _prepare(source: str, dialect: str, dataset: str, zone: str) -> None:
    from transforms.runner import prepare_reports

    try:
        prepare_reports(source, dialect, dataset, reports_timezone=zone)
    except Exception:  # the build reads the models again, and says what is wrong with them
        logger.debug("preparing the %s reports ahead failed; the build reads them itself", source, exc_info=True)


def bounded_lock_waits(pipeline: dlt.Pipeline, action: Callable[[], T], *, schemas: list[str], what: str,
                       step: str) -> T:
    """`action()` with every lock wait bounded on Postgres, tried again until the lock
    deadline (see `pipelines.warehouse.lockwaits`); past it, `SessionBlocked` naming who holds them."""
    if not destination_of(pipeline).shared_server:
        return action()
    ops = operations()
    try:
        with lock_timeout(ops.postgres_lock_timeout_seconds):
            return retry_lock_waits(action, deadline_seconds=ops.postgres_lock_deadline_seconds)
    except LockWaitsExhausted as exc:
        sessions = blocking_sessions(pipeline, schemas)
        who = ("; ".join(sessions) if sessions else "a session that has ended since") + "."
        then = (" This run's data is loaded, readers keep the previous reports, and the next run rebuilds them."
                if step == "reports" else "")
        raise SessionBlocked(
            f"{what[0].upper()}{what[1:]} waited {duration(ops.postgres_lock_deadline_seconds)} ({exc.tries} tries) "
            f"for locks that another database session holds on {', '.join(schemas)}: {who}{then} To let it "
            "through, end that session's transaction (or raise chatfunnel.postgres_lock_deadline_seconds).",
            step=step) from exc
