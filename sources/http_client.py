"""HTTP plumbing shared by the chatfunnel sources.

Both APIs force one request chain per person, channel or client, so a run is a few
thousand small requests. This module keeps them fast and polite: dlt's retrying
`Client` does the retries (429 with Retry-After, 5xx, timeouts); on top of it sit a
client-side rate limiter shared by all threads, a request budget that stops a run
cleanly before it exceeds an account's daily cap, a bounded thread fan-out, and
redaction so a secret that travels in a URL (Salebot's key) never reaches a log line
or an exception message.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar
from urllib.parse import urlsplit

from requests import Response
from requests.adapters import HTTPAdapter
from requests.exceptions import RequestException
from requests.utils import get_environ_proxies

from dlt.sources.helpers.requests import Client

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger("chatfunnel.http")


class ApiError(Exception):
    """The API answered with an error that retries did not cure. Message is redacted."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """401/403: the token or key is wrong, expired or lacks a permission."""


class ApiUnreachable(ApiError):
    """No answer at all: DNS, refused connection, timeouts after every retry."""


class BudgetExhausted(Exception):
    """The run's request budget is spent; raised before the request that would exceed it."""


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class RateLimiter:
    """Token bucket shared by every thread of a run.

    Keeps the request rate just under the API's limit for the whole run, so fan-out
    never hammers the server into 429s. `penalize` is called on a 429: every thread
    then waits, not only the one that was refused.
    """

    def __init__(self, per_minute: float | None, burst: int | None = None) -> None:
        self.per_second = (per_minute or 0) / 60.0
        self.capacity = float(burst or max(1, min(10, int(self.per_second) or 1)))
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if self.per_second <= 0 and self._paused_until == 0.0:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif self.per_second <= 0:
                    return
                else:
                    self._tokens = min(
                        self.capacity, self._tokens + (now - self._last) * self.per_second
                    )
                    self._last = now
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        return
                    delay = (1.0 - self._tokens) / self.per_second
            time.sleep(delay)

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            self._tokens = 0.0


class RequestBudget:
    """Counts real HTTP requests (retries included) and refuses the one past the cap."""

    def __init__(self, max_requests: int | None = None) -> None:
        self.max_requests = max_requests
        self.used = 0
        self.exhausted = False
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.max_requests is not None and self.used >= self.max_requests:
                self.exhausted = True
                raise BudgetExhausted(f"request budget of {self.max_requests} spent")
            self.used += 1


class _MeteredAdapter(HTTPAdapter):
    """Applies the budget and the rate limit to every attempt, and records statuses."""

    def __init__(self, client: "ApiClient", pool_maxsize: int) -> None:
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize)
        self._client = client
        self._pool_keys: dict[tuple[Any, ...], Any] = {}

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        """requests re-derives this per request with filesystem checks of the CA bundle;
        it only depends on the host and TLS settings, so compute it once per host."""
        parts = urlsplit(request.url)
        key = (parts.scheme, parts.netloc, verify if isinstance(verify, (bool, str)) else id(verify), cert)
        if key not in self._pool_keys:
            self._pool_keys[key] = super().build_connection_pool_key_attributes(request, verify, cert)
        return self._pool_keys[key]

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        self._client.budget.take()
        with self._client.in_flight:
            self._client.rate_limiter.acquire()
            response = super().send(request, *args, **kwargs)
        self._client.record(response)
        return response


def _json_body(response: Response) -> Any:
    """The parsed body, parsed once: the retry check and the caller both need it."""
    if "_parsed_json" not in response.__dict__:
        response.__dict__["_parsed_json"] = response.json()
    return response.__dict__["_parsed_json"]


