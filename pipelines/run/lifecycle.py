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
               (`pipelines.warehouse.layout`; the version is written after the load committed)
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

This module is the driver. The steps are named in `pipelines.run.steps.Step`; how a run stops,
in `pipelines.run.stopping`; what it returns, in `pipelines.run.outcomes`; how the reports are
rebuilt (SQL or lake), in `pipelines.run.reporting`; the dlt settings it relies on, in
`pipelines.run.dltenv`; what each destination can do, in `pipelines.warehouse.destinations`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import traceback
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dlt
from dlt.common.runtime.run_context import active as active_run_context

from pipelines.config import history
from pipelines.config.options import RunOptions
from pipelines.config.progress import progress_collector
from pipelines.config.redaction import scrub
from pipelines.config.registry import BuiltSource, SourceSpec, source_spec
from pipelines.config.report_settings import reports_timezone
from pipelines.config.settings import operations
from pipelines.errors import (
    ChatfunnelError,
    DeadlineExceeded,
    DestinationFull,
    DestinationUnreachable,
    DuckDBFileNamedLikeSchema,
    Interrupted,
    RunLocked,
    UsageError,
    WarehouseHeld,
)
from pipelines.operations import runs
from pipelines.operations.alerts import notify
from pipelines.operations.diagnosis import causes, explain, short
from pipelines.run import reconcile, report_warnings
from pipelines.run.dltenv import configure_dlt, io_bound_process
from pipelines.run.outcomes import Recovery, RunOutcome, StepDone, TransformOutcome
from pipelines.run.reporting import bounded_lock_waits, build_reports, prepare_ahead
from pipelines.run.steps import Step
from pipelines.run.stopping import StopGuard, StopRequested, duration, raise_deadline, time_for_step
from pipelines.run.watchdog import DestinationWatchdog
from pipelines.warehouse import layout, permissions, publish
from pipelines.warehouse.account_pipeline import (
    describe_location,
    drop_replay_traps,
    duckdb_file,
    load_workers,
    loader_file_format,
    make_pipeline,
    pipeline_name,
)
from pipelines.warehouse.destinations import BY_NAME, check_duckdb_catalog, destination_of
from pipelines.warehouse.destinations import destination as described
from pipelines.warehouse.locks import destination_lock, run_lock, warehouse_lock
from pipelines.warehouse.packages import prune_loaded, remove_normalize_remnants
from sources import bookkeeping, readback
from sources.report import SourceReport

# what callers have always imported from here; each lives in the module of its concern
__all__ = ["Recovery", "RunOutcome", "Step", "TransformOutcome", "bounded_lock_waits", "build_reports",
           "publish_snapshot_or_raise", "refresh_refusal", "run_account", "transform_account"]

logger = logging.getLogger("chatfunnel.lifecycle")


# ---------------------------------------------------------------- one run


