"""Time as the Leeloo API reads and writes it: UTC, millisecond precision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sources.clocks import MAX_SKEW
from sources.kit.values import to_utc


def api_time(value: datetime) -> str:
    """The form the window filter takes: UTC, millisecond precision, as the documents' examples."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_initial_date(value: str | date | datetime) -> datetime:
    parsed = to_utc(value)
    if parsed is None:
        raise ValueError(f"initial_date {value!r} is not a date")
    return parsed


def window_bounds(
    cursor: str | None,
    initial_date: datetime,
    overlap: timedelta,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> tuple[datetime, datetime]:
    """The last-message window of a run: a backfill's own, else from the cursor minus the
    overlap (or the start of history) to `MAX_SKEW` past now: the API stamps with its own
    clock, and one ahead of ours (or local time written as UTC) has activity "later" than
    our now, which a window ending at now would never list."""
    end = now + MAX_SKEW
    if since is not None or until is not None:
        return since or initial_date, until or end
    start = to_utc(cursor) if cursor else None
    if start is None:
        return initial_date, end
    return max(start - overlap, initial_date), end


def next_cursor(old: str | None, newest: datetime | None, now: datetime) -> datetime | None:
    """Where a window cursor moves once its window is done: the newest time listed, never
    backwards, and never past this run's start. A cursor taken from a row stamped in the
    future would make the next window start there: once the API's clock is put right, what
    it stamps between our now and that future would never be listed again. Capped at now,
    the next window starts at most the overlap before this run began, whatever the clocks."""
    previous = to_utc(old) if old else None
    candidates = [t for t in (previous, newest) if t is not None]
    return min(max(candidates), now) if candidates else None
