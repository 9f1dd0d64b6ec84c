"""Orders newest first: which listed orders wait for a later window of history.

Orders have no date filter, so every run lists them whole (a request per hundred, and the
whole list is what proves an order gone), but their detail (a request each) is most of what
they cost. A first load read newest first fetches the detail only of the orders dated in its
window (the last day); each history step those dated in its own, older window. An order's
date is the later of its list entry's `createdAt` and `updatedAt`: the API promises no order
of the list, so each entry is judged on its own.

What waits is written nowhere: an order the ledger does not know, dated before the run's
cutoff, is simply not read yet. A run killed anywhere loses nothing (the next run lists it
again), and the order's first sighting is recorded once, when its detail is read. Only where
the next window starts is kept (beside the frontier in the orders' dlt state): the list
gives every waiting order's date, so the window is planned to hold about a window's worth
of details, and a history step re-lists the orders (a request per hundred) only as often as
their details need.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sources.bookkeeping import Entry
from sources.kit.backfill import through_the_week

from . import history
from .times import to_utc


def order_date(order: Mapping[str, Any]) -> datetime | None:
    """The latest moment the list entry says the order was touched; None when it says none."""
    moments = [t for t in (to_utc(order.get("createdAt")), to_utc(order.get("updatedAt"))) if t is not None]
    return max(moments) if moments else None


def waits(entry: Entry | None, date: datetime | None, cutoff: datetime | None) -> bool:
    """An order waits for a later window when it was never read and its date is before the
    cutoff. A known order whose entry changed is read at once (a nightly run's news), and so
    is one whose date cannot be told: no later window would ever claim it."""
    return entry is None and cutoff is not None and date is not None and date < cutoff


def cutoff(state: dict[str, Any], history_since: datetime, window_start: datetime | None) -> datetime | None:
    """From when this run reads the orders it never read: the start of its window (a first
    window, a history step); else, while older history is pending, its frontier (a nightly
    run between the steps of a backfill); else from the start of history (None: all, those
    dated before `initial_date` too, as a forward load reads them)."""
    if window_start is not None:
        return window_start if window_start > history_since else None
    if history.pending(state, history_since):
        return history.frontier(state, history_since)
    return None


NEXT = "next_start"


def next_start(waiting: Sequence[datetime], per_window: int, history_since: datetime) -> datetime:
    """Where the next history step's window starts: at the date of the `per_window`-th newest
    waiting order, so the step reads about `per_window` details; at the start of history when
    no more than that many wait."""
    if len(waiting) <= per_window:
        return history_since
    return heapq.nlargest(max(1, per_window), waiting)[-1]


def plan(state: dict[str, Any], waiting: Sequence[datetime], per_window: int, history_since: datetime) -> None:
    """Note where the next window starts (see `next_start`), beside the frontier."""
    state[history.KEY] = {**(state.get(history.KEY) or {}),
                          NEXT: next_start(waiting, per_window, history_since).isoformat()}


def step_start(state: dict[str, Any], history_since: datetime) -> datetime:
    """The start of this history step's window, as the last run planned it (from the start of
    history when none did), reaching as far as people's windows do after the first
    (`through_the_week`), whatever the plan."""
    planned = to_utc((state.get(history.KEY) or {}).get(NEXT)) or history_since
    edge = history.frontier(state, history_since)
    return planned if edge is None else through_the_week(planned, edge, history.last_cost(state))
