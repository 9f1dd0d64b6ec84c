"""The fan-out's thread and process discipline: a bounded set of shared workers, no
threads left behind, the host process's settings restored. The pipeline tests prove the
data; these prove the properties a scheduler's long-lived worker process relies on."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from sources.http_client import IO_SWITCH_INTERVAL, WorkerPool, fan_out


def _worker_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("chatfunnel")}


def test_concurrent_fan_outs_share_one_bounded_pool_and_leave_no_threads() -> None:
    pool = WorkerPool(3)
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return n * n

    first = fan_out(range(20), work, 3, pool)
    second = fan_out(range(20, 40), work, 3, pool)
    results: dict[int, int] = {}
    # interleave the two consumers the way dlt round-robins resources
    for a, b in zip(first, second):
        results.update([a, b])
    results.update(first)
    results.update(second)

    assert results == {n: n * n for n in range(40)}
    assert peak <= 3, "two fan-outs on one pool must never run more calls than its workers"
    assert not _worker_threads(), "the pool must stop with the last fan-out"


def test_switch_interval_is_short_during_a_fan_out_and_restored_after() -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []

    def look(_: int) -> None:
        seen.append(sys.getswitchinterval())

    outer = fan_out(range(2), look, 2)
    next(outer)  # the outer fan-out is running while a second one starts and ends
    list(fan_out(range(2), look, 2))
    assert sys.getswitchinterval() == IO_SWITCH_INTERVAL, "an inner fan-out must not restore early"
    list(outer)

    assert seen and all(value == IO_SWITCH_INTERVAL for value in seen)
    assert sys.getswitchinterval() == before


def test_a_failing_call_is_raised_after_the_others_end_and_stops_the_rest() -> None:
    pool = WorkerPool(2)
    started: list[int] = []

    def work(n: int) -> int:
        started.append(n)
        if n == 1:
            raise ValueError("boom")
        time.sleep(0.02)
        return n

    done: list[int] = []
    with pytest.raises(ValueError, match="boom"):
        for n, _ in fan_out(range(1000), work, 2, pool):
            done.append(n)
    assert len(started) < 1000, "calls not yet started must be cancelled"
    assert not _worker_threads()
