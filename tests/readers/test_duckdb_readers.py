"""Readers beside a DuckDB run, as real processes: `chatfunnel status` and a read-only reader
every second never make a run fail, never report false trouble, and name the run in
progress; a file another program holds is named as such, with the snapshot to use instead."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ops.conftest import PYTHON, subprocess_env

# a reader that follows the documented rule: the file's shared reader lock, read-only, briefly
READER = textwrap.dedent("""
    import os, sys, duckdb
    from pipelines.warehouse.locks import reader_lock
    with reader_lock(sys.argv[1], 5.0) as shared:
        if not shared or not os.path.exists(sys.argv[1]):
            print("busy" if not shared else "nothing loaded yet")
            sys.exit(0)
        con = duckdb.connect(sys.argv[1], read_only=True)
        try:
            print(con.execute("select count(*) from information_schema.tables").fetchone()[0])
        finally:
            con.close()
""")

HOLDER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.readline()
    con.close()
""")


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "pipelines", *args], capture_output=True, text=True,
                          env=subprocess_env(), timeout=timeout)


def _watch_run(duckdb_path: Path, emu: Any) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """One `chatfunnel run leeloo` with a status and a reader started every second beside it.
    Each look notes whether the run held its lock before it started and after it ended.

    The API answers slowly until one status has run wholly inside the run, then at 20 ms: a
    busy machine cannot end the run before a status has looked at it."""
    from pipelines.warehouse.locks import run_in_progress

    emu.knobs.latency_ms = 1000

    run = subprocess.Popen([PYTHON, "-m", "pipelines", "run", "leeloo", "--progress", "none"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    looks = []
    while run.poll() is None:
        before = run_in_progress("chatfunnel_leeloo")
        status = subprocess.Popen([PYTHON, "-m", "pipelines", "status", "leeloo"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=subprocess_env())
        reader = subprocess.run([PYTHON, "-c", READER, str(duckdb_path)], capture_output=True, text=True,
                                env=subprocess_env(), timeout=60)
        out, err = status.communicate(timeout=60)
        after = run_in_progress("chatfunnel_leeloo")
        looks.append({"status": status.returncode, "out": out, "err": err, "reader": reader,
                      "during": before is not None and after is not None, "pid": run.pid})
        if looks[-1]["during"]:
            emu.knobs.latency_ms = 20
        time.sleep(0.3)
    out, err = run.communicate(timeout=60)
    return subprocess.CompletedProcess(run.args, run.returncode, out, err), looks


@pytest.mark.serial
def test_status_and_readers_every_second_never_break_a_run(emulator, duck_target) -> None:
    from tests.leeloo.truth import assert_matches_truth

    emu = emulator(scale=80)
    during = 0
    for night in range(2):
        if night:
            emu.simulate(active_people=0.2, new_orders=5)
        run, looks = _watch_run(duck_target.warehouse.duckdb_path, emu)
        assert run.returncode == 0, run.stderr
        assert looks, "the run ended before anything looked at it"
        for look in looks:
            assert look["status"] == 0, look["out"] + look["err"]
            assert "UNREACHABLE" not in look["out"] and "left-over load package" not in look["out"], look["out"]
            assert look["reader"].returncode == 0, look["reader"].stderr
            if look["during"]:  # the run held its lock all along this status: it must be named
                during += 1
                assert f"RUN IN PROGRESS (pid {look['pid']}, " in look["out"], look["out"]
                assert "at its " in look["out"], look["out"]
    assert during >= 2, "a night passed with no status wholly inside its run"
    emu.knobs.latency_ms = 0
    assert_matches_truth(duck_target.warehouse, emu.truth())


def test_a_file_held_by_another_program_is_named_with_the_snapshot_to_use(emulator, duck_target) -> None:
    import duckdb

    from pipelines.operations.diagnosis import duckdb_file_holder
    from tests.leeloo.truth import assert_matches_truth

    emu = emulator(scale=40)
    path = duck_target.warehouse.duckdb_path
    holder = subprocess.Popen([PYTHON, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=subprocess_env())
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        # the driver's own words, as the one classifier reads them
        try:
            duckdb.connect(str(path)).close()
            raise AssertionError("DuckDB opened a file another process holds")
        except duckdb.IOException as exc:
            found = duckdb_file_holder(exc)
        assert found is not None and found["pid"] == str(holder.pid) and Path(found["file"]) == path.resolve()

        run = _cli("run", "leeloo", "--progress", "none")
        assert run.returncode == 74, run.stderr
        assert f"pid {holder.pid}" in run.stderr and "held by another program" in run.stderr
        assert "warehouse_bi.duckdb" in run.stderr and "CREDENTIALS" not in run.stderr
        status = _cli("status", "leeloo")
        assert "HELD BY ANOTHER PROGRAM" in status.stdout and f"pid {holder.pid}" in status.stdout
        assert "credentials" not in status.stdout.lower() and "UNREACHABLE" not in status.stdout
        assert status.returncode == 1, status.stdout  # the next run would fail too: a check should ring
    finally:
        holder.communicate("\n", timeout=30)
    assert _cli("run", "leeloo", "--progress", "none").returncode == 0
    assert_matches_truth(duck_target.warehouse, emu.truth())
