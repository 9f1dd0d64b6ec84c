"""Run history: one row per `chatfunnel run` in the table `_chatfunnel_runs` of the run's
dataset, and `chatfunnel status`.

The row is written through dlt, by a small sibling pipeline (`<pipeline name>_runs`, its
own schema `chatfunnel_runs`, the same destination and dataset). A sibling rather than
the run's own pipeline because a failed run can leave pending load packages behind in
its pipeline: `pipeline.run([row])` on that pipeline would first try to load them again
and fail the same way, so the failure would block its own record. The sibling has
nothing pending, so a failed run is recorded whenever the destination itself is up.
Recording never raises: when it fails (destination down) a warning is logged, the row
goes to a local journal (`<dlt data dir>/chatfunnel_runs.jsonl`) and the caller's
original error is what the user sees.

Columns of `_chatfunnel_runs`:
run_id, source, pipeline_name, dataset, destination, started_at, finished_at (UTC,
timestamp with time zone), duration_seconds, outcome (success | partial | failed),
error (one paragraph, never a secret), requests (API requests made), rows_loaded (sum),
rows_per_table (JSON {table: rows loaded by this run}), incomplete (resources whose
window did not finish, comma separated), load_id (dlt's load id of the run's data, if
any), host.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import dlt

logger = logging.getLogger("chatfunnel.history")

RUNS_TABLE = "_chatfunnel_runs"
RUNS_SCHEMA = "chatfunnel_runs"
OUTCOMES = ("success", "partial", "failed")
JOURNAL_FILE = "chatfunnel_runs.jsonl"

RUNS_COLUMNS: dict[str, dict[str, Any]] = {
    "run_id": {"data_type": "text", "nullable": False},
    "source": {"data_type": "text", "nullable": False},
    "pipeline_name": {"data_type": "text"},
    "dataset": {"data_type": "text"},
    "destination": {"data_type": "text"},
    "started_at": {"data_type": "timestamp", "timezone": True},
    "finished_at": {"data_type": "timestamp", "timezone": True},
    "duration_seconds": {"data_type": "double"},
    "outcome": {"data_type": "text", "nullable": False},
    "error": {"data_type": "text", "nullable": True},
    "requests": {"data_type": "bigint"},
    "rows_loaded": {"data_type": "bigint"},
    "rows_per_table": {"data_type": "json"},
    "incomplete": {"data_type": "text", "nullable": True},
    "load_id": {"data_type": "text", "nullable": True},
    "host": {"data_type": "text"},
}


def _utc(value: datetime | float | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _journal_path() -> Path:
    try:
        from dlt.common.runtime.run_context import active

        data_dir = active().data_dir
    except Exception:  # noqa: BLE001 - older/newer dlt: fall back to dlt's env var
        data_dir = os.environ.get("DLT_DATA_DIR") or str(Path.home() / ".dlt")
    return Path(data_dir) / JOURNAL_FILE


def _load_id(pipeline: Any) -> str | None:
    try:
        trace = pipeline.last_trace
        info = trace.last_load_info if trace else None
        return info.loads_ids[-1] if info and info.loads_ids else None
    except Exception:  # noqa: BLE001 - best effort
        return None


def make_row(
    pipeline: Any,
    result_or_none: Any,
    *,
    source: str,
    started_at: datetime | float | None,
    finished_at: datetime | float | None,
    outcome: str,
    error: str | None,
    requests: int,
    rows: dict[str, int],
) -> dict[str, Any]:
    """The `_chatfunnel_runs` row for one run (also what the local journal keeps)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    started, finished = _utc(started_at), _utc(finished_at)
    rows = {str(k): int(v) for k, v in (rows or {}).items() if not str(k).startswith("_dlt")}
    incomplete = getattr(result_or_none, "incomplete", None) or []
    destination = getattr(result_or_none, "destination", None) or _destination_name(pipeline)
    from .alerts import scrub

    return {
        "run_id": uuid.uuid4().hex,
        "source": source,
        "pipeline_name": getattr(pipeline, "pipeline_name", None),
        "dataset": getattr(pipeline, "dataset_name", None),
        "destination": destination,
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": round((finished - started).total_seconds(), 3),
        "outcome": outcome,
        "error": scrub(error) if error else None,
        "requests": int(requests or 0),
        "rows_loaded": sum(rows.values()),
        "rows_per_table": rows,
        "incomplete": ",".join(sorted(incomplete)) or None,
        "load_id": _load_id(pipeline) if outcome != "failed" else None,
        "host": socket.gethostname(),
    }


