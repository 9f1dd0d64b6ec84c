"""uvicorn's h11 protocol with the two limits a public endpoint needs and uvicorn lacks.

- **Header deadline.** uvicorn waits forever for a request's headers (its keep-alive timer
  is reset by every byte), so a client trickling one byte a second holds a connection
  for ever. Here the headers of each request must be complete ``header_timeout`` seconds
  after the connection opened or the previous response went out, or the connection is
  closed. (This also ends a connection still trickling the unread body of a request that
  was answered without it.)
- **Requests per connection.** After ``max_requests_per_connection`` requests the
  response says ``Connection: close``, so one client cannot keep a connection for ever.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("chatfunnel.webhook")


class GuardedConfig(uvicorn.Config):
    """uvicorn's settings plus the two :class:`GuardedH11Protocol` reads."""

    def __init__(self, *args: Any, header_timeout: float, max_requests_per_connection: int, **kwargs: Any) -> None:
        kwargs.setdefault("http", GuardedH11Protocol)
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_requests_per_connection = max_requests_per_connection


class GuardedH11Protocol(H11Protocol):
    config: GuardedConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._requests = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers are complete
            self._disarm()
            self._requests += 1
            if self._requests >= self.config.max_requests_per_connection:
                self.cycle.keep_alive = False
                self.cycle.default_headers = [*self.cycle.default_headers, (b"connection", b"close")]

    def on_response_complete(self) -> None:
        self._arm()  # before: a pipelined request handled inside disarms it again
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.config.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        client = self.client[0] if self.client else None
        logger.info("dropped a connection whose request headers did not arrive in time",
                    extra={"fields": {"event": "header_timeout", "client": client}})
        self.transport.close()
