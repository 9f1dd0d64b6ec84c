"""The run history: one row per run in `<dataset>._chatfunnel_runs`, and a local journal.

The row is written through dlt, by a small sibling pipeline (`<pipeline name>_runs`, its
own schema `chatfunnel_runs`, the same destination and dataset): a failed run can leave
a pending package in its own pipeline, and `pipeline.run([row])` there would first try to
load it and fail the same way. The sibling has nothing pending. Once dlt has created the
table with every column, a SQL warehouse takes later rows by one delete and insert in a
transaction (dlt's merge on `run_id`, without its extract, normalize, staging table and
state round trip, which cost a small run several times what the row does).

Both ways round: a run that cannot be written to the warehouse (destination down, disk
full) goes to the local journal `<dlt data dir>/chatfunnel_runs.jsonl`; the next run
that reaches the warehouse moves journaled rows of its pipeline there. `chatfunnel
status` reads both, so no run goes unseen.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dlt

from pipelines.config.redaction import scrub
from pipelines.warehouse.account_pipeline import destination_kind
from pipelines.warehouse.packages import settle

logger = logging.getLogger("chatfunnel.runs")

RUNS_TABLE = "_chatfunnel_runs"
RUNS_SCHEMA = "chatfunnel_runs"
JOURNAL_FILE = "chatfunnel_runs.jsonl"
OUTCOMES = ("success", "partial", "failed", "interrupted")

RUNS_COLUMNS: dict[str, dict[str, Any]] = {
    "run_id": {"data_type": "text", "nullable": False, "primary_key": True},
    "source": {"data_type": "text", "nullable": False},
    "account": {"data_type": "text"},
    "pipeline_name": {"data_type": "text"},
    "dataset": {"data_type": "text"},
    "destination": {"data_type": "text"},
    "started_at": {"data_type": "timestamp", "timezone": True},
    "finished_at": {"data_type": "timestamp", "timezone": True},
    "duration_seconds": {"data_type": "double"},
    "outcome": {"data_type": "text", "nullable": False},
    "step": {"data_type": "text"},
    "error": {"data_type": "text"},
    "requests": {"data_type": "bigint"},
    "rows_loaded": {"data_type": "bigint"},
    "rows_per_table": {"data_type": "json"},
    "incomplete": {"data_type": "text"},
    "recovered": {"data_type": "text"},
    "warnings": {"data_type": "json"},
    "facts": {"data_type": "json"},
    "load_id": {"data_type": "text"},
    "host": {"data_type": "text"},
}


@dataclass
class RunRecord:
    """What one run did, as the history keeps it (never a secret: texts are scrubbed)."""

    source: str
    account: str | None
    pipeline_name: str
    dataset: str
    destination: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    step: str | None = None
    error: str | None = None
    requests: int = 0
    rows_per_table: dict[str, int] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)
    recovered: str | None = None
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    load_id: str | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")

    @property
    def rows_loaded(self) -> int:
        return sum(self.rows_per_table.values())

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(
            duration_seconds=round((self.finished_at - self.started_at).total_seconds(), 3),
            rows_loaded=self.rows_loaded,
            incomplete=",".join(sorted(self.incomplete)) or None,
            error=scrub(self.error) if self.error else None,
            warnings=[scrub(w) for w in self.warnings],
            recovered=scrub(self.recovered) if self.recovered else None,
        )
        return row


def journal_path() -> Path:
    from dlt.common.runtime.run_context import active

    return Path(active().data_dir) / JOURNAL_FILE


def _runs_pipeline(pipeline: dlt.Pipeline) -> dlt.Pipeline:
    return dlt.pipeline(  # type: ignore[call-overload]
        pipeline_name=f"{pipeline.pipeline_name}_runs",
        pipelines_dir=pipeline.pipelines_dir,
        destination=pipeline.destination,
        dataset_name=pipeline.dataset_name,
        progress=None,
    )


def _load_rows(pipeline: dlt.Pipeline, rows: list[dict[str, Any]]) -> None:
    runs = _runs_pipeline(pipeline)
    settle(runs)  # a run killed while recording left a package: dlt would load it instead of these rows
    if _insert_rows(pipeline, rows):
        return
    resource = dlt.resource(rows, name=RUNS_TABLE, table_name=RUNS_TABLE,  # type: ignore[call-overload]
                            write_disposition="merge", primary_key="run_id", columns=RUNS_COLUMNS)
    info = runs.run(resource, schema=dlt.Schema(RUNS_SCHEMA))
    info.raise_on_failed_jobs()


SQL_KINDS = ("duckdb", "postgres")
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")
JSON_COLUMNS = frozenset(name for name, hints in RUNS_COLUMNS.items() if hints["data_type"] == "json")
TIME_COLUMNS = frozenset(name for name, hints in RUNS_COLUMNS.items() if hints["data_type"] == "timestamp")


def _insert_rows(pipeline: dlt.Pipeline, rows: list[dict[str, Any]]) -> bool:
    """Merge `rows` on `run_id` straight into a SQL warehouse's runs table, as dlt's merge
    would (one row per run id, the last given wins); False, having written nothing, when
    dlt must do it: a lake, a table not created yet, or a column the table lacks (dlt
    creates and widens it from the columns declared above)."""
    if destination_kind(pipeline) not in SQL_KINDS or not rows:
        return False
    latest = {row["run_id"]: row for row in rows}
    columns = list(dict.fromkeys(column for row in latest.values() for column in row))
    with pipeline.sql_client() as client:
        stored = client.execute_sql(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            client.dataset_name, RUNS_TABLE)
        present = {str(name).lower() for (name,) in stored or []}
        if not present >= {*RUNS_COLUMNS, *columns, *DLT_COLUMNS}:
            return False
        table = client.make_qualified_table_name(RUNS_TABLE)
        listed = ", ".join(client.escape_column_name(c) for c in [*columns, *DLT_COLUMNS])
        marks = ", ".join(["%s"] * (len(columns) + len(DLT_COLUMNS)))
        load_id = f"{time.time():.6f}"
        with client.begin_transaction():
            for run_id, row in latest.items():
                client.execute_sql(f"delete from {table} where run_id = %s", run_id)
                values = [_stored_value(c, row.get(c)) for c in columns]
                client.execute_sql(f"insert into {table} ({listed}) values ({marks})",
                                   *values, load_id, uuid.uuid4().hex[:14])
    return True


def _stored_value(column: str, value: Any) -> Any:
    """A row's value as dlt would store it: JSON columns as dlt's JSON text, times in UTC."""
    if value is None:
        return None
    if column in JSON_COLUMNS:
        from dlt.common import json as dlt_json

        return dlt_json.dumps(value)
    if column in TIME_COLUMNS:
        return as_utc(value)
    return value


def write_journal(rows: list[dict[str, Any]]) -> bool:
    try:
        path = journal_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, default=str) + "\n")
        return True
    except OSError as exc:
        logger.warning("could not write the local run journal %s either (%s)", exc.filename or "", exc.strerror or exc)
        return False


def record(pipeline: dlt.Pipeline | None, run: RunRecord) -> str:
    """Keep `run` in the warehouse, else in the local journal. Never raises.

    Returns where it went: "warehouse", "journal" or "nowhere".
    """
    row = run.row()
    if pipeline is not None:
        try:
            _load_rows(pipeline, [row])
            return "warehouse"
        except Exception as exc:  # noqa: BLE001 - recording must never hide the run's own outcome
            logger.warning("could not record the run in the warehouse (%s); keeping it in %s",
                           scrub(f"{type(exc).__name__}: {exc}")[:300], journal_path())
    return "journal" if write_journal([row]) else "nowhere"


def flush_journal(pipeline: dlt.Pipeline) -> int:
    """Move journaled runs of this pipeline into the warehouse (which answered just now)."""
    path = journal_path()
    if not path.exists():
        return 0
    mine: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        (mine if row.get("pipeline_name") == pipeline.pipeline_name else others).append(row)
    if not mine:
        return 0
    for row in mine:
        for key in ("started_at", "finished_at"):
            row[key] = as_utc(row.get(key))
    try:
        _load_rows(pipeline, mine)
    except Exception as exc:  # noqa: BLE001 - they stay journaled
        logger.warning("could not move %d journaled runs into the warehouse (%s)", len(mine),
                       scrub(str(exc))[:200])
        return 0
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in others), encoding="utf-8")
    tmp.replace(path)
    return len(mine)


def read_journal(pipeline_name: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Journaled runs (newest first), of one pipeline or all."""
    path = journal_path()
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if pipeline_name is None or row.get("pipeline_name") == pipeline_name:
            rows.append(_normalize(row))
    rows.sort(key=lambda r: r.get("started_at") or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
    return rows[:limit]


def read_history(pipeline: dlt.Pipeline, limit: int = 20) -> list[dict[str, Any]]:
    """The newest `limit` runs in `<dataset>._chatfunnel_runs`, newest first; [] before the first.

    Raises what the destination raises when it cannot be reached.
    """
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    runs = _runs_pipeline(pipeline)
    if not runs.default_schema_name:
        runs.sync_destination()  # a fresh machine: the runs schema is in the destination
    if not runs.default_schema_name:
        return []
    known = runs.default_schema.tables.get(RUNS_TABLE, {}).get("columns", {})
    columns = [c for c in RUNS_COLUMNS if c in known]
    try:
        with runs.sql_client() as client:
            table = client.make_qualified_table_name(RUNS_TABLE)
            quoted = ", ".join(client.escape_column_name(c) for c in columns)
            rows = client.execute_sql(f"select {quoted} from {table} order by started_at desc limit {int(limit)}")
    except DatabaseUndefinedRelation:
        return []
    return [_normalize(dict(zip(columns, row, strict=True))) for row in rows]


def as_utc(value: Any) -> datetime | None:
    """A stored time (a datetime, naive or not, or ISO text) as an aware UTC datetime; None if not one."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return None


def _normalize(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("rows_per_table", "warnings", "facts"):
        if isinstance(out.get(key), str):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(out[key])
    for key in ("started_at", "finished_at"):
        out[key] = as_utc(out.get(key))
    out.setdefault("rows_per_table", {})
    return out