def _destination_name(pipeline: Any) -> str | None:
    try:
        return pipeline.destination.destination_name
    except Exception:  # noqa: BLE001
        return None


def _runs_pipeline(pipeline: Any) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"{pipeline.pipeline_name}_runs",
        pipelines_dir=pipeline.pipelines_dir,
        destination=pipeline.destination,
        dataset_name=pipeline.dataset_name,
        progress=None,
    )


def record_run(
    pipeline: Any,
    result_or_none: Any,
    *,
    source: str,
    started_at: datetime | float | None,
    finished_at: datetime | float | None,
    outcome: str,
    error: str | None,
    requests: int,
    rows: dict[str, int],
) -> None:
    """Append one row to `<dataset>._chatfunnel_runs`. Never raises."""
    try:
        row = make_row(
            pipeline, result_or_none, source=source, started_at=started_at,
            finished_at=finished_at, outcome=outcome, error=error, requests=requests, rows=rows,
        )
    except Exception as exc:  # noqa: BLE001 - recording must never hide the run's own outcome
        logger.warning("could not record the %s run: %s", source, exc)
        return
    try:
        runs = _runs_pipeline(pipeline)
        resource = dlt.resource(
            [row],
            name=RUNS_TABLE,
            table_name=RUNS_TABLE,
            write_disposition="append",
            columns=RUNS_COLUMNS,
        )
        info = runs.run(resource, schema=dlt.Schema(RUNS_SCHEMA))
        if info is not None and info.has_failed_jobs:
            info.raise_on_failed_jobs()
        return
    except Exception as exc:  # noqa: BLE001
        from .alerts import scrub

        logger.warning(
            "could not record the %s run in the warehouse (%s); kept it in %s",
            source, scrub(f"{type(exc).__name__}: {exc}")[:300], _journal_path(),
        )
    try:
        path = _journal_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not write the local run journal either: %s", exc)


