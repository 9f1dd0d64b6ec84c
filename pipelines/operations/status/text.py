"""`chatfunnel status` as text: the lines people read, from an `AccountStatus`. Times are in
the account's reports timezone with its offset (`UTC` when none is set)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.config.redaction import scrub
from pipelines.operations import runs
from pipelines.operations.coverage import coverage_line
from pipelines.operations.diagnosis import short
from pipelines.operations.status.model import AccountStatus, Run
from pipelines.operations.status.times import UTC_ZONE, ago, local_time
from pipelines.warehouse.destinations import destination

TROUBLE_HEADINGS = {"held": "WAREHOUSE FILE HELD BY ANOTHER PROGRAM", "refused": "NO ACCESS",
                    "unreachable": "DESTINATION UNREACHABLE"}


def status_lines(status: AccountStatus, now: datetime) -> list[str]:
    """Every line `status` prints for one account, in the order people read them."""
    lines = [_heading(status)]
    if status.zone_problem:
        lines.append(f"  times below in UTC: {status.zone_problem}")
    if status.running is not None:
        lines.append(running_line(status.running, now, status.zone))
    lines.extend(_snapshot_lines(status))
    if status.trouble is not None:
        lines.append(f"  {TROUBLE_HEADINGS[status.trouble.kind]}: {status.trouble.message}")
    lines.extend(_setup_lines(status))
    lines.extend(_run_lines(status, now))
    lines.extend(_coverage_lines(status, now))
    lines.extend(_left_behind_lines(status))
    lines.extend(_figure_lines(status, now))
    return lines


def _heading(status: AccountStatus) -> str:
    zone = "" if status.zone == UTC_ZONE else f"; times in {status.zone.key}"
    return f"{status.account.label} ({status.destination}, dataset '{status.dataset}'{zone})"


def running_line(info: dict[str, Any], now: datetime, zone: ZoneInfo = UTC_ZONE) -> str:
    """One line for a run in progress, from what its lock file says."""
    since = runs.as_utc(info.get("step_since"))
    step = f"at its {info['step']} step" if info.get("step") else "starting"
    step += f" since {ago(since, now, zone)}" if since else ""
    who = ", ".join(filter(None, [f"pid {info['pid']}" if info.get("pid") else None,
                                  f"on {info['host']}" if info.get("host") else None,
                                  str(info["command"]) if info.get("command") else None]))
    step += f" ({info['progress']})" if info.get("progress") else ""
    started = runs.as_utc(info.get("started_at"))
    return (f"  RUN IN PROGRESS ({who or 'another process'}): {step}"
            + (f", started {ago(started, now, zone)}" if started else ""))


def _snapshot_lines(status: AccountStatus) -> list[str]:
    snapshot = status.snapshot
    if snapshot is None:
        return []
    if snapshot.path is None or snapshot.published is None:
        return ["  warehouse figures skipped: a run holds the DuckDB file, and no BI snapshot is published yet"]
    return [f"  figures below are from the BI snapshot {snapshot.path} (published "
            f"{local_time(snapshot.published, status.zone)}): a run holds the working file"]


def _setup_lines(status: AccountStatus) -> list[str]:
    setup, account = status.setup, status.account
    if setup is None:
        return []
    if not setup.configured:
        key = setup.secret_key
        return [f"  not configured: set {account.env_prefix}{key.upper()} (or {key} under "
                f"[{account.config_path}] in .dlt/secrets.toml)"]
    return [f"  never run; start with `chatfunnel run {account.source}"
            + (f" --account {account.name}`" if account.name else "`")]


def run_line(run: Run, now: datetime, zone: ZoneInfo) -> str:
    """When a run finished, how it ended, how long it took, what it asked and loaded."""
    return (f"{ago(run.finished_at, now, zone)}, {run.outcome}, {run.duration_seconds:.1f}s, "
            f"{run.requests} API requests, {run.rows} rows loaded")


def _run_lines(status: AccountStatus, now: datetime) -> list[str]:
    """The last successful run, the last recorded one, and runs only the journal has."""
    lines: list[str] = []
    if status.reachable and status.setup is None:
        last_ok = next((r for r in status.history if r.succeeded), None)
        lines.append("  last successful run: " + (run_line(last_ok, now, status.zone) if last_ok else "never"))
    if status.last_recorded is not None:
        lines.extend(_last_run_lines(status.last_recorded, now, status.zone))
    for run in status.journal_only[:3]:
        lines.append(f"  not in the warehouse yet (it could not take the record): {run.outcome} run at "
                     f"{ago(run.finished_at, now, status.zone)}: {short(run.error or '', 240)}")
    return lines


def _last_run_lines(last: Run, now: datetime, zone: ZoneInfo) -> list[str]:
    """What the last recorded run did, its failure and warnings."""
    lines = ["  last run: " + run_line(last, now, zone)]
    if last.recovered:
        lines.append(f"    recovered: {scrub(last.recovered)}")
    if last.incomplete:
        lines.append(f"    incomplete (continues next run): {last.incomplete}")
    if last.outcome in ("failed", "interrupted") and last.error:
        step = f" in the {last.step} step" if last.step else ""
        lines.append(f"    {last.outcome}{step}: {short(last.error, 400)}")
    lines.extend(f"    warning: {short(warning, 300)}" for warning in last.warnings)
    lines.extend(facts_lines(last.facts))
    return lines


def facts_lines(facts: dict[str, Any]) -> list[str]:
    """The figures a run recorded (sweep progress, deletions, ...), one line each; a list of
    records (the history windows a first load read) one line per record under its heading."""
    lines = []
    for key, value in sorted(facts.items()):
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            lines.append(f"    {key.replace('_', ' ')}:")
            lines.extend(f"      {n}. {record_words(key, v)}" for n, v in enumerate(value, start=1))
            continue
        shown = _pairs(value) if isinstance(value, dict) else value
        if isinstance(shown, list):
            shown = ", ".join(map(str, shown))
        lines.append(f"    {key.replace('_', ' ')}: {shown}")
    return lines


def record_words(key: str, record: dict[str, Any]) -> str:
    """One record of a run's facts in words: a history window as `120 API requests in 14.2s,
    reports ready 31.0s into the run`; any other as its `name=value` pairs."""
    if key == "history_windows" and "requests" in record:
        took = f" in {record['seconds']}s" if record.get("seconds") is not None else ""
        ready = record.get("ready_after_seconds")
        return (f"{record['requests']} API requests{took}"
                + (f", reports ready {ready}s into the run" if ready is not None else ""))
    return _pairs(record)


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _coverage_lines(status: AccountStatus, now: datetime) -> list[str]:
    """How much of the history is loaded, when the warehouse says (its `coverage` report)."""
    if status.coverage is None:
        return []
    return ["  " + coverage_line(status.coverage, status.zone, lambda when: local_time(when, status.zone), now=now)]


def _left_behind_lines(status: AccountStatus) -> list[str]:
    """A killed run and a left-over load package, and what the next run does about them."""
    lines = []
    killed = status.killed
    if killed:
        started = runs.as_utc(killed.get("started_at"))
        shown = local_time(started, status.zone) if started else killed.get("started_at")
        lines.append(f"  the last run was killed during its {killed.get('step', 'unknown')} step "
                     f"(pid {killed.get('pid')} on {killed.get('host')}, started {shown}); "
                     "the next run recovers what it left")
    if status.leftover:
        loaded = _load_time(status.leftover[0], status.zone)
        lines.append(f"  left-over load package from an interrupted run ({loaded}): "
                     "the next run loads it first (or, if it cannot be loaded, drops it and reads its data again), "
                     "then loads what is new")
    return lines


def _load_time(load_id: str, zone: ZoneInfo) -> str:
    try:
        return local_time(datetime.fromtimestamp(float(load_id), timezone.utc), zone)
    except ValueError:
        return load_id


def _figure_lines(status: AccountStatus, now: datetime) -> list[str]:
    """Recent runs, rows, cursors, the inbox, gap days and where the warehouse is."""
    lines = []
    zone = status.zone
    if status.history:
        recent = ", ".join(f"{r.outcome} {r.finished_at.astimezone(zone):%m-%d %H:%M}"
                           for r in status.history[:5] if r.finished_at)
        lines.append(f"  recent runs: {recent}")
    if status.row_counts:
        label = ("rows stored in the lake (every appended version)" if destination(status.destination).lake
                 else "rows now in the warehouse")
        lines.append(f"  {label}: " + ", ".join(f"{t}={n}" for t, n in sorted(status.row_counts.items())))
    if status.cursors:
        lines.append("  state cursors (local; committed when the left-over package loads):" if status.leftover
                     else "  state cursors:")
        lines.extend("    " + name + ": " + ", ".join(f"{k}={v}" for k, v in values.items())
                     for name, values in status.cursors.items())
    lines.extend(_inbox_lines(status, now))
    if status.gap_days:
        days = ", ".join(f"{d:%Y-%m-%d}" for d in reversed(status.gap_days[:10]))
        more = f" and {len(status.gap_days) - 10} more" if len(status.gap_days) > 10 else ""
        lines.append(f"  days without a tunnel stats snapshot (shown as gaps, never interpolated): {days}{more}")
    if status.location is not None:
        lines.append(f"  warehouse: {status.location}")
    return lines


def _inbox_lines(status: AccountStatus, now: datetime) -> list[str]:
    inbox = status.inbox
    if inbox is None:
        return []
    if inbox.total is None:
        return [f"  webhook inbox: none yet ({inbox.path})"]
    oldest = (f", the oldest not loaded yet received {ago(inbox.oldest_pending_at, now, status.zone)}"
              if inbox.oldest_pending_at else "")
    return [f"  webhook inbox: {inbox.total} pushes ({inbox.file_bytes / 2**20:.1f} MiB), "
            f"{inbox.pending} not loaded yet{oldest}"]
