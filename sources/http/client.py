"""The JSON API client both sources use: dlt's retrying client, metered per attempt."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from dlt.sources.helpers.requests import Client
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.exceptions import RequestException
from requests.utils import get_environ_proxies

from sources.http.errors import ApiError, ApiUnreachable, AuthError, BudgetExhausted, Forbidden
from sources.http.fanout import WorkerPool
from sources.http.pacing import RateLimiter, RequestBudget
from sources.http.redaction import install_log_redaction, redact


class MeteredAdapter(HTTPAdapter):
    """Applies the budget and the rate limit to every attempt, and records statuses.

    It sits below dlt's retry wrapper, so a retried request is counted (and paced) once
    per attempt: that is what an API's rate limit and a daily cap count too.
    """

    def __init__(self, client: ApiClient, pool_maxsize: int) -> None:
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize)
        self._client = client
        self._pool_keys: dict[tuple[Any, ...], Any] = {}

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str, cert: Any = None
    ) -> Any:
        """requests re-derives this per request with filesystem checks of the CA bundle;
        it only depends on the host and TLS settings, so compute it once per host."""
        parts = urlsplit(request.url or "")
        key = (parts.scheme, parts.netloc, verify, cert)
        if key not in self._pool_keys:
            self._pool_keys[key] = super().build_connection_pool_key_attributes(request, verify, cert)
        return self._pool_keys[key]

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
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
            session_attrs={
                "headers": dict(headers or {}),
                # requests re-reads proxy variables from the environment on every request;
                # read them once for this host instead (same behaviour, less CPU)
                "trust_env": False,
                "proxies": get_environ_proxies(self.base_url),
            },
        )
        # dlt's Client mounts `_adapter` on every per-thread session it makes; there is no
        # public hook for it. tests/test_http_client.py fails if dlt stops doing so.
        self._client._adapter = MeteredAdapter(self, pool_maxsize=max_connections * 4)
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
        where = self._where(path)
        try:
            response = self._client.session.request(method, url, **kwargs)
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
        try:
            body = _json_body(response)
        except ValueError:
            raise ApiError(f"{where}: the answer is not JSON", status, where) from None
        if self._is_app_error is not None and self._is_app_error(body):
            raise ApiError(
                f"{where}: the API reported an error: {redact(str(body)[:300], self.secrets)}", status, where
            )
        return body

    def _where(self, path: str) -> str:
        return redact(f"{self.base_url}/{path.lstrip('/')}", self.secrets)