def read_journal(source: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Runs that could not be written to the warehouse (newest first)."""
    path = _journal_path()
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if source is None or row.get("source") == source:
            out.append(row)
    out.sort(key=lambda r: str(r.get("started_at")), reverse=True)
    return out[:limit]


# ---------------------------------------------------------------- reading


def _pipeline_name(source: str, dataset: str, destination: str) -> str:
    """runner.pipeline_name, with or without its destination argument."""
    from .runner import pipeline_name

    try:
        return pipeline_name(source, dataset, destination)
    except TypeError:
        return pipeline_name(source, dataset)


def _reader(destination: Any, dataset: str, pipeline: Any = None) -> Any:
    """The runs pipeline of `pipeline`, or of the source pipeline that loads `dataset`."""
    if pipeline is None:
        from .runner import SOURCES, make_pipeline

        if isinstance(destination, str):
            candidates = sorted(SOURCES, key=lambda s: s != dataset)
            pipelines_dir = None
            try:
                from dlt.common.runtime.run_context import active

                pipelines_dir = Path(active().data_dir) / "pipelines"
            except Exception:  # noqa: BLE001
                pass
            if pipelines_dir is not None:
                existing = [s for s in candidates if (pipelines_dir / f"{_pipeline_name(s, dataset, destination)}_runs").exists()]
                candidates = existing or candidates
            pipeline = make_pipeline(candidates[0], destination, dataset)
        else:
            pipeline = dlt.pipeline(
                pipeline_name=f"chatfunnel_status_{dataset}", destination=destination, dataset_name=dataset,
                progress=None,
            )
    runs = _runs_pipeline(pipeline)
    if not runs.default_schema_name:
        try:  # a fresh machine: the runs schema is in the destination
            runs.sync_destination()
        except Exception:  # noqa: BLE001
            pass
    return runs


def _query_dicts(pipeline: Any, sql_for: Any) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client:
        with client.execute_query(sql_for(client)) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]


def _normalize_row(row: dict[str, Any]) -> dict[str, Any]:
    rows = row.get("rows_per_table")
    if isinstance(rows, str):
        try:
            row["rows_per_table"] = json.loads(rows)
        except ValueError:
            pass
    for key in ("started_at", "finished_at"):
        value = row.get(key)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(value, datetime):
            row[key] = _utc(value).astimezone(timezone.utc)
    return row


def read_history(destination: Any, dataset: str, limit: int = 20, *, pipeline: Any = None) -> list[dict]:
    """The newest `limit` runs recorded in `<dataset>._chatfunnel_runs`, newest first.

    `destination` is a name ("duckdb", "postgres", "filesystem", configured as for
    `chatfunnel run`) or a dlt destination; pass the run's `pipeline` to read through its
    destination instead. An empty list when nothing was recorded yet.
    """
    reader = _reader(destination, dataset, pipeline)
    columns = ", ".join(f'"{c}"' for c in RUNS_COLUMNS)

    def sql(client: Any) -> str:
        return (
            f"select {columns} from {client.make_qualified_table_name(RUNS_TABLE)} "
            f"order by started_at desc limit {int(limit)}"
        )

    try:
        rows = _query_dicts(reader, sql)
    except Exception as exc:  # noqa: BLE001 - no table yet / nothing loaded
        logger.debug("no run history in %s: %s", dataset, exc)
        return []
    return [_normalize_row(r) for r in rows]


def warehouse_row_counts(destination: Any, dataset: str, *, pipeline: Any = None) -> dict[str, int]:
    """Rows per data table of the source's schema now in the warehouse."""
    if pipeline is None:
        from .runner import make_pipeline

        pipeline = make_pipeline(dataset, destination, dataset)
    if not pipeline.default_schema_name:
        return {}
    tables = [t for t in pipeline.default_schema.data_table_names() if not t.startswith("_")]
    if not tables:
        return {}

    def sql(client: Any) -> str:
        return " union all ".join(
            f"select '{t}' as table_name, count(*) as n from {client.make_qualified_table_name(t)}"
            for t in tables
        )

    counts: dict[str, int] = {}
    try:
        rows = _query_dicts(pipeline, sql)
        counts = {r["table_name"]: int(r["n"]) for r in rows}
    except Exception:  # noqa: BLE001 - a table in the schema may not exist yet: count one by one
        for t in tables:
            try:
                rows = _query_dicts(pipeline, lambda c, t=t: f"select count(*) as n from {c.make_qualified_table_name(t)}")
                counts[t] = int(rows[0]["n"])
            except Exception:  # noqa: BLE001
                continue
    return counts


def state_cursors(pipeline: Any, source: str) -> dict[str, dict[str, Any]]:
    """Scalar resource-state values (cursors) per resource; maps are shown by their size."""
    try:
        resources = pipeline.state.get("sources", {}).get(source, {}).get("resources", {})
    except Exception:  # noqa: BLE001
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, state in sorted(resources.items()):
        if not isinstance(state, dict):
            continue
        shown: dict[str, Any] = {}
        for key, value in sorted(state.items()):
            if isinstance(value, dict):
                shown[key] = f"<{len(value)} entries>"
            elif isinstance(value, list):
                shown[key] = f"<{len(value)} items>"
            else:
                shown[key] = value
        out[name] = shown
    return out


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 120:
        text = f"{seconds}s"
    elif seconds < 7200:
        text = f"{seconds // 60} min"
    elif seconds < 172800:
        text = f"{seconds // 3600} h"
    else:
        text = f"{seconds // 86400} days"
    return f"{when:%Y-%m-%d %H:%M:%S} UTC ({text} ago)"


def _short(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def status_lines(
    source: str,
    destination: str,
    dataset: str | None = None,
    *,
    now: datetime | None = None,
) -> list[str]:
    """What `chatfunnel status` prints for one source."""
    from .runner import describe_location, make_pipeline
    from .alerts import scrub

    dataset = dataset or source
    now = now or datetime.now(timezone.utc)
    lines = [f"{source} ({destination}, dataset '{dataset}')"]
    try:
        pipeline = make_pipeline(source, destination, dataset)
        pipeline.activate()
    except Exception as exc:  # noqa: BLE001
        return lines + [f"  cannot open the pipeline: {scrub(str(exc))}"]
    if not pipeline.default_schema_name:
        try:  # a fresh machine: the state lives in the destination too
            pipeline.sync_destination()
        except Exception:  # noqa: BLE001 - destination down or never loaded
            pass
    try:
        history = read_history(destination, dataset, limit=50, pipeline=pipeline)
    except Exception as exc:  # noqa: BLE001
        history = []
        lines.append(f"  run history unavailable: {scrub(str(exc))[:200]}")
    journal = read_journal(source, limit=5)
    last = history[0] if history else None
    last_ok = next((r for r in history if r["outcome"] in ("success", "partial")), None)
    if not history and not pipeline.default_schema_name:
        lines.append("  never run (no run history, no state); start with `chatfunnel run " + source + "`")
    ok_text = _ago(last_ok["finished_at"] if last_ok else None, now)
    if last_ok is not None:
        ok_text += (
            f", {last_ok['outcome']}, {last_ok.get('duration_seconds') or 0:.1f}s, "
            f"{last_ok.get('requests') or 0} API requests, {last_ok.get('rows_loaded') or 0} rows loaded"
        )
    lines.append(f"  last successful run: {ok_text}")
    if last is not None:
        lines.append(
            f"  last run: {last['outcome']} at {_ago(last['finished_at'], now)}, "
            f"{last.get('duration_seconds') or 0:.1f}s, {last.get('requests') or 0} API requests, "
            f"{last.get('rows_loaded') or 0} rows loaded"
        )
        if last.get("incomplete"):
            lines.append(f"    incomplete (continues next run): {last['incomplete']}")
        if last["outcome"] == "failed" and last.get("error"):
            lines.append(f"    error: {_short(scrub(last['error']))}")
    for row in journal:
        if last is None or str(row.get("started_at")) > str(last.get("started_at")):
            lines.append(
                f"  not in the warehouse (destination was unreachable): {row.get('outcome')} run at "
                f"{row.get('finished_at')}: {_short(scrub(row.get('error') or ''), 200)}"
            )
            break
    if history:
        recent = ", ".join(f"{r['outcome']} {r['finished_at']:%m-%d %H:%M}" for r in history[:5])
        lines.append(f"  recent runs: {recent}")
    counts = {}
    try:
        counts = warehouse_row_counts(destination, dataset, pipeline=pipeline)
    except Exception:  # noqa: BLE001
        pass
    if counts:
        label = (
            "rows stored in the lake (every appended version)" if destination == "filesystem"
            else "rows now in the warehouse"
        )
        lines.append(f"  {label}: " + ", ".join(f"{t}={n}" for t, n in sorted(counts.items())))
    cursors = state_cursors(pipeline, source)
    if cursors:
        lines.append("  state cursors:")
        for name, values in cursors.items():
            lines.append("    " + name + ": " + ", ".join(f"{k}={v}" for k, v in values.items()))
    try:
        if destination == "filesystem":
            from .publish import lake_bucket_url

            location = f"{lake_bucket_url()}/{dataset}"
        else:
            location = describe_location(pipeline, destination)
        lines.append(f"  warehouse: {scrub(location)}")
    except Exception:  # noqa: BLE001
        pass
    return lines


def print_status(destination: str, sources: Iterable[str] = ("leeloo", "salebot"), dataset: str | None = None) -> int:
    """`chatfunnel status`: per source, last (successful) run, rows, requests, cursors.

    Returns 0 when every source's last recorded run succeeded (or nothing ran yet), 1 when
    a source's last run failed, so a monitoring check can use the exit code.
    """
    exit_code = 0
    for i, source in enumerate(sources):
        if i:
            print()
        lines = status_lines(source, destination, dataset)
        print("\n".join(lines))
        if any(line.startswith("  last run: failed") for line in lines):
            exit_code = 1
    return exit_code


# ---------------------------------------------------------------- a run, observed


def failed_step(exc: BaseException | None) -> str | None:
    """Which step failed: dlt's extract/normalize/load, the report build, or the publish."""
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        step = getattr(current, "step", None)
        if isinstance(step, str) and step:
            return step
        text = str(current)
        if "reports failed" in text or "data test" in text:
            return "transform"
        current = current.__cause__ or current.__context__
    return None


def finish_run(
    pipeline: Any,
    result: Any,
    *,
    source: str,
    destination: str,
    started_at: float,
    error: BaseException | None = None,
    requests: int | None = None,
    publish: bool = True,
) -> str:
    """After a run: record it, publish the BI snapshot (DuckDB, success only), alert.

    Never raises; returns the outcome recorded. Call it inside the run lock.
    """
    import time

    from .alerts import notify, scrub

    finished = time.time()
    rows = dict(getattr(result, "rows", None) or {})
    if requests is None:
        requests = int(getattr(result, "requests", 0) or getattr(error, "requests", 0) or 0)
    if error is not None:
        outcome = "failed"
    elif getattr(result, "incomplete", None):
        outcome = "partial"
    else:
        outcome = "success"
    message = scrub(str(error)) if error is not None else ""
    if pipeline is not None:
        record_run(
            pipeline, result, source=source, started_at=started_at, finished_at=finished,
            outcome=outcome, error=message or None, requests=requests, rows=rows,
        )
    details: dict[str, Any] = {
        "step": failed_step(error) if error is not None else None,
        "dataset": getattr(pipeline, "dataset_name", None),
        "destination": destination,
        "duration": f"{finished - started_at:.1f}s",
        "API requests": requests,
        "rows loaded": sum(rows.values()) if rows else None,
        "incomplete": ", ".join(getattr(result, "incomplete", None) or []) or None,
    }
    if outcome != "failed" and publish and destination == "duckdb":
        try:
            from .publish import bi_path_for, publish_snapshot
            from .runner import duckdb_file

            target = publish_snapshot(duckdb_file(), bi_path_for(duckdb_file()))
            details["BI snapshot"] = str(target)
        except Exception as exc:  # noqa: BLE001 - the load is fine; dashboards stay on the last snapshot
            text = scrub(f"{type(exc).__name__}: {exc}")
            logger.warning("publishing the BI snapshot failed: %s", text)
            notify(
                "failed",
                f"The {source} load succeeded, but publishing the BI snapshot failed ({text}); "
                "dashboards still show the previous snapshot.",
                source=source,
                details={**details, "step": "publish"},
            )
    if outcome == "failed":
        summary = message
    else:
        summary = (
            f"Loaded {sum(rows.values())} rows into {destination} dataset "
            f"'{getattr(pipeline, 'dataset_name', source)}'."
        )
    notify(outcome, summary, source=source, details=details)
    return outcome


def publish_after_transform(destination: str) -> Path | None:
    """`chatfunnel transform` on DuckDB: publish the rebuilt reports to the BI snapshot.

    Call it inside the transform's lock. Raises a ChatfunnelError when publishing fails.
    """
    if destination != "duckdb":
        return None
    from .publish import bi_path_for, publish_snapshot
    from .runner import ChatfunnelError, duckdb_file

    try:
        return publish_snapshot(duckdb_file(), bi_path_for(duckdb_file()))
    except Exception as exc:  # noqa: BLE001
        from .alerts import scrub

        raise ChatfunnelError(
            f"The reports were rebuilt, but publishing the BI snapshot failed: "
            f"{scrub(f'{type(exc).__name__}: {exc}')}. Dashboards still show the previous snapshot."
        ) from None


def run_observed(options: Any, *, wait: float = 0, run: Any = None) -> Any:
    """`runner.run(options)` inside the overlap lock, recorded, published and alerted.

    Raises what the run raised (a `ChatfunnelError`), or `RunLocked` when another run of the
    same pipeline (or into the same DuckDB file) holds the lock for longer than `wait`.
    """
    import time

    from . import runner as runner_module
    from .lock import lock_names, run_locks

    run = run or runner_module.run
    names = lock_names(_pipeline_name(options.source, options.dataset_name, options.destination),
                       options.destination)
    with run_locks(names, wait=wait):
        started = time.time()
        try:
            result = run(options)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            try:
                pipeline = runner_module.make_pipeline(options.source, options.destination, options.dataset_name)
            except Exception:  # noqa: BLE001 - e.g. an unknown destination: nothing to record into
                pipeline = None
            finish_run(
                pipeline, None, source=options.source, destination=options.destination,
                started_at=started, error=exc,
            )
            raise
        pipeline = runner_module.make_pipeline(options.source, options.destination, options.dataset_name)
        reports = getattr(result, "reports", None)
        lake_reports_missing = reports is None or getattr(reports, "destination", None) == "filesystem"
        if options.destination == "filesystem" and getattr(options, "transform", True) and lake_reports_missing:
            try:
                from .publish import lake_reports_for_pipeline

                result.reports = lake_reports_for_pipeline(pipeline, options.source)
            except Exception as exc:  # noqa: BLE001
                error = runner_module.ChatfunnelError(
                    f"Building the {options.source} reports over the Parquet lake failed: {exc}. "
                    f"The Parquet files were loaded and are intact; fix the cause and run "
                    f"`chatfunnel transform {options.source} --destination filesystem`."
                )
                finish_run(
                    pipeline, result, source=options.source, destination=options.destination,
                    started_at=started, error=error,
                )
                raise error from None
        finish_run(
            pipeline, result, source=options.source, destination=options.destination, started_at=started,
        )
        return result


# ---------------------------------------------------------------- progress


def progress_collector(mode: str = "auto", stream: Any = None) -> Any:
    """dlt's progress collector for `--progress auto|log|none`, for `make_pipeline`.

    - on a terminal (`auto` or `log`): tqdm/enlighten bars when installed, else dlt's log
      collector every 2 s on stderr;
    - not a terminal (cron, CI, Airflow): `auto` is silent (None); `log` writes one progress
      line per minute to stderr, without system stats, for long runs in a log file;
    - `none`: None.
    """
    import sys

    if mode == "none":
        return None
    stream = stream if stream is not None else sys.stderr
    try:
        interactive = bool(stream.isatty())
    except Exception:  # noqa: BLE001
        interactive = False
    from dlt import progress

    if interactive:
        for name in ("enlighten", "tqdm"):
            try:
                __import__(name)
            except ImportError:
                continue
            return getattr(progress, name)()
        return progress.log(log_period=2.0, logger=stream, dump_system_stats=False)
    if mode == "auto":
        return None
    return progress.log(log_period=60.0, logger=stream, dump_system_stats=False)