class _Run:
    """The state of one run while it goes; `run_account` drives it step by step."""

    def __init__(self, options: RunOptions, *, publish: bool) -> None:
        self.options = options
        self.destination = described(options.destination)
        self.spec: SourceSpec = source_spec(options.source)
        self.account = options.target
        self.publish = publish
        self.step: Step = Step.CONFIG
        self.lock: Any = None
        self.watchdog: DestinationWatchdog | None = None
        self.pipeline: dlt.Pipeline | None = None
        self.built: BuiltSource | None = None
        self.zone = "UTC"  # the account's reports_timezone, resolved in the config step
        self.folded: SourceReport | None = None  # the step's source report, once added to the outcome
        self.history_steps = 0
        self.reports_ahead: threading.Thread | None = None  # the reports' parsing, beside the extract
        self.windows: list[dict[str, float]] = []  # per step: requests, seconds taken, reports ready after
        self.deadline: float | None = None  # --max-runtime, seconds from `outcome.started_at`
        self.outcome = RunOutcome(
            account=self.account, destination=options.destination, dataset=options.dataset_name,
            pipeline_name=pipeline_name(self.account, options.destination, options.dataset_name),
            started_at=datetime.now(timezone.utc),
        )

    # ---- steps

    def at(self, step: Step, progress: str | None = None) -> None:
        """Enter `step`; the lock file says so (and how far the run got, when known), for
        `chatfunnel status` and for whoever finds this run killed."""
        self.step = step
        if self.lock is not None:
            self.lock.note(step, progress)

    def configure(self) -> None:
        self.step = Step.CONFIG
        if self.options.since and self.options.since > datetime.now(timezone.utc):
            raise UsageError(f"--since {self.options.since:%Y-%m-%d %H:%M} UTC is in the future; nothing to load.",
                             step=Step.CONFIG)
        refusal = refresh_refusal(self.options, bool(self.spec.kept_on_refresh))
        if refusal:
            raise UsageError(refusal, step=Step.CONFIG)
        self.built = self.spec.build(self.options)
        self.zone = reports_timezone(self.account)

    def open(self) -> dlt.Pipeline:
        pipeline = make_pipeline(self.account, self.options.destination, self.options.dataset_name,
                                 progress=progress_collector(self.options.progress))
        pipeline.runtime_config.intercept_signals = False  # StopGuard decides how a run stops
        self.pipeline = pipeline
        return pipeline

    def preflight(self, pipeline: dlt.Pipeline) -> None:
        self.at(Step.PREFLIGHT)
        if self.destination.lake:
            with pipeline.destination_client() as client:
                client.initialize_storage()
        else:
            if self.destination.file_lock:
                path = duckdb_file()
                check_duckdb_catalog(path, permissions.dataset_schemas(pipeline.dataset_name))
                permissions.check_duckdb_writable(path)
            with pipeline.sql_client() as client:
                client.execute_sql("select 1")
                if self.destination.shared_server:  # every right the run needs, before any data moves
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
        self.at(Step.RECOVER)
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
        """Put back what a full refresh set aside (`pipelines.config.history`); nothing when none is."""
        if self.destination.sql and self.spec.kept_on_refresh:
            history.restore(pipeline, self.spec.kept_on_refresh, self.outcome.history)

    def _before_refresh(self, pipeline: dlt.Pipeline) -> None:
        """A full refresh sets aside what the API cannot give back, or, asked to, drops it."""
        kept = self.spec.kept_on_refresh
        if not self.options.full_refresh or not kept or self.destination.lake:
            return
        with warehouse_lock(self.options.destination):
            if self.options.drop_history:
                history.drop_history(pipeline, kept, self.outcome.history)
            else:
                history.set_aside(pipeline, kept)

    def extract(self, pipeline: dlt.Pipeline) -> None:
        assert self.built is not None
        self.at(Step.EXTRACT)
        self._before_refresh(pipeline)
        self._columns_before = _columns(pipeline)
        if self.options.transform:
            self.reports_ahead = prepare_ahead(pipeline, self.spec, self.options.destination, self.zone)
        # the source reads the warehouse back (ledger, deletion marks): each read takes its turn
        # at a DuckDB file that other accounts load into, for the length of the read
        with readback.read_guard(lambda: warehouse_lock(self.options.destination)):
            pipeline.extract(self.built.source, refresh="drop_sources" if self.options.full_refresh else None,
                             loader_file_format=loader_file_format(self.options.destination))
        self.at(Step.NORMALIZE)
        info = pipeline.normalize()
        counts = info.row_counts if info is not None else {}
        declared = bookkeeping.declared_columns(self.built.source, self.spec.declared_columns)
        self.outcome.add(StepDone(rows={t: n for t, n in counts.items() if not t.startswith("_")},
                                  new_columns=_new_columns(self._columns_before, _columns(pipeline), declared)))

    def load(self, pipeline: dlt.Pipeline) -> None:
        self.at(Step.LOAD, f"{sum(self.outcome.rows.values())} rows extracted to load" if self.outcome.rows else None)
        if self.options.full_refresh:
            self._drop_reports(pipeline)
        info = pipeline.load(workers=load_workers(self.options.destination))
        if info is not None and info.loads_ids:
            self.outcome.load_id = info.loads_ids[-1]
        if self.destination.sql and _retried_jobs(info):
            self._remove_twins(pipeline)
        prune_loaded(pipeline)
        self._restore_history(pipeline)
        self.at(Step.RECONCILE)
        if self.destination.sql:
            self.outcome.add(StepDone(facts=bounded_lock_waits(
                pipeline, lambda: reconcile.apply_deletions(pipeline, self.spec.deletion_cascades),
                schemas=[pipeline.dataset_name], what="marking the deletions this run proved", step=Step.RECONCILE)))
        if self.spec.after_load is not None and self.built is not None:
            self.spec.after_load(pipeline, self.built.settings)
        layout.record(pipeline)

    def _remove_twins(self, pipeline: dlt.Pipeline) -> None:
        """dlt ran a job again within this load (a transient error, e.g. a connection lost
        after the job's commit reached the server): rows it wrote twice are removed, as after
        finishing an interrupted load (`reconcile.remove_replayed_rows`)."""
        removed = reconcile.remove_replayed_rows(pipeline)
        if removed:  # each window of history adds its own
            before = self.outcome.facts.get("replayed_rows_removed", {})
            self.outcome.facts["replayed_rows_removed"] = {t: before.get(t, 0) + removed.get(t, 0)
                                                          for t in before.keys() | removed.keys()}

    def reports(self, pipeline: dlt.Pipeline) -> None:
        self.at(Step.REPORTS)
        self.outcome.reports = build_reports(pipeline, self.spec, self.options.destination, self.zone,
                                             ahead=self.reports_ahead)
        pending = self.built.report.still_loading if self.built is not None else set()
        self.outcome.add(StepDone(reports=report_warnings.state_and_log(self.outcome.reports, self.spec.name, pending)))

    def finish_report(self) -> None:
        """Add what the source says of this step to the run's outcome, once (a run that
        fails after its load comes here again)."""
        if self.built is None or self.folded is self.built.report:
            return
        report = self.folded = self.built.report
        # what the API's clock looks like is said once, from the news step: it reads the newest
        # rows, the only ones a clock ahead can stamp in the future
        notes = report.warnings if self.history_steps else report.notes()
        self.outcome.add(StepDone(requests=report.requests, incomplete=report.incomplete, warnings=notes,
                                  facts=report.facts))
        self.outcome.facts.update(self.outcome.history.facts())
        if self.history_steps or report.history_pending:
            self.outcome.facts["history_steps"] = self.history_steps
            self.outcome.facts["history_pending"] = sorted(report.history_pending)

    def more_history(self, options: RunOptions) -> bool:
        """Older history is still to read (newest first) and the run may go on: its news
        is in, its budget is not spent, and the last step moved every frontier it read."""
        if self.built is None or options.backfill or self.outcome.error is not None:
            return False
        report = self.built.report
        if not report.history_continues:
            return False
        if options.max_requests is not None and self.outcome.requests >= options.max_requests:
            return False
        return self._time_for_step(sorted(report.history_pending))

    def _time_for_step(self, pending: list[str]) -> bool:
        """A step that would not end before --max-runtime is left to the next run, which then
        reads it whole: this run ends as a budget stop does, incomplete, continued next run."""
        last = self.windows[-1].get("seconds") if self.windows else None
        elapsed = (datetime.now(timezone.utc) - self.outcome.started_at).total_seconds()
        if time_for_step(last, elapsed, self.deadline):
            return True
        self.outcome.incomplete = sorted(set(self.outcome.incomplete) | set(pending))
        self.outcome.warnings.append(
            f"older history continues next run: its next window would take about {duration(round(last or 0))}, "
            f"more than the {duration(round(max(0.0, (self.deadline or 0) - elapsed)))} left before --max-runtime")
        return False

    def next_history_step(self, options: RunOptions) -> None:
        """The next window of older history, as its own extract -> load -> reports, added to
        the run's outcome (`RunOutcome.add`): the source is built again for the history step
        of the resources that still have older history (`sources.kit.backfill`)."""
        assert self.built is not None
        self.history_steps += 1
        self.options = replace(self.options, full_refresh=False, drop_history=False)  # a refresh drops once
        left = None if options.max_requests is None else max(1, options.max_requests - self.outcome.requests)
        step = replace(options, resources=tuple(sorted(self.built.report.history_pending)), full_refresh=False,
                       drop_history=False, max_requests=left, extra={**options.extra, "history_step": True})
        self.built = self.spec.build(step)


