"""What a run is. Read this file to know what `chatfunnel run` and `chatfunnel transform` do.

A run loads one account of one source into one destination, in these steps:

    config     resolve the account's settings (dlt configspecs); build the dlt source
    lock       the account's pipeline is ours (another run exits 75, or waits --wait); on
               Postgres also across machines (an advisory lock in the database)
    preflight  the destination answers; runs journaled locally while it did not move in
    recover    finish what an interrupted run left behind: a pending package is loaded
               first; one that can never load is aborted by dlt, which restores the state
               it started from, so its data is read again; a local state that ran ahead of
               the destination's committed state is replaced by the committed one
    migrate    a dataset loaded by an older version is brought to today's layout, once
               (`pipelines.layout`; the version is written after the load committed)
    extract    the source reads the API (dlt extract; the run's request budget and rate limit)
    normalize  dlt normalize
    load       dlt load (merge on primary keys; on a full refresh the reports go first, and
               what the API cannot give back, set aside before the extract, is put back)
    reconcile  deletions the source proved are set as `deleted_at` on the raw rows
    reports    the source's SQL models rebuilt and tested (on a Parquet lake: over the files)
    record     one row in `<dataset>._chatfunnel_runs` (or the local journal)
    publish    DuckDB: the BI snapshot; several accounts: the cross-account views
    alert      failures (and successes when asked) to the incoming webhook

Every step that opens a DuckDB file holds the file's lock, so accounts extract side by side
and take turns at the file. A failure anywhere becomes a typed `ChatfunnelError` naming its
step; the outcome (what was loaded, recovered, left incomplete) is returned as a value.
SIGINT/SIGTERM and the run's deadline stop a run at any step: it ends within the grace
period, leaving at worst what a kill would leave, which the next run recovers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import dlt
from dlt.common.runtime.run_context import active as active_run_context

from sources import bookkeeping, readback
from transforms.engine import lock_timeout

from . import history, lake, layout, permissions, publish, reconcile, runs
from .accounts import Account
from .alerts import notify
from .diagnosis import causes, explain, short
from .errors import (
    ChatfunnelError,
    DeadlineExceeded,
    DestinationFull,
    DestinationUnreachable,
    Interrupted,
    ReportsFailed,
    RunLocked,
    SessionBlocked,
    UsageError,
    WarehouseHeld,
)
from .locks import destination_lock, run_lock, warehouse_lock
from .lockwaits import LockWaitsExhausted, blocking_sessions, retry_lock_waits
from .options import RunOptions
from .packages import prune_loaded, remove_normalize_remnants
from .progress import progress_collector
from .redaction import scrub
from .registry import BuiltSource, SourceSpec, source_spec
from .report_settings import reports_timezone
from .settings import operations
from .warehouse import (
    describe_location,
    destination_kind,
    drop_replay_traps,
    duckdb_file,
    load_workers,
    loader_file_format,
    make_pipeline,
    pipeline_name,
)
from .watchdog import DestinationWatchdog

logger = logging.getLogger("chatfunnel.lifecycle")

STEPS = ("config", "lock", "preflight", "recover", "migrate", "extract", "normalize", "load", "reconcile",
         "reports", "record", "publish", "alert")
IO_SWITCH_INTERVAL = 0.001
T = TypeVar("T")


# ---------------------------------------------------------------- what a run returns


@dataclass
class Recovery:
    """What a run found left behind by an interrupted one, and did about it."""

    killed: dict[str, Any] | None = None  # what a run that was killed left in the lock file
    finished: list[str] = field(default_factory=list)  # load ids loaded now
    aborted: list[str] = field(default_factory=list)  # load ids dlt aborted (their data is read again)
    deduplicated: dict[str, int] = field(default_factory=dict)  # rows a replayed job had loaded twice
    state_reset: bool = False  # the local state ran ahead of the destination's committed state
    cause: str | None = None
    note: str | None = None  # the description, when it came from another process

    def __bool__(self) -> bool:
        return bool(self.killed or self.finished or self.aborted or self.state_reset or self.note)

    def describe(self) -> str | None:
        if self.note:
            return self.note
        parts = []
        if self.killed:
            parts.append(f"the previous run (pid {self.killed.get('pid')}, started {self.killed.get('started_at')}) "
                         f"was killed during its {self.killed.get('step', 'unknown')} step")
        if self.finished:
            parts.append(f"finished an interrupted load from {_load_time(self.finished[0])}")
        if self.deduplicated:
            parts.append(f"removed {sum(self.deduplicated.values())} rows a replayed load job had written twice ("
                         + ", ".join(f"{t}={n}" for t, n in sorted(self.deduplicated.items())) + ")")
        if self.aborted:
            why = f" ({self.cause})" if self.cause else ""
            parts.append(f"dropped an interrupted load from {_load_time(self.aborted[0])} that could not be "
                         f"finished{why}; its data was read again")
        if self.state_reset:
            parts.append("the local pipeline state was ahead of what the warehouse had committed; "
                         "it was replaced by the committed state and the difference read again")
        return "; ".join(parts) or None


def _load_time(load_id: str) -> str:
    try:
        return f"{datetime.fromtimestamp(float(load_id), timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
    except ValueError:
        return load_id


@dataclass
class RunOutcome:
    """What one run of one account did. `error` is set when it failed or was interrupted."""

    account: Account
    destination: str
    dataset: str
    pipeline_name: str
    started_at: datetime
    finished_at: datetime | None = None
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    incomplete: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    new_columns: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    recovery: Recovery = field(default_factory=Recovery)
    history: history.HistoryReport = field(default_factory=history.HistoryReport)
    reports: Any = None
    published: Path | None = None
    location: str = ""
    load_id: str | None = None
    recorded: str = ""
    error: ChatfunnelError | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def outcome(self) -> str:
        if isinstance(self.error, Interrupted | DeadlineExceeded):
            return "interrupted"
        if self.error is not None:
            return "failed"
        return "partial" if self.incomplete else "success"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(timezone.utc)
        return (end - self.started_at).total_seconds()

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error is not None else 0

    def record(self, step: str | None) -> runs.RunRecord:
        return runs.RunRecord(
            source=self.account.source, account=self.account.name, pipeline_name=self.pipeline_name,
            dataset=self.dataset, destination=self.destination, started_at=self.started_at,
            finished_at=self.finished_at or datetime.now(timezone.utc), outcome=self.outcome,
            step=step if self.error is not None else None, error=str(self.error) if self.error else None,
            requests=self.requests, rows_per_table=dict(self.rows), incomplete=list(self.incomplete),
            recovered=self.recovery.describe(), warnings=list(self.warnings), facts=dict(self.facts),
            load_id=self.load_id, run_id=self.run_id,
        )


# ---------------------------------------------------------------- stopping a run


class StopRequested(BaseException):
    """Raised in the main thread when a signal or the deadline asks the run to stop.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way
    (ours, dlt's, a driver's) mistakes it for an ordinary failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopGuard:
    """SIGINT, SIGTERM and the deadline end the run within `grace` seconds, at any step.

    The first signal (or the deadline) raises `StopRequested` in the main thread, which
    unwinds the run cleanly: dlt keeps what it committed and the next run recovers the
    rest. Python runs a signal handler only when the main thread gets back to Python code,
    and a driver waiting on a socket that went silent never does; so the signal is also
    seen at once by a thread of ours (through the signal wakeup fd), which ends such waits
    after a second (`unblock`) and, should the run still not stop, writes the journal and
    exits the process after `grace` seconds: what a kill would leave, never worse. dlt's
    own signal interception (drain the job pool, ignore the first signal) is switched off
    for our pipelines: a nightly job must stop when told.
    """

    def __init__(self, deadline_seconds: float | None, grace: float, on_hard_exit: Any,
                 unblock: Any = None) -> None:
        self.deadline_seconds = deadline_seconds
        self.grace = grace
        self.on_hard_exit = on_hard_exit
        self.unblock = unblock
        self.reason: str | None = None
        self._raised = False
        self._timers: list[threading.Timer] = []
        self._previous: dict[int, Any] = {}
        self._main = threading.main_thread()
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._previous_wakeup = -1

    def __enter__(self) -> StopGuard:
        if threading.current_thread() is self._main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
            reader, writer = socket.socketpair()
            writer.setblocking(False)
            self._wakeup = (reader, writer)
            self._previous_wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            threading.Thread(target=self._watch, args=(reader,), name="chatfunnel-signals", daemon=True).start()
        if self.deadline_seconds:
            self._start(self.deadline_seconds, self._on_deadline)
        return self

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            for end in self._wakeup:
                end.close()

    def _watch(self, reader: socket.socket) -> None:
        """Sees a signal the moment it arrives, whatever the main thread is doing."""
        while True:
            try:
                data = reader.recv(16)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in (signal.SIGINT, signal.SIGTERM):
                    self._stop(self._signal_reason(signum))

    @staticmethod
    def _signal_reason(signum: int) -> str:
        return "interrupted (Ctrl-C)" if signum == signal.SIGINT else f"stopped ({signal.Signals(signum).name})"

    def _start(self, seconds: float, action: Any) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _stop(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        if self.unblock is not None:  # a wait on a mute database cannot see the signal: end that wait
            self._start(min(1.0, self.grace / 2), self.unblock)
        self._start(self.grace, self._hard_exit)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop(self._signal_reason(signum))
        if not self._raised:
            self._raised = True
            raise StopRequested(self.reason or "stopped")

    def _on_deadline(self) -> None:
        self._stop(f"stopped at its deadline ({_duration(self.deadline_seconds or 0)}, --max-runtime)")
        if self._previous:  # our handlers are installed: interrupt the main thread's wait
            signal.pthread_kill(self._main.ident or 0, signal.SIGUSR1)

    def _hard_exit(self) -> None:
        if not self._previous:
            return  # a run inside a host process (an orchestrator's thread) never ends the process
        reason = f"{self.reason}; the run did not stop within {self.grace:g} s and was ended"
        with contextlib.suppress(Exception):
            self.on_hard_exit(reason)
        with contextlib.suppress(OSError):
            os.write(2, f"chatfunnel: error: {reason}. The next run recovers what it left.\n".encode())
        os._exit(Interrupted.exit_code)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _raise_deadline(signum: int, frame: object) -> None:
    raise StopRequested("deadline")  # the deadline timer's SIGUSR1: StopGuard has set the reason


@contextlib.contextmanager
def io_bound_process() -> Iterator[None]:
    """A short GIL switch interval for the run: a fan-out is hundreds of small responses a
    second, each re-taking the GIL several times; at 5 ms (Python's default) a response
    that arrived waits for a thread running Python code (bench/README.md: ~5% faster)."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(min(saved, IO_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(saved)


# ---------------------------------------------------------------- one run


class _Run:
    """The state of one run while it goes; `run_account` drives it step by step."""

    def __init__(self, options: RunOptions, *, publish: bool) -> None:
        self.options = options
        self.spec: SourceSpec = source_spec(options.source)
        self.account = options.target
        self.publish = publish
        self.step = "config"
        self.lock: Any = None
        self.watchdog: DestinationWatchdog | None = None
        self.pipeline: dlt.Pipeline | None = None
        self.built: BuiltSource | None = None
        self.zone = "UTC"  # the account's reports_timezone, resolved in the config step
        self.outcome = RunOutcome(
            account=self.account, destination=options.destination, dataset=options.dataset_name,
            pipeline_name=pipeline_name(self.account, options.destination, options.dataset_name),
            started_at=datetime.now(timezone.utc),
        )

    # ---- steps

    def at(self, step: str, progress: str | None = None) -> None:
        """Enter `step`; the lock file says so (and how far the run got, when known), for
        `chatfunnel status` and for whoever finds this run killed."""
        self.step = step
        if self.lock is not None:
            self.lock.note(step, progress)

    def configure(self) -> None:
        self.step = "config"
        if self.options.since and self.options.since > datetime.now(timezone.utc):
            raise UsageError(f"--since {self.options.since:%Y-%m-%d %H:%M} UTC is in the future; nothing to load.",
                             step="config")
        refusal = refresh_refusal(self.options, bool(self.spec.kept_on_refresh))
        if refusal:
            raise UsageError(refusal, step="config")
        self.built = self.spec.build(self.options)
        self.zone = reports_timezone(self.account)

    def open(self) -> dlt.Pipeline:
        pipeline = make_pipeline(self.account, self.options.destination, self.options.dataset_name,
                                 progress=progress_collector(self.options.progress))
        pipeline.runtime_config.intercept_signals = False  # StopGuard decides how a run stops
        self.pipeline = pipeline
        return pipeline

    def preflight(self, pipeline: dlt.Pipeline) -> None:
        self.at("preflight")
        if self.options.destination == "filesystem":
            with pipeline.destination_client() as client:
                client.initialize_storage()
        else:
            if self.options.destination == "duckdb":
                permissions.check_duckdb_writable(duckdb_file())
            with pipeline.sql_client() as client:
                client.execute_sql("select 1")
                if self.options.destination == "postgres":  # every right the run needs, before any data moves
                    permissions.check_postgres_grants(
                        client, permissions.dataset_schemas(pipeline.dataset_name, reports=self.options.transform))
        self.outcome.location = describe_location(pipeline)
        runs.flush_journal(pipeline)
        killed = self.outcome.recovery.killed
        if killed:
            runs.record(pipeline, self._killed_record(killed))

    def _killed_record(self, killed: dict[str, Any]) -> runs.RunRecord:
        """The run the lock file says was killed could not record itself: record it now."""
        def when(key: str) -> datetime:
            try:
                return datetime.fromisoformat(str(killed.get(key)).replace("Z", "+00:00"))
            except ValueError:
                return datetime.now(timezone.utc)

        started = when("started_at")
        return runs.RunRecord(
            source=self.account.source, account=self.account.name, pipeline_name=self.outcome.pipeline_name,
            dataset=self.outcome.dataset, destination=self.options.destination, started_at=started,
            finished_at=max(started, when("last_seen_at")), outcome="interrupted", step=killed.get("step"),
            error=f"The run (pid {killed.get('pid')} on {killed.get('host')}) was killed during its "
                  f"{killed.get('step', 'unknown')} step and could not record itself; the next run recovered "
                  "what it left.",
        )

    def recover(self, pipeline: dlt.Pipeline) -> None:
        self.at("recover")
        recovery = self.outcome.recovery
        remove_normalize_remnants(pipeline)
        pending = sorted(set(pipeline.list_extracted_load_packages()) | set(pipeline.list_normalized_load_packages()))
        if pending:
            drop_replay_traps(pipeline)
            if any(pipeline.get_load_package_info(i).dropped_tables for i in pending):
                self._drop_reports(pipeline)  # an interrupted full refresh: its drops go first
            if pipeline.list_extracted_load_packages():
                pipeline.normalize()
            try:
                info = pipeline.load(workers=load_workers(self.options.destination))
            except Exception as exc:
                if not pipeline.has_pending_data and _aborted(pipeline, pending):
                    recovery.aborted = pending
                    recovery.cause = short(_innermost(exc), 240)
                else:
                    raise
            else:
                recovery.finished = [i for i in info.loads_ids if i in pending] if info else pending
                recovery.deduplicated = reconcile.remove_replayed_rows(pipeline)
            self._restore_history(pipeline)  # an interrupted full refresh: what it set aside comes back
        else:
            # nothing left behind here: a fresh machine, or another host's run, or a local state
            # that ran ahead of the warehouse — the destination's committed state wins
            pipeline.sync_destination()
            if self._local_state_ahead(pipeline):
                pipeline.drop()
                pipeline.sync_destination()
                recovery.state_reset = True
            self._restore_history(pipeline)  # a full refresh killed after its load: finish its restore

    def _drop_reports(self, pipeline: dlt.Pipeline) -> None:
        """The reports (views over the raw tables) go before dlt drops those tables: on
        Postgres a view stops a table from being dropped. They are rebuilt in the reports step."""
        from transforms.runner import drop_reports

        if pipeline.default_schema_name:
            bounded_lock_waits(pipeline, lambda: drop_reports(pipeline, self.spec.name),
                               schemas=[f"{pipeline.dataset_name}_reports"],
                               what=f"dropping the {self.spec.name} reports for the full refresh", step=self.step)

    def _local_state_ahead(self, pipeline: dlt.Pipeline) -> bool:
        if not pipeline.default_schema_name or self.options.full_refresh:
            return False
        local = int(pipeline.state.get("_state_version", 0))
        with pipeline.destination_client() as client:
            stored = client.get_stored_state(pipeline.pipeline_name)
        return stored is not None and local > int(stored.version)

    def _restore_history(self, pipeline: dlt.Pipeline) -> None:
        """Put back what a full refresh set aside (`pipelines.history`); nothing when none is."""
        if self.options.destination != "filesystem" and self.spec.kept_on_refresh:
            history.restore(pipeline, self.spec.kept_on_refresh, self.outcome.history)

    def _before_refresh(self, pipeline: dlt.Pipeline) -> None:
        """A full refresh sets aside what the API cannot give back, or, asked to, drops it."""
        kept = self.spec.kept_on_refresh
        if not self.options.full_refresh or not kept or self.options.destination == "filesystem":
            return
        with warehouse_lock(self.options.destination):
            if self.options.drop_history:
                history.drop_history(pipeline, kept, self.outcome.history)
            else:
                history.set_aside(pipeline, kept)

    def extract(self, pipeline: dlt.Pipeline) -> None:
        assert self.built is not None
        self.at("extract")
        self._before_refresh(pipeline)
        self._columns_before = _columns(pipeline)
        # the source reads the warehouse back (ledger, deletion marks): each read takes its turn
        # at a DuckDB file that other accounts load into, for the length of the read
        with readback.read_guard(lambda: warehouse_lock(self.options.destination)):
            pipeline.extract(self.built.source, refresh="drop_sources" if self.options.full_refresh else None,
                             loader_file_format=loader_file_format(self.options.destination))
        self.at("normalize")
        info = pipeline.normalize()
        counts = info.row_counts if info is not None else {}
        self.outcome.rows = {t: n for t, n in counts.items() if not t.startswith("_")}
        declared = bookkeeping.declared_columns(self.built.source, self.spec.declared_columns)
        self.outcome.new_columns = _new_columns(self._columns_before, _columns(pipeline), declared)

    def load(self, pipeline: dlt.Pipeline) -> None:
        self.at("load", f"{sum(self.outcome.rows.values())} rows extracted to load" if self.outcome.rows else None)
        if self.options.full_refresh:
            self._drop_reports(pipeline)
        info = pipeline.load(workers=load_workers(self.options.destination))
        if info is not None and info.loads_ids:
            self.outcome.load_id = info.loads_ids[-1]
        prune_loaded(pipeline)
        self._restore_history(pipeline)
        self.at("reconcile")
        if self.options.destination != "filesystem":
            self.outcome.facts.update(bounded_lock_waits(
                pipeline, lambda: reconcile.apply_deletions(pipeline, self.spec.deletion_cascades),
                schemas=[pipeline.dataset_name], what="marking the deletions this run proved", step="reconcile"))
        if self.spec.after_load is not None and self.built is not None:
            self.spec.after_load(pipeline, self.built.settings)
        layout.record(pipeline)

    def reports(self, pipeline: dlt.Pipeline) -> None:
        if not self.options.transform:
            return
        self.at("reports")
        self.outcome.reports = build_reports(pipeline, self.spec, self.options.destination, self.zone)
        # the data tests that warn (times later than now, orphans) are said with the run's warnings
        self.outcome.warnings.extend(f"reports: {w}" for w in getattr(self.outcome.reports, "warnings", []))

    def finish_report(self) -> None:
        if self.built is None:
            return
        report = self.built.report
        self.outcome.requests = report.requests
        self.outcome.incomplete = sorted(report.incomplete)
        self.outcome.warnings = report.notes()
        self.outcome.facts.update(report.facts)
        self.outcome.facts.update(self.outcome.history.facts())


def refresh_refusal(options: RunOptions, keeps_history: bool) -> str | None:
    """Why a full refresh cannot run as asked, or None. A Parquet lake cannot set history
    aside (its files are dropped whole), so there it is dropped only when asked to."""
    if options.drop_history and not options.full_refresh:
        return "--drop-history drops history only as part of --full-refresh; give both."
    if options.full_refresh and keeps_history and options.destination == "filesystem" and not options.drop_history:
        return ("A full refresh of a Parquet lake cannot keep what the API cannot give back (tunnel stats "
                "snapshots of earlier days, order status changes): run `--full-refresh --drop-history` to drop "
                "it knowingly, or load into duckdb or postgres.")
    return None


def build_reports(pipeline: dlt.Pipeline, spec: SourceSpec, destination: str, zone: str = "UTC") -> Any:
    """The source's reports for the pipeline's dataset: SQL models on DuckDB/Postgres, or over
    the Parquet files in the lake's DuckDB file. `zone`: the account's
    `reports_timezone`, what a day and a week are."""
    from transforms.runner import TransformError
    from transforms.runner import build_reports as build_sql_reports

    try:
        if destination == "filesystem":
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


def bounded_lock_waits(pipeline: dlt.Pipeline, action: Callable[[], T], *, schemas: list[str], what: str,
                       step: str) -> T:
    """`action()` with every lock wait bounded on Postgres, tried again until the lock
    deadline (see `pipelines.lockwaits`); past it, `SessionBlocked` naming who holds them."""
    if destination_kind(pipeline) != "postgres":
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
            f"{what[0].upper()}{what[1:]} waited {_duration(ops.postgres_lock_deadline_seconds)} ({exc.tries} tries) "
            f"for locks that another database session holds on {', '.join(schemas)}: {who}{then} To let it "
            "through, end that session's transaction (or raise chatfunnel.postgres_lock_deadline_seconds).",
            step=step) from exc


def _aborted(pipeline: dlt.Pipeline, load_ids: list[str]) -> bool:
    return all(pipeline.get_load_package_info(i).state == "aborted" for i in load_ids
               if _package_exists(pipeline, i))


def _package_exists(pipeline: dlt.Pipeline, load_id: str) -> bool:
    try:
        pipeline.get_load_package_info(load_id)
        return True
    except Exception:  # noqa: BLE001 - a package dlt deleted while aborting
        return False


def _innermost(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _columns(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    if not pipeline.default_schema_name:
        return {}
    return {name: set(table.get("columns", {})) for name, table in pipeline.default_schema.tables.items()
            if not name.startswith("_dlt")}


def _new_columns(before: dict[str, set[str]], after: dict[str, set[str]],
                 declared: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
    """Columns added to tables that existed before: fields the API started to send. A column
    chatfunnel declares (`deleted_at`, `first_seen_at`, ...: one a newer version added to an
    older warehouse) or dlt's own is not the API's."""
    own = declared or {}
    added = {t: {c for c in after[t] - cols if not c.startswith("_dlt") and c not in own.get(t, set())}
             for t, cols in before.items() if t in after}
    return {t: sorted(cols) for t, cols in added.items() if cols}


def _disks(options: RunOptions) -> list[Path]:
    disks = [Path(active_run_context().data_dir)]
    if options.destination == "duckdb":
        disks.append(duckdb_file())
    return disks


class _AppendFallbackFilter(logging.Filter):
    """dlt's filesystem destination warns, per table and per load, that it appends instead of
    merging: dozens of lines a run for what is simply how a Parquet lake works (the lake
    views pick the newest version of each row). The run says it once, in its summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.module == "filesystem" and record.funcName == "prepare_load_table")


