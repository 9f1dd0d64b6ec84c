"""`chatfunnel status`: per account, what the last runs did and what the next run will do.

It reads the run history in the warehouse and the local journal (runs the warehouse could
not take), the pipeline's local folder (a load package an interrupted run left behind),
the rows now in the warehouse, the state cursors and the figures the last run recorded
(sweep progress, missing permissions). Exit code 0 when every account's last run
succeeded (or nothing ran yet), 1 when one failed or a destination cannot be reached, so
a monitoring check can run it.

`status --json` prints the same judgement as one JSON document (`status_document`): the
structured fields below are set where the text lines are made, and both renderings read them.

A run may be going while it looks: `status` then says so (its pid, step and since when, from
the run's lock file) and exits 0 for it. It never takes the run's place at a DuckDB file: it
opens the file read-only, only under the file's shared reader lock (`locks.reader_lock`),
for the milliseconds of its reads; if a run's step holds the file past a short wait, it reads
the published BI snapshot instead and says so. It leaves the pipeline's local folder alone
while a run uses it (no state sync; the run's own load package is not "left over").
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import dlt

from . import __version__, runs
from .accounts import Account
from .diagnosis import duckdb_file_holder, short, warehouse_held
from .layout import LEGACY_STATE_KEYS
from .locks import killed_holder, reader_lock, run_in_progress
from .permissions import access_problem
from .publish import bi_path_for
from .redaction import scrub
from .registry import SOURCES, SourceSpec
from .warehouse import describe_location, duckdb_file, make_pipeline, reader_pipeline

READER_WAIT_SECONDS = 5.0
"""How long `status` waits for a run's step to let go of the DuckDB file before it reads the
BI snapshot instead; while a run is in progress, a tenth of it."""


@dataclass
class AccountStatus:
    """What `status` found for one account: the text lines, and the same facts as fields
    for `--json` (so a monitoring check never parses the text)."""

    account: Account
    destination: str
    dataset: str
    lines: list[str] = field(default_factory=list)
    unhealthy: bool = False
    last_run: dict[str, Any] | None = None
    """The newest run (the warehouse's history or the journal's newer record): `run_summary`."""
    last_success_at: datetime | None = None
    """When the newest successful (or partial) run finished."""
    running: dict[str, Any] | None = None
    """The run in progress, from its lock file: `running_summary`."""


def ago(when: datetime | None, now: datetime) -> str:
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


def _run_line(run: dict[str, Any], now: datetime) -> str:
    return (f"{ago(run.get('finished_at'), now)}, {run['outcome']}, {run.get('duration_seconds') or 0:.1f}s, "
            f"{run.get('requests') or 0} API requests, {run.get('rows_loaded') or 0} rows loaded")


def state_cursors(pipeline: dlt.Pipeline, source: str) -> dict[str, dict[str, Any]]:
    """Scalar resource-state values (cursors) per resource; maps and lists by their size.
    What an older version kept and the next run removes (`pipelines.layout`) is no cursor."""
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


def pending_packages(pipeline: dlt.Pipeline) -> list[str]:
    return sorted(set(pipeline.list_extracted_load_packages()) | set(pipeline.list_normalized_load_packages()))


def running_line(info: dict[str, Any], now: datetime) -> str:
    """One line for a run in progress, from what its lock file says."""
    since = runs.as_utc(info.get("step_since"))
    step = f"at its {info['step']} step" if info.get("step") else "starting"
    step += f" since {ago(since, now)}" if since else ""
    who = ", ".join(filter(None, [f"pid {info['pid']}" if info.get("pid") else None,
                                  f"on {info['host']}" if info.get("host") else None,
                                  str(info["command"]) if info.get("command") else None]))
    step += f" ({info['progress']})" if info.get("progress") else ""
    started = runs.as_utc(info.get("started_at"))
    return (f"  RUN IN PROGRESS ({who or 'another process'}): {step}"
            + (f", started {ago(started, now)}" if started else ""))


@contextlib.contextmanager
def warehouse_reader(account: Account, destination: str, dataset: str, pipeline: dlt.Pipeline,
                     running: bool) -> Iterator[tuple[dlt.Pipeline | None, str | None]]:
    """(the pipeline to read the warehouse through, a note on what it reads).

    Other destinations: the pipeline itself. DuckDB: the working file read-only, under the
    file's shared reader lock, when a run's step lets go of it within a short wait; else the
    BI snapshot read-only (None when there is none yet)."""
    if destination != "duckdb":
        yield pipeline, None
        return
    working = duckdb_file()
    if not working.exists():  # nothing loaded here yet: nothing to read (and never create it)
        yield None, None
        return
    wait = READER_WAIT_SECONDS / 10 if running else READER_WAIT_SECONDS
    with reader_lock(working, wait) as shared:
        if shared:
            yield reader_pipeline(account, dataset, working), None
            return
    snapshot = bi_path_for(working)
    if not snapshot.exists():
        yield None, "  warehouse figures skipped: a run holds the DuckDB file, and no BI snapshot is published yet"
        return
    published = datetime.fromtimestamp(snapshot.stat().st_mtime, timezone.utc)
    yield (reader_pipeline(account, dataset, snapshot),
           f"  figures below are from the BI snapshot {snapshot} (published {published:%Y-%m-%d %H:%M:%S} UTC): "
           "a run holds the working file")


def _read_history(status: AccountStatus, reader: dlt.Pipeline | None,
                  sync: bool) -> tuple[list[dict[str, Any]], bool]:
    """The run history, and whether the warehouse could be read; an unreadable one is said."""
    if reader is None:  # no DuckDB file yet: nothing loaded, nothing unreachable
        return [], status.destination == "duckdb" and not duckdb_file().exists()
    try:
        if sync:
            reader.sync_destination()
        return runs.read_history(reader, limit=50), True
    except Exception as exc:  # noqa: BLE001 - the destination is down: say so, exit non-zero
        status.unhealthy = True
        holder = duckdb_file_holder(exc)
        refused = None if holder is not None else access_problem(exc, status.destination)
        if holder is not None:
            status.lines.append(f"  WAREHOUSE FILE HELD BY ANOTHER PROGRAM: {warehouse_held(holder, step='status')}")
        elif refused is not None:
            status.lines.append(f"  NO ACCESS: {refused}")
        else:
            status.lines.append(f"  DESTINATION UNREACHABLE: {short(exc, 300)}")
        return [], False


def account_status(spec: SourceSpec, account: Account, destination: str, dataset: str | None = None,
                   *, now: datetime | None = None) -> AccountStatus:
    now = now or datetime.now(timezone.utc)
    dataset = dataset or account.dataset
    status = AccountStatus(account, destination, dataset)
    status.lines.append(f"{account.label} ({destination}, dataset '{dataset}')")
    pipeline = make_pipeline(account, destination, dataset)
    running = run_in_progress(pipeline.pipeline_name)
    if running is not None:
        status.lines.append(running_line(running, now))
        status.running = running_summary(running)
    with warehouse_reader(account, destination, dataset, pipeline, running is not None) as (reader, note):
        if note:
            status.lines.append(note)
        _describe(status, spec, pipeline, reader, running=running is not None, now=now)
    return status


def _describe(status: AccountStatus, spec: SourceSpec, pipeline: dlt.Pipeline, reader: dlt.Pipeline | None,
              *, running: bool, now: datetime) -> None:
    """Everything `status` says of one account, read through `reader` (see `warehouse_reader`)."""
    account, destination, lines = status.account, status.destination, status.lines
    journal = runs.read_journal(pipeline.pipeline_name, limit=5)
    # the local folder is the running run's: no state sync, and its package is not left over
    history, reachable = _read_history(status, reader, sync=not running and reader is not None)
    readable = reachable and reader is not None  # never open (or create) a file there is no reader for
    pipeline = reader or pipeline  # the same name and local folder; on DuckDB a read-only destination
    last = history[0] if history else None
    last_ok = next((r for r in history if r["outcome"] in ("success", "partial")), None)
    never_run = reachable and not history and not journal and not pipeline.default_schema_name
    if never_run and account not in spec.accounts():
        key = spec.secret_keys[0]
        lines.append(f"  not configured: set {account.env_prefix}{key.upper()} (or {key} under "
                     f"[{account.config_path}] in .dlt/secrets.toml)")
    elif never_run:
        lines.append(f"  never run; start with `chatfunnel run {account.source}"
                     + (f" --account {account.name}`" if account.name else "`"))
    if reachable and not never_run:
        lines.append("  last successful run: " + (_run_line(last_ok, now) if last_ok else "never"))
    if last is not None:
        _last_run_lines(status, last, now)
    newer = [r for r in journal if last is None or (r.get("started_at") and last.get("started_at")
                                                    and r["started_at"] > last["started_at"])]
    for row in newer[:3]:
        lines.append(f"  not in the warehouse yet (it could not take the record): {row.get('outcome')} run at "
                     f"{ago(row.get('finished_at'), now)}: {short(row.get('error') or '', 240)}")
        if row.get("outcome") == "failed":
            status.unhealthy = True
    _record_runs(status, [*newer, *history])
    leftover = [] if running else _left_behind_lines(status, pipeline)
    if history:
        recent = ", ".join(f"{r['outcome']} {r['finished_at']:%m-%d %H:%M}"
                           for r in history[:5] if r.get("finished_at"))
        lines.append(f"  recent runs: {recent}")
    if readable:
        with contextlib.suppress(Exception):
            counts = row_counts(pipeline)
            if counts:
                label = ("rows stored in the lake (every appended version)" if destination == "filesystem"
                         else "rows now in the warehouse")
                lines.append(f"  {label}: " + ", ".join(f"{t}={n}" for t, n in sorted(counts.items())))
    with contextlib.suppress(Exception):
        cursors = state_cursors(pipeline, spec.name)
        if cursors:
            lines.append("  state cursors (local; committed when the left-over package loads):" if leftover
                         else "  state cursors:")
            lines.extend("    " + name + ": " + ", ".join(f"{k}={v}" for k, v in values.items())
                         for name, values in cursors.items())
    lines.extend(_inbox_lines(spec, account))
    if readable:
        lines.extend(_gap_lines(spec, pipeline))
    with contextlib.suppress(Exception):
        lines.append(f"  warehouse: {scrub(describe_location(pipeline))}")


def _record_runs(status: AccountStatus, newest_first: list[dict[str, Any]]) -> None:
    """The structured last run and last success, from the journal's newer records and the
    warehouse's history (newest first): a run the warehouse could not take is still the last."""
    status.last_run = run_summary(newest_first[0]) if newest_first else None
    last_ok = next((r for r in newest_first if r.get("outcome") in ("success", "partial")), None)
    status.last_success_at = runs.as_utc(last_ok.get("finished_at")) if last_ok else None


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    """A recorded run as `status --json` shows it; its error scrubbed and cut like the text's."""
    error = run.get("error")
    return {"outcome": run.get("outcome"), "started_at": iso_utc(runs.as_utc(run.get("started_at"))),
            "finished_at": iso_utc(runs.as_utc(run.get("finished_at"))),
            "step": run.get("step"), "error": short(error, 400) if error else None,
            "requests": int(run.get("requests") or 0), "rows": int(run.get("rows_loaded") or 0)}


