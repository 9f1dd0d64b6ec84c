"""The HTTP layer's own guarantees. The fan-out: a bounded set of shared workers and no
threads left behind (what a scheduler's long-lived worker process relies on). The
client: every attempt, retries included, takes the budget, waits for the rate limit and
is counted; dlt's retry rules (which answers are retried, Retry-After, how many
attempts) hold over the urllib3 transport; parameters are encoded as `requests` encoded
them; secrets stay out of errors and logs; a redirect is never followed."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest

from emulators.base import EmulatorApp, HTTPError, Request, Response, json_response
from sources.http import (
    ApiClient,
    ApiError,
    ApiUnreachable,
    BudgetExhausted,
    RateLimiter,
    RequestBudget,
    UnexpectedAnswer,
    WorkerPool,
    fan_out,
)


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
    """Answers `failure` to the first `failures` requests of /thing, then 200; /echo answers
    the query it received; /moved redirects; /odd answers JSON `json` would read but orjson not."""

    def __init__(self, failures: int, failure: Response | None = None) -> None:
        super().__init__(seed=1)
        self.failures = failures
        self.failure = failure
        self.route("GET", "/thing", self.thing)
        self.route("POST", "/thing", self.thing)
        self.route("GET", "/echo", lambda req: {"query": req.query})
        self.route("GET", "/api/{key}/thing", lambda req: {"ok": True})
        self.route("GET", "/moved", lambda req: Response(301, b"", headers={"Location": "https://elsewhere.example/"}))
        self.route("GET", "/odd", lambda req: Response(200, b'{"text": "\\ud800", "big": 123456789012345678901234}'))

    def thing(self, req: Request) -> dict | Response:
        if self.failures > 0:
            self.failures -= 1
            if self.failure is not None:
                return self.failure
            raise HTTPError(503, "busy")
        return {"ok": True, "body": req.json() if req.body else None}

    def truth(self) -> dict:
        return {}


class _CountingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(None)
        self.acquired = 0

    def acquire(self) -> None:
        self.acquired += 1
        super().acquire()


def test_every_retry_attempt_takes_the_budget_and_the_rate_limit_and_is_counted() -> None:
    app = _Flaky(failures=2)
    limiter = _CountingLimiter()
    with app.serve() as url:
        client = ApiClient(url, budget=RequestBudget(10), rate_limiter=limiter, max_attempts=5)
        assert client.get_json("thing") == {"ok": True, "body": None}
    assert app.request_counts()["total"] == 3, "two 503s, then the 200"
    assert client.requests_made == 3, "each attempt counts against the budget"
    assert limiter.acquired == 3, "each attempt waits for the rate limit"
    assert client.status_counts == {503: 2, 200: 1}


class _Slow(EmulatorApp):
    """Counts the requests it is answering at once."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.now = self.peak = 0
        self.lock = threading.Lock()
        self.route("GET", "/slow", self.slow)

    def slow(self, req: Request) -> dict:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.02)
        with self.lock:
            self.now -= 1
        return {"ok": True}

    def truth(self) -> dict:
        return {}


def test_the_client_never_has_more_requests_in_flight_than_its_connections() -> None:
    """Its worker pool is larger than its in-flight bound; the bound still holds."""
    app = _Slow()
    with app.serve() as url:
        client = ApiClient(url, max_connections=3)
        done = list(fan_out(range(40), lambda n: client.get_json("slow"), 3, client.workers))
    assert len(done) == 40
    assert client.workers.workers > 3
    assert app.peak == 3, f"{app.peak} requests at once against a bound of 3"


def test_the_budget_refuses_the_attempt_past_the_cap_even_inside_a_retry() -> None:
    app = _Flaky(failures=10)
    with app.serve() as url:
        client = ApiClient(url, budget=RequestBudget(2), max_attempts=5)
        with pytest.raises(BudgetExhausted):
            client.get_json("thing")
    assert client.requests_made == 2
    assert app.request_counts()["total"] == 2


def test_attempts_stop_at_max_attempts_and_the_last_status_is_raised() -> None:
    app = _Flaky(failures=10)
    with app.serve() as url:
        client = ApiClient(url, max_attempts=3)
        with pytest.raises(ApiError) as raised:
            client.get_json("thing")
    assert raised.value.status == 503
    assert app.request_counts()["total"] == 3


