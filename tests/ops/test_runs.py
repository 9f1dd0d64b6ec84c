"""Run history: a row per run in <dataset>._chatfunnel_runs after success and after failure,
the local journal when the warehouse cannot take it (and back), and `chatfunnel status`."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from datetime import UTC, datetime

import pytest

from pipelines.errors import DestinationUnreachable, SourceRefused
from pipelines.operations.runs import RunRecord, read_journal, record
from pipelines.operations.status import print_status
from pipelines.run.lifecycle import run_account
from tests.ops.conftest import TOKEN, history, leeloo_options, leeloo_pipeline, run_ok


def _status(destination: str = "duckdb") -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = print_status(destination, ["leeloo"])
    return code, out.getvalue()


def test_success_then_failure_are_recorded_and_shown(emulator, duck_target, monkeypatch) -> None:
    emu = emulator(scale=60)
    before = datetime.now(UTC)
    result = run_ok(leeloo_options(transform=False))
    served = emu.request_counts()["total"]

    runs = history()
    assert len(runs) == 1
    ok = runs[0]
    assert ok["outcome"] == "success" and ok["error"] is None
    assert ok["source"] == "leeloo" and ok["destination"] == "duckdb" and ok["dataset"] == "leeloo"
    assert ok["rows_per_table"] == result.rows and ok["rows_loaded"] == sum(result.rows.values())
    assert ok["rows_per_table"]["people"] == 60
    assert ok["requests"] == result.requests == served > 0
    assert before <= ok["started_at"] <= ok["finished_at"] <= datetime.now(UTC)
    assert ok["duration_seconds"] == pytest.approx((ok["finished_at"] - ok["started_at"]).total_seconds(), abs=0.01)
    assert ok["load_id"]
    # the table is a typed warehouse table an analyst can query
    types = dict(duck_target.warehouse.query(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'leeloo' and table_name = '_chatfunnel_runs'"))
    assert "WITH TIME ZONE" in types["started_at"].upper()

    # a failed run (the API refuses the token) is recorded too, and the first row survives
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "wrong-token-" + "x" * 8)
    outcome = run_account(leeloo_options(transform=False))
    assert isinstance(outcome.error, SourceRefused)
    runs = history()
    assert [r["outcome"] for r in runs] == ["failed", "success"]
    failed = runs[0]
    assert "refused the credentials" in failed["error"] and failed["step"] == "extract"
    assert "wrong-token" not in failed["error"]
    assert failed["rows_loaded"] == 0 and failed["load_id"] is None

    code, text = _status()
    assert code == 1, "status must exit non-zero when the last run failed"
    assert "last run: 20" in text and ", failed," in text and "refused the credentials" in text
    assert "failed in the extract step" in text
    assert f"last successful run: {ok['finished_at']:%Y-%m-%d %H:%M:%S}" in text
    assert "people=60" in text  # rows now in the warehouse
    pipeline = leeloo_pipeline()
    cursor = pipeline.state["sources"]["leeloo"]["resources"]["people"]["cursor"]
    assert f"cursor={cursor}" in text
    assert TOKEN not in text and "wrong-token" not in text


def test_a_record_is_written_past_a_pending_package_and_leaves_it_alone(emulator, duck_target) -> None:
    """A run interrupted in its load step leaves its package pending; recording another run
    must neither be blocked by it nor load it (the next run's recover step does that)."""
    emulator(scale=20)
    pipeline = leeloo_pipeline()
    pipeline.extract([{"id": 1, "v": 1}], table_name="broken")
    pipeline.normalize()
    assert pipeline.list_normalized_load_packages(), "the package should be pending"
    now = datetime.now(UTC)
    where = record(pipeline, RunRecord(source="leeloo", account=None, pipeline_name=pipeline.pipeline_name,
                                       dataset="leeloo", destination="duckdb", started_at=now, finished_at=now,
                                       outcome="failed", step="load", error="the load step failed", requests=3))
    assert where == "warehouse"
    runs = history()
    assert runs and runs[0]["outcome"] == "failed" and runs[0]["requests"] == 3 and runs[0]["step"] == "load"
    assert pipeline.list_normalized_load_packages(), "recording must not touch the pending package"


def test_destination_down_keeps_the_original_error_and_journals_the_run(emulator, dlt_env, monkeypatch, capsys) -> None:
    emulator(scale=10)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:pg-pass-777@127.0.0.1:9/nowhere")
    outcome = run_account(leeloo_options(destination="postgres", transform=False))
    assert isinstance(outcome.error, DestinationUnreachable) and outcome.error.step == "preflight"
    assert "Connection refused" in str(outcome.error) and outcome.requests == 0
    assert "pending" not in str(outcome.error), "nothing was extracted: the message must not say it was kept"
    journal = read_journal()
    assert journal and journal[0]["outcome"] == "failed"
    assert "pg-pass-777" not in str(journal[0])
    code, text = _status("postgres")
    assert code == 1 and "DESTINATION UNREACHABLE" in text and "pg-pass-777" not in text


@pytest.mark.postgres
def test_journaled_runs_move_into_the_warehouse_once_it_answers(emulator, dlt_env, pg_dsn, unique_dataset,
                                                                  monkeypatch) -> None:
    emulator(scale=10)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:pw@127.0.0.1:9/nowhere")
    run_account(leeloo_options(destination="postgres", dataset=unique_dataset, transform=False))
    assert len(read_journal()) == 1
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    run_ok(leeloo_options(destination="postgres", dataset=unique_dataset, transform=False))
    assert read_journal() == [], "the journaled run moved into the warehouse"
    assert [r["outcome"] for r in history("postgres", unique_dataset)] == ["success", "failed"]


@pytest.mark.postgres
def test_history_on_postgres(emulator, dlt_env, pg_dsn, unique_dataset, monkeypatch) -> None:
    emulator(scale=15)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    run_ok(leeloo_options(destination="postgres", dataset=unique_dataset, transform=False))
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "wrong-token-yyyyyyyy")
    assert run_account(leeloo_options(destination="postgres", dataset=unique_dataset, transform=False)).error
    runs = history("postgres", unique_dataset)
    assert [r["outcome"] for r in runs] == ["failed", "success"]
    assert runs[1]["rows_per_table"]["people"] == 15
    assert runs[0]["started_at"].tzinfo is not None


