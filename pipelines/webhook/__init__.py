"""`chatfunnel webhook serve`: the receiver for Salebot's message pushes.

Salebot POSTs every incoming and outgoing message to the project's Webhook URL, once
("if the request returned an error, there will be no resend"). The receiver's one job is
not to lose a push it answered 200 to, while facing the internet: see docs/webhook.md.

- :mod:`.app` the Starlette app (authorise, read, validate, store, answer, log);
- :mod:`.server` uvicorn configured for bursts and hostile clients, SIGTERM, a test thread;
- :mod:`.config` which inboxes, with which secrets (a dlt configspec);
- :mod:`.routing`, :mod:`.validation`, :mod:`.writer`, :mod:`.protocol`, :mod:`.logs`.
"""

from pipelines.webhook.app import AppSettings, create_app
from pipelines.webhook.cli import add_webhook_arguments, serve_webhook_from_args
from pipelines.webhook.config import Inbox, WebhookInboxConfiguration, configured_inboxes, retention_days
from pipelines.webhook.server import Receiver, ServerSettings
from pipelines.webhook.validation import BadPush, parse_push, validate_push

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
