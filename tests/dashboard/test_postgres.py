"""The dashboard reads a Postgres warehouse through a dlt pipeline as it reads DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.leeloo import LeelooEmulator
from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions
from pipelines.config.registry import SOURCES
from pipelines.operations.dashboard import charts_with_data, summary_in, write_dashboard
from pipelines.warehouse.account_pipeline import make_pipeline
from tests.dashboard.conftest import LEELOO_TOKENS


@pytest.mark.postgres
def test_dashboard_from_postgres(dlt_env: Path, pg_dsn: str, unique_dataset: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from transforms.runner import build_reports

    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    emu = LeelooEmulator(seed=9, scale=40, token=LEELOO_TOKENS[None])
    with emu.serve() as url:
        monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", LEELOO_TOKENS[None])
        monkeypatch.setenv("SOURCES__LEELOO__BASE_URL", url)
        monkeypatch.setenv("SOURCES__LEELOO__REQUESTS_PER_MINUTE", "0")
        built = SOURCES["leeloo"].build(RunOptions(source="leeloo", dataset=unique_dataset, progress="none"))
        pipeline = make_pipeline(Account("leeloo"), "postgres", unique_dataset)
        pipeline.run(built.source)
    build_reports(pipeline, "leeloo")
    out = write_dashboard(pipeline, dlt_env / "pg.html", dataset=unique_dataset)
    page = out.read_text(encoding="utf-8")
    summary = summary_in(page)
    [account] = summary["accounts"]
    assert (account["source"], account["dataset"]) == ("leeloo", unique_dataset)
    assert account["people"] == len(emu.truth()["people"])
    charts = charts_with_data(page)
    assert {"tunnel_funnel", "tunnel_romi", "daily_activity", "source_funnel", "revenue_by_source"} <= set(charts)
    assert all(n > 0 for n in charts.values()), charts
    assert set(summary["empty"]) <= {"tunnel_trend", "utm_revenue"}  # one night: no trend yet
