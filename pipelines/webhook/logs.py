"""The receiver's logs: one JSON object per line, and never a secret.

Access lines come from :mod:`pipelines.webhook.app` (``chatfunnel.webhook.access``) and
name the route and the account, never the path or the query (they carry the secret).
uvicorn's own lines and Python's asyncio warnings go through the same formatter, which
also masks every configured secret wherever it appears, as a second line of defence.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

ACCESS_LOGGER = "chatfunnel.webhook.access"
MASK = "***"
_LOGGERS = ("chatfunnel.webhook", "uvicorn", "uvicorn.error", "asyncio")


class JsonLines(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}``; fields come from ``extra={"fields": {...}}``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = type(record.exc_info[1]).__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return self.mask(json.dumps(entry, ensure_ascii=False, default=str))

    def mask(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, MASK)
        return line


def configure_logging(secrets: Iterable[str], stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send the receiver's loggers (and uvicorn's) to ``stream`` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines(secrets))
    for name in (*_LOGGERS, ACCESS_LOGGER):
        log = logging.getLogger(name)
        log.handlers = [handler]
        log.setLevel(level if name != "asyncio" else logging.WARNING)
        log.propagate = False
    logging.getLogger("uvicorn.access").handlers = []  # its lines carry the full URL
    logging.getLogger("uvicorn.access").propagate = False
