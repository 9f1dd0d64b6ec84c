"""A kill anywhere in a full refresh loses none of the history it keeps: the copy it set
aside is put back by the next run, whichever step the kill hit. The real CLI in a child
process, killed at points of its own progress (tests/crash/harness.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.crash.harness import run_and_kill
from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.truth import mismatches
from tests.refresh.test_leeloo_refresh import assert_history_of_truth, days_of_history, stored_changes, stored_snapshots

pytestmark = pytest.mark.slow

# set aside, not yet dropped; dropped and partly loaded; loaded, maybe not yet put back
POINTS = {"duckdb": ("extract", "load-after-jobs"), "postgres": ("load-between-jobs", "load-after-jobs")}


def test_a_kill_during_the_refresh_loses_no_history(emulator, target: Target, monkeypatch, capsys) -> None:
    emu = emulator(scale=30)
    now = datetime.now(timezone.utc)
    earlier = days_of_history(emu, target, monkeypatch, now)
    changes = stored_changes(target)
    name = ("chatfunnel_leeloo" if target.destination == "duckdb"
            else f"chatfunnel_leeloo_postgres_{target.dataset}")
    args = ["run", "leeloo", *target.cli_args(), "--progress", "none", "--no-transform"]
    landed = []
    for point in POINTS[target.destination]:
        kill = run_and_kill([*args, "--full-refresh"], name, point, delay=0.0)
        capsys.readouterr()
        assert run_leeloo(target) == 0  # the next run, plain, finishes what the refresh left
        out = capsys.readouterr().out
        if kill is not None:
            landed.append(point)
            assert f"killed during its {kill.landed} step" in out, out
        kept = {k: v for k, v in stored_snapshots(target).items() if k[1] < now.date()}
        assert kept == earlier, f"after a kill at {point}"
        assert changes <= stored_changes(target), f"after a kill at {point}"
        assert_history_of_truth(target, emu.truth())
        assert not {t for t in target.warehouse.tables() if t.startswith("_chatfunnel_kept_")}
    assert landed, "no kill landed before the refresh ended"
    assert not mismatches(target.warehouse, emu.truth())
