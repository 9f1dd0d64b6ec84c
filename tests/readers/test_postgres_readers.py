"""An analyst's open transaction on a Postgres report never hangs a run: the run gives up
the rebuild at its lock deadline with the data loaded, the previous reports readable all
along, and a message naming the session; once the reader is gone the next run rebuilds."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

from tests.ops.conftest import PYTHON, subprocess_env

LOCK_TIMEOUT = 1
DEADLINE = 4


def _run(dataset: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([PYTHON, "-m", "pipelines", "run", "leeloo", "--destination", "postgres", "--dataset",
                           dataset, "--progress", "none"], capture_output=True, text=True, timeout=300,
                          env=subprocess_env(CHATFUNNEL__POSTGRES_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT),
                                             CHATFUNNEL__POSTGRES_LOCK_DEADLINE_SECONDS=str(DEADLINE)))
    return done, time.monotonic() - started


def _live_orders(cur: Any, dataset: str) -> int:
    """Orders now in the raw tables, through a staging view (views read the raw rows live)."""
    cur.execute(f'select count(*) from "{dataset}_reports"."stg_orders"')
    return int(cur.fetchone()[0])


def _reported_orders(cur: Any, dataset: str) -> int:
    """Orders as the last completed rebuild counted them (a table report: one version at a time)."""
    cur.execute(f'select coalesce(sum(orders), 0) from "{dataset}_reports"."order_timing"')
    return int(cur.fetchone()[0])


class _Watcher(threading.Thread):
    """A second reader: the previous report, read in its own short transactions all along."""

    def __init__(self, dsn: str, dataset: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.dataset = dsn, dataset
        self.stop = threading.Event()
        self.seen: list[tuple[int, float]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.dsn, application_name="readers-test-watcher")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    started = time.monotonic()
                    try:
                        cur.execute(f'select count(*) from "{self.dataset}_reports"."tunnel_funnel"')
                        cur.fetchone()
                        self.seen.append((_reported_orders(cur, self.dataset), time.monotonic() - started))
                    except Exception as exc:  # recorded, asserted on below
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.2)
        finally:
            conn.close()


@pytest.mark.postgres
def test_an_open_transaction_on_a_report_delays_nothing_but_the_rebuild(emulator, pg_target) -> None:
    import psycopg2


    emu = emulator(scale=60)
    dataset, dsn = pg_target.dataset, pg_target.warehouse.pg_dsn
    first, _ = _run(dataset)
    assert first.returncode == 0, first.stderr
    analyst = psycopg2.connect(dsn, application_name="analyst-psql")
    try:
        _blocked_night(emu, analyst, dsn, dataset, pg_target)
    finally:
        analyst.close()  # never leave the reader behind: the dataset's cleanup would wait on it
    again, _ = _run(dataset)
    assert again.returncode == 0, again.stderr
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        assert _reported_orders(cur, dataset) == _live_orders(cur, dataset) == len(emu.truth()["orders"])


def _blocked_night(emu: Any, analyst: Any, dsn: str, dataset: str, pg_target: Any) -> None:
    """A run while `analyst` holds `begin; select ... from tunnel_funnel` open."""
    from tests.leeloo.truth import assert_matches_truth

    watcher = _Watcher(dsn, dataset)
    with analyst.cursor() as cur:
        before = _reported_orders(cur, dataset)
        assert before == _live_orders(cur, dataset) == len(emu.truth()["orders"])
        analyst.rollback()
        cur.execute(f'select * from "{dataset}_reports"."tunnel_funnel" limit 1')  # begin; select ...; left open
    emu.simulate(new_orders=4, active_people=0.2)
    watcher.start()
    try:
        blocked, seconds = _run(dataset)
    finally:
        watcher.stop.set()
        watcher.join(timeout=30)
    assert blocked.returncode == 74, blocked.stderr
    assert seconds < DEADLINE + 45, f"the run took {seconds:.0f}s with a {DEADLINE}s lock deadline"
    assert f"pid {analyst.get_backend_pid()}" in blocked.stderr and "analyst-psql" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    assert_matches_truth(pg_target.warehouse, emu.truth())  # the data of the blocked run is loaded
    assert not watcher.errors and watcher.seen
    assert {orders for orders, _ in watcher.seen} == {before}, "readers must see the previous reports, whole"
    assert max(took for _, took in watcher.seen) < LOCK_TIMEOUT + 5
    with analyst.cursor() as cur:
        assert _live_orders(cur, dataset) == before + 4  # the new orders are in the raw tables
    analyst.rollback()
