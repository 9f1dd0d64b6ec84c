"""Newest history first for the windowed resources (`people`, `communication_channels`) and
the orders: the kit's backfill state (`sources.kit.frontier`) read the Leeloo way.

A resource whose state has a cursor but no `history` was loaded forward from the start of
history by an older version (or with `backfill_newest_first` off): its history is complete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sources.bookkeeping import Coverage
from sources.kit import frontier as kit
from sources.kit.frontier import KEY, first_done, last_cost, note_loaded, step_done

from .times import to_utc

__all__ = ["KEY", "complete", "coverage", "first_done", "frontier", "last_cost", "note_loaded", "pending", "step_done",
           "step_window"]


def _forward(state: dict[str, Any]) -> bool:
    return bool(state.get("cursor"))


def frontier(state: dict[str, Any], history_since: datetime) -> datetime | None:
    """The oldest moment from which the resource's history is complete; None before its first window."""
    return kit.frontier(state, history_since, loaded_forward=_forward(state))


def pending(state: dict[str, Any], history_since: datetime) -> bool:
    """Older history is still to be read (a full listing must wait: it would read it all at once)."""
    return kit.pending(state, history_since, loaded_forward=_forward(state))


def step_window(state: dict[str, Any], history_since: datetime, now: datetime,
                target_requests: int) -> tuple[datetime, datetime] | None:
    """The window a history step reads: older than the frontier, sized by the last one's cost."""
    return kit.step_window(state, history_since, now, target_requests, loaded_forward=_forward(state))


def complete(state: dict[str, Any], history_since: datetime) -> None:
    """Nothing older is left to read: history is complete from its start."""
    state[KEY] = {**(state.get(KEY) or {}), "frontier": history_since.isoformat()}


def coverage(state: dict[str, Any], history_since: datetime, now: datetime,
             requests_per_minute: float | None) -> Coverage:
    """What the resource holds complete, and when the rest will be in."""
    until = to_utc(state.get("complete_until") or state.get("cursor"))
    return kit.coverage(state, history_since, now, requests_per_minute, loaded_forward=_forward(state),
                        complete_until=until)
