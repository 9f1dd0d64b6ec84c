"""The receiver as a Starlette app: ``POST <base>/...`` stores a push, ``GET /healthz``.

Salebot POSTs every message to the project's Webhook URL once and never resends, so a
200 is a promise: the push is committed (fsynced) to the account's SQLite inbox before it
goes out. The order of checks keeps strangers cheap: the secret is checked before any of
the body is read (403), the declared length before reading it (413), and the body must
arrive within ``body_timeout`` (408). Every answer that leaves part of a body unread
closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipelines.webhook.config import Inbox
from pipelines.webhook.housekeeping import prune_forever
from pipelines.webhook.logs import ACCESS_LOGGER
from pipelines.webhook.routing import Router
from pipelines.webhook.validation import MAX_BODY_BYTES, BadPush, parse_push
from pipelines.webhook.writer import InboxWriter, NotStored

logger = logging.getLogger("chatfunnel.webhook")
access_logger = logging.getLogger(ACCESS_LOGGER)

DEFAULT_PATH = "/salebot/webhook"
CLOSE = {"connection": "close"}
_OUTCOMES = {200: "ok", 404: "not_found", 405: "method_not_allowed", 503: "unavailable"}
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # all reach the secret check


@dataclass(frozen=True)
class AppSettings:
    path: str = DEFAULT_PATH
    body_timeout: float = 10.0
    prune_interval: float = 3600.0  # seconds between inbox prunes; 0 disables them


class _BodyTooLarge(Exception):
    pass


def create_app(inboxes: list[Inbox], settings: AppSettings | None = None) -> Starlette:
    """The ASGI app for ``inboxes``; their writers start and stop with its lifespan."""
    settings = settings or AppSettings()
    router = Router.for_inboxes(settings.path, inboxes)
    writers: dict[str | None, InboxWriter] = {i.name: InboxWriter(i.store_path) for i in inboxes}
    receive_push = _push_endpoint(router, writers, settings.body_timeout)

    async def healthz(request: Request) -> Response:
        _note(request)["route"] = "healthz"
        if all(w.alive for w in writers.values()):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    base = router.base.decode("ascii")
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route(base, receive_push, methods=ANY_METHOD),
            Route(base + "/{rest:path}", receive_push, methods=ANY_METHOD),
        ],
        middleware=[Middleware(AccessLog)],
        lifespan=_lifespan(inboxes, writers, settings.prune_interval),
    )
    app.state.writers = writers
    return app


def _push_endpoint(
    router: Router, writers: Mapping[str | None, InboxWriter], body_timeout: float
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint that stores a push, its checks ordered to keep strangers cheap (see above)."""

    async def receive_push(request: Request) -> Response:
        note = _note(request)
        note["route"] = "push"
        inbox = router.authorise(request.scope["raw_path"], request.scope["query_string"])
        if inbox is None:
            return _answer(note, 403, "forbidden", "forbidden", close=True)
        note["account"] = inbox.label
        if request.method != "POST":
            return _answer(note, 405, "method_not_allowed", "use POST", close=True, headers={"allow": "POST"})
        if _declared_too_large(request.headers.get("content-length")):
            return _answer(note, 413, "too_large", "body too large", close=True)
        try:
            async with asyncio.timeout(body_timeout):
                raw = await _read_body(request)
        except _BodyTooLarge:
            return _answer(note, 413, "too_large", "body too large", close=True)
        except TimeoutError:
            return _answer(note, 408, "body_timeout", "body not received in time", close=True)
        except ClientDisconnect:
            note["outcome"] = "client_disconnected"
            return Response(status_code=499)  # nobody reads it; the access line records it
        note["bytes"] = len(raw)
        try:
            push = parse_push(raw)
        except BadPush as exc:
            return _answer(note, 400, "bad_request", str(exc))
        try:
            seq = await writers[inbox.name].store(push.record(time.time()))
        except NotStored:
            return _answer(note, 503, "not_stored", "not stored, try again")
        note["seq"] = seq
        return _answer(note, 200, "stored", None, seq=seq)

    return receive_push


def _lifespan(
    inboxes: list[Inbox], writers: Mapping[str | None, InboxWriter], prune_interval: float
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """Start the writers and the inbox pruning with the app; on shutdown stop the pruning,
    then close each writer (it commits what is queued first) off the event loop."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for writer in writers.values():
            writer.start()
        pruning = asyncio.create_task(prune_forever(inboxes, prune_interval))
        try:
            yield
        finally:
            pruning.cancel()
            await asyncio.gather(pruning, return_exceptions=True)
            for writer in writers.values():
                await asyncio.to_thread(writer.close)

    return lifespan


def _declared_too_large(declared: str | None) -> bool:
    digits = (declared or "").strip()
    return digits.isdigit() and (len(digits) > 9 or int(digits) > MAX_BODY_BYTES)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:  # chunked, or more than Content-Length said
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _note(request: Request) -> dict[str, Any]:
    """What the access line will say about this request (shared with :class:`AccessLog`)."""
    note: dict[str, Any] = request.scope["state"].setdefault("webhook", {})
    return note


def _answer(
    note: dict[str, Any],
    status: int,
    outcome: str,
    message: str | None,
    *,
    close: bool = False,
    headers: Mapping[str, str] | None = None,
    seq: int | None = None,
) -> JSONResponse:
    note["outcome"] = outcome
    if message is not None and status == 400:
        note["reason"] = message
    body: dict[str, Any] = {"status": "success" if status == 200 else "error"}
    if message is not None:
        body["message"] = message
    if seq is not None:
        body["seq"] = seq
    all_headers = {**(CLOSE if close else {}), **(headers or {})}
    return JSONResponse(body, status_code=status, headers=all_headers)


class AccessLog:
    """One JSON line per request: route, account, status, outcome, size, time. Never the
    path or the query (they carry the secret)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        scope.setdefault("state", {})
        try:
            await self.app(scope, receive, send_and_see)
        finally:
            note: dict[str, Any] = scope["state"].get("webhook", {})
            client = scope.get("client")
            outcome = note.get("outcome") or _OUTCOMES.get(status or 0, "error")
            fields = {
                "event": "request",
                "method": scope["method"],
                "route": note.get("route", "other"),
                "status": 499 if outcome == "client_disconnected" else status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "client": client[0] if client else None,
                **{k: v for k, v in note.items() if k != "route"},
                "outcome": outcome,
            }
            access_logger.info("request", extra={"fields": fields})
