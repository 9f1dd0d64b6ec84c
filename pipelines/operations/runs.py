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
import copy
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
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


def stored_as(data_type: str, *, store: Callable[[Any], Any] | None = None, load: Callable[[Any], Any] | None = None,
              recorder: bool = False, **hints: Any) -> dict[str, Any]:
    """A `RunRecord` field's column in `_chatfunnel_runs` (dlt's hints), how its value is
    stored (`store`) and read back (`load`) when the column holds it another way, and
    whether the recorder fills it (`recorder`) rather than the run."""
    return {"column": {"data_type": data_type, **hints}, "store": store, "load": load, "recorder": recorder}


def _scrubbed(text: str | None) -> str | None:
    return scrub(text) if text else None


def _scrubbed_each(texts: list[str]) -> list[str]:
    return [scrub(text) for text in texts]


def _joined(names: list[str]) -> str | None:
    return ",".join(sorted(names)) or None


def _split(text: str | None) -> list[str]:
    return text.split(",") if text else []


@dataclass(kw_only=True)
class RunRecord:
    """What one run did, as the history keeps it (never a secret: texts are scrubbed).

    Each field declares its column, so the table, the row written, the journal and the
    row read back all follow from this one list: a field added here is stored and read
    back without another line. `duration_seconds` and `rows_loaded` are derived here,
    `host` is the recorder's own, the rest comes from the run (`RunOutcome.record`)."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex,
                        metadata=stored_as("text", nullable=False, primary_key=True))
    source: str = field(metadata=stored_as("text", nullable=False))
    account: str | None = field(metadata=stored_as("text"))
    pipeline_name: str = field(metadata=stored_as("text"))
    dataset: str = field(metadata=stored_as("text"))
    destination: str = field(metadata=stored_as("text"))
    started_at: datetime = field(metadata=stored_as("timestamp", timezone=True))
    finished_at: datetime = field(metadata=stored_as("timestamp", timezone=True))
    duration_seconds: float = field(init=False, metadata=stored_as("double"))
    outcome: str = field(metadata=stored_as("text", nullable=False))
    step: str | None = field(default=None, metadata=stored_as("text"))
    error: str | None = field(default=None, metadata=stored_as("text", store=_scrubbed))
    requests: int = field(default=0, metadata=stored_as("bigint"))
    rows_loaded: int = field(init=False, metadata=stored_as("bigint"))
    rows_per_table: dict[str, int] = field(default_factory=dict, metadata=stored_as("json"))
    incomplete: list[str] = field(default_factory=list, metadata=stored_as("text", store=_joined, load=_split))
    recovered: str | None = field(default=None, metadata=stored_as("text", store=_scrubbed))
    warnings: list[str] = field(default_factory=list, metadata=stored_as("json", store=_scrubbed_each))
    facts: dict[str, Any] = field(default_factory=dict, metadata=stored_as("json"))
    load_id: str | None = field(default=None, metadata=stored_as("text"))
    host: str = field(default_factory=socket.gethostname, metadata=stored_as("text", recorder=True))

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")
        self.duration_seconds = round((self.finished_at - self.started_at).total_seconds(), 3)
        self.rows_loaded = sum(self.rows_per_table.values())

    def row(self) -> dict[str, Any]:
        """The record as `_chatfunnel_runs` stores it, one column a field."""
        return {f.name: (f.metadata["store"] or copy.deepcopy)(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        """The record a stored row (`read_history`, `read_journal`) was written from."""
        return cls(**{f.name: (f.metadata["load"] or copy.deepcopy)(row[f.name]) for f in fields(cls) if f.init})


RUNS_COLUMNS: dict[str, dict[str, Any]] = {f.name: f.metadata["column"] for f in fields(RunRecord)}


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
    try:
        _load_rows(pipeline, [_normalize(row) for row in mine])
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
    """A stored row (the warehouse's or the journal's) with its JSON columns decoded and its
    times in UTC, by the columns `RunRecord` declares."""
    out = dict(row)
    for key in JSON_COLUMNS:
        if isinstance(out.get(key), str):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(out[key])
    for key in TIME_COLUMNS:
        out[key] = as_utc(out.get(key))
    out.setdefault("rows_per_table", {})
    return out
