"""What a run returns: the outcome of one run of one account (what was loaded, recovered,
left incomplete, and the typed failure if any), and of `chatfunnel transform`. Values, not
behaviour: the driver (`pipelines.run.lifecycle`) fills them in, the CLI, the fleet and the
orchestrators read them."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelines.config import history
from pipelines.config.accounts import Account
from pipelines.errors import ChatfunnelError, DeadlineExceeded, Interrupted
from pipelines.operations import runs


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
class ReportWarnings:
    """How a run states the warnings of its last report build (`pipelines.run.report_warnings`)."""

    warnings: list[str] = field(default_factory=list)  # said as warnings: something to look at
    expected: list[str] = field(default_factory=list)  # what the backfill under way explains


@dataclass
class StepDone:
    """What part of one step of a run did (its news, or one window of older history):
    `RunOutcome.add` folds it into the run's outcome."""

    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    incomplete: Collection[str] = ()
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    new_columns: dict[str, list[str]] = field(default_factory=dict)
    reports: ReportWarnings | None = None  # a report build's: it replaces the previous build's


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
    reported: ReportWarnings = field(default_factory=ReportWarnings)  # the last report build's, as stated

    def add(self, done: StepDone) -> None:
        """Fold what a step did into the run: rows and requests add up, the incomplete
        resources and the warnings gather (each said once), what a step says of a fact or of
        a table's new columns is kept from the first step that said it (a fact) or the last
        (new columns). The data tests are run again on every report build and describe the
        whole warehouse: only the last build's warnings stand."""
        for table, count in done.rows.items():
            self.rows[table] = self.rows.get(table, 0) + count
        self.requests += done.requests
        self.incomplete = sorted({*self.incomplete, *done.incomplete})
        self.facts = {**done.facts, **self.facts}
        self.new_columns = {**self.new_columns, **done.new_columns}
        said = list(done.warnings)
        if done.reports is not None:
            stale = self.reported.warnings
            self.warnings = [w for w in self.warnings if w not in stale]
            self.reported = done.reports
            said += done.reports.warnings
        self.warnings += [w for w in dict.fromkeys(said) if w not in self.warnings]

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
        """The run as the history keeps it: each field of `runs.RunRecord` is this outcome's
        field of the same name, unless `_recorded_otherwise` derives it; the fields the
        history does not keep are `UNRECORDED`. A record field this outcome lacks fails
        here, and tests/ops/test_run_record.py holds the three together."""
        derived = self._recorded_otherwise(step)
        same = {f.name: copy.copy(getattr(self, f.name)) for f in fields(runs.RunRecord)
                if f.init and not f.metadata["recorder"] and f.name not in derived}
        return runs.RunRecord(**same, **derived)

    def _recorded_otherwise(self, step: str | None) -> dict[str, Any]:
        """The record's fields this outcome holds under another name or shape."""
        return {
            "source": self.account.source, "account": self.account.name,
            "finished_at": self.finished_at or datetime.now(timezone.utc), "outcome": self.outcome,
            "step": step if self.error is not None else None, "error": str(self.error) if self.error else None,
            "rows_per_table": dict(self.rows), "recovered": self.recovery.describe(),
        }


# the outcome's fields the run history does not keep (the CLI, the fleet and the
# orchestrators read them), and those `_recorded_otherwise` keeps under other names
UNRECORDED = frozenset({"new_columns", "history", "reports", "published", "location", "recorded", "reported"})
RECORDED_OTHERWISE = frozenset({"rows", "recovery"})


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
