"""Pacing shared by every thread of a run: the client-side rate limit and the request budget."""

from __future__ import annotations

import threading
import time

from sources.http.errors import BudgetExhausted


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
                    self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.per_second)
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

    @property
    def remaining(self) -> int | None:
        return None if self.max_requests is None else max(0, self.max_requests - self.used)

    def take(self) -> None:
        with self._lock:
            if self.max_requests is not None and self.used >= self.max_requests:
                self.exhausted = True
                raise BudgetExhausted(f"request budget of {self.max_requests} spent")
            self.used += 1
