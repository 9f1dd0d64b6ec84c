"""SIGKILL at every step of a real run, on DuckDB and Postgres: one rerun equals the truth.

Between each kill and its rerun the account lives on (20 new people, 15 new orders, 2% of
people write), so the rerun must both finish what the killed run left and load what is
new, with no manual step, and say that it recovered. 15 kills per destination, at every
step and at varied delays; load-step kills interrupt a full refresh so that the load is
long and carries table drops.
"""

from __future__ import annotations

import random

import pytest

from pipelines.cli import main
from tests.crash.harness import POINTS, run_and_kill
from tests.leeloo.truth import mismatches

pytestmark = pytest.mark.slow

LOAD_POINTS = ("load-before-jobs", "load-between-jobs", "load-after-jobs", "load-merge-followup")
SCHEDULE = [*POINTS, *LOAD_POINTS, "extract", "normalize"]  # 15 kills, every point at least once


def test_killed_at_every_step_then_one_rerun_equals_the_truth(emulator, target, capsys) -> None:
    destination = target.destination
    emu = emulator(scale=300, seed=3)
    args = ["run", "leeloo", *target.cli_args(), "--progress", "none"]
    name = ("chatfunnel_leeloo" if destination == "duckdb"
            else f"chatfunnel_leeloo_postgres_{target.dataset}")
    rng = random.Random(11)
    kills = []
    for point in SCHEDULE:
        refresh = ["--full-refresh"] if point in LOAD_POINTS else []
        delay = rng.uniform(0.0, 0.25)
        if point == "normalize":  # an incremental normalize lasts a few tens of ms
            delay /= 25
        kill = run_and_kill(args + refresh, name, point, delay=delay)
        landed = f"a kill at {point} ({kill.landed} step, {delay:.3f} s after it)" if kill else f"no kill at {point}"
        emu.simulate(active_people=0.02, new_people=20, new_orders=15)
        capsys.readouterr()
        assert main(args) == 0, f"after {landed}: {capsys.readouterr().err}"
        out = capsys.readouterr().out
        problems = mismatches(target.warehouse, emu.truth())
        assert not problems, f"after {landed}: {problems}"
        if kill is not None:
            kills.append(kill)
            assert f"was killed during its {kill.landed} step" in out, out
    assert len(kills) >= 12, f"only {len(kills)} of {len(SCHEDULE)} kills landed before the run ended"
    landed = {k.landed for k in kills}
    assert {"extract", "normalize", "load"} <= landed, landed


def test_status_names_a_killed_run_and_the_package_it_left(emulator, duck_target, capsys) -> None:
    emu = emulator(scale=300, seed=3)
    args = ["run", "leeloo", "--progress", "none", "--no-transform"]
    kill = run_and_kill(args, "chatfunnel_leeloo", "load-between-jobs", delay=0.0)
    assert kill is not None
    assert main(["status", "leeloo"]) == 1, "a killed last run is not a healthy state"
    out = capsys.readouterr().out
    assert "killed during its load step" in out
    assert "left-over load package" in out and "the next run loads it first" in out
    assert "committed when the left-over package loads" in out, "cursors not yet committed are labelled"
    emu.simulate(new_people=3)
    assert main(args) == 0
    assert main(["status", "leeloo"]) == 0
    out = capsys.readouterr().out
    assert "left-over" not in out and "interrupted" in out  # the history keeps the killed run
