"""Parquet lake: a filesystem-destination load of the emulator writes Parquet files that
read back to the emulator's rows, and the reports build in DuckDB over those files, also
after an incremental run appended second versions of changed rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.config.registry import SOURCES
from pipelines.warehouse.lake import build_lake_reports, lake_reports_for_pipeline
from tests.leeloo.truth import assert_matches_truth
from tests.ops.conftest import history, leeloo_options, leeloo_pipeline, run_ok
from tests.warehouse import Warehouse

ID_TABLES = ("people", "communication_channels", "chat_messages", "orders", "tunnels", "users", "tags")


def _parquet_ids(lake: Path, table: str) -> set[str]:
    files = sorted((lake / "leeloo" / table).glob("*.parquet"))
    assert files, f"no Parquet files for {table}"
    con = duckdb.connect()
    return {r[0] for r in con.execute(f"select id from read_parquet('{lake}/leeloo/{table}/*.parquet')").fetchall()}


def _load(pipeline) -> None:
    built = SOURCES["leeloo"].build(leeloo_options(destination="filesystem"))
    info = pipeline.run(built.source, loader_file_format="parquet")
    assert not info.has_failed_jobs


@pytest.fixture
def lake(dlt_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = dlt_env / "lake"
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(path))
    return path


def test_parquet_files_read_back_to_the_truth_and_reports_build(emulator, lake, dlt_env) -> None:
    emu = emulator(scale=50)
    pipeline = leeloo_pipeline("filesystem")
    _load(pipeline)
    truth = emu.truth()
    for table in ID_TABLES:
        assert _parquet_ids(lake, table) == {row["id"] for row in truth[table]}, table

    # incremental: changed rows are appended as second versions (plain files cannot merge) ...
    changes = emu.simulate(active_people=6, new_people=3, new_orders=3, status_changes=3)
    _load(pipeline)
    con = duckdb.connect()
    stored = con.execute(f"select count(*) from read_parquet('{lake}/leeloo/people/*.parquet')").fetchone()[0]
    assert stored > 53, "the second run should have appended new versions of changed people"
    assert changes["active_people"]

    # ... and the lake views keep the newest version per key: the full truth, table by table
    reports_db = dlt_env / "lake.duckdb"
    result = lake_reports_for_pipeline(pipeline, "leeloo", reports_db)
    assert not result.failed_tests and "tunnel_funnel" in result.models
    assert_matches_truth(Warehouse("duckdb", "leeloo", duckdb_path=reports_db), emu.truth())
    rows = Warehouse("duckdb", "leeloo_reports", duckdb_path=reports_db).query(
        "select count(*), sum(visits) from {ds}.tunnel_funnel")
    assert rows[0][0] >= len(emu.truth()["tunnels"]) and rows[0][1] > 0


def test_build_lake_reports_without_a_pipeline(emulator, lake, dlt_env) -> None:
    """The documented entry point for a lake written elsewhere: bucket URL + dataset only."""
    emulator(scale=20)
    _load(leeloo_pipeline("filesystem"))
    result = build_lake_reports(str(lake), "leeloo", dlt_env / "other.duckdb", source="leeloo")
    assert "daily_activity" in result.models and not result.failed_tests


def test_cli_destination_filesystem_writes_parquet(emulator, lake) -> None:
    """`chatfunnel run leeloo --destination filesystem` writes Parquet (the runner asks dlt for it)."""
    from pipelines.cli import main

    emu = emulator(scale=15)
    assert main(["run", "leeloo", "--destination", "filesystem", "--progress", "none"]) == 0
    truth = emu.truth()
    for table in ID_TABLES:
        assert _parquet_ids(lake, table) == {row["id"] for row in truth[table]}, table
    assert not list((lake / "leeloo" / "people").glob("*.jsonl*")), "data written as JSON lines, not Parquet"


def test_observed_filesystem_run_builds_lake_reports_and_dashboard(emulator, lake, dlt_env, monkeypatch) -> None:
    """The whole nightly path on the lake: load Parquet, reports over it, history, dashboard."""
    import argparse

    from pipelines.operations.dashboard import add_report_arguments, charts_with_data, report_from_args

    reports_db = dlt_env / "lake_reports.duckdb"
    monkeypatch.setenv("CHATFUNNEL__LAKE_DUCKDB", str(reports_db))
    emu = emulator(scale=30)
    result = run_ok(leeloo_options(destination="filesystem"))
    assert "tunnel_funnel" in result.reports.models and not result.reports.failed_tests
    assert result.location.endswith("/leeloo") and "object at 0x" not in result.location
    assert_matches_truth(Warehouse("duckdb", "leeloo", duckdb_path=reports_db), emu.truth())
    assert [r["outcome"] for r in history("filesystem")] == ["success"]
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    out = dlt_env / "lake_dashboard.html"
    assert report_from_args(parser.parse_args(["--destination", "filesystem", "--out", str(out)])) == 0
    assert all(charts_with_data(out.read_text()).values())


def test_remote_bucket_is_read_through_dlts_fsspec_client(emulator, dlt_env, monkeypatch) -> None:
    """A non-local bucket URL (fsspec's in-memory filesystem stands in for s3/gs/az):
    the raw tables are materialized in the DuckDB file, which then needs no bucket."""
    bucket = f"memory://chatfunnel-lake-{dlt_env.name}"
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", bucket)
    emu = emulator(scale=12)
    pipeline = leeloo_pipeline("filesystem")
    _load(pipeline)
    reports_db = dlt_env / "remote_lake.duckdb"
    result = lake_reports_for_pipeline(pipeline, "leeloo", reports_db)
    assert "tunnel_funnel" in result.models and not result.failed_tests
    kinds = dict(Warehouse("duckdb", "leeloo", duckdb_path=reports_db).query(
        "select table_name, table_type from information_schema.tables where table_schema = 'leeloo'"))
    assert kinds["people"] == "BASE TABLE"
    assert_matches_truth(Warehouse("duckdb", "leeloo", duckdb_path=reports_db), emu.truth())


def test_deletions_reach_the_lake_views_and_reports(emulator, lake, dlt_env, monkeypatch) -> None:
    """Parquet cannot be updated: a deletion the source proved is applied in the lake views."""
    reports_db = dlt_env / "lake_reports.duckdb"
    monkeypatch.setenv("CHATFUNNEL__LAKE_DUCKDB", str(reports_db))
    emu = emulator(scale=30)
    run_ok(leeloo_options(destination="filesystem"))
    gone = emu.simulate(delete={"orders": 2, "tunnels": 1})
    run_ok(leeloo_options(destination="filesystem"))
    deleted_orders = set(gone["deleted"]["orders"]) if "deleted" in gone else set(emu.truth()["deleted"]["orders"])
    wh = Warehouse("duckdb", "leeloo", duckdb_path=reports_db)
    marked = {r[0] for r in wh.query("select id from {ds}.orders where deleted_at is not null")}
    assert marked == deleted_orders and len(marked) == 2
    reported = {r[0] for r in Warehouse("duckdb", "leeloo_reports", duckdb_path=reports_db).query(
        "select order_id from {ds}.stg_orders")}
    assert not reported & deleted_orders