def test_a_429_waits_what_its_retry_after_says() -> None:
    """dlt's rule: the Retry-After of the answer decides the wait (here 1 s), not the backoff
    (0.5 s for the first retry)."""
    app = _Flaky(failures=1, failure=json_response({"error": "slow down"}, 429, {"Retry-After": "1"}))
    with app.serve() as url:
        client = ApiClient(url, max_attempts=3)
        started = time.monotonic()
        assert client.get_json("thing")["ok"] is True
        waited = time.monotonic() - started
    assert waited >= 0.95, f"retried after {waited:.2f}s, before the Retry-After"
    assert client.status_counts == {429: 1, 200: 1}


def test_a_200_the_api_marks_as_an_error_is_retried_and_so_is_one_that_is_not_json() -> None:
    app = _Flaky(failures=2, failure=json_response({"status": 0, "error": "try later"}))
    with app.serve() as url:
        client = ApiClient(url, max_attempts=4, is_app_error=lambda body: body.get("status") == 0)
        assert client.get_json("thing")["ok"] is True
    assert app.request_counts()["total"] == 3

    app = _Flaky(failures=5, failure=Response(200, b"<html>proxy error</html>", "text/html"))
    with app.serve() as url:
        client = ApiClient(url, max_attempts=2, is_app_error=lambda body: False)
        with pytest.raises(ApiError, match="not JSON"):
            client.get_json("thing")
    assert app.request_counts()["total"] == 2


def test_a_body_of_unexpected_shape_is_retried_then_raised_typed() -> None:
    """A list page whose `data` is null is no empty list: the check the caller gives
    retries it like an error, and what retries do not cure raises `UnexpectedAnswer`."""
    def expect(body: dict) -> str | None:
        return None if isinstance(body.get("data"), list) else "data is not a list"

    app = _Flaky(failures=2, failure=json_response({"status": 1, "data": None}))
    app.route("GET", "/list", lambda req: app.thing(req) if app.failures else {"data": []})
    with app.serve() as url:
        assert ApiClient(url, max_attempts=4).get_json("list", expect=expect) == {"data": []}
    assert app.request_counts()["total"] == 3

    app = _Flaky(failures=5, failure=json_response({"status": 1, "data": None}))
    app.route("GET", "/list", app.thing)
    with app.serve() as url, pytest.raises(UnexpectedAnswer, match="data is not a list"):
        ApiClient(url, max_attempts=2).get_json("list", expect=expect)
    assert app.request_counts()["total"] == 2


def test_parameters_and_bodies_are_sent_as_requests_sent_them() -> None:
    app = _Flaky(failures=0)
    with app.serve() as url:
        client = ApiClient(url)
        query = client.get_json("echo", params={"a": 1, "skip": None, "ids": ["x", "y"], "q": "a b&c=d/é"})["query"]
        posted = client.post_json("thing", json={"name": "Анна", "n": [1, 2]})
    assert query == {"a": ["1"], "ids": ["x", "y"], "q": ["a b&c=d/é"]}, "None left out, a list repeats its key"
    assert posted["body"] == {"name": "Анна", "n": [1, 2]}


def test_json_that_orjson_refuses_is_read_as_before() -> None:
    app = _Flaky(failures=0)
    with app.serve() as url:
        body = ApiClient(url).get_json("odd")
    assert body == json.loads('{"text": "\\ud800", "big": 123456789012345678901234}')


def test_a_redirect_is_not_followed_and_names_where_it_points() -> None:
    app = _Flaky(failures=0)
    with app.serve() as url:
        client = ApiClient(url, max_attempts=3)
        with pytest.raises(ApiError, match=r"elsewhere\.example") as raised:
            client.get_json("moved")
    assert raised.value.status == 301
    assert app.request_counts()["total"] == 1


def test_an_unreachable_api_is_retried_and_the_secret_in_its_url_stays_out_of_errors_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "s3cr3t-key-0123456789"
    client = ApiClient(f"http://127.0.0.1:{port}", secrets=(secret,), max_attempts=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(ApiUnreachable) as raised:
        client.get_json(f"api/{secret}/get_clients")
    assert client.requests_made == 2, "a refused connection is retried"
    assert secret not in str(raised.value)
    assert "***" in str(raised.value)

    with _Flaky(failures=0).serve() as url, caplog.at_level(logging.DEBUG):
        assert ApiClient(url, secrets=(secret,)).get_json(f"api/{secret}/thing") == {"ok": True}
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/api/***/thing" in m for m in logged), "urllib3 logs each request line at DEBUG: the check must see it"
    assert not [m for m in logged if secret in m], "a log record carried the secret"
