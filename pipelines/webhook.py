"""`chatfunnel webhook serve`: the receiver for Salebot's message pushes.

Salebot POSTs every incoming and outgoing message, as JSON, to the Webhook URL set in
the project settings, once: "if the request returned an error, there will be no resend".
So the receiver's one job is not to lose a push it answered 200 to:

- each push is committed to the SQLite inbox (:class:`~sources.salebot.webhook_store.WebhookStore`,
  WAL + ``synchronous=FULL``: fsynced) BEFORE the 200 goes out; a crash before the commit
  answers nothing (Salebot logs an error) rather than a 200 for data we do not have;
- Salebot only lets you configure a URL (no custom headers), so the shared secret travels
  in the URL: as the last path segment (``/salebot/webhook/<secret>``) or as
  ``?token=<secret>``. Anything else gets 403 before the body is even read; the secret is
  compared in constant time and never logged;
- a body that is not the documented shape (JSON object with ``id``, ``client.id``,
  ``is_input``) gets 400, a body over 1 MiB 413.

The next `chatfunnel run salebot` loads the inbox into ``messages`` (see sources/salebot).
"""

from __future__ import annotations

import argparse
import hmac
import http.server
import json
import logging
import os
import signal
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sources.salebot.settings import DEFAULT_WEBHOOK_STORE
from sources.salebot.webhook_store import WebhookStore

logger = logging.getLogger("chatfunnel.webhook")

DEFAULT_PATH = "/salebot/webhook"
MAX_BODY = 1 << 20
SECRET_ENV = "SOURCES__SALEBOT__WEBHOOK_SECRET"
STORE_ENV = "SOURCES__SALEBOT__WEBHOOK_STORE"


def validate_push(body: Any) -> str | None:
    """None when ``body`` has the documented push shape, else what is wrong."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not _int_like(body.get("id")):
        return "'id' (the message id) must be an integer"
    client = body.get("client")
    if not isinstance(client, dict) or not _int_like(client.get("id")):
        return "'client.id' must be an integer"
    if body.get("is_input") not in (0, 1, True, False, "0", "1"):
        return "'is_input' must be 0 or 1"
    return None


def _int_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().isdigit()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chatfunnel-webhook/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the path holds the secret
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        receiver: WebhookReceiver = self.server.receiver  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        given = ""
        if path == receiver.path:
            given = (parse_qs(parts.query).get("token") or [""])[0]
        elif path.startswith(receiver.path + "/"):
            given = path[len(receiver.path) + 1 :]
        return bool(given) and hmac.compare_digest(given.encode(), receiver.secret.encode())

    def do_GET(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/healthz":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(405 if self._authorised() else 403, {"status": "error"})

    def do_POST(self) -> None:  # noqa: N802
        receiver: WebhookReceiver = self.server.receiver  # type: ignore[attr-defined]
        if not self._authorised():
            self.close_connection = True
            self._answer(403, {"status": "error", "message": "forbidden"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._answer(413, {"status": "error", "message": "body too large"})
            return
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._answer(400, {"status": "error", "message": "body must be JSON"})
            return
        problem = validate_push(body)
        if problem:
            receiver.rejected += 1
            self._answer(400, {"status": "error", "message": problem})
            return
        try:
            seq = receiver.store.append(body)
        except Exception:  # noqa: BLE001 - not stored: say so, never 200
            logger.exception("could not store a Salebot push")
            self._answer(503, {"status": "error", "message": "not stored"})
            return
        receiver.accepted += 1
        self._answer(200, {"status": "success", "seq": seq})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class WebhookReceiver:
    """The receiver as an object: ``start()`` returns its base URL, ``stop()`` ends it."""

    def __init__(
        self,
        store_path: str | os.PathLike[str],
        secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = DEFAULT_PATH,
    ) -> None:
        if not secret:
            raise ValueError(
                f"the webhook receiver needs a shared secret (--path-secret/--token or {SECRET_ENV})"
            )
        self.store = WebhookStore(store_path)
        self.secret = secret
        self.host, self.port = host, port
        self.path = "/" + path.strip("/")
        self.accepted = 0
        self.rejected = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_with_path_secret(self) -> str:
        return f"{self.base_url}{self.path}/{self.secret}"

    def url_with_token(self) -> str:
        return f"{self.base_url}{self.path}?token={self.secret}"

    def start(self) -> str:
        httpd = _Server((self.host, self.port), _Handler)
        httpd.receiver = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.store.close()

    def __enter__(self) -> "WebhookReceiver":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `chatfunnel webhook serve` (the caller adds the sub-command)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1; use 0.0.0.0 behind a proxy)")
    parser.add_argument("--port", type=int, default=8092, help="port (default 8092)")
    parser.add_argument("--path", default=DEFAULT_PATH, help=f"URL path (default {DEFAULT_PATH})")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--path-secret", help=f"accept pushes at <path>/<secret> (default: ${SECRET_ENV})")
    group.add_argument("--token", help="accept pushes at <path>?token=<secret> (either form works for the same secret)")
    parser.add_argument(
        "--store",
        default=None,
        help=f"SQLite inbox the next `chatfunnel run salebot` loads (default ${STORE_ENV} or {DEFAULT_WEBHOOK_STORE})",
    )


def _configured(key: str, secret: bool = False) -> str | None:
    """`sources.salebot.<key>` from the environment or .dlt/*.toml (dlt's own lookup)."""
    try:
        import dlt

        value = (dlt.secrets if secret else dlt.config).get(f"sources.salebot.{key}", str)
    except Exception:  # noqa: BLE001 - absent or unreadable config means "not set"
        return None
    return str(value) if value else None


def serve_webhook_from_args(args: argparse.Namespace) -> int:
    """Serve in the foreground until Ctrl-C / SIGTERM."""
    secret = args.path_secret or args.token or _configured("webhook_secret", secret=True) or ""
    if not secret:
        print(
            f"chatfunnel webhook: a shared secret is required so that only Salebot can push: pass "
            f"--path-secret SECRET (or --token SECRET) or set {SECRET_ENV}.",
            flush=True,
        )
        return 2
    store = args.store or _configured("webhook_store") or DEFAULT_WEBHOOK_STORE
    receiver = WebhookReceiver(store, secret, args.host, args.port, args.path)
    try:
        receiver.start()
    except OSError as exc:
        print(f"chatfunnel webhook: cannot listen on {args.host}:{args.port} ({exc.strerror}).", flush=True)
        return 2
    shown = f"{receiver.base_url}{receiver.path}/<secret>" if not args.token else f"{receiver.base_url}{receiver.path}?token=<secret>"
    print(f"Salebot webhook receiver on {shown}; storing pushes in {store}", flush=True)
    print("Set the project's Webhook URL in Salebot to that address (with the secret).", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        print(f"stopped: {receiver.accepted} pushes stored, {receiver.rejected} rejected", flush=True)
    return 0

