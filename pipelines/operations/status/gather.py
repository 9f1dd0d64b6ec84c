"""The gatherers of `status`: each reads one thing (the run history and the journal, the
pipeline's local folder, the rows and cursors, the webhook inbox, the gap days) into the
account's `AccountStatus`. None of them formats anything.

`status` never takes a run's place at a DuckDB file: it opens the file read-only, only under
the file's shared reader lock, for the milliseconds of its reads; if a run's step holds the
file past a short wait, it reads the published BI snapshot instead. It leaves the pipeline's
local folder alone while a run uses it (no state sync; the run's own package is not left over).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import dlt

from pipelines.config.accounts import Account
from pipelines.config.redaction import scrub
from pipelines.config.registry import SourceSpec
from pipelines.config.report_settings import reports_timezone
from pipelines.errors import UsageError
from pipelines.operations import coverage, runs
from pipelines.operations.diagnosis import duckdb_file_holder, short, warehouse_held
from pipelines.operations.status.model import AccountStatus, Inbox, Run, Setup, Snapshot, Trouble
from pipelines.operations.status.times import UTC_ZONE
from pipelines.warehouse.account_pipeline import describe_location, duckdb_file, reader_pipeline
from pipelines.warehouse.destinations import destination
from pipelines.warehouse.layout import LEGACY_STATE_KEYS
from pipelines.warehouse.locks import killed_holder, reader_lock
from pipelines.warehouse.permissions import access_problem
from pipelines.warehouse.publish import bi_path_for

READER_WAIT_SECONDS = 5.0
"""How long `status` waits for a run's step to let go of the DuckDB file before it reads the
BI snapshot instead; while a run is in progress, a tenth of it."""


def account_zone(status: AccountStatus) -> None:
    """The account's reports timezone; a setting that is no zone is said, and times stay UTC."""
    try:
        status.zone = ZoneInfo(reports_timezone(status.account))
    except UsageError as exc:
        status.zone, status.zone_problem = UTC_ZONE, str(exc)


@contextlib.contextmanager
def warehouse_reader(status: AccountStatus, pipeline: dlt.Pipeline) -> Iterator[dlt.Pipeline | None]:
    """The pipeline to read the warehouse through (None: nothing to read); `status.snapshot`
    set when it is the BI snapshot's.

    A server or a lake: the pipeline itself. A local file (DuckDB): the working file read-only, under the
    file's shared reader lock, when a run's step lets go of it within a short wait; else the
    BI snapshot read-only (None when there is none yet)."""
    if not destination(status.destination).file_lock:
        yield pipeline
        return
    working = duckdb_file()
    if not working.exists():  # nothing loaded here yet: nothing to read (and never create it)
        yield None
        return
    wait = READER_WAIT_SECONDS / 10 if status.running is not None else READER_WAIT_SECONDS
    with reader_lock(working, wait) as shared:
        if shared:
            yield reader_pipeline(status.account, status.dataset, working)
            return
    snapshot = bi_path_for(working)
    if not snapshot.exists():
        status.snapshot = Snapshot(None)
        yield None
        return
    status.snapshot = Snapshot(snapshot, datetime.fromtimestamp(snapshot.stat().st_mtime, timezone.utc))
    yield reader_pipeline(status.account, status.dataset, snapshot)


def run_history(status: AccountStatus, reader: dlt.Pipeline | None, sync: bool) -> None:
    """The warehouse's run history; an unreadable warehouse is `status.trouble`."""
    if reader is None:  # no DuckDB file yet: nothing loaded, nothing unreachable
        status.reachable = destination(status.destination).file_lock and not duckdb_file().exists()
        return
    try:
        if sync:
            reader.sync_destination()
        status.history = [Run.from_row(r) for r in runs.read_history(reader, limit=50)]
    except Exception as exc:  # noqa: BLE001 - the destination is down: say so, exit non-zero
        status.reachable = False
        status.trouble = _trouble(exc, status.destination)


def _trouble(exc: Exception, destination: str) -> Trouble:
    holder = duckdb_file_holder(exc)
    if holder is not None:
        return Trouble("held", str(warehouse_held(holder, step="status")))
    refused = access_problem(exc, destination)
    if refused is not None:
        return Trouble("refused", str(refused))
    return Trouble("unreachable", short(exc, 300))


def journal(status: AccountStatus, pipeline_name: str) -> list[Run]:
    """The journal's runs (newest first); those newer than the warehouse's last kept apart."""
    journaled = [Run.from_row(r) for r in runs.read_journal(pipeline_name, limit=5)]
    last = status.last_recorded
    status.journal_only = [r for r in journaled if last is None or (
        r.started_at and last.started_at and r.started_at > last.started_at)]
    return journaled