_append_fallback = _AppendFallbackFilter()


def _configure_dlt() -> None:
    """dlt settings every chatfunnel run relies on (an environment variable still wins)."""
    # a package with a job that can never load is aborted and the state it started from
    # restored, so the account keeps loading and that data is read again
    os.environ.setdefault("LOAD__AUTO_ABORT_ON_TERMINAL_ERROR", "true")
    # Arrow tables (chat messages) get `_dlt_load_id`/`_dlt_id` like every other table
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    # the local dlt folder stays bounded: a loaded package keeps its metadata, not its data files
    os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
    dlt_logger = logging.getLogger("dlt")
    if _append_fallback not in dlt_logger.filters:
        dlt_logger.addFilter(_append_fallback)


def run_account(options: RunOptions, *, publish: bool = True, alert: bool = True) -> RunOutcome:
    """Run one account of one source end to end. Never raises a `ChatfunnelError`: the
    outcome carries it (`outcome.error`), recorded, published and alerted as it should be."""
    _configure_dlt()
    run = _Run(options, publish=publish)
    ops = operations()
    deadline = options.max_runtime if options.max_runtime is not None else ops.max_runtime_hours * 3600

    def hard_exit(reason: str) -> None:
        run.outcome.error = Interrupted(reason, step=run.step)
        run.outcome.finished_at = datetime.now(timezone.utc)
        runs.write_journal([run.outcome.record(run.step).row()])

    previous_usr1 = signal.getsignal(signal.SIGUSR1) if threading.current_thread() is threading.main_thread() else None
    if previous_usr1 is not None:
        signal.signal(signal.SIGUSR1, _raise_deadline)
    def unblock() -> None:
        if run.watchdog is not None:
            run.watchdog.stop_all()

    guard = StopGuard(deadline, ops.stop_grace_seconds, hard_exit, unblock)
    try:
        with guard, io_bound_process():
            _drive(run, options)
    except StopRequested:
        reason = guard.reason or "stopped"
        error_cls = DeadlineExceeded if "deadline" in reason else Interrupted
        run.outcome.error = error_cls(
            f"The {run.account.label} run was {reason} during the {run.step} step. What was loaded is kept; "
            "the next run finishes the rest.", step=run.step)
        _close(run, step=run.step, alert=alert and error_cls is DeadlineExceeded)
    except KeyboardInterrupt:
        run.outcome.error = Interrupted(
            f"The {run.account.label} run was interrupted during the {run.step} step. What was loaded is kept; "
            "the next run finishes the rest.", step=run.step)
        _close(run, step=run.step, alert=False)
    finally:
        if previous_usr1 is not None:
            signal.signal(signal.SIGUSR1, previous_usr1)
    return run.outcome


