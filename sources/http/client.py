"""The JSON API client both sources use: dlt's retry rules over a lean transport, metered per attempt."""

from __future__ import annotations

import json as jsonlib
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    RetryPredicate,
    _make_retry,
)
from requests import Response
from requests.exceptions import RequestException

from sources.clocks import ClockSkew
from sources.http.errors import ApiError, ApiUnreachable, AuthError, BudgetExhausted, Forbidden, UnexpectedAnswer
from sources.http.fanout import WorkerPool
from sources.http.pacing import RateLimiter, RequestBudget
from sources.http.redaction import install_log_redaction, redact
from sources.http.transport import Transport, build_url

if TYPE_CHECKING:
    from tenacity import Retrying

BACKOFF_FACTOR = 0.5
MAX_ATTEMPTS = 6  # per request, retries included, unless `[runtime] request_max_attempts` says otherwise
MAX_RETRY_DELAY = 120
REDIRECTS = (301, 302, 303, 307, 308)
WORKERS_PER_SLOT = 2

# what a request expects of its body: None when the body fits, else why it does not
ShapeCheck = Callable[[Any], "str | None"]


def _json_body(response: Response) -> Any:
    """The parsed body, parsed once: the retry check and the caller both need it. orjson
    first; what it refuses (a lone surrogate escape, a 65-bit integer, another charset)
    is read by `requests` exactly as before."""
    if "_parsed_json" not in response.__dict__:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = response.json()
        response.__dict__["_parsed_json"] = body
    return response.__dict__["_parsed_json"]


def _shape_problem(response: Response) -> str | None:
    """Why the body is not what the request expected (None: it is, or nothing was expected)."""
    expect = response.__dict__.get("_expected_shape")
    return expect(_json_body(response)) if expect is not None else None


def dlt_retry_policy(max_attempts: int, condition: RetryPredicate | None = None) -> Retrying:
    """The retry policy of dlt's `requests` client, for attempts over our own transport.

    dlt builds it inside `dlt.sources.helpers.requests.Client`'s sessions with
    `_make_retry`, which it does not publish; the client sends with `Transport`, not a
    session, so it builds the policy with the same helper. What the client relies on
    (which answers and errors are retried, the waits, the number of attempts, the last
    answer returned and the last error raised as itself) is pinned by
    tests/test_http_retry_policy.py: a dlt release that changes it fails there first."""
    return _make_retry(
        status_codes=DEFAULT_RETRY_STATUS, exceptions=DEFAULT_RETRY_EXCEPTIONS, max_attempts=max_attempts,
        condition=condition, backoff_factor=BACKOFF_FACTOR, respect_retry_after_header=True,
        max_delay=MAX_RETRY_DELAY,
    )


def configured_max_attempts() -> int:
    """The attempts per request, retries included: dlt's own setting where it is given
    (`[runtime] request_max_attempts` in `.dlt/config.toml`, `RUNTIME__REQUEST_MAX_ATTEMPTS`),
    which dlt's `requests` client reads too; else `MAX_ATTEMPTS`."""
    import dlt

    value = dlt.config.get("runtime.request_max_attempts", int)
    return MAX_ATTEMPTS if value is None else max(1, int(value))


