"""Reports built from a real load of the Leeloo emulator equal values computed in Python
from the emulator's ground truth (tests/transforms/truth.py), on DuckDB and Postgres; and a
build after an incremental load equals a build after a fresh full load."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from emulators.leeloo import LeelooEmulator
from pipelines import cli
from pipelines.config.accounts import Account
from pipelines.warehouse.account_pipeline import make_pipeline
from tests.transforms import truth as reference
from tests.transforms.conftest import ENGINES, drop_pg_schemas, require_postgres
from tests.transforms.test_descriptions import comments
from transforms.sources_yml import DLT_TABLES

pytestmark = pytest.mark.slow
TOKEN = "transform-test-token"


@pytest.fixture
def configure(dlt_env: Path, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point the pipeline at an emulator URL and an engine; returns the dataset to use."""
    created: list[str] = []

    def apply(engine: str, url: str, dataset: str) -> str:
        monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", TOKEN)
        monkeypatch.setenv("SOURCES__LEELOO__BASE_URL", url)
        # no client-side rate limit against the local emulator (the real API allows 300/min)
        monkeypatch.setenv("SOURCES__LEELOO__REQUESTS_PER_MINUTE", "100000")
        if engine == "duckdb":
            monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
            return dataset
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", require_postgres())
        created.append(dataset)
        return dataset

    yield apply
    for dataset in created:
        drop_pg_schemas(dataset)


def load_and_build(engine: str, dataset: str) -> None:
    """One `chatfunnel run leeloo`: load, reconcile, rebuild the reports."""
    assert cli.main(["run", "leeloo", "--destination", engine, "--dataset", dataset, "--progress", "none"]) == 0


def read(engine: str, dataset: str, table: str) -> list[dict[str, Any]]:
    pipeline = make_pipeline(Account("leeloo"), engine, dataset)
    with pipeline.sql_client() as client, client.execute_query(f'select * from "{dataset}_reports"."{table}"') as cur:
        names = [d[0] for d in cur.description]
        return [
            dict(zip(names, (float(v) if type(v).__name__ == "Decimal" else v for v in row), strict=False))
            for row in cur.fetchall()
        ]


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def assert_report(name: str, got: dict[Any, dict], want: dict[Any, dict]) -> None:
    extra, missing = sorted(map(str, set(got) - set(want)))[:5], sorted(map(str, set(want) - set(got)))[:5]
    assert set(got) == set(want), f"{name}: keys differ: extra {extra}, missing {missing}"
    for key, expected in want.items():
        for column, value in expected.items():
            assert close(got[key][column], value), f"{name}{key}.{column}: sql {got[key][column]!r} != truth {value!r}"


def keyed(rows: list[dict], *columns: str) -> dict[tuple, dict]:
    out = {}
    for row in rows:
        key = tuple(row[c] for c in columns)
        assert key not in out, f"duplicate key {key}"
        out[key] = row
    return out