def refresh_refusal(options: RunOptions, keeps_history: bool) -> str | None:
    """Why a full refresh cannot run as asked, or None. A Parquet lake cannot set history
    aside (its files are dropped whole), so there it is dropped only when asked to."""
    if options.drop_history and not options.full_refresh:
        return "--drop-history drops history only as part of --full-refresh; give both."
    lake = described(options.destination).lake
    if options.full_refresh and keeps_history and lake and not options.drop_history:
        return ("A full refresh of a Parquet lake cannot keep what the API cannot give back (tunnel stats "
                "snapshots of earlier days, order status changes): run `--full-refresh --drop-history` to drop "
                "it knowingly, or load into duckdb or postgres.")
    return None


def _retried_jobs(info: Any) -> bool:
    """Whether a job of the load completed on a retry (dlt counts them in the file name)."""
    return info is not None and any(job.job_file_info.retry_count > 0 for package in info.load_packages
                                    for job in package.jobs.get("completed_jobs", []))


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
    known = BY_NAME.get(options.destination)  # an unknown name is being explained: never raise here
    if known is not None and known.file_lock:
        disks.append(duckdb_file())
    return disks


def run_account(options: RunOptions, *, publish: bool = True, alert: bool = True) -> RunOutcome:
    """Run one account of one source end to end. Never raises a `ChatfunnelError`: the
    outcome carries it (`outcome.error`), recorded, published and alerted as it should be."""
    configure_dlt()
    run = _Run(options, publish=publish)
    ops = operations()
    deadline = options.max_runtime if options.max_runtime is not None else ops.max_runtime_hours * 3600

    def hard_exit(reason: str) -> None:
        run.outcome.error = Interrupted(reason, step=run.step)
        run.outcome.finished_at = datetime.now(timezone.utc)
        runs.write_journal([run.outcome.record(run.step).row()])

    previous_usr1 = signal.getsignal(signal.SIGUSR1) if threading.current_thread() is threading.main_thread() else None
    if previous_usr1 is not None:
        signal.signal(signal.SIGUSR1, raise_deadline)
    def unblock() -> None:
        if run.watchdog is not None:
            run.watchdog.stop_all()

    guard = StopGuard(deadline, ops.stop_grace_seconds, hard_exit, unblock)
    run.deadline = deadline
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
        run.step = Step.LOCK
        with run_lock(run.outcome.pipeline_name, wait=options.wait) as lock, contextlib.ExitStack() as stack:
            run.lock = lock
            run.outcome.recovery.killed = lock.previous
            run.at(Step.PREFLIGHT)  # opening the pipeline resolves the destination's settings
            pipeline = run.open()
            run.watchdog = stack.enter_context(_watchdog(pipeline))
            across_hosts = options.wait or operations().postgres_lock_wait_seconds
            stack.enter_context(destination_lock(pipeline, wait=across_hosts))
            with warehouse_lock(options.destination):
                run.preflight(pipeline)
                run.recover(pipeline)
                run.at(Step.MIGRATE)
                if migrated := layout.migrate(pipeline, run.spec.name):
                    run.outcome.facts["migrated"] = migrated
            _load_and_report(run, options, pipeline)
            while run.more_history(options):  # newest history first: each window committed before the next
                _publish(run, options, window=True)
                run.next_history_step(options)
                _load_and_report(run, options, pipeline)
            with warehouse_lock(options.destination):
                run.at(Step.RECORD)
                _close(run, step=None, alert=False, publish=False)
            _publish(run, options)
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