def _retry_after_seconds(response: Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else None


class ApiClient:
    """A JSON API client: retries, rate limit, budget, redaction, thread-safe.

    Each attempt, retries included, takes one unit of the budget, waits for the rate
    limit, holds one of `max_connections` in-flight slots and is counted by status: that
    is what an API's rate limit and a daily cap count too. The retries are dlt's own
    (`dlt.sources.helpers.requests.Client`'s policy: 429 and 5xx, connection errors and
    timeouts, exponential backoff or the answer's Retry-After, `max_attempts` in all: by
    default dlt's setting `[runtime] request_max_attempts`, `configured_max_attempts`),
    plus a 200 whose body the API marks as an error (`is_app_error`) or whose body is not
    of the shape the caller expects (`get_json(..., expect=...)`): a list page with
    `data: null` is retried like an error, and after the retries raises `UnexpectedAnswer`,
    never reaches the caller as an empty list.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        rate_limiter: RateLimiter | None = None,
        budget: RequestBudget | None = None,
        timeout: float = 30.0,
        max_attempts: int | None = None,
        max_connections: int = 16,
        is_app_error: Callable[[Any], bool] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secrets = tuple(s for s in secrets if s)
        self.rate_limiter = rate_limiter or RateLimiter(None)
        self.budget = budget or RequestBudget(None)
        self.status_counts: Counter[int] = Counter()
        self.clock = ClockSkew()  # what the answers' Date headers (and the rows) say of the API's clock
        # at most `max_connections` requests in flight, from the fan-outs' shared workers or
        # elsewhere; twice as many workers, so that a slot freed while its worker parses the
        # answer (or waits for the GIL) is taken at once by another (bench/README.md)
        self.in_flight = threading.BoundedSemaphore(max_connections)
        self.workers = WorkerPool(WORKERS_PER_SLOT * max_connections)
        self._lock = threading.Lock()
        self._is_app_error = is_app_error
        self._transport = Transport(self.base_url, headers=dict(headers or {}), timeout=timeout,
                                    max_connections=max_connections)
        attempts = configured_max_attempts() if max_attempts is None else max_attempts
        self._retrying = dlt_retry_policy(attempts, self._should_retry_body)
        install_log_redaction(self.secrets)

    @property
    def requests_made(self) -> int:
        return self.budget.used

    def record(self, response: Response) -> None:
        with self._lock:
            self.status_counts[response.status_code] += 1
        self.clock.saw_answer(response.headers.get("Date"))
        if response.status_code == 429:
            self.rate_limiter.penalize(_retry_after_seconds(response) or 1.0)

    def _attempt(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str] | None,
                 expect: ShapeCheck | None = None) -> Response:
        self.budget.take()
        with self.in_flight:
            self.rate_limiter.acquire()
            response = self._transport.send(method, url, body=body, headers=headers)
        self.record(response)
        response.__dict__["_expected_shape"] = expect  # the retry condition sees only the response
        return response

    def _should_retry_body(self, response: Response | None, exc: BaseException | None) -> bool:
        if response is None or response.status_code != 200:
            return False
        if self._is_app_error is None and response.__dict__.get("_expected_shape") is None:
            return False
        try:
            is_error = self._is_app_error is not None and bool(self._is_app_error(_json_body(response)))
            return is_error or _shape_problem(response) is not None
        except ValueError:
            return True  # a 200 that is not JSON is a proxy's error page

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, expect: ShapeCheck | None = None) -> Any:
        """GET a JSON body; with `expect`, a body it finds wrong is retried, then raises `UnexpectedAnswer`."""
        return self._request("GET", path, params=params, expect=expect)

    def post_json(self, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("POST", path, params=params, json=json)

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                 expect: ShapeCheck | None = None) -> Any:
        url = build_url(self.base_url, path, params)
        where = self._where(path)
        body = headers = None
        if json is not None:  # as requests sends `json=`: UTF-8, no NaN
            body = jsonlib.dumps(json, allow_nan=False).encode("utf-8")
            headers = {"Content-Type": "application/json"}
        try:
            response = self._retrying(self._attempt, method, url, body, headers, expect)
        except BudgetExhausted:
            raise
        except RequestException as exc:
            raise ApiUnreachable(
                f"{where}: no answer after retries ({type(exc).__name__}: {redact(str(exc), self.secrets)})",
                path=where,
            ) from None
        status = response.status_code
        if status == 401:
            raise AuthError(f"{where}: HTTP 401 - the API refused the credentials", status, where)
        if status == 403:
            raise Forbidden(f"{where}: HTTP 403 - the credentials may not read this", status, where)
        if status >= 400:
            raise ApiError(f"{where}: HTTP {status} after retries", status, where)
        if status in REDIRECTS:
            location = redact(response.headers.get("Location", "(no Location header)"), self.secrets)
            raise ApiError(f"{where}: HTTP {status} - the API moved to {location}; set the source's base_url to it "
                           "(redirects are not followed: they would resend the credentials)", status, where)
        try:
            body = _json_body(response)
        except ValueError:
            raise ApiError(f"{where}: the answer is not JSON", status, where) from None
        if self._is_app_error is not None and self._is_app_error(body):
            raise ApiError(
                f"{where}: the API reported an error: {redact(str(body)[:300], self.secrets)}", status, where
            )
        if (problem := _shape_problem(response)) is not None:
            raise UnexpectedAnswer(f"{where}: {problem} after retries", status, where)
        return body

    def _where(self, path: str) -> str:
        return redact(f"{self.base_url}/{path.lstrip('/')}", self.secrets)
