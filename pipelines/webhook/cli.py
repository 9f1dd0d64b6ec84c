"""`chatfunnel webhook serve`: its options, and serving in the foreground."""

from __future__ import annotations

import argparse
import sqlite3
import sys

from pipelines.errors import ChatfunnelError
from pipelines.webhook.app import DEFAULT_PATH, AppSettings, create_app
from pipelines.webhook.config import SECRET_ENV, configured_inboxes
from pipelines.webhook.logs import configure_logging
from pipelines.webhook.server import ServerSettings, bind, build_server, raise_open_file_limit, serve_in_foreground
from sources.salebot.webhook_store import WebhookStore

_DEFAULTS = ServerSettings()
_APP_DEFAULTS = AppSettings()
SECRET_FLAG_WARNING = (
    "chatfunnel webhook: warning: a secret on the command line can be read by every user of this "
    f"machine (ps, /proc/<pid>/cmdline). Set {SECRET_ENV} or `webhook_secret` in .dlt/secrets.toml instead."
)


EPILOG = """examples:
  chatfunnel webhook serve              secrets from .dlt/secrets.toml or the environment
  chatfunnel webhook serve --port 8093  the TLS proxy in front forwards to this port

URLs: <path>/<secret> or <path>?token=<secret> for the unnamed account, <path>/<account>/<secret>
for an account under [sources.salebot.accounts.<account>]. See docs/webhook.md.

exit codes:
  0    stopped by SIGTERM or Ctrl-C after answering the pushes in flight
  1    the receiver did not start (its log says why)
  2    bad configuration (no secret, a short one, one in config.toml, a shared one), or the
       port is taken"""


def add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `chatfunnel webhook serve` (the caller adds the sub-command)."""
    parser.description = parser.description or (
        "Receive Salebot's message pushes into each account's durable inbox: every 200 is on disk first."
    )
    parser.epilog = parser.epilog or EPILOG
    parser.add_argument("--host", default=_DEFAULTS.host, help="interface (default 127.0.0.1: behind a proxy)")
    parser.add_argument("--port", type=int, default=_DEFAULTS.port, help="port (default 8092; 0 picks a free one)")
    parser.add_argument("--path", default=DEFAULT_PATH, help=f"URL path (default {DEFAULT_PATH})")
    parser.add_argument("--store", default=None,
                        help="the unnamed account's inbox (default: sources.salebot.webhook_store)")
    group = parser.add_mutually_exclusive_group()
    for flag in ("--path-secret", "--token"):
        group.add_argument(flag, dest="secret_flag", default=None, metavar="SECRET",
                           help=f"the unnamed account's secret; visible to other users in ps: use {SECRET_ENV}")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--backlog", type=int, default=_DEFAULTS.backlog,
                        help=f"listen queue for bursts (default {_DEFAULTS.backlog}; capped by net.core.somaxconn)")
    limits.add_argument("--max-connections", type=int, default=_DEFAULTS.max_connections,
                        help=f"answer 503 above this many connections (default {_DEFAULTS.max_connections})")
    limits.add_argument("--header-timeout", type=float, default=_DEFAULTS.header_timeout,
                        help=f"seconds for a request's headers to arrive (default {_DEFAULTS.header_timeout:g})")
    limits.add_argument("--body-timeout", type=float, default=_APP_DEFAULTS.body_timeout,
                        help=f"seconds for a request's body to arrive (default {_APP_DEFAULTS.body_timeout:g})")
    limits.add_argument("--keep-alive", type=float, default=_DEFAULTS.keep_alive,
                        help=f"seconds an idle connection stays open (default {_DEFAULTS.keep_alive:g})")
    limits.add_argument("--max-requests-per-connection", type=int, default=_DEFAULTS.max_requests_per_connection,
                        help=f"close a connection after this many requests "
                             f"(default {_DEFAULTS.max_requests_per_connection})")
    limits.add_argument("--prune-interval", type=float, default=_APP_DEFAULTS.prune_interval,
                        help="seconds between prunes of loaded pushes past their retention (default 3600; 0: never)")
    limits.add_argument("--forwarded-allow-ips", default=_DEFAULTS.forwarded_allow_ips,
                        help="proxies whose X-Forwarded-For names the client (default 127.0.0.1)")


def serve_webhook_from_args(args: argparse.Namespace) -> int:
    """Serve in the foreground until SIGTERM or Ctrl-C; the exit code."""
    if args.secret_flag:
        print(SECRET_FLAG_WARNING, file=sys.stderr, flush=True)
    try:
        inboxes = configured_inboxes(secret=args.secret_flag, store=args.store)
    except ChatfunnelError as exc:
        print(f"chatfunnel webhook: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    server_settings = ServerSettings(
        host=args.host,
        port=args.port,
        backlog=args.backlog,
        max_connections=args.max_connections,
        header_timeout=args.header_timeout,
        keep_alive=args.keep_alive,
        max_requests_per_connection=args.max_requests_per_connection,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    for inbox in inboxes:  # a clear message now rather than a failed start later
        try:
            WebhookStore(inbox.store_path).close()
        except (OSError, sqlite3.Error) as exc:
            print(f"chatfunnel webhook: cannot open the inbox of {inbox.label} at {inbox.store_path} "
                  f"({type(exc).__name__}: {exc}).", file=sys.stderr, flush=True)
            return 2
    app_settings = AppSettings(path=args.path, body_timeout=args.body_timeout, prune_interval=args.prune_interval)
    configure_logging(i.secret for i in inboxes)
    raise_open_file_limit(server_settings.max_connections)
    app = create_app(inboxes, app_settings)
    server = build_server(app, server_settings, app_settings.body_timeout)
    try:
        sock = bind(server)
    except OSError as exc:
        print(f"chatfunnel webhook: cannot listen on {args.host}:{args.port} ({exc.strerror}).", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]

    def banner() -> None:
        base = f"http://{args.host}:{port}/{args.path.strip('/')}"
        for inbox in inboxes:
            where = f"{base}/<secret>" if inbox.name is None else f"{base}/{inbox.name}/<secret>"
            print(f"Salebot webhook receiver for {inbox.label} on {where}; inbox {inbox.store_path}", flush=True)
        print("Set each project's Webhook URL in Salebot to its address, with its secret.", flush=True)

    if not serve_in_foreground(server, sock, on_started=banner):
        print("chatfunnel webhook: the receiver did not start (see the log above).", file=sys.stderr)
        return 1
    stored = sum(w.stored for w in app.state.writers.values())
    print(f"stopped: {stored} pushes stored", flush=True)
    return 0
