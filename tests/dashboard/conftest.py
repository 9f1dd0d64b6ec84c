"""Warehouses for the dashboard tests, built the way a night builds them: the real sources
against the emulators over HTTP, dlt loading into one DuckDB file, the real report models
and cross-account views. Several accounts share the file, as an agency's do.

Tunnel stats have no history in the API: a run snapshots today's counters. To give the
trend a calendar, the fixture moves each night's snapshot back to the day it stands for
before the next run (a real load each time, the counters grown by `simulate`), and leaves
one day out: the night whose run failed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulators.leeloo import LeelooEmulator
from emulators.salebot import SalebotEmulator
from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions
from pipelines.config.registry import SOURCES
from pipelines.warehouse.account_pipeline import make_pipeline

LEELOO_TOKENS = {None: "dash-leeloo-token-4b1e90", "acme": "dash-acme-token-77c2d1", "evil": "dash-evil-token-1a2b3c"}
SALEBOT_KEY = "dash-salebot-key-5e6f7a8b"
# the error of the failed night: long, with a word that a cut at 160 characters would split
LONG_ERROR = ("The leeloo API did not answer at all after 5 retries (connection refused by api.leeloo.ai:443). "
              "Check the network and SOURCES__LEELOO__BASE_URL, then run again; nothing of this run was loaded "
              "and the next run starts where the last successful one stopped. Subsequent incomprehensibilities "
              "are reported in the run history, which keeps the whole paragraph of every failed run. " * 2).strip()


@dataclass
class Built:
    path: Path
    now: datetime
    emulators: dict[str, Any] = field(default_factory=dict)  # dataset -> emulator

    @property
    def today(self) -> date:
        return self.now.date()


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A dlt home, working dir and DuckDB file of the module's own (module-scoped fixtures
    cannot use `dlt_env`)."""
    base = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("SOURCES__", "DESTINATION__")) or key == "CHATFUNNEL__BI_PATH":
                mp.delenv(key)
        mp.setenv("DLT_DATA_DIR", str(base / "dlt"))
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(base / "chatfunnel.duckdb"))
        mp.chdir(base)
        yield base
        for key in [k for k in os.environ if k.startswith("SOURCES__")]:
            del os.environ[key]  # the accounts `load` configured end with the module (the undo restores the rest)


def load(source: str, name: str | None, url: str, secret: str, *, reports: bool = True) -> Any:
    """One real load of one account, then (unless told not to) its reports."""
    from transforms.runner import build_reports

    account = Account(source, name)
    spec = SOURCES[source]
    os.environ[account.env_prefix + spec.secret_keys[0].upper()] = secret
    os.environ[account.env_prefix + "BASE_URL"] = url
    os.environ[account.env_prefix + "REQUESTS_PER_MINUTE"] = "0"
    built = spec.build(RunOptions(source=source, account=name, progress="none"))
    pipeline = make_pipeline(account, "duckdb")
    pipeline.run(built.source)
    if reports:
        build_reports(pipeline, source)
    return pipeline


