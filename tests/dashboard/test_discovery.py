"""Which datasets the dashboard takes for accounts. A real run history is merged, so dlt
keeps a staging copy of `_chatfunnel_runs` in `<dataset>_staging`: that copy is not an
account, nor are chatfunnel's own `_reports` and `_accounts` datasets."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.operations.dashboard import ReportReader, discover_accounts, render_dashboard


def _warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        for schema, table in [("leeloo", "_dlt_loads"), ("leeloo", "_chatfunnel_runs"),
                              ("leeloo_staging", "_chatfunnel_runs"), ("leeloo_acme", "_chatfunnel_runs"),
                              ("leeloo_acme_staging", "_chatfunnel_runs"), ("leeloo_accounts", "_dlt_loads"),
                              ("salebot_staging", "_chatfunnel_runs")]:
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table {schema}.{table} (run_id text)")


def test_staging_reports_and_accounts_datasets_are_not_accounts(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _warehouse(path)
    found = [(a.spec.name, a.label, a.dataset) for a in discover_accounts(ReportReader(path))]
    assert found == [("leeloo", "default", "leeloo"), ("leeloo", "acme", "leeloo_acme")]


def test_one_account_per_source_draws_no_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _warehouse(path)
    with duckdb.connect(str(path)) as con:
        con.execute("drop schema leeloo_acme cascade")
    html, summary = render_dashboard(ReportReader(path))
    assert [a["dataset"] for a in summary["accounts"]] == ["leeloo"]
    assert "accounts side by side" not in html
