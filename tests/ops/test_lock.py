"""The overlap guard, exercised by real processes: a second run of the same pipeline exits
with a clear message (or waits), and a killed holder never leaves a stale lock."""

from __future__ import annotations

import contextlib
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ops.conftest import PYTHON, TOKEN, subprocess_env

HOLDER = textwrap.dedent("""
    import sys, time, pathlib
    from pipelines.warehouse.locks import run_lock
    release = pathlib.Path(sys.argv[2])
    with run_lock(sys.argv[1]):
        print("locked", flush=True)
        while not release.exists():
            time.sleep(0.05)
    print("released", flush=True)
""")

CONTENDER = textwrap.dedent("""
    import sys, time
    from pipelines.warehouse.locks import run_lock, RunLocked
    started = time.monotonic()
    try:
        with run_lock(sys.argv[1], wait=float(sys.argv[2])):
            print(f"acquired at {time.time():.3f}", flush=True)
    except RunLocked as exc:
        print(f"chatfunnel: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
""")


def _start_holder(name: str, release: Path) -> subprocess.Popen:
    proc = subprocess.Popen([PYTHON, "-c", HOLDER, name, str(release)], stdout=subprocess.PIPE,
                            text=True, env=subprocess_env())
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _contend(name: str, wait: float) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-c", CONTENDER, name, str(wait)], capture_output=True, text=True,
                          env=subprocess_env(), timeout=60)


def test_second_process_exits_with_a_clear_message_then_waits(dlt_env: Path) -> None:
    release = dlt_env / "release"
    holder = _start_holder("chatfunnel_leeloo", release)
    try:
        denied = _contend("chatfunnel_leeloo", 0)
        assert denied.returncode == 75
        assert f"pid {holder.pid}" in denied.stderr
        assert "still in progress" in denied.stderr and "Traceback" not in denied.stderr
        # another pipeline is not blocked
        assert _contend("chatfunnel_salebot", 0).returncode == 0

        # a waiting contender gets the lock once the holder is done
        waiter = subprocess.Popen([PYTHON, "-c", CONTENDER, "chatfunnel_leeloo", "20"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
        time.sleep(1.0)
        assert waiter.poll() is None, "the waiter must still be waiting while the lock is held"
        released_at = time.time()
        release.touch()
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, err
        assert float(out.split()[-1]) >= released_at, "acquired while the holder still had the lock"
    finally:
        release.touch()
        holder.wait(timeout=10)


def test_killed_holder_leaves_no_stale_lock(dlt_env: Path) -> None:
    holder = _start_holder("chatfunnel_leeloo", dlt_env / "never")
    assert _contend("chatfunnel_leeloo", 0).returncode == 75
    holder.kill()  # SIGKILL: no cleanup code runs
    holder.wait(timeout=10)
    assert _contend("chatfunnel_leeloo", 0).returncode == 0


RUNNER = textwrap.dedent("""
    import sys
    from pipelines.run.lifecycle import run_account
    from pipelines.config.options import RunOptions
    outcome = run_account(RunOptions(source="leeloo", progress="none", transform=False))
    if outcome.error is not None:
        print(f"chatfunnel: error: {outcome.error}", file=sys.stderr)
        sys.exit(outcome.exit_code)
    print("loaded", sum(outcome.rows.values()), flush=True)
""")


def overlapping(command: list[str], env: dict[str, str], emu: Any) -> list[subprocess.Popen]:
    """Two runs, the second started and ended while the first is held mid-read by the API
    (its answers wait), so the first holds its lock for as long as the second needs: the
    overlap is made by the work, not left to how fast a busy machine starts processes."""
    with emu.answers_held():
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 120
        while emu.request_counts()["total"] == 0 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        with contextlib.suppress(subprocess.TimeoutExpired):
            second.wait(timeout=100)
    return [first, second]


def test_two_overlapping_runs_one_loads_one_refuses(emulator, duck_target) -> None:
    """Two real pipeline runs, the second started while the first reads a slow API: one loads, the
    other exits 75 naming the first, and the warehouse equals the truth with one history row."""
    from tests.leeloo.truth import assert_matches_truth
    from tests.ops.conftest import history

    emu = emulator(scale=40, latency_ms=60)
    env = subprocess_env()
    assert env["SOURCES__LEELOO__API_TOKEN"] == TOKEN
    procs = overlapping([PYTHON, "-c", RUNNER], env, emu)
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 75], outcomes
    refused = next(err for code, _, err in outcomes if code == 75)
    assert "still in progress" in refused and "Traceback" not in refused
    emu.knobs.latency_ms = 0
    assert_matches_truth(duck_target.warehouse, emu.truth())
    assert [r["outcome"] for r in history()] == ["success"]


@pytest.mark.parametrize("names", [["b", "a"], ["a", "b"]])
def test_run_locks_take_names_in_one_order(dlt_env: Path, names: list[str]) -> None:
    from pipelines.warehouse.locks import lock_dir, run_locks

    with run_locks(names) as paths:
        assert [h.path.name for h in paths] == ["a.lock", "b.lock"]
        assert all(h.path.parent == lock_dir() for h in paths)