def setup(status: AccountStatus, spec: SourceSpec, pipeline: dlt.Pipeline, journaled: list[Run]) -> None:
    """Whether the account never ran (nothing recorded, no schema), and is configured at all."""
    if status.reachable and not status.history and not journaled and not pipeline.default_schema_name:
        status.setup = Setup(configured=status.account in spec.accounts(), secret_key=spec.secret_keys[0])


def left_behind(status: AccountStatus, pipeline: dlt.Pipeline) -> None:
    """What a killed run left: its lock file's last words, its load packages. Only when no
    run is going: a running run's packages are its own."""
    status.killed = killed_holder(pipeline.pipeline_name)
    status.leftover = sorted(set(pipeline.list_extracted_load_packages())
                             | set(pipeline.list_normalized_load_packages()))


def state_cursors(pipeline: dlt.Pipeline, source: str) -> dict[str, dict[str, Any]]:
    """Scalar resource-state values (cursors) per resource; maps and lists by their size.
    What an older version kept and the next run removes (`pipelines.warehouse.layout`) is no cursor."""
    resources = pipeline.state.get("sources", {}).get(source, {}).get("resources", {})
    out: dict[str, dict[str, Any]] = {}
    for name, state in sorted(resources.items()):
        if isinstance(state, dict):
            out[name] = {k: (f"<{len(v)} entries>" if isinstance(v, dict | list) else v)
                         for k, v in sorted(state.items())
                         if not k.startswith("ledger_") and k not in LEGACY_STATE_KEYS.get(source, ())}
    return {k: v for k, v in out.items() if v}


def row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows per data table now in the warehouse (deleted rows counted apart)."""
    if not pipeline.default_schema_name:
        return {}
    schema = pipeline.default_schema
    tables = [t for t in schema.data_table_names() if not t.startswith("_")]
    counts: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in sorted(tables):
            name = client.make_qualified_table_name(table)
            try:
                counts[table] = int(client.execute_sql(f"select count(*) from {name}")[0][0])
            except Exception:  # noqa: BLE001 - in the schema, not created yet
                continue
    return counts


def inbox(spec: SourceSpec, account: Account) -> Inbox | None:
    """The account's webhook inbox, when its source has one and it is set."""
    if "webhook_store" not in spec.account_only:
        return None
    try:
        path = spec.settings(account).get("webhook_store")
        from sources.salebot.webhook_store import inbox_stats

        stats = inbox_stats(path) if path else None
    except Exception:  # noqa: BLE001 - the inbox is optional; status must still print
        return None
    if not path:
        return None
    if stats is None:
        return Inbox(str(path))
    since = stats["oldest_pending_at"]
    return Inbox(str(path), total=stats["total"], file_bytes=stats["file_bytes"], pending=stats["pending"],
                 oldest_pending_at=datetime.fromtimestamp(since, timezone.utc) if since else None)


def gap_days(spec: SourceSpec, pipeline: dlt.Pipeline) -> list[Any]:
    """Days without a snapshot of the source's day-by-day counters (never interpolated), newest first."""
    if not spec.gaps_report:
        return []
    try:
        with pipeline.sql_client() as client:
            name = f'"{pipeline.dataset_name}_reports"."{spec.gaps_report}"'
            rows = client.execute_sql(f'select "date" from {name} where is_gap order by "date" desc limit 30')
    except Exception:  # noqa: BLE001 - no reports yet
        return []
    return [r[0] for r in rows or []]


def read_coverage(pipeline: dlt.Pipeline, spec: SourceSpec) -> coverage.Coverage | None:
    """The `coverage` report of the account's reports; None when the warehouse has none (an
    older one) or it cannot be read: status then says nothing of coverage."""
    try:
        with pipeline.sql_client() as client:
            name = f'"{pipeline.dataset_name}_reports"."{coverage.REPORT}"'
            with client.execute_query(f"select * from {name}") as cursor:  # a report built before a column lacks it
                columns = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
    except Exception:  # noqa: BLE001 - no such report (yet): nothing to say
        return None
    return coverage.coverage_from_rows((dict(zip(columns, r, strict=True)) for r in rows or []), spec.complete_since)


def warehouse_figures(status: AccountStatus, spec: SourceSpec, pipeline: dlt.Pipeline, readable: bool) -> None:
    """Rows, cursors, the inbox, gap days and where the warehouse is; what cannot be read is left out."""
    if readable:
        with contextlib.suppress(Exception):
            status.row_counts = row_counts(pipeline)
    with contextlib.suppress(Exception):
        status.cursors = state_cursors(pipeline, spec.name)
    status.inbox = inbox(spec, status.account)
    if readable:
        status.gap_days = gap_days(spec, pipeline)
        status.coverage = read_coverage(pipeline, spec)
    with contextlib.suppress(Exception):
        status.location = scrub(describe_location(pipeline))