def _load_and_report(run: _Run, options: RunOptions, pipeline: dlt.Pipeline) -> None:
    """One step of the run: extract, load, reports. Newest first, the run says what each
    window cost and how soon its reports were there. The load and the reports hold a DuckDB
    file one after the other, each with the file open once (`kept_open`): kept open across
    both, the load's pages stayed in memory through the reports (1.07-1.13 GB at 50,000
    people, against 0.93 GB for the load alone)."""
    assert run.built is not None
    run.extract(pipeline)
    with warehouse_lock(options.destination):
        run.load(pipeline)
        run.finish_report()
    if options.transform:  # without reports, no turn at the file
        with warehouse_lock(options.destination):
            run.reports(pipeline)
    ready = (datetime.now(timezone.utc) - run.outcome.started_at).total_seconds()
    took = ready - (run.windows[-1]["ready_after_seconds"] if run.windows else 0.0)  # from the last window's reports
    run.windows.append({"requests": run.built.report.requests, "seconds": round(took, 1),
                        "ready_after_seconds": round(ready, 1)})
    if run.history_steps or run.built.report.history_pending:
        run.outcome.facts["history_windows"] = list(run.windows)


def _publish(run: _Run, options: RunOptions, *, window: bool = False) -> None:
    """DuckDB: the BI snapshot of what is committed (and reported) so far.

    After a window of a newest-first load it is published even when the caller publishes
    once at the end (`chatfunnel run` does, after every account): that snapshot is how a new
    account's first reports reach BI tools while older history still loads. A window's
    snapshot that fails is a warning, not the run's end: its data are committed, the load
    goes on, and the snapshot at the end of the run is tried again and reported there."""
    if not run.destination.publishes_snapshot or not (run.publish or window):
        return
    run.at(Step.PUBLISH)
    try:
        with warehouse_lock(options.destination):
            run.outcome.published = publish.publish_snapshot(duckdb_file())
    except Exception as exc:
        if not window:
            raise
        said = (f"the BI snapshot after a window of history was not published ({short(exc, 300)}); "
                "dashboards show the previous one until the end of the run")
        if said not in run.outcome.warnings:
            run.outcome.warnings.append(said)