def _drive(run: _Run, options: RunOptions) -> None:
    try:
        run.configure()
        run.step = "lock"
        with run_lock(run.outcome.pipeline_name, wait=options.wait) as lock, contextlib.ExitStack() as stack:
            run.lock = lock
            run.outcome.recovery.killed = lock.previous
            run.at("preflight")  # opening the pipeline resolves the destination's settings
            pipeline = run.open()
            run.watchdog = stack.enter_context(_watchdog(pipeline))
            across_hosts = options.wait or operations().postgres_lock_wait_seconds
            stack.enter_context(destination_lock(pipeline, wait=across_hosts))
            with warehouse_lock(options.destination):
                run.preflight(pipeline)
                run.recover(pipeline)
                run.at("migrate")
                if migrated := layout.migrate(pipeline, run.spec.name):
                    run.outcome.facts["migrated"] = migrated
            run.extract(pipeline)
            with warehouse_lock(options.destination):
                run.load(pipeline)
                run.finish_report()
                run.reports(pipeline)
                run.at("record")
                _close(run, step=None, alert=False, publish=False)
            if run.publish and options.destination == "duckdb":
                run.at("publish")
                with warehouse_lock(options.destination):
                    run.outcome.published = publish.publish_snapshot(duckdb_file())
        _alert(run)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one typed, human message
        stop = next((c for c in causes(exc) if isinstance(c, StopRequested | KeyboardInterrupt)), None)
        if stop is not None:  # dlt wrapped the stop in its own step error: it is still a stop
            raise stop from None
        run.finish_report()
        run.outcome.error = _explain(run, exc)
        if run.outcome.error.requests == 0:
            run.outcome.error.requests = run.outcome.requests
        logger.debug("run failed in %s:\n%s", run.step, scrub("".join(traceback.format_exception(exc))))
        if isinstance(run.outcome.error, RunLocked):
            return  # another run is at work: this one did nothing, so there is nothing to record or alert
        _close(run, step=run.step, alert=True)


