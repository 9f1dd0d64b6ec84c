"""Salebot with the API's clock off ours: 3 h ahead, 3 h behind, and Moscow time written as
UTC. Every run exits 0 (the reports included), the warehouse equals the API, and the skew
is said once per run, with its size."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pytest

from emulators.salebot import SalebotEmulator
from emulators.salebot.emulator import SalebotKnobs
from pipelines.cli import main
from pipelines.config.accounts import Account
from pipelines.warehouse.account_pipeline import pipeline_name
from sources.clocks import TOLERANCE
from tests.clock.expect import clock_lines, hours_in
from tests.salebot.conftest import API_KEY, Warehouse, assert_equals_truth

CASES = [
    pytest.param({"clock_offset_hours": 3}, "postgres", id="ahead-3h-postgres", marks=pytest.mark.postgres),
    pytest.param({"clock_offset_hours": -3}, "duckdb", id="behind-3h-duckdb"),
    pytest.param({"clock_zone_label_hours": 3}, "duckdb", id="moscow-as-utc-duckdb"),
]


@pytest.fixture
def served(dlt_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a Salebot emulator with the given clock knobs; the environment points the source at it."""
    started: list[Any] = []

    def start(**knobs: Any) -> SalebotEmulator:
        emu = SalebotEmulator(seed=11, api_key=API_KEY, knobs=SalebotKnobs(**knobs))
        context = emu.serve()
        url = context.__enter__()
        started.append(context)
        monkeypatch.setenv("SOURCES__SALEBOT__BASE_URL", url)
        monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", API_KEY)
        monkeypatch.setenv("SOURCES__SALEBOT__REQUESTS_PER_MINUTE", "0")
        monkeypatch.setenv("SOURCES__SALEBOT__WEBHOOK_STORE", str(dlt_env / "inbox.sqlite"))
        return emu

    yield start
    for context in reversed(started):
        context.__exit__(None, None, None)


def warehouse_for(engine: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """Where `chatfunnel run salebot` loads, seen as the Salebot tests' Warehouse."""
    if engine == "duckdb":
        path = str(request.getfixturevalue("duckdb_path"))
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", path)
        destination, dataset = dlt.destinations.duckdb(path), "salebot"
    else:
        dsn = request.getfixturevalue("pg_dsn")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)
        destination, dataset = dlt.destinations.postgres(dsn), request.getfixturevalue("unique_dataset")
    return Warehouse(engine, destination, dataset, pipeline_name(Account("salebot"), engine, dataset))


def future_messages(emu: SalebotEmulator, known: set[int], ended: datetime) -> tuple[int, float]:
    """New messages (not in `known`) stamped later than the run's end (surely in the future
    when read, and loaded), and the hours the newest stamp of all is past the run's end."""
    stamps = {m["id"]: m["created_at"] for m in emu.truth()["messages"]}
    limit = (ended + TOLERANCE).timestamp()
    fewest = sum(1 for i, t in stamps.items() if i not in known and t > limit)
    return fewest, (max(stamps.values()) - ended.timestamp()) / 3600


@pytest.mark.parametrize(("knobs", "engine"), CASES)
def test_two_nights_with_the_api_clock_off(served, request, monkeypatch, capsys, knobs: dict, engine: str) -> None:
    emu = served(**knobs)
    wh = warehouse_for(engine, request, monkeypatch)
    known: set[int] = set()
    for night in range(2):
        if night:
            emu.simulate(active_clients=6, new_clients=3, new_orders=2)
        began = datetime.now(UTC)
        code = main(["run", "salebot", "--destination", engine, "--dataset", wh.dataset, "--progress", "none"])
        ended = datetime.now(UTC)
        captured = capsys.readouterr()
        out = captured.out + captured.err
        assert code == 0, out
        assert_equals_truth(wh, emu)
        lines = clock_lines(out)
        assert len(lines) == 1, out
        fewest, newest_ahead = future_messages(emu, known, ended)
        known = {m["id"] for m in emu.truth()["messages"]}
        if knobs.get("clock_offset_hours", 0) < 0:
            assert "the API's clock looks 3.0 h behind this machine" in lines[0]
            continue
        assert fewest > 0
        if "clock_offset_hours" in knobs:
            assert "the API's clock looks 3.0 h ahead of this machine" in lines[0]
        else:
            assert "the API's clock looks at least" in lines[0]
        rows, by_up_to = hours_in(lines[0])
        assert rows >= fewest  # every new message stamped in the future; clients add their own
        span = (ended - began).total_seconds() / 3600
        assert newest_ahead - 0.06 <= by_up_to <= newest_ahead + span + 0.06
