"""Inbox housekeeping while the receiver runs: loaded pushes past their retention go."""

from __future__ import annotations

import asyncio
import logging

from pipelines.webhook.config import Inbox
from sources.salebot.webhook_store import WebhookStore

logger = logging.getLogger("chatfunnel.webhook")


async def prune_forever(inboxes: list[Inbox], interval: float) -> None:
    """Prune every inbox now and then every ``interval`` seconds, off the event loop."""
    if interval <= 0:
        return
    while True:
        for inbox in inboxes:
            try:
                deleted = await asyncio.to_thread(prune, inbox)
            except Exception as exc:  # noqa: BLE001 - housekeeping must never stop the receiver
                logger.warning("could not prune the inbox of %s: %s", inbox.label, type(exc).__name__)
                continue
            if deleted:
                logger.info("pruned loaded pushes older than %g days", inbox.retention_days,
                            extra={"fields": {"event": "prune", "account": inbox.label, "deleted": deleted}})
        await asyncio.sleep(interval)


def prune(inbox: Inbox) -> int:
    """Delete ``inbox``'s loaded pushes received more than its retention ago; how many."""
    store = WebhookStore(inbox.store_path)
    try:
        return store.prune(inbox.retention_days)
    finally:
        store.close()