@contextlib.contextmanager
def _watchdog(pipeline: dlt.Pipeline) -> Iterator[DestinationWatchdog | None]:
    """On Postgres, the watchdog over the run's connections (see `pipelines.watchdog`)."""
    if destination_kind(pipeline) != "postgres":
        yield None
        return
    credentials: Any = pipeline.destination_client().config.credentials
    with DestinationWatchdog(credentials.host, int(credentials.port or 5432),
                             operations().postgres_silence_seconds) as watchdog:
        yield watchdog


def _explain(run: _Run, exc: BaseException) -> ChatfunnelError:
    if run.watchdog is not None and run.watchdog.tripped:
        return DestinationUnreachable(
            f"The postgres destination stopped answering during the {run.step} step: {run.watchdog.tripped}. "
            "Check the network between this machine and the database.", step=run.step)
    error = explain(exc, step=run.step, account=run.account, secret_env=run.spec.secret_env(run.account),
                    destination=run.options.destination, disks=_disks(run.options))
    pipeline = run.pipeline
    if pipeline is None or run.step not in ("load", "reconcile"):
        return error
    try:
        pending = pipeline.has_pending_data
    except Exception:  # noqa: BLE001 - a half-written dlt folder: say nothing rather than guess
        return error
    if pending:
        tail = " The extracted data is kept in a pending load package; the next run loads it first."
    elif run.step == "load":
        tail = (" dlt abandoned this load and restored the state it started from, so the next run reads that "
                "data again.")
    else:  # the load committed; marking deletions is what failed, and it reads the committed ledger
        tail = " This run's data is loaded; the deletions it proved are marked by the next run."
    return type(error)(f"{error}{tail}", step=error.step, requests=error.requests)


