"""Newest history first for the windowed resources (`people`, `communication_channels`) and
the orders: what their dlt resource state says of the backfill, and the decisions on it.

The state (`history` in the resource's state) is committed with the load that read the
window, so a run killed anywhere continues from the last committed frontier. A resource
whose state has a cursor but no `history` was loaded forward from the start of history by
an older version (or with `backfill_newest_first` off): its history is complete.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sources.bookkeeping import Coverage
from sources.kit.backfill import DAY, FIRST_WINDOW, WindowCost, estimated_completion, next_window

from .times import to_utc

KEY = "history"


def frontier(state: dict[str, Any], history_since: datetime) -> datetime | None:
    """The oldest moment from which the resource's history is complete; None before its first window."""
    found = state.get(KEY)
    if found is None:
        return history_since if state.get("cursor") else None
    return to_utc(found.get("frontier"))


def pending(state: dict[str, Any], history_since: datetime) -> bool:
    """Older history is still to be read (a full listing must wait: it would read it all at once)."""
    since = frontier(state, history_since)
    return since is not None and since > history_since


def last_cost(state: dict[str, Any]) -> WindowCost | None:
    found = state.get(KEY) or {}
    if found.get("last_requests") is None:
        return None
    return WindowCost(int(found["last_requests"]), timedelta(days=float(found.get("last_days") or 0)))


def step_window(state: dict[str, Any], history_since: datetime, now: datetime,
                target_requests: int) -> tuple[datetime, datetime] | None:
    """The window a history step reads: older than the frontier, sized by the last one's cost."""
    return next_window(now, history_since, frontier(state, history_since), last_cost(state), target_requests)


def first_done(state: dict[str, Any], start: datetime) -> None:
    """The first window (the last day) is in: history is complete from its start."""
    state[KEY] = {"frontier": start.isoformat(), "requests": 0, "days": 0.0, "last_requests": None,
                  "last_days": FIRST_WINDOW / DAY}


def step_done(state: dict[str, Any], start: datetime, requests: int) -> None:
    """A history step's window is in: the frontier moves to its start; its cost sizes the next."""
    found = dict(state.get(KEY) or {})
    old = to_utc(found.get("frontier"))
    days = (old - start) / DAY if old is not None else 0.0
    found.update(frontier=start.isoformat(), requests=int(found.get("requests") or 0) + requests,
                 days=float(found.get("days") or 0) + days, last_requests=requests, last_days=days)
    state[KEY] = found


def complete(state: dict[str, Any], history_since: datetime) -> None:
    """Nothing older is left to read: history is complete from its start."""
    state[KEY] = {**(state.get(KEY) or {}), "frontier": history_since.isoformat()}


def coverage(state: dict[str, Any], history_since: datetime, now: datetime,
             requests_per_minute: float | None) -> Coverage:
    """What the resource holds complete, and when the rest will be in."""
    since = frontier(state, history_since)
    found = state.get(KEY) or {}
    estimate = estimated_completion(now, history_since, since, requests=int(found.get("requests") or 0),
                                    covered=timedelta(days=float(found.get("days") or 0)),
                                    requests_per_minute=requests_per_minute)
    return Coverage(complete_since=since, complete_until=to_utc(state.get("complete_until") or state.get("cursor")),
                    history_since=history_since, estimated_complete_at=estimate)
