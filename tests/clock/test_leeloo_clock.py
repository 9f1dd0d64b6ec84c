"""Leeloo with the API's clock off ours: 3 h ahead, 3 h behind, and Moscow time written with a
`Z`. Every run exits 0 (the reports included), the warehouse equals the API, and the skew
is said once per run, with its size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulators.base import parse_iso
from pipelines.cli import main
from sources.clocks import TOLERANCE
from tests.clock.expect import clock_lines, hours_in, stamps
from tests.leeloo.conftest import Target
from tests.leeloo.truth import assert_matches_truth

ENTITIES = ("people", "communication_channels", "chat_messages")


def run(target: Target, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, datetime, datetime]:
    """One nightly run, reports included: (exit code, its output, when it began, when it ended)."""
    began = datetime.now(UTC)
    code = main(["run", "leeloo", *target.cli_args(), "--progress", "none"])
    out = capsys.readouterr()
    return code, out.out + out.err, began, datetime.now(UTC)


def future_bounds(truth: dict, known: set[str], began: datetime, ended: datetime) -> tuple[int, timedelta]:
    """From the API's truth: how many people, channels and messages the run met for the first
    time (not in `known`) stamped later than its end (surely in the future when read, and
    loaded: new), and how far the newest stamp of all is past the run's start."""
    times = {r["id"]: max(parse_iso(t) for t in ts) for r, ts in stamps(truth, ENTITIES)}
    fewest = sum(1 for i, t in times.items() if i not in known and t > (ended + TOLERANCE).timestamp() * 1000)
    newest = datetime.fromtimestamp(max(times.values()) / 1000, UTC)
    return fewest, newest - began


CASES = [
    pytest.param({"clock_offset_hours": 3}, "duckdb", id="ahead-3h-duckdb"),
    pytest.param({"clock_offset_hours": -3}, "postgres", id="behind-3h-postgres", marks=pytest.mark.postgres),
    pytest.param({"clock_zone_label_hours": 3}, "postgres", id="moscow-as-utc-postgres",
                 marks=pytest.mark.postgres),
]


@pytest.mark.parametrize(("knobs", "engine"), CASES)
def test_two_nights_with_the_api_clock_off(emulator, request, capsys, knobs: dict, engine: str) -> None:
    target: Target = request.getfixturevalue("duck_target" if engine == "duckdb" else "pg_target")
    emu = emulator(scale=60, **knobs)
    known: set[str] = set()
    for night in range(2):
        if night:
            emu.simulate(active_people=8, new_people=3, new_orders=2, replies=3)
        code, out, began, ended = run(target, capsys)
        assert code == 0, out
        truth = emu.truth()
        assert_matches_truth(target.warehouse, truth)
        lines = clock_lines(out)
        before, known = known, {r["id"] for r, _ in stamps(truth, ENTITIES)}
        if knobs.get("clock_offset_hours", 0) < 0:
            # behind: nothing is stamped in the future; the Date header tells the offset
            assert len(lines) == 1, out
            assert "the API's clock looks 3.0 h behind this machine" in lines[0]
            continue
        fewest, ahead = future_bounds(truth, before, began, ended)
        assert fewest > 0
        assert len(lines) == 1, out
        if "clock_offset_hours" in knobs:
            assert "the API's clock looks 3.0 h ahead of this machine" in lines[0]
        else:  # the Date header is right: only the stamps say it, as a lower bound
            assert "the API's clock looks at least" in lines[0]
        reported_rows, by_up_to = hours_in(lines[0])
        # every person, channel and message stamped in the future is counted; the other
        # entities (orders, tunnels, ...) may add their own
        assert reported_rows >= fewest
        span = (ended - began).total_seconds() / 3600
        assert ahead.total_seconds() / 3600 - span - 0.06 <= by_up_to <= ahead.total_seconds() / 3600 + 0.06
