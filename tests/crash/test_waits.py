"""Every wait of a run is bounded: a Postgres connection that goes silent, a signal while a
run is stuck in such a wait, the run's own deadline, two hosts loading one dataset, a
full disk. Real processes, real signals, a real Postgres (through a proxy that can go
mute) and a real tmpfs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.warehouse.locks import killed_holder, run_lock
from tests.crash.harness import env, lock_step
from tests.crash.proxy import SilenceableProxy
from tests.leeloo.truth import assert_matches_truth, mismatches
from tests.warehouse import Warehouse

pytestmark = [pytest.mark.slow]


def _start(args: list[str], **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pipelines", *args], env={**env(), **extra},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_step(name: str, step: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while lock_step(name) != step:
        assert proc.poll() is None, f"the run ended before its {step} step: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {step} step within {timeout}s"
        time.sleep(0.005)


@pytest.fixture
def proxied(pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch):
    proxy = SilenceableProxy(("127.0.0.1", 5432))
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS",
                       f"postgresql://postgres:postgres@127.0.0.1:{proxy.port}/test")
    yield proxy, unique_dataset, Warehouse("postgres", unique_dataset, pg_dsn=pg_dsn)
    proxy.close()


@pytest.mark.postgres
@pytest.mark.serial
def test_a_postgres_that_goes_silent_mid_load_ends_the_run_within_its_timeout(emulator, dlt_env, proxied,
                                                                               capsys) -> None:
    proxy, dataset, warehouse = proxied
    emu = emulator(scale=300, seed=3)
    args = ["run", "leeloo", "--destination", "postgres", "--dataset", dataset, "--progress", "none"]
    name = f"chatfunnel_leeloo_postgres_{dataset}"
    proc = _start(args, CHATFUNNEL__POSTGRES_STATEMENT_TIMEOUT_SECONDS="4", CHATFUNNEL__POSTGRES_SILENCE_SECONDS="6")
    _wait_for_step(name, "load", proc)
    proxy.silent.set()
    silenced = time.monotonic()
    out, err = proc.communicate(timeout=90)
    took = time.monotonic() - silenced
    assert proc.returncode == 1, (out, err)
    assert took < 6 + 15, f"the run waited {took:.0f}s on a silent server"
    assert "stopped answering during the load step" in err and "Traceback" not in err
    assert killed_holder(name) is None, "the lock was released, not left as by a crash"
    with run_lock(name):
        pass  # and another run can take it at once
    proxy.silent.clear()  # the network heals
    assert main(args) == 0, capsys.readouterr().err
    assert_matches_truth(warehouse, emu.truth())


@pytest.mark.postgres
@pytest.mark.serial
def test_sigterm_ends_a_run_stuck_on_a_silent_server_within_seconds(emulator, dlt_env, proxied, capsys) -> None:
    proxy, dataset, warehouse = proxied
    emu = emulator(scale=300, seed=3)
    args = ["run", "leeloo", "--destination", "postgres", "--dataset", dataset, "--progress", "none"]
    name = f"chatfunnel_leeloo_postgres_{dataset}"
    proc = _start(args, CHATFUNNEL__STOP_GRACE_SECONDS="6")  # the watchdog's silence limit stays an hour
    _wait_for_step(name, "load", proc)
    proxy.silent.set()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - signalled < 6 + 3, "SIGTERM must end the run within its grace period"
    assert proc.returncode == 130, (out, err)
    assert "stopped (SIGTERM)" in err and "Traceback" not in err
    proxy.silent.clear()
    assert main(args) == 0, capsys.readouterr().err
    assert_matches_truth(warehouse, emu.truth())
    from tests.ops.conftest import history

    assert [r["outcome"] for r in history("postgres", dataset)][:2] == ["success", "interrupted"]


@pytest.mark.serial
def test_the_run_deadline_stops_cleanly_and_records_why(emulator, duck_target, capsys) -> None:
    emu = emulator(scale=200, latency_ms=40)
    assert main(["run", "leeloo", "--progress", "none", "--max-runtime", "2"]) == 130
    err = capsys.readouterr().err
    assert "stopped at its deadline" in err and "--max-runtime" in err
    from pipelines.operations.runs import read_journal
    from tests.ops.conftest import history

    [journaled] = read_journal()  # a stopped run records at once, locally, never waiting on a database
    assert journaled["outcome"] == "interrupted" and "deadline" in journaled["error"]
    emu.knobs.latency_ms = 0
    assert main(["run", "leeloo", "--progress", "none"]) == 0  # the lock was released and nothing stuck
    assert_matches_truth(duck_target.warehouse, emu.truth())
    runs = history()
    assert [r["outcome"] for r in runs] == ["success", "interrupted"] and "deadline" in runs[1]["error"]


def test_a_stop_swallowed_in_a_finalizer_is_delivered_again() -> None:
    """A deadline or a signal that lands while the main thread runs a finalizer (seen in CI: a
    connection pool's weakref callback closing a socket) raises there, and Python swallows it:
    the run went on to its end, exit 0 past --max-runtime. The guard sends it again."""
    import signal

    from pipelines.run.stopping import StopGuard, StopRequested, raise_deadline

    class ClosedLate:
        def __del__(self) -> None:
            raise StopRequested("deadline")  # as the signal handler would, inside the finalizer

    previous = signal.signal(signal.SIGUSR1, raise_deadline)
    try:
        with pytest.raises(StopRequested), StopGuard(None, 30, lambda reason: None):
            ClosedLate()  # collected at once: its StopRequested is swallowed, then delivered again
            for _ in range(100):
                time.sleep(0.01)
    finally:
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.postgres
def test_two_hosts_loading_one_dataset_serialise_and_both_end_with_the_truth(emulator, dlt_env, pg_dsn,
                                                                              unique_dataset) -> None:
    """Two machines (two DLT_DATA_DIRs) run the same account into one Postgres dataset at
    once, five nights running: one waits for the other's advisory lock, the reports never
    fail to build, and the warehouse ends each night equal to the truth."""
    emu = emulator(scale=80, latency_ms=3)
    args = ["run", "leeloo", "--destination", "postgres", "--dataset", unique_dataset, "--progress", "none",
            "--wait", "180"]
    warehouse = Warehouse("postgres", unique_dataset, pg_dsn=pg_dsn)
    hosts = [dlt_env / "host_a", dlt_env / "host_b"]
    for night in range(5):
        procs = [_start(args, DLT_DATA_DIR=str(h), DESTINATION__POSTGRES__CREDENTIALS=pg_dsn) for h in hosts]
        results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
        assert [code for code, _, _ in results] == [0, 0], results
        assert not any("reports failed" in out + err for _, out, err in results)
        assert not mismatches(warehouse, emu.truth()), f"night {night}"
        emu.simulate(active_people=3, new_people=2, new_orders=2)


def _tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs here ({done.stderr.decode().strip()})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes") and os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)


def test_a_full_disk_is_named_even_when_the_failed_write_names_a_file_elsewhere(tmp_path: Path) -> None:
    """dlt writes a merge's SQL to the temp folder and moves it into the package: on a full
    package disk the move fails naming the temp file, whose disk has room. The message names
    the disk that is full, not the temp folder's."""
    import errno

    from pipelines.config.accounts import Account
    from pipelines.operations.diagnosis import explain

    disk = tmp_path / f"small_{uuid.uuid4().hex[:6]}"
    _tmpfs(disk, "1m")
    try:
        (disk / "filler").write_bytes(b"\0" * 1024 * 1000)
        roomy = tmp_path / "people.a6cde95fc7.0.sql"
        error = OSError(errno.ENOSPC, "No space left on device", str(roomy))
        said = str(explain(error, step="load", account=Account("leeloo"), secret_env="X", destination="duckdb",
                           disks=[tmp_path / "elsewhere", disk / "dlt"]))
        assert f"The disk holding {disk / 'dlt'} is full" in said, said
        assert str(roomy) not in said
        alone = str(explain(error, step="load", account=Account("leeloo"), secret_env="X", destination="duckdb",
                            disks=[tmp_path]))
        assert f"The disk holding {roomy}" in alone, "no full disk among the run's: the error's own file"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


def test_a_full_disk_says_so_claims_nothing_untrue_and_the_next_run_recovers(emulator, tmp_path, monkeypatch,
                                                                            capsys) -> None:
    disk = tmp_path / f"small_{uuid.uuid4().hex[:6]}"
    _tmpfs(disk, "12m")
    try:
        monkeypatch.setenv("DLT_DATA_DIR", str(disk / "dlt"))
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(disk / "warehouse.duckdb"))
        monkeypatch.chdir(tmp_path)
        emu = emulator(scale=2500, seed=5)
        code = main(["run", "leeloo", "--progress", "none", "--no-transform"])
        err = capsys.readouterr().err
        assert code == 1, err
        assert f"The disk holding {disk}" in err and "is full" in err, err
        assert "Nothing was committed" not in err and "Traceback" not in err
        subprocess.run(["mount", "-o", "remount,size=400m", str(disk)], check=True)
        emu.simulate(new_people=5)
        assert main(["run", "leeloo", "--progress", "none", "--no-transform"]) == 0, capsys.readouterr().err
        assert_matches_truth(Warehouse("duckdb", "leeloo", duckdb_path=disk / "warehouse.duckdb"), emu.truth())
        from tests.ops.conftest import history

        outcomes = [r["outcome"] for r in history()]
        assert outcomes[0] == "success" and "failed" in outcomes, "the full-disk failure was journaled and moved in"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)
