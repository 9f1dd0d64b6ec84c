"""Run history: a row per run in <dataset>._chatfunnel_runs after success and after failure,
and `chatfunnel status` showing it."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from datetime import UTC, datetime

import pytest

from pipelines.history import print_status, read_history, read_journal, record_run, run_observed
from pipelines.runner import ChatfunnelError, make_pipeline
from tests.ops.conftest import TOKEN, leeloo_options


def _status(destination: str = "duckdb") -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = print_status(destination)
    return code, out.getvalue()


def test_success_then_failure_are_recorded_and_shown(emulator, duck_target, monkeypatch) -> None:
    emu = emulator(scale=60)
    before = datetime.now(UTC)
    result = run_observed(leeloo_options(transform=False))
    served = emu.request_counts()["total"]

    history = read_history("duckdb", "leeloo")
    assert len(history) == 1
    ok = history[0]
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
    with pytest.raises(ChatfunnelError, match="refused the credentials"):
        run_observed(leeloo_options(transform=False))
    history = read_history("duckdb", "leeloo")
    assert [r["outcome"] for r in history] == ["failed", "success"]
    failed = history[0]
    assert "refused the credentials" in failed["error"]
    assert "wrong-token" not in failed["error"]
    assert failed["rows_loaded"] == 0 and failed["load_id"] is None

    code, text = _status()
    assert code == 1, "status must exit non-zero when the last run failed"
    assert "last run: failed" in text and "refused the credentials" in text
    assert f"last successful run: {ok['finished_at']:%Y-%m-%d %H:%M:%S}" in text
    assert "people=60" in text  # rows now in the warehouse
    pipeline = make_pipeline("leeloo", "duckdb", "leeloo")
    cursor = pipeline.state["sources"]["leeloo"]["resources"]["people"]["cursor"]
    assert f"cursor={cursor}" in text
    assert TOKEN not in text and "wrong-token" not in text


def test_failed_run_is_recorded_even_with_a_failed_load_package_pending(emulator, duck_target, monkeypatch) -> None:
    """A load that fails in dlt's load step leaves its package pending in the pipeline; the
    record must not be blocked by it (nor try to load it)."""
    emulator(scale=20)
    pipeline = make_pipeline("leeloo", "duckdb", "leeloo")
    # a package that cannot load: a column whose type changes to an incompatible one
    pipeline.run([{"id": 1, "v": 1}], table_name="broken")
    monkeypatch.setattr(
        "dlt.destinations.impl.duckdb.duck.DuckDbClient.complete_load",
        lambda self, load_id: (_ for _ in ()).throw(RuntimeError("disk full (simulated)")),
    )
    with pytest.raises(Exception):
        pipeline.run([{"id": 2, "v": 2}], table_name="broken")
    assert pipeline.list_normalized_load_packages(), "the failed package should be pending"
    monkeypatch.undo()
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duck_target.warehouse.duckdb_path))
    record_run(pipeline, None, source="leeloo", started_at=datetime.now(UTC), finished_at=None,
               outcome="failed", error="the load step failed: disk full", requests=3, rows={})
    history = read_history("duckdb", "leeloo")
    assert history and history[0]["outcome"] == "failed" and history[0]["requests"] == 3
    assert pipeline.list_normalized_load_packages(), "recording must not touch the pending package"


def test_destination_down_keeps_the_original_error_and_journals_the_run(emulator, dlt_env, monkeypatch, capsys) -> None:
    emulator(scale=10)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:pg-pass-777@127.0.0.1:9/nowhere")
    with pytest.raises(ChatfunnelError) as err:
        run_observed(leeloo_options(destination="postgres", transform=False))
    assert "postgres destination is not reachable" in str(err.value)
    journal = read_journal("leeloo")
    assert journal and journal[0]["outcome"] == "failed"
    assert "pg-pass-777" not in str(journal[0])
    code, text = _status("postgres")
    assert "not in the warehouse" in text and "pg-pass-777" not in text


@pytest.mark.postgres
def test_history_on_postgres(emulator, dlt_env, pg_dsn, unique_dataset, monkeypatch) -> None:
    emulator(scale=15)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    run_observed(leeloo_options(destination="postgres", dataset=unique_dataset, transform=False))
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "wrong-token-yyyyyyyy")
    with pytest.raises(ChatfunnelError):
        run_observed(leeloo_options(destination="postgres", dataset=unique_dataset, transform=False))
    history = read_history("postgres", unique_dataset)
    assert [r["outcome"] for r in history] == ["failed", "success"]
    assert history[1]["rows_per_table"]["people"] == 15
    assert history[0]["started_at"].tzinfo is not None


def test_status_on_a_fresh_machine_reads_history_and_cursors_from_the_warehouse(emulator, duck_target) -> None:
    """CI runners and new workers start without the dlt folder: status restores from the destination."""
    import shutil
    from pathlib import Path

    emulator(scale=15)
    run_observed(leeloo_options(transform=False))
    cursor = make_pipeline("leeloo", "duckdb", "leeloo").state["sources"]["leeloo"]["resources"]["people"]["cursor"]
    data_dir = Path(__import__("os").environ["DLT_DATA_DIR"])
    shutil.rmtree(data_dir / "pipelines")
    code, text = _status()
    assert code == 0
    text = text.split("\n\n")[0]  # the leeloo section
    assert "last successful run: 20" in text and "never run" not in text
    assert f"cursor={cursor}" in text and "people=15" in text
