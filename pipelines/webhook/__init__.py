"""`chatfunnel webhook serve`: the receiver for Salebot's message pushes.

Salebot POSTs every incoming and outgoing message to the project's Webhook URL, once
("if the request returned an error, there will be no resend"). The receiver's one job is
not to lose a push it answered 200 to, while facing the internet: see docs/webhook.md.

- :mod:`.app` the Starlette app (authorise, read, validate, store, answer, log);
- :mod:`.server` uvicorn configured for bursts and hostile clients, SIGTERM, a test thread;
- :mod:`.config` which inboxes, with which secrets (a dlt configspec);
- :mod:`.routing`, :mod:`.validation`, :mod:`.writer`, :mod:`.protocol`, :mod:`.logs`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.webhook.app import AppSettings, create_app
    from pipelines.webhook.cli import add_webhook_arguments, serve_webhook_from_args
    from pipelines.webhook.config import Inbox, WebhookInboxConfiguration, configured_inboxes, retention_days
    from pipelines.webhook.server import Receiver, ServerSettings
    from pipelines.webhook.validation import BadPush, parse_push, validate_push

# each name's module, imported when the name is first asked for: a `run` checks the webhook's
# settings (`.config`) without importing Starlette and uvicorn (~0.05 CPU s)
_HOME = {
    "AppSettings": "app", "create_app": "app",
    "add_webhook_arguments": "cli", "serve_webhook_from_args": "cli",
    "Inbox": "config", "WebhookInboxConfiguration": "config", "configured_inboxes": "config",
    "retention_days": "config",
    "Receiver": "server", "ServerSettings": "server",
    "BadPush": "validation", "parse_push": "validation", "validate_push": "validation",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AppSettings",
    "BadPush",
    "Inbox",
    "Receiver",
    "ServerSettings",
    "WebhookInboxConfiguration",
    "add_webhook_arguments",
    "configured_inboxes",
    "create_app",
    "parse_push",
    "retention_days",
    "serve_webhook_from_args",
    "validate_push",
]
