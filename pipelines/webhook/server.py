"""Serving the app with uvicorn, configured for the open internet.

What each setting is for:
- ``backlog``: Salebot pushes a burst of messages at once (a broadcast answered by
  thousands of subscribers); connections the loop has not accepted yet wait in the
  kernel's listen queue. The kernel caps it at ``net.core.somaxconn``.
- ``max_connections``: above it a request is answered 503 at once instead of queueing
  work without bound (uvicorn's ``limit_concurrency``). The process's open-file limit is
  raised to fit it.
- ``header_timeout`` / ``body_timeout``: a client that stalls loses its connection, so
  idle or trickling connections cannot pile up to ``max_connections``.
- ``keep_alive`` / ``max_requests_per_connection``: an idle kept-alive connection is closed
  after this many seconds, any connection after this many requests.
- SIGTERM (and Ctrl-C): stop accepting, finish the requests in flight (each push still
  committed before its 200), drain the inbox writers, exit 0. In-flight requests get at
  most ``header_timeout + body_timeout`` more seconds, which their own deadlines bound anyway.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import signal
import socket
import threading
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from pipelines.webhook.app import AppSettings, create_app
from pipelines.webhook.config import Inbox
from pipelines.webhook.protocol import GuardedConfig

logger = logging.getLogger("chatfunnel.webhook")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8092
    backlog: int = 4096
    max_connections: int = 4000
    header_timeout: float = 10.0
    keep_alive: float = 5.0
    max_requests_per_connection: int = 1000
    forwarded_allow_ips: str = "127.0.0.1"


def build_server(app: Starlette, server: ServerSettings, body_timeout: float) -> uvicorn.Server:
    config = GuardedConfig(
        app,
        host=server.host,
        port=server.port,
        backlog=server.backlog,
        limit_concurrency=server.max_connections,
        timeout_keep_alive=server.keep_alive,
        timeout_graceful_shutdown=math.ceil(server.header_timeout + body_timeout) + 1,
        header_timeout=server.header_timeout,
        max_requests_per_connection=server.max_requests_per_connection,
        proxy_headers=True,
        forwarded_allow_ips=server.forwarded_allow_ips,
        lifespan="on",
        ws="none",
        access_log=False,  # its lines carry the full URL, secret included; app.AccessLog replaces it
        log_config=None,
        server_header=False,
    )
    return uvicorn.Server(config)


def bind(server: uvicorn.Server) -> socket.socket:
    """The listening socket (port 0 picks a free one); raises OSError when it cannot."""
    config = server.config
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every kept-alive answer waits 40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.listen(config.backlog)
    except OSError:
        sock.close()
        raise
    return sock


def raise_open_file_limit(max_connections: int) -> None:
    """Each connection is a file descriptor; 1024, a common default, is below a burst."""
    needed = max_connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            logger.warning(
                "the open-file limit (%d) is below --max-connections + 256; raise LimitNOFILE", hard,
                extra={"fields": {"event": "fd_limit"}},
            )


async def _serve(server: uvicorn.Server, sock: socket.socket, started: threading.Event) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    started.set()
    await task


def serve_in_foreground(server: uvicorn.Server, sock: socket.socket, on_started: Any = None) -> bool:
    """Serve until SIGTERM or Ctrl-C; True when it started and stopped cleanly.

    uvicorn catches the signal and shuts down gracefully, then raises it again with the
    handler it found; the handlers set here make that second delivery a no-op, so the
    process exits with its own code instead of dying by the signal.
    """
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    started = threading.Event()
    try:

        async def main() -> None:
            serving = asyncio.create_task(_serve(server, sock, started))
            while not started.is_set() and not serving.done():
                await asyncio.sleep(0.02)
            if server.started and on_started is not None:
                on_started()
            await serving

        asyncio.run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return bool(server.started)


def _ignore(signum: int, frame: FrameType | None) -> None:
    pass


class Receiver:
    """The receiver in a background thread of this process: ``start()`` returns its base URL."""

    def __init__(
        self,
        inboxes: list[Inbox],
        server: ServerSettings | None = None,
        app: AppSettings | None = None,
    ) -> None:
        self.inboxes = inboxes
        self.app_settings = app or AppSettings()
        self.app = create_app(inboxes, self.app_settings)
        self.server = build_server(self.app, server or ServerSettings(port=0), self.app_settings.body_timeout)
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, account: str | None = None) -> str:
        """The Webhook URL of ``account`` (None: the unnamed one), secret in the path."""
        inbox = next(i for i in self.inboxes if i.name == account)
        prefix = self.base_url + "/" + self.app_settings.path.strip("/")
        return f"{prefix}/{inbox.secret}" if account is None else f"{prefix}/{account}/{inbox.secret}"

    def start(self) -> str:
        sock = bind(self.server)
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=lambda: asyncio.run(_serve(self.server, sock, self._started)), name="webhook-receiver", daemon=True
        )
        self._thread.start()
        self._started.wait(30)
        if not self.server.started:
            raise RuntimeError("the webhook receiver did not start")
        return self.base_url

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(60)

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
