"""The HTTP layer's own guarantees. The fan-out: a bounded set of shared workers and no
threads left behind (what a scheduler's long-lived worker process relies on). The
client: every attempt, retries included, goes through our metering adapter, which dlt's
Client mounts from a private attribute; these tests fail if dlt stops doing that."""

from __future__ import annotations

import threading
import time

import pytest

from emulators.base import EmulatorApp, HTTPError, Request
from sources.http import ApiClient, BudgetExhausted, RequestBudget, WorkerPool, fan_out
from sources.http.client import MeteredAdapter


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
    for a, b in zip(first, second, strict=False):
        results.update([a, b])
    results.update(first)
    results.update(second)

    assert results == {n: n * n for n in range(40)}
    assert peak <= 3, "two fan-outs on one pool must never run more calls than its workers"
    assert not _worker_threads(), "the pool must stop with the last fan-out"


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


class _Flaky(EmulatorApp):
    """Answers 503 to the first `failures` requests of /thing, then 200."""

    def __init__(self, failures: int) -> None:
        super().__init__(seed=1)
        self.failures = failures
        self.route("GET", "/thing", self.thing)

    def thing(self, req: Request) -> dict:
        if self.failures > 0:
            self.failures -= 1
            raise HTTPError(503, "busy")
        return {"ok": True}

    def truth(self) -> dict:
        return {}


def test_every_retry_attempt_passes_through_the_metering_adapter() -> None:
    app = _Flaky(failures=2)
    with app.serve() as url:
        client = ApiClient(url, budget=RequestBudget(10), max_attempts=5)
        assert isinstance(client._client.session.get_adapter(url), MeteredAdapter), (
            "dlt's Client no longer mounts its `_adapter`: the budget and rate limit would be bypassed"
        )
        assert client.get_json("thing") == {"ok": True}
    assert client.requests_made == 3, "two 503s and the 200: each attempt counts against the budget"
    assert client.status_counts == {503: 2, 200: 1}


def test_the_budget_refuses_the_attempt_past_the_cap_even_inside_a_retry() -> None:
    app = _Flaky(failures=10)
    with app.serve() as url:
        client = ApiClient(url, budget=RequestBudget(2), max_attempts=5)
        with pytest.raises(BudgetExhausted):
            client.get_json("thing")
    assert client.requests_made == 2
    assert app.request_counts()["total"] == 2
