"""Memory kept by earlier versions, carried into the ledger once."""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
from typing import Any

from sources.kit.values import whole_number
from sources.salebot.memory import ClientMemory, Memory


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def migrate_old_state(memory: Memory, resources: MutableMapping[str, Any]) -> None:
    """Earlier versions kept per-client memory in dlt state (`resources`: the source state's
    resources `messages` and `orders`): carry it into the ledger once and drop it, so the
    state shrinks and no client is read again only because the memory moved."""
    old = resources.get("messages", {}).get("clients")
    if isinstance(old, dict) and all(c.verified_run is None for c in memory.clients.values()):
        for key, value in old.items():
            cid = whole_number(key)
            if cid is None or not isinstance(value, dict):
                continue
            seen = value.get("seen")
            seen_at = int(seen) if isinstance(seen, (int, float)) else None
            memory.put_client(cid, ClientMemory(seen=seen_at, through=_day(value.get("through"))), verified=True)
    for name in ("messages", "orders"):
        if isinstance(resources.get(name), dict) and "clients" in resources[name]:
            resources.pop(name)