def _close(run: _Run, *, step: str | None, alert: bool, publish: bool = False) -> None:
    """Record the run (warehouse, else journal) and, when asked, alert. Never raises."""
    run.outcome.finished_at = datetime.now(timezone.utc)
    record = run.outcome.record(step)
    pipeline = run.pipeline
    run.outcome.recorded = ""
    if pipeline is not None and run.outcome.error is None:
        run.outcome.recorded = runs.record(pipeline, record)  # the caller holds the warehouse lock
    elif pipeline is not None and not isinstance(run.outcome.error, DestinationUnreachable | DestinationFull
                                                                     | WarehouseHeld | Interrupted | DeadlineExceeded
                                                                     | permissions.GrantMissing
                                                                     | permissions.FileAccessDenied):
        # a stopped run or an unreachable warehouse records locally (at once, never waiting on a
        # database); the next run that reaches the warehouse moves the record there
        with contextlib.suppress(Exception), warehouse_lock(run.options.destination, wait=30):
            run.outcome.recorded = runs.record(pipeline, record)
    if not run.outcome.recorded:
        run.outcome.recorded = "journal" if runs.write_journal([record.row()]) else "nowhere"
    if alert:
        _alert(run)


def _alert(run: _Run) -> None:
    outcome = run.outcome
    details = {
        "account": outcome.account.name,
        "dataset": outcome.dataset,
        "destination": outcome.destination,
        "duration": f"{outcome.seconds:.1f}s",
        "API requests": outcome.requests,
        "rows loaded": sum(outcome.rows.values()) or None,
        "incomplete": ", ".join(outcome.incomplete) or None,
        "recovered": outcome.recovery.describe(),
    }
    message = (str(outcome.error) if outcome.error is not None else
               f"Loaded {sum(outcome.rows.values())} rows into {outcome.destination} dataset '{outcome.dataset}'.")
    notify(outcome.outcome, message, label=outcome.account.label,
           step=outcome.error.step if outcome.error is not None else None, details=details)