def check_against_truth(engine: str, dataset: str, truth: dict[str, Any]) -> None:
    funnel = read(engine, dataset, "tunnel_funnel")
    dates = {r["snapshot_date"] for r in funnel}
    assert len(dates) == 1, dates  # one load: one snapshot per tunnel, today (UTC)
    (snapshot,) = dates
    assert abs((snapshot - datetime.now(UTC).date()).days) <= 1
    assert_report(
        "tunnel_funnel", keyed(funnel, "tunnel_id", "snapshot_date"), reference.tunnel_funnel(truth, snapshot)
    )

    assert_report(
        "source_funnel",
        keyed(read(engine, dataset, "source_funnel"), "tunnel_id", "leadgentool_id", "traffic_source_id"),
        reference.source_funnel(truth),
    )
    assert_report(
        "revenue_by_source",
        keyed(
            read(engine, dataset, "revenue_by_source"), "tunnel_id", "leadgentool_id", "traffic_source_id", "currency"
        ),
        reference.revenue_by_source(truth),
    )
    daily = {(d,): v for d, v in reference.daily_activity(truth).items()}
    assert_report("daily_activity", keyed(read(engine, dataset, "daily_activity"), "date"), daily)
    assert_report(
        "utm_funnel",
        keyed(read(engine, dataset, "utm_funnel"), "utm_source", "utm_medium", "utm_campaign"),
        reference.utm_funnel(truth),
    )
    assert_report(
        "manager_response_times",
        keyed(read(engine, dataset, "manager_response_times"), "manager_id", "week_start"),
        reference.manager_response_times(truth),
    )
    assert_report(
        "utm_revenue",
        keyed(read(engine, dataset, "utm_revenue"), "utm_source", "utm_medium", "utm_campaign", "currency"),
        reference.utm_revenue(truth),
    )
    assert_report(
        "tunnel_revenue",
        keyed(read(engine, dataset, "tunnel_revenue"), "tunnel_id", "currency"),
        reference.tunnel_revenue(truth),
    )
    assert_report(
        "cohort_conversion",
        keyed(read(engine, dataset, "cohort_conversion"), "cohort_week", "weeks_to_first_paid"),
        reference.cohort_conversion(truth),
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_reports_equal_python_over_emulator_truth(configure, engine: str) -> None:
    emu = LeelooEmulator(seed=11, scale=300, token=TOKEN)
    with emu.serve() as url:
        dataset = configure(engine, url, "leeloo" if engine == "duckdb" else f"t_{uuid.uuid4().hex[:10]}")
        load_and_build(engine, dataset)
    truth = emu.truth()
    # the truth is not trivial: the comparisons below exercise every branch
    assert any(o["status"] in reference.PAID for o in truth["orders"])
    assert len({o["currency"] for o in truth["orders"]}) > 1
    assert any(m["type"] == "YOUR_MESSAGE" for m in truth["chat_messages"])
    check_against_truth(engine, dataset, truth)
    # the run history (_chatfunnel_runs) is written after the run's build: the next one describes it
    assert {c.split(".")[0] for c in undescribed_raw_columns(engine, dataset)} <= {"_chatfunnel_runs"}
    assert cli.main(["transform", "leeloo", "--destination", engine, "--dataset", dataset]) == 0
    assert undescribed_raw_columns(engine, dataset) == []


def undescribed_raw_columns(engine: str, dataset: str) -> list[str]:
    """Raw columns (all but dlt's own tables) that carry no database comment after a run."""
    loaded = SimpleNamespace(pipeline=make_pipeline(Account("leeloo"), engine, dataset), engine=engine)
    relations, columns = comments(loaded, dataset)  # type: ignore[arg-type]
    assert set(relations) - DLT_TABLES, "no raw tables"
    return sorted(f"{t}.{c}" for (t, c), text in columns.items() if t not in DLT_TABLES and not text)


@pytest.mark.parametrize("engine", ENGINES)
def test_build_after_incremental_load_equals_fresh_full_load(configure, engine: str) -> None:
    emu = LeelooEmulator(seed=12, scale=150, token=TOKEN)
    suffix = uuid.uuid4().hex[:10]
    incremental, fresh = f"inc_{suffix}", f"fresh_{suffix}"
    with emu.serve() as url:
        configure(engine, url, incremental)
        load_and_build(engine, incremental)
        changed = emu.simulate(active_people=10, new_people=5, new_orders=6, status_changes=6)
        assert changed["new_messages"] and changed["status_changes"]
        load_and_build(engine, incremental)
        configure(engine, url, fresh)
        load_and_build(engine, fresh)
    truth = emu.truth()
    reports = [
        "tunnel_funnel",
        "source_funnel",
        "revenue_by_source",
        "daily_activity",
        "utm_funnel",
        "utm_revenue",
        "manager_response_times",
        "cohort_conversion",
        "tunnel_revenue",
        "tunnel_funnel_daily",
    ]
    for report in reports:
        a = sorted(read(engine, incremental, report), key=repr)
        b = sorted(read(engine, fresh, report), key=repr)
        assert len(a) == len(b), report
        for x, y in zip(a, b, strict=False):
            assert all(close(x[k], y[k]) for k in x), (report, x, y)
    # and both equal the truth after the changes (the incremental load missed nothing)
    check_against_truth(engine, incremental, truth)


@pytest.mark.parametrize("engine", ENGINES)
def test_reports_after_deletions_and_payments_equal_the_truth(configure, monkeypatch, engine: str) -> None:
    # every person and channel is re-verified within 2 runs: deletions of people and
    # channels are proved by the sweep's full id listing, orders by the order list
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "2")
    emu = LeelooEmulator(seed=13, scale=200, token=TOKEN)
    with emu.serve() as url:
        dataset = configure(engine, url, f"del_{uuid.uuid4().hex[:10]}")
        load_and_build(engine, dataset)
        changed = emu.simulate(
            delete={"people": 3, "communication_channels": 2, "orders": 3, "tunnels": 1, "leadgentools": 1, "users": 1},
            payments=8,
            new_orders=4,
        )
        assert changed["payments"] and changed["deleted"]["tunnels"]
        load_and_build(engine, dataset)
        load_and_build(engine, dataset)
    truth = emu.truth()
    check_against_truth(engine, dataset, truth)
    timing = keyed(read(engine, dataset, "order_timing"), "tunnel_id", "week_start")
    assert_report("order_timing", timing, reference.order_timing_from_truth(truth))
    assert any(r["median_hours_to_paid"] is not None for r in timing.values())