@contextlib.contextmanager
def _watchdog(pipeline: dlt.Pipeline) -> Iterator[DestinationWatchdog | None]:
    """On Postgres, the watchdog over the run's connections (see `pipelines.run.watchdog`)."""
    if not destination_of(pipeline).shared_server:
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
    if pipeline is None or run.step not in (Step.LOAD, Step.RECONCILE):
        return error
    try:
        pending = pipeline.has_pending_data
    except Exception:  # noqa: BLE001 - a half-written dlt folder: say nothing rather than guess
        return error
    if pending:
        tail = " The extracted data is kept in a pending load package; the next run loads it first."
    elif run.step == Step.LOAD:
        tail = (" dlt abandoned this load and restored the state it started from, so the next run reads that "
                "data again.")
    else:  # the load committed; marking deletions is what failed, and it reads the committed ledger
        tail = " This run's data is loaded; the deletions it proved are marked by the next run."
    return type(error)(f"{error}{tail}", step=error.step, requests=error.requests)


def _close(run: _Run, *, step: Step | None, alert: bool, publish: bool = False) -> None:
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
                                                                     | permissions.FileAccessDenied
                                                                     | DuckDBFileNamedLikeSchema):
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


def transform_account(options: RunOptions, *, publish: bool = True) -> TransformOutcome:
    """`chatfunnel transform`: lock → reports → publish, for one account."""
    spec = source_spec(options.source)
    account = options.target
    result = TransformOutcome(account, options.destination, options.dataset_name)
    step = Step.LOCK
    try:
        with run_lock(pipeline_name(account, options.destination, options.dataset_name), wait=options.wait):
            pipeline = make_pipeline(account, options.destination, options.dataset_name)
            step = Step.REPORTS
            if described(options.destination).shared_server:
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
                        f"`chatfunnel run {account.source}` first.", step=Step.REPORTS)
                result.reports = build_reports(pipeline, spec, options.destination, reports_timezone(account))
                report_warnings.state_and_log(result.reports, spec.name, set())
                if publish and described(options.destination).publishes_snapshot:
                    step = Step.PUBLISH
                    result.published = publish_snapshot_or_raise()
    except Exception as exc:  # noqa: BLE001
        result.error = explain(exc, step=step, account=account, secret_env=spec.secret_env(account),
                               destination=options.destination, disks=_disks(options))
    return result


def publish_snapshot_or_raise() -> Path:
    from pipelines.errors import PublishFailed

    try:
        return publish.publish_snapshot(duckdb_file())
    except Exception as exc:
        refused = permissions.explain_denied(exc, step=Step.PUBLISH)  # names the snapshot file and the user
        if refused is not None:
            raise refused from exc
        raise PublishFailed(
            f"Publishing the BI snapshot failed: {short(exc)}. What was loaded and rebuilt is in the warehouse; "
            "dashboards still show the previous snapshot.", step=Step.PUBLISH) from exc