def running_summary(info: dict[str, Any]) -> dict[str, Any]:
    """A run in progress as `status --json` shows it, from what its lock file says."""
    return {"pid": info.get("pid"), "host": info.get("host"), "command": info.get("command"),
            "step": info.get("step"), "since": iso_utc(runs.as_utc(info.get("step_since"))),
            "started_at": iso_utc(runs.as_utc(info.get("started_at")))}


def iso_utc(when: datetime | None) -> str | None:
    """ISO 8601 in UTC (`+00:00`), or None."""
    return when.astimezone(timezone.utc).isoformat() if when is not None else None


def _left_behind_lines(status: AccountStatus, pipeline: dlt.Pipeline) -> list[str]:
    """What a killed run left (its lock file's last words, its load package), said; the
    left-over packages returned. Only when no run is going: a running run's are its own."""
    killed = killed_holder(pipeline.pipeline_name)
    if killed:
        status.unhealthy = True
        status.lines.append(f"  the last run was killed during its {killed.get('step', 'unknown')} step "
                            f"(pid {killed.get('pid')} on {killed.get('host')}, started {killed.get('started_at')}); "
                            "the next run recovers what it left")
    leftover = pending_packages(pipeline)
    if leftover:
        status.lines.append(f"  left-over load package from an interrupted run ({_load_time(leftover[0])}): the next "
                            "run loads it first (or, if it cannot be loaded, drops it and reads its data again), then "
                            "loads what is new")
    return leftover