# ---------------------------------------------------------------- the reports alone


@dataclass
class TransformOutcome:
    account: Account
    destination: str
    dataset: str
    reports: Any = None
    published: Path | None = None
    error: ChatfunnelError | None = None

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error is not None else 0


def transform_account(options: RunOptions, *, publish: bool = True) -> TransformOutcome:
    """`chatfunnel transform`: lock → reports → publish, for one account."""
    spec = source_spec(options.source)
    account = options.target
    result = TransformOutcome(account, options.destination, options.dataset_name)
    step = "lock"
    try:
        with run_lock(pipeline_name(account, options.destination, options.dataset_name), wait=options.wait):
            pipeline = make_pipeline(account, options.destination, options.dataset_name)
            step = "reports"
            if options.destination == "postgres":
                with pipeline.sql_client() as client:
                    permissions.check_postgres_grants(
                        client, permissions.dataset_schemas(pipeline.dataset_name), step=step,
                        consequence="The reports were not rebuilt.", load=False)
            with warehouse_lock(options.destination):
                if not pipeline.default_schema_name:
                    pipeline.sync_destination()
                if not pipeline.default_schema_name:
                    raise UsageError(
                        f"Nothing has been loaded for {account.label} into {options.destination} yet; run "
                        f"`chatfunnel run {account.source}` first.", step="reports")
                result.reports = build_reports(pipeline, spec, options.destination, reports_timezone(account))
                if publish and options.destination == "duckdb":
                    step = "publish"
                    result.published = publish_snapshot_or_raise()
    except Exception as exc:  # noqa: BLE001
        result.error = explain(exc, step=step, account=account, secret_env=spec.secret_env(account),
                               destination=options.destination, disks=_disks(options))
    return result


def publish_snapshot_or_raise() -> Path:
    from .errors import PublishFailed

    try:
        return publish.publish_snapshot(duckdb_file())
    except Exception as exc:
        refused = permissions.explain_denied(exc, step="publish")  # names the snapshot file and the user
        if refused is not None:
            raise refused from exc
        raise PublishFailed(
            f"The reports were rebuilt, but publishing the BI snapshot failed: {short(exc)}. Dashboards still "
            "show the previous snapshot.", step="publish") from exc
