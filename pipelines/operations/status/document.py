"""`chatfunnel status --json`: the same `AccountStatus` as one JSON document for a monitoring
check. Its keys are a contract (docs/operations.md): add, never rename or drop. Times are ISO
8601 in UTC; `last_success_at_local` repeats the freshness in the account's reports timezone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pipelines import __version__
from pipelines.operations import runs
from pipelines.operations.coverage import backfill_document
from pipelines.operations.diagnosis import short
from pipelines.operations.status.model import AccountStatus, Run, verdict
from pipelines.operations.status.times import iso_local, iso_utc


def run_summary(run: Run) -> dict[str, Any]:
    """A recorded run as `status --json` shows it; its error scrubbed and cut like the text's."""
    return {"outcome": run.outcome, "started_at": iso_utc(run.started_at), "finished_at": iso_utc(run.finished_at),
            "step": run.step, "error": short(run.error, 400) if run.error else None,
            "requests": run.requests, "rows": run.rows}


def running_summary(info: dict[str, Any]) -> dict[str, Any]:
    """A run in progress as `status --json` shows it, from what its lock file says."""
    return {"pid": info.get("pid"), "host": info.get("host"), "command": info.get("command"),
            "step": info.get("step"), "since": iso_utc(runs.as_utc(info.get("step_since"))),
            "started_at": iso_utc(runs.as_utc(info.get("started_at")))}


def account_document(status: AccountStatus, now: datetime) -> dict[str, Any]:
    """One account in `status --json`. Freshness is the last successful run's end: status
    reads no source timestamps, and a run loads everything the API had when it read it."""
    judged = verdict(status)
    done = status.last_success_at
    last = status.last_run
    age = int((now - done).total_seconds()) if done else None
    return {"source": status.account.source, "account": status.account.name, "label": status.account.label,
            "destination": status.destination, "dataset": status.dataset, "healthy": judged.healthy,
            "problems": list(judged.problems),
            "last_run": run_summary(last) if last else None, "last_success_at": iso_utc(done),
            "reports_timezone": status.zone.key, "last_success_at_local": iso_local(done, status.zone),
            "run_in_progress": running_summary(status.running) if status.running is not None else None,
            "freshness": {"as_of": iso_utc(done), "age_seconds": age, "basis": "last_successful_run"},
            "backfill": backfill_document(status.coverage)}


def status_document(statuses: Iterable[AccountStatus], now: datetime) -> dict[str, Any]:
    """The whole `status --json` document; `healthy` is false exactly when text status exits 1."""
    accounts = [account_document(s, now) for s in statuses]
    return {"generated_at": iso_utc(now), "version": __version__,
            "healthy": all(a["healthy"] for a in accounts), "accounts": accounts}
