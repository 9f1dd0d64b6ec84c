"""The webhook receiver's inbox as `client_details` reads it: pushes since the last run
name clients to read first, and those whose history was not read land as messages."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from sources.kit.kinds import Shapes
from sources.kit.values import whole_number
from sources.salebot.memory import Memory
from sources.salebot.rows import webhook_message_row
from sources.salebot.webhook_store import WebhookStore


def open_store(path: str | None) -> WebhookStore | None:
    """The inbox at `path`, or None when there is none (no receiver runs)."""
    return WebhookStore(path) if path and Path(path).exists() else None


def push_client(push: Mapping[str, Any]) -> int | None:
    """The client a push is about (None: it names none we can use)."""
    client = push.get("payload", {}).get("client") if isinstance(push.get("payload"), dict) else None
    return whole_number(client.get("id")) if isinstance(client, dict) else None


def take_pushes(store: WebhookStore | None, through_seq: int, memory: Memory) -> list[dict[str, Any]]:
    """Pushes after `through_seq`; their clients are flagged to be read first. Those up to
    `through_seq` are marked consumed: dlt loads any pending package before it extracts
    again, so they are in the destination now."""
    if store is None:
        return []
    store.mark_consumed(through_seq)
    pushes = list(store.read_after(through_seq))
    for push in pushes:
        if (cid := push_client(push)) is not None:
            memory.flag(cid)
    return pushes


def late_push_rows(pushes: Sequence[Mapping[str, Any]], history_read: Collection[int],
                   shapes: Shapes) -> list[dict[str, Any]]:
    """Messages of the pushes whose client's history this run did not read. A push whose
    client's history was read is in that history (it was stored before the read began);
    the others land now and are replaced when polled."""
    return [
        row
        for p in pushes
        if push_client(p) not in history_read
        and (row := webhook_message_row(p.get("payload"), p.get("received_at", 0.0), shapes)) is not None
    ]