def _last_run_lines(status: AccountStatus, last: dict[str, Any], now: datetime) -> None:
    """What the last recorded run did, its failure and warnings; a failed one is trouble."""
    lines = status.lines
    lines.append("  last run: " + _run_line(last, now))
    if last.get("recovered"):
        lines.append(f"    recovered: {scrub(last['recovered'])}")
    if last.get("incomplete"):
        lines.append(f"    incomplete (continues next run): {last['incomplete']}")
    if last["outcome"] in ("failed", "interrupted") and last.get("error"):
        step = f" in the {last['step']} step" if last.get("step") else ""
        lines.append(f"    {last['outcome']}{step}: {short(last['error'], 400)}")
    for warning in last.get("warnings") or []:
        lines.append(f"    warning: {short(warning, 300)}")
    lines.extend(_facts_lines(last.get("facts") or {}))
    if last["outcome"] == "failed":
        status.unhealthy = True


def _load_time(load_id: str) -> str:
    try:
        return f"{datetime.fromtimestamp(float(load_id), timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
    except ValueError:
        return load_id


def _facts_lines(facts: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in sorted(facts.items()):
        if value in (None, "", [], {}):
            continue
        shown = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) if isinstance(value, dict) else value
        if isinstance(shown, list):
            shown = ", ".join(map(str, shown))
        lines.append(f"    {key.replace('_', ' ')}: {shown}")
    return lines


