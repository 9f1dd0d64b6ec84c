"""Keep secrets that travel in URLs (Salebot's key) out of messages and log records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import ClassVar

MASK = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class _RedactingFilter(logging.Filter):
    secrets: ClassVar[set[str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_filter = _RedactingFilter()


def install_log_redaction(secrets: Iterable[str]) -> None:
    """urllib3 logs every URL at DEBUG; make sure a key in a path never reaches a handler."""
    _RedactingFilter.secrets.update(s for s in secrets if s)
    for name in ("urllib3.connectionpool", "urllib3", "dlt", "chatfunnel"):
        log = logging.getLogger(name)
        if _filter not in log.filters:
            log.addFilter(_filter)
