"""Leeloo pipeline tests: the real CLI, the emulator over HTTP, a real DuckDB or Postgres."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from emulators.base import Knobs
from emulators.leeloo import LeelooEmulator
from pipelines.cli import main
from tests.warehouse import Warehouse

TOKEN = "leeloo-token-9f3c2a7e51"


@dataclass
class Target:
    destination: str
    dataset: str
    warehouse: Warehouse

    def cli_args(self) -> list[str]:
        return ["--destination", self.destination, "--dataset", self.dataset]

    def pipeline(self) -> Any:
        """The dlt pipeline the CLI ran for this target (its state, schema and dataset)."""
        import dlt

        from pipelines.config.accounts import Account
        from pipelines.warehouse.account_pipeline import pipeline_name

        return dlt.attach(pipeline_name(Account("leeloo"), self.destination, self.dataset))

    def resource_state(self, resource: str) -> dict[str, Any]:
        state = self.pipeline().state
        return dict(state.get("sources", {}).get("leeloo", {}).get("resources", {}).get(resource, {}))


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, dlt_env: Path, duckdb_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    if request.param == "duckdb":
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
        return Target("duckdb", "leeloo", Warehouse("duckdb", "leeloo", duckdb_path=duckdb_path))
    dsn = request.getfixturevalue("pg_dsn")
    dataset = request.getfixturevalue("unique_dataset")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)
    return Target("postgres", dataset, Warehouse("postgres", dataset, pg_dsn=dsn))


@pytest.fixture
def pg_target(dlt_env: Path, pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch) -> Target:
    """Postgres alone, for what only Postgres can do (a CHECK constraint, a trigger)."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    return Target("postgres", unique_dataset, Warehouse("postgres", unique_dataset, pg_dsn=pg_dsn))


@pytest.fixture
def duck_target(dlt_env: Path, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    return Target("duckdb", "leeloo", Warehouse("duckdb", "leeloo", duckdb_path=duckdb_path))


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LeelooEmulator]]:
    """Start a Leeloo emulator and point the pipeline at it (no client rate limit)."""
    started: list[Any] = []

    def start(scale: int = 60, seed: int = 7, anchor: datetime | None = None, modes: dict[str, bool] | None = None,
              **knobs: Any) -> LeelooEmulator:
        emu = LeelooEmulator(seed=seed, scale=scale, token=TOKEN, knobs=Knobs(**knobs), anchor=anchor, **(modes or {}))
        context = emu.serve()
        url = context.__enter__()
        started.append(context)
        monkeypatch.setenv("SOURCES__LEELOO__BASE_URL", url)
        monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", TOKEN)
        monkeypatch.setenv("SOURCES__LEELOO__REQUESTS_PER_MINUTE", "0")
        return emu

    yield start
    for context in reversed(started):
        context.__exit__(None, None, None)


def run_leeloo(target: Target, *extra: str) -> int:
    return main(["run", "leeloo", *target.cli_args(), "--no-transform", "--progress", "none", *extra])
