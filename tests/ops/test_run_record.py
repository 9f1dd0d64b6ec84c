"""A run's outcome becomes its record and its stored row by the fields `RunRecord`
declares: every field survives outcome -> record -> stored row -> read back, through the
local journal and through the warehouse, and a field added to one side only fails here."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

import pytest

from pipelines.config.accounts import Account
from pipelines.errors import SourceRefused
from pipelines.operations import runs
from pipelines.run.outcomes import RECORDED_OTHERWISE, UNRECORDED, Recovery, RunOutcome
from tests.ops.conftest import history, leeloo_pipeline


def _outcome(run_id: str) -> RunOutcome:
    """An outcome whose every recorded field differs from its default."""
    started = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    return RunOutcome(
        account=Account("leeloo", "shop"), destination="duckdb", dataset="leeloo", pipeline_name="chatfunnel_leeloo",
        started_at=started, finished_at=started.replace(minute=42, second=7), rows={"people": 3, "orders": 4},
        requests=17, incomplete=["orders", "people"], warnings=["odd «value»", "two"],
        facts={"sweep": {"stalest_runs": 2}, "migrated": []}, recovery=Recovery(finished=["1772357400.5"]),
        load_id="1772357400.123", error=SourceRefused("the API refused the credentials", step="extract"),
        run_id=run_id,
    )


def _expected(outcome: RunOutcome) -> runs.RunRecord:
    record = outcome.record("extract")
    for f in fields(record):
        if f.init and not f.metadata["recorder"]:
            assert getattr(record, f.name) != f.default, f"{f.name} keeps its default: the round trip proves nothing"
    assert record.source == "leeloo" and record.account == "shop" and record.outcome == "failed"
    assert record.rows_per_table == {"people": 3, "orders": 4} and record.rows_loaded == 7
    assert record.duration_seconds == 727.0 and record.step == "extract"
    assert record.recovered and "finished an interrupted load" in record.recovered
    return record


def test_every_outcome_field_is_recorded_or_declared_unrecorded() -> None:
    """A field added to `RunOutcome` must be kept by the record (same name) or declared not kept."""
    recorded = {f.name for f in fields(runs.RunRecord)}
    undecided = {f.name for f in fields(RunOutcome)} - recorded - UNRECORDED - RECORDED_OTHERWISE
    assert not undecided, f"RunOutcome fields neither recorded nor declared unrecorded: {sorted(undecided)}"
    assert not (UNRECORDED | RECORDED_OTHERWISE) & recorded, "a field of both is recorded: it cannot be unrecorded"


def test_the_stored_columns_are_the_record_fields() -> None:
    assert list(runs.RUNS_COLUMNS) == [f.name for f in fields(runs.RunRecord)]
    assert set(_expected(_outcome("x")).row()) == set(runs.RUNS_COLUMNS)


def test_a_record_field_the_outcome_lacks_fails_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclass(kw_only=True)
    class Wider(runs.RunRecord):
        retries: int = field(default=0, metadata=runs.stored_as("bigint"))

    monkeypatch.setattr(runs, "RunRecord", Wider)
    with pytest.raises(AttributeError, match="retries"):
        _outcome("x").record("extract")


def test_outcome_record_journal_row_round_trip(dlt_env) -> None:
    record = _expected(_outcome("journaled"))
    assert runs.record(None, record) == "journal"
    [row] = runs.read_journal()
    assert runs.RunRecord.from_row(row) == record
    assert row["incomplete"] == "orders,people" and row["rows_loaded"] == 7


def test_outcome_record_warehouse_row_round_trip(dlt_env, duckdb_path, monkeypatch) -> None:
    """The first row goes through dlt (which creates the table), the second by SQL: both read back whole."""
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    pipeline = leeloo_pipeline()
    records = [_expected(_outcome(run_id)) for run_id in ("b-by-dlt", "a-by-sql")]
    for record in records:
        assert runs.record(pipeline, record) == "warehouse"
    stored = {row["run_id"]: runs.RunRecord.from_row(row) for row in history()}
    assert stored == {record.run_id: record for record in records}