def _inbox_lines(spec: SourceSpec, account: Account) -> list[str]:
    """The account's webhook inbox, when its source has one: size and the oldest unloaded push."""
    if "webhook_store" not in spec.account_only:
        return []
    try:
        path = spec.settings(account).get("webhook_store")
        from sources.salebot.webhook_store import inbox_stats

        stats = inbox_stats(path) if path else None
    except Exception:  # noqa: BLE001 - the inbox is optional; status must still print
        return []
    if stats is None:
        return [f"  webhook inbox: none yet ({path})"] if path else []
    now = datetime.now(timezone.utc)
    pending_since = stats["oldest_pending_at"]
    oldest = (f", the oldest not loaded yet received {ago(datetime.fromtimestamp(pending_since, timezone.utc), now)}"
              if pending_since else "")
    return [f"  webhook inbox: {stats['total']} pushes ({stats['file_bytes'] / 2**20:.1f} MiB), "
            f"{stats['pending']} not loaded yet{oldest}"]


def _gap_lines(spec: SourceSpec, pipeline: dlt.Pipeline) -> list[str]:
    """Days without a snapshot of the source's day-by-day counters (never interpolated)."""
    if not spec.gaps_report:
        return []
    try:
        with pipeline.sql_client() as client:
            name = f'"{pipeline.dataset_name}_reports"."{spec.gaps_report}"'
            rows = client.execute_sql(f'select "date" from {name} where is_gap order by "date" desc limit 30')
    except Exception:  # noqa: BLE001 - no reports yet
        return []
    if not rows:
        return []
    days = ", ".join(f"{r[0]:%Y-%m-%d}" for r in reversed(rows[:10]))
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return [f"  days without a tunnel stats snapshot (shown as gaps, never interpolated): {days}{more}"]


def accounts_to_show(sources: Iterable[str], account_names: Iterable[str] | None = None) -> list[Account]:
    """Every configured account of the sources; an unconfigured source's default account
    when it has run here before."""
    wanted = set(account_names or [])
    shown: list[Account] = []
    for name in sources:
        spec = SOURCES[name]
        accounts = spec.accounts()
        if not accounts:
            accounts = [Account(name)]
        shown.extend(a for a in accounts if not wanted or (a.name or "default") in wanted)
    return shown


def print_status(destination: str, sources: Iterable[str] = tuple(SOURCES), dataset: str | None = None,
                 account_names: Iterable[str] | None = None) -> int:
    exit_code = 0
    for i, account in enumerate(accounts_to_show(sources, account_names)):
        if i:
            print()
        status = account_status(SOURCES[account.source], account, destination, dataset)
        print("\n".join(status.lines))
        if status.unhealthy:
            exit_code = 1
    return exit_code


def account_document(status: AccountStatus, now: datetime) -> dict[str, Any]:
    """One account in `status --json`. Freshness is the last successful run's end: status
    reads no source timestamps, and a run loads everything the API had when it read it."""
    age = int((now - status.last_success_at).total_seconds()) if status.last_success_at else None
    return {"source": status.account.source, "account": status.account.name, "label": status.account.label,
            "destination": status.destination, "dataset": status.dataset, "healthy": not status.unhealthy,
            "last_run": status.last_run, "last_success_at": iso_utc(status.last_success_at),
            "run_in_progress": status.running,
            "freshness": {"as_of": iso_utc(status.last_success_at), "age_seconds": age,
                          "basis": "last_successful_run"}}


def status_document(statuses: Iterable[AccountStatus], now: datetime) -> dict[str, Any]:
    """The whole `status --json` document; `healthy` is false exactly when text status exits 1."""
    accounts = [account_document(s, now) for s in statuses]
    return {"generated_at": iso_utc(now), "version": __version__,
            "healthy": all(a["healthy"] for a in accounts), "accounts": accounts}


def print_status_json(destination: str, sources: Iterable[str] = tuple(SOURCES), dataset: str | None = None,
                      account_names: Iterable[str] | None = None) -> int:
    """`status --json`: nothing but the document on stdout (anything else printed while it
    looks goes to stderr); the exit code of the text status."""
    now = datetime.now(timezone.utc)
    with contextlib.redirect_stdout(sys.stderr):
        statuses = [account_status(SOURCES[a.source], a, destination, dataset, now=now)
                    for a in accounts_to_show(sources, account_names)]
    document = status_document(statuses, now)
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0 if document["healthy"] else 1