def test_status_on_a_fresh_machine_reads_history_and_cursors_from_the_warehouse(emulator, duck_target) -> None:
    """CI runners and new workers start without the dlt folder: status restores from the destination."""
    import shutil
    from pathlib import Path

    emulator(scale=15)
    run_ok(leeloo_options(transform=False))
    cursor = leeloo_pipeline().state["sources"]["leeloo"]["resources"]["people"]["cursor"]
    data_dir = Path(__import__("os").environ["DLT_DATA_DIR"])
    shutil.rmtree(data_dir / "pipelines")
    code, text = _status()
    assert code == 0
    assert "last successful run: 20" in text and "never run" not in text
    assert f"cursor={cursor}" in text and "people=15" in text


def _recorded(outcome: str, run_id: str, **extra: object) -> RunRecord:
    started = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    return RunRecord(source="leeloo", account=None, pipeline_name="chatfunnel_leeloo", dataset="leeloo",
                     destination="duckdb", started_at=started, finished_at=started.replace(minute=31), outcome=outcome,
                     run_id=run_id, rows_per_table={"people": 3, "orders": 0}, warnings=["odd «value»", "two"],
                     facts={"sweep": {"stalest_runs": 2, "at": "2026-03-01"}, "migrated": []}, **extra)


def _history_without_timing(destination: str, dataset: str | None) -> list[dict]:
    return sorted(({k: v for k, v in row.items() if k != "host"} for row in history(destination, dataset)),
                  key=lambda r: r["run_id"])


@pytest.mark.parametrize("destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_records_after_the_first_merge_by_sql_and_read_back_as_dlt_wrote_them(
        destination, dlt_env, duckdb_path, request, monkeypatch) -> None:
    """The first record creates the table through dlt; later ones merge into it by SQL (no
    dlt load of their own). What they store reads back the same: JSON, times, replacement."""
    import psycopg2  # noqa: F401 - the Postgres driver is present wherever the parameter runs

    from pipelines.operations.runs import _insert_rows, _runs_pipeline

    dataset = None
    if destination == "postgres":
        dataset = request.getfixturevalue("unique_dataset")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", request.getfixturevalue("pg_dsn"))
    else:
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    pipeline = leeloo_pipeline(destination, dataset)
    assert record(pipeline, _recorded("success", "a-first")) == "warehouse"  # dlt creates the table
    assert record(pipeline, _recorded("failed", "b-second", error="boom")) == "warehouse"
    assert record(pipeline, _recorded("partial", "b-second", error="again")) == "warehouse"  # merged on run_id
    assert len(_runs_pipeline(pipeline).list_completed_load_packages()) == 1, "only the first went through dlt"

    rows = _history_without_timing(destination, dataset)
    assert [(r["run_id"], r["outcome"], r["error"]) for r in rows] == [
        ("a-first", "success", None), ("b-second", "partial", "again")]
    by_dlt, by_sql = rows
    for row in rows:
        assert row["rows_per_table"] == {"people": 3, "orders": 0} and row["rows_loaded"] == 3
        assert row["warnings"] == ["odd «value»", "two"]
        assert row["facts"] == {"sweep": {"stalest_runs": 2, "at": "2026-03-01"}, "migrated": []}
        assert row["started_at"] == datetime(2026, 3, 1, 9, 30, tzinfo=UTC) and row["duration_seconds"] == 60.0
    assert {k: type(v) for k, v in by_dlt.items()} == {k: type(v) for k, v in by_sql.items() if k != "error"} | {
        "error": type(None)}

    # a table without a column this version writes goes back to dlt, which widens it
    with pipeline.sql_client() as client:
        client.execute_sql(f"alter table {client.make_qualified_table_name('_chatfunnel_runs')} drop column host")
    assert _insert_rows(pipeline, [_recorded("success", "c-third").row()]) is False
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("_chatfunnel_runs")
        assert client.execute_sql(f"select run_id from {table} order by run_id") == [("a-first",), ("b-second",)]