def move_snapshots_back(path: Path, dataset: str, days: int) -> None:
    """The snapshot just taken stands for `days` days ago."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"update {dataset}.tunnel_stats set snapshot_date = snapshot_date - {days}, "
            f"snapshot_at = snapshot_at - interval {days} day "
            f"where snapshot_date = (select max(snapshot_date) from {dataset}.tunnel_stats)"
        )


RUN_COLUMNS = ("run_id text, source text, pipeline_name text, dataset text, destination text, "
               "started_at timestamptz, finished_at timestamptz, duration_seconds double, outcome text, "
               "error text, requests bigint, rows_loaded bigint, rows_per_table text, incomplete text, "
               "load_id text, host text")


def write_runs(path: Path, dataset: str, runs: list[dict[str, Any]], columns: str = RUN_COLUMNS) -> None:
    """A run history as the run lifecycle writes it (the columns of docs/operations.md)."""
    names = [c.split()[0] for c in columns.split(", ")]
    with duckdb.connect(str(path)) as con:
        con.execute(f"create or replace table {dataset}._chatfunnel_runs ({columns})")
        for i, run in enumerate(runs):
            row = {"run_id": f"{dataset}-{i}", "source": dataset.split("_", maxsplit=1)[0], "dataset": dataset,
                   "destination": "duckdb", "host": "etl-1", **run}
            con.execute(f"insert into {dataset}._chatfunnel_runs ({', '.join(names)}) values "
                        f"({', '.join('?' for _ in names)})", [row.get(n) for n in names])


def account_views(pipeline: Any, source: str, accounts: list[tuple[str, str]]) -> None:
    from transforms.accounts import build_account_views

    build_account_views(pipeline, source, accounts)


@pytest.fixture(scope="module")
def agency(isolated: Path) -> Iterator[Built]:
    """Two Leeloo accounts (the unnamed one with five nights of snapshots, one missing) and
    a Salebot project, in one DuckDB file, with run histories and cross-account views."""
    path = isolated / "chatfunnel.duckdb"
    now = datetime.now(timezone.utc)
    built = Built(path, now)
    leeloo = LeelooEmulator(seed=7, scale=100, token=LEELOO_TOKENS[None])
    acme = LeelooEmulator(seed=11, scale=60, token=LEELOO_TOKENS["acme"])
    salebot = SalebotEmulator(seed=3, scale=30, api_key=SALEBOT_KEY)
    with leeloo.serve() as url, acme.serve() as acme_url, salebot.serve() as salebot_url:
        for back in (4, 3, 1, 0):  # the night two days ago failed: no snapshot that day
            pipeline = load("leeloo", None, url, LEELOO_TOKENS[None], reports=False)
            if back:
                move_snapshots_back(path, "leeloo", back)
                leeloo.simulate(active_people=10, new_people=4, new_orders=6, status_changes=3)
        load("leeloo", None, url, LEELOO_TOKENS[None])  # reports over the moved snapshots
        load("leeloo", "acme", acme_url, LEELOO_TOKENS["acme"])
        load("salebot", None, salebot_url, SALEBOT_KEY)
    built.emulators = {"leeloo": leeloo, "leeloo_acme": acme, "salebot": salebot}
    night = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if night > now:
        night -= timedelta(days=1)
    write_runs(path, "leeloo", [
        {"started_at": night - timedelta(days=d), "finished_at": night - timedelta(days=d, seconds=-70),
         "duration_seconds": 70.0, "outcome": "failed" if d == 2 else "success", "requests": 0 if d == 2 else 650,
         "rows_loaded": 0 if d == 2 else 4000, "error": LONG_ERROR if d == 2 else None}
        for d in (0, 1, 2, 3, 4)
    ])
    # a newer history: an `account` column, an `interrupted` outcome, no duration or requests
    write_runs(path, "leeloo_acme", [
        {"started_at": night, "finished_at": night + timedelta(seconds=12), "outcome": "interrupted",
         "account": "acme", "error": "SIGTERM: the run was stopped; what was committed stays"},
        {"started_at": night - timedelta(days=1), "finished_at": night - timedelta(days=1, seconds=-40),
         "outcome": "success", "account": "acme", "rows_loaded": 900},
    ], columns="run_id text, source text, dataset text, destination text, host text, account text, "
               "started_at timestamptz, finished_at timestamptz, outcome text, error text, rows_loaded bigint")
    write_runs(path, "salebot", [
    {"started_at": night, "finished_at": night + timedelta(seconds=9),
                                  "duration_seconds": 9.0, "outcome": "success", "requests": 120, "rows_loaded": 800}])
    account_views(pipeline, "leeloo", [("default", "leeloo_reports"), ("acme", "leeloo_acme_reports")])
    account_views(pipeline, "salebot", [("default", "salebot_reports")])
    yield built
