"""Newest history first: which window of older history a first load reads next, and when
the whole of it will be in.

A first load of a big account takes hours. Read from the start of history forward, its
reports mean nothing until the end; read newest first, each window is committed (data,
bookkeeping, reports) before the next, so the recent funnel is there after minutes and a
run cut short leaves a known span complete: from the *frontier* (the oldest moment known
complete) to now. Plain decisions, apart from any request or dlt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_WINDOW = timedelta(days=1)
MIN_GROWTH, MAX_GROWTH = 1.0, 4.0
DAY = timedelta(days=1)


@dataclass(frozen=True)
class WindowCost:
    """What a window cost: the requests made while it was read, and the span of history it covered."""

    requests: int
    span: timedelta


def next_window(now: datetime, history_since: datetime, frontier: datetime | None, previous: WindowCost | None,
                target_requests: int) -> tuple[datetime, datetime] | None:
    """The next window `[start, end)` to read, newest first; None when history is complete.

    The first window (no frontier yet) is the last day: its reports are the ones a user who
    just connected an account looks at first. Each later one ends at the frontier and is
    sized so it costs about `target_requests`, judged from the previous window's requests
    per day of history; the growth is clamped to x1..x4 of the previous span, so one quiet
    stretch of history does not plan a window a busy one would make hours long. Unknown
    cost (the first window's requests are mixed with the resources read whole) grows x4.
    Never reaches before `history_since`."""
    if frontier is None:
        return max(now - FIRST_WINDOW, history_since), now
    if frontier <= history_since:
        return None
    span = previous.span if previous is not None and previous.span > timedelta(0) else FIRST_WINDOW
    growth = MAX_GROWTH
    if previous is not None and previous.requests > 0:
        per_day = previous.requests / (span / DAY)
        growth = min(MAX_GROWTH, max(MIN_GROWTH, (target_requests / per_day) / (span / DAY)))
    return max(frontier - span * growth, history_since), frontier


def fits_one_window(entities: int | None, window_requests: int) -> bool:
    """A history small enough to read in one window is read forward, as one window: newest
    first would only add steps. About one request per entity (a person's detail, a channel's
    message chain, an order's detail), and a page per hundred listed; an unknown size is not small."""
    return entities is not None and entities + entities // 100 + 1 <= window_requests


def estimated_completion(now: datetime, history_since: datetime, frontier: datetime | None, *, requests: int,
                         covered: timedelta, requests_per_minute: float | None) -> datetime | None:
    """When the backfill will be done: the span left at the requests per day of history seen
    so far, at the client's rate limit. None when it is done, or nothing tells (no history
    read yet, no rate limit)."""
    if frontier is None or frontier <= history_since or not requests_per_minute or covered <= timedelta(0) \
            or requests <= 0:
        return None
    per_day = requests / (covered / DAY)
    remaining = per_day * ((frontier - history_since) / DAY)
    return now + timedelta(minutes=remaining / requests_per_minute)
