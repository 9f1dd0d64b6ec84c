"""What `status` found for one account, as facts: the gatherers (`gather`) fill it, the text
(`text`) and the JSON document (`document`) render it, and `verdict` judges it, so the two
renderings can never disagree on whether an account is healthy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.config.accounts import Account
from pipelines.operations import runs
from pipelines.operations.coverage import Coverage
from pipelines.operations.status.times import UTC_ZONE


@dataclass(frozen=True)
class Run:
    """A recorded run, from the warehouse's history or the local journal, times in UTC."""

    outcome: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float = 0.0
    requests: int = 0
    rows: int = 0
    step: str | None = None
    error: str | None = None
    recovered: str | None = None
    incomplete: Any = None
    warnings: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        """A row of `_chatfunnel_runs` or of the journal (`runs.read_history`, `runs.read_journal`)."""
        return cls(outcome=row.get("outcome"), started_at=runs.as_utc(row.get("started_at")),
                   finished_at=runs.as_utc(row.get("finished_at")),
                   duration_seconds=float(row.get("duration_seconds") or 0), requests=int(row.get("requests") or 0),
                   rows=int(row.get("rows_loaded") or 0), step=row.get("step"), error=row.get("error") or None,
                   recovered=row.get("recovered") or None, incomplete=row.get("incomplete") or None,
                   warnings=tuple(row.get("warnings") or ()), facts=dict(row.get("facts") or {}))

    @property
    def succeeded(self) -> bool:
        """A successful or partial run: its data is loaded (a partial one continues next run)."""
        return self.outcome in ("success", "partial")


@dataclass(frozen=True)
class Snapshot:
    """The warehouse figures come from the published BI snapshot (a run holds the working
    DuckDB file); `path` None when there is no snapshot yet, so no figures at all."""

    path: Path | None
    published: datetime | None = None


@dataclass(frozen=True)
class Trouble:
    """Why the warehouse could not be read: `held` (another program has the DuckDB file),
    `refused` (no access) or `unreachable`; `message` says it for people."""

    kind: str
    message: str


@dataclass(frozen=True)
class Inbox:
    """The account's webhook inbox: where it is, and its figures when it exists."""

    path: str
    total: int | None = None
    file_bytes: int = 0
    pending: int = 0
    oldest_pending_at: datetime | None = None


@dataclass(frozen=True)
class Setup:
    """An account that never ran: whether it is configured, and the secret it needs if not."""

    configured: bool
    secret_key: str


@dataclass
class AccountStatus:
    """Everything `status` knows of one account, gathered once."""

    account: Account
    destination: str
    dataset: str
    zone: ZoneInfo = UTC_ZONE
    """The account's reports timezone: what people read times in."""
    zone_problem: str | None = None
    running: dict[str, Any] | None = None
    """The run in progress, as its lock file says it."""
    snapshot: Snapshot | None = None
    trouble: Trouble | None = None
    reachable: bool = True
    setup: Setup | None = None
    """Set when the account never ran (nothing recorded, no schema)."""
    history: list[Run] = field(default_factory=list)
    """The warehouse's run history, newest first."""
    journal_only: list[Run] = field(default_factory=list)
    """Runs newer than the history's that only the local journal has (the warehouse could not take them)."""
    killed: dict[str, Any] | None = None
    """What a killed run's lock file said."""
    leftover: list[str] = field(default_factory=list)
    """Load ids of packages an interrupted run left."""
    row_counts: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    inbox: Inbox | None = None
    gap_days: list[date] = field(default_factory=list)
    """Days without a snapshot of the day-by-day counters, newest first."""
    location: str | None = None
    coverage: Coverage | None = None
    """How much of the history is loaded (the `coverage` report); None when the warehouse has no such report."""

    @property
    def last_recorded(self) -> Run | None:
        """The newest run of the warehouse's history."""
        return self.history[0] if self.history else None

    @property
    def last_run(self) -> Run | None:
        """The newest run anywhere: a run the warehouse could not take is still the last."""
        newest = [*self.journal_only, *self.history]
        return newest[0] if newest else None

    @property
    def last_success_at(self) -> datetime | None:
        """When the newest successful (or partial) run finished, journal included."""
        done = next((r for r in [*self.journal_only, *self.history] if r.succeeded), None)
        return done.finished_at if done else None


@dataclass(frozen=True)
class Verdict:
    """Whether an account is healthy, and why not (in the order the text says it)."""

    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.problems


def verdict(status: AccountStatus) -> Verdict:
    """Trouble is: an unreadable warehouse, a failed last run, a failed run only in the
    journal, a killed run. A run in progress, a partial or interrupted run are not."""
    problems: list[str] = []
    if status.trouble is not None:
        problems.append(f"warehouse {status.trouble.kind}")
    last = status.last_recorded
    if last is not None and last.outcome == "failed":
        problems.append("last run failed")
    if any(r.outcome == "failed" for r in status.journal_only[:3]):
        problems.append("a run the warehouse could not take failed")
    if status.killed:
        problems.append("a run was killed")
    return Verdict(tuple(problems))