def _retry_after_seconds(response: Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else None


class ApiClient:
    """A JSON API client: retries, rate limit, budget, redaction, thread-safe."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        rate_limiter: RateLimiter | None = None,
        budget: RequestBudget | None = None,
        timeout: float = 30.0,
        max_attempts: int = 6,
        max_connections: int = 16,
        is_app_error: Callable[[Any], bool] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secrets = tuple(s for s in secrets if s)
        self.rate_limiter = rate_limiter or RateLimiter(None)
        self.budget = budget or RequestBudget(None)
        self.status_counts: Counter[int] = Counter()
        # the fan-outs share `workers`; this also bounds requests made outside them
        self.in_flight = threading.BoundedSemaphore(max_connections)
        self.workers = WorkerPool(max_connections)
        self._lock = threading.Lock()
        self._is_app_error = is_app_error
        self._client = Client(
            request_timeout=timeout,
            raise_for_status=False,
            request_max_attempts=max_attempts,
            request_backoff_factor=0.5,
            request_max_retry_delay=120,
            retry_condition=self._should_retry_body,
            session_attrs={"headers": dict(headers or {})},
        )
        self._client._adapter = _MeteredAdapter(self, pool_maxsize=max_connections * 4)
        # requests re-reads proxy variables from the environment on every request; read
        # them once for this host instead (same behaviour, a fraction of the CPU)
        self._client._session_attrs.update(
            trust_env=False, proxies=get_environ_proxies(self.base_url)
        )
        install_log_redaction(self.secrets)

    @property
    def requests_made(self) -> int:
        return self.budget.used

    def record(self, response: Response) -> None:
        with self._lock:
            self.status_counts[response.status_code] += 1
        if response.status_code == 429:
            self.rate_limiter.penalize(_retry_after_seconds(response) or 1.0)

    def _should_retry_body(self, response: Response | None, exc: BaseException | None) -> bool:
        if response is None or self._is_app_error is None or response.status_code != 200:
            return False
        try:
            return bool(self._is_app_error(_json_body(response)))
        except ValueError:
            return True  # a 200 that is not JSON is a proxy's error page

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post_json(self, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("POST", path, params=params, json=json)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self._client.session.request(method, url, **kwargs)
        except BudgetExhausted:
            raise
        except RequestException as exc:
            raise ApiUnreachable(
                f"{self._where(path)}: no answer after retries ({type(exc).__name__}: "
                f"{redact(str(exc), self.secrets)})"
            ) from None
        status = response.status_code
        if status in (401, 403):
            raise AuthError(
                f"{self._where(path)}: HTTP {status} - the API refused the credentials", status
            )
        if status >= 400:
            raise ApiError(f"{self._where(path)}: HTTP {status} after retries", status)
        try:
            body = _json_body(response)
        except ValueError:
            raise ApiError(f"{self._where(path)}: the answer is not JSON") from None
        if self._is_app_error is not None and self._is_app_error(body):
            raise ApiError(
                f"{self._where(path)}: the API reported an error: "
                f"{redact(str(body)[:300], self.secrets)}"
            )
        return body

    def _where(self, path: str) -> str:
        return redact(f"{self.base_url}/{path.lstrip('/')}", self.secrets)


class _RedactingFilter(logging.Filter):
    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_filter = _RedactingFilter()


def install_log_redaction(secrets: Iterable[str]) -> None:
    """urllib3 logs every URL at DEBUG; make sure a key in a path never reaches a handler."""
    _RedactingFilter.secrets.update(s for s in secrets if s)
    for name in ("urllib3.connectionpool", "urllib3", "dlt", "chatfunnel"):
        log = logging.getLogger(name)
        if _filter not in log.filters:
            log.addFilter(_filter)


IO_SWITCH_INTERVAL = 0.001


class _IoBoundProcess:
    """A short GIL switch interval for the length of a fan-out.

    A fan-out is hundreds of small responses a second, each re-taking the GIL several
    times (send, status line, body). A thread whose response has arrived waits up to
    `sys.getswitchinterval()` (5 ms by default) for a thread running Python code; at 1 ms
    a latency-bound load runs ~5% faster (bench/README.md). Concurrent fan-outs share
    the setting: the first one in applies it and the last one out restores the
    process's own, so a host process (a scheduler's worker) is left as it was.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved_interval = 0.0

    @contextmanager
    def active(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved_interval, IO_SWITCH_INTERVAL))
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    sys.setswitchinterval(self._saved_interval)


_io_bound = _IoBoundProcess()


class WorkerPool:
    """One set of worker threads shared by every fan-out on a client.

    Three resources fan out at once (people, channels, orders); with a pool each they
    ran 3 x concurrency threads that queued on the in-flight bound, and every hand-over
    cost a wake-up and a GIL round. One pool of `workers` threads keeps exactly that
    many requests in flight with no queueing. It starts with the first fan-out that
    leases it and stops when the last one ends, so a long-lived host process (a
    scheduler's worker) keeps no idle threads between runs.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._lock = threading.Lock()
        self._users = 0
        self._executor: ThreadPoolExecutor | None = None

    @contextmanager
    def lease(self) -> Iterator[ThreadPoolExecutor]:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="chatfunnel"
                )
            executor = self._executor
            self._users += 1
        try:
            yield executor
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._executor is executor:
                    self._executor = None
                    executor.shutdown(wait=True)


def fan_out(
    items: Iterable[T], fn: Callable[[T], R], concurrency: int, pool: WorkerPool | None = None
) -> Iterator[tuple[T, R]]:
    """Run `fn` over `items` on worker threads and yield `(item, result)` as each finishes.

    The threads come from `pool` when given (shared with the client's other fan-outs),
    else from a pool of `concurrency` made for this call. At most `4 * concurrency`
    calls are queued: enough that the workers never run dry while the consumer is busy
    elsewhere, few enough that a long item stream is never materialised. The first
    exception cancels what has not started and is re-raised after running calls end,
    so a caller can stop cleanly (e.g. on BudgetExhausted) having consumed every result
    that did complete.
    """
    concurrency = max(1, concurrency)
    iterator = iter(items)
    pending: dict[Future[R], T] = {}
    error: BaseException | None = None
    with _io_bound.active(), (pool or WorkerPool(concurrency)).lease() as executor:
        try:
            for item in iterator:
                pending[executor.submit(fn, item)] = item
                if len(pending) >= 4 * concurrency:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    exc = future.exception()
                    if exc is not None:
                        error = error or exc
                        continue
                    yield item, future.result()
                if error is None:
                    for item in iterator:
                        pending[executor.submit(fn, item)] = item
                        if len(pending) >= 4 * concurrency:
                            break
                else:
                    for future in list(pending):
                        if future.cancel():
                            pending.pop(future)
        finally:
            for future in pending:
                future.cancel()
            if pending:
                wait(pending)  # a shared pool outlives this call: let running calls end first
    if error is not None:
        raise error
