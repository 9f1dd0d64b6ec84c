"""Newest history first: what a resource's dlt state says of its backfill, for any source.

The state (`history` in the resource's state) is committed with the load that read the
window, so a run killed anywhere continues from the last committed frontier. A resource
whose state has no `history` but was loaded forward from the start of history (an older
version, a small account, `backfill_newest_first` off) has a complete history: the caller
says so with `loaded_forward`, each source knowing its own mark of a forward load.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sources.bookkeeping import Coverage

from .backfill import DAY, FIRST_WINDOW, WindowCost, estimated_by_count, estimated_completion, next_window
from .values import to_utc

KEY = "history"


def frontier(state: dict[str, Any], history_since: datetime, *, loaded_forward: bool) -> datetime | None:
    """The oldest moment from which the resource's history is complete; None before its first window."""
    found = state.get(KEY)
    if found is None:
        return history_since if loaded_forward else None
    return to_utc(found.get("frontier"))


def pending(state: dict[str, Any], history_since: datetime, *, loaded_forward: bool) -> bool:
    """Older history is still to be read."""
    since = frontier(state, history_since, loaded_forward=loaded_forward)
    return since is not None and since > history_since


def last_cost(state: dict[str, Any]) -> WindowCost | None:
    found = state.get(KEY) or {}
    if found.get("last_requests") is None:
        return None
    return WindowCost(int(found["last_requests"]), timedelta(days=float(found.get("last_days") or 0)))


def step_window(state: dict[str, Any], history_since: datetime, now: datetime, target_requests: int, *,
                loaded_forward: bool) -> tuple[datetime, datetime] | None:
    """The window a history step reads: older than the frontier, sized by the last one's cost."""
    since = frontier(state, history_since, loaded_forward=loaded_forward)
    return next_window(now, history_since, since, last_cost(state), target_requests)


def first_done(state: dict[str, Any], start: datetime, *, entities: int | None = None) -> None:
    """The first window (the last day) is in: history is complete from its start. `entities`:
    what the count probe said the whole history lists (the entities loaded: `note_loaded`)."""
    state[KEY] = {"frontier": start.isoformat(), "requests": 0, "days": 0.0, "last_requests": None,
                  "last_days": FIRST_WINDOW / DAY, "entities": entities, "loaded": 0, "read": 0}


def step_done(state: dict[str, Any], start: datetime, requests: int, read: int = 0) -> None:
    """A history step's window is in: the frontier moves to its start; its cost sizes the next.
    `read`: the entities it added to those known (what prices the entities left)."""
    found = dict(state.get(KEY) or {})
    old = to_utc(found.get("frontier"))
    days = (old - start) / DAY if old is not None else 0.0
    found.update(frontier=start.isoformat(), requests=int(found.get("requests") or 0) + requests,
                 days=float(found.get("days") or 0) + days, last_requests=requests, last_days=days,
                 read=int(found.get("read") or 0) + read)
    state[KEY] = found


def note_loaded(state: dict[str, Any], loaded: int) -> None:
    """The entities known now (`loaded`: the resource's ledger), which the share by the count
    probe's entities counts: those of every window, of a history step cut short by the budget
    and of the nightly runs' news alike, not only the windows completed. Nothing before the
    first window."""
    found = state.get(KEY)
    if found is not None:
        state[KEY] = {**found, "loaded": int(loaded)}


def coverage(state: dict[str, Any], history_since: datetime, now: datetime, requests_per_minute: float | None, *,
             loaded_forward: bool, complete_until: datetime | None) -> Coverage:
    """What the resource holds complete, and when the rest will be in: by the count probe's
    entities where the first load had one, else by the span of days left."""
    since = frontier(state, history_since, loaded_forward=loaded_forward)
    found = state.get(KEY) or {}
    total = found.get("entities")
    entities = int(total) if total is not None else None
    loaded = int(found.get("loaded") or 0)
    requests = int(found.get("requests") or 0)
    estimate = None
    if pending(state, history_since, loaded_forward=loaded_forward):
        estimate = estimated_by_count(now, total=entities, loaded=loaded, requests=requests,
                                      read=int(found.get("read") or 0), requests_per_minute=requests_per_minute)
    if estimate is None:
        estimate = estimated_completion(now, history_since, since, requests=requests,
                                        covered=timedelta(days=float(found.get("days") or 0)),
                                        requests_per_minute=requests_per_minute)
    return Coverage(complete_since=since, complete_until=complete_until, history_since=history_since,
                    estimated_complete_at=estimate, history_entities=entities,
                    loaded_entities=loaded if entities is not None else None)
