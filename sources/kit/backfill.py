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

from sources.http.errors import ApiError, ApiUnreachable, AuthError, BudgetExhausted, UnexpectedAnswer

FIRST_WINDOW = timedelta(days=1)
# The six days before the first window: with them the week before the first load began is
# whole, the span analysts read after the last day. Sized by requests (x4 of a day), the
# second window ended three days short and the week was whole only a window later. Counted
# from the first window, not the clock: planned minutes or nights later, it reads the same days.
SECOND_WINDOW = timedelta(days=6)
MIN_GROWTH, MAX_GROWTH = 1.0, 4.0
DAY = timedelta(days=1)


def windows_pay_off(requests_per_minute: float | None) -> bool:
    """Newest first pays its windows' fixed cost (a load, reports and a snapshot each) only
    where the rate limit makes the whole history slow: with none, the history is read at
    the API's speed, and one window gives every report soonest."""
    return bool(requests_per_minute)


def fits_one_window(entities: int | None, window_requests: int, *, per_entity: int = 1, page: int = 100) -> bool:
    """A history small enough to read in one window is read forward, as one window: newest
    first would only add steps. `per_entity` requests per entity (a Leeloo person's detail or
    channel's message chain: one; a Salebot client's history, orders and variables: several),
    and a list page per `page` entities; an unknown size is not small."""
    return entities is not None and entities * per_entity + entities // max(1, page) + 1 <= window_requests


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
    cost grows x4; the second window reads at least the rest of the last week
    (`through_the_week`). Never reaches before `history_since`."""
    if frontier is None:
        return max(now - FIRST_WINDOW, history_since), now
    if frontier <= history_since:
        return None
    span = previous.span if previous is not None and previous.span > timedelta(0) else FIRST_WINDOW
    growth = MAX_GROWTH
    if previous is not None and previous.requests > 0:
        per_day = previous.requests / (span / DAY)
        growth = min(MAX_GROWTH, max(MIN_GROWTH, (target_requests / per_day) / (span / DAY)))
    return max(through_the_week(frontier - span * growth, frontier, previous), history_since), frontier


def through_the_week(start: datetime, frontier: datetime, previous: WindowCost | None) -> datetime:
    """Where a window older than `frontier` starts, given where its sizing would start it: the
    window after the first (`previous` None: the first's cost is not recorded, being mixed with
    the resources read whole) reaches at least `SECOND_WINDOW` before it. The one rule for
    every windowed read, people's and channels' windows and orders' details alike."""
    return min(start, frontier - SECOND_WINDOW) if previous is None else start


def estimated_completion(now: datetime, history_since: datetime, frontier: datetime | None, *, requests: int,
                         covered: timedelta, requests_per_minute: float | None) -> datetime | None:
    """When the backfill will be done: the span left at the requests per day of history seen
    so far, at the client's rate limit. None when it is done, or nothing tells (no history
    read yet, no rate limit)."""
    if frontier is None or frontier <= history_since or not requests_per_minute or covered <= timedelta(0) \
            or requests <= 0:
        return None
    per_day = requests / (covered / DAY)
    return _at_rate(now, per_day * ((frontier - history_since) / DAY), requests_per_minute)


def estimated_by_count(now: datetime, *, total: int | None, loaded: int, requests: int, read: int,
                       requests_per_minute: float | None) -> datetime | None:
    """When the backfill will be done, by entities rather than days: the entities the count
    probe says the history holds and are not loaded yet, at the requests per entity the
    history steps cost so far (`requests` for `read` new entities), at the rate limit. None
    when the count is unknown or reached (the span decides then), or nothing tells yet."""
    if total is None or loaded >= total or read <= 0 or requests <= 0 or not requests_per_minute:
        return None
    return _at_rate(now, requests / read * (total - loaded), requests_per_minute)


def _at_rate(now: datetime, requests: float, requests_per_minute: float) -> datetime:
    return now + timedelta(minutes=requests / requests_per_minute)


def size_unknown(exc: Exception) -> bool:
    """Whether a failed count probe only leaves the history's size unknown (the load goes on
    and reads it anyway): an answer of unexpected shape, a spent budget (the listing stops on
    it where a stop is handled), or an error particular to the probe's one-item request. The
    API refusing the credentials, not answering or failing with server errors after the
    retries would fail the listing just after, at the cost of a second round of retries:
    those propagate."""
    if isinstance(exc, UnexpectedAnswer | BudgetExhausted):
        return True
    if isinstance(exc, AuthError | ApiUnreachable) or not isinstance(exc, ApiError):
        return False
    return exc.status is not None and exc.status < 500 and exc.status != 429
