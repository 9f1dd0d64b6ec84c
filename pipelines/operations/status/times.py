"""Times as `status` shows them: to people in the account's reports timezone with its offset
(the day a business means is its own), to monitors as ISO 8601 in UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from pipelines.config.report_settings import DEFAULT_TIMEZONE

UTC_ZONE = ZoneInfo(DEFAULT_TIMEZONE)


def local_time(when: datetime, zone: ZoneInfo = UTC_ZONE) -> str:
    """`2026-12-05 23:30:00 +10:00` in `zone`; in UTC `... UTC`, as status always said it."""
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {offset_label(local, zone)}"


def offset_label(local: datetime, zone: ZoneInfo) -> str:
    """`UTC` for the default zone, else the offset the zone had at that moment (`+10:00`)."""
    if zone.key == DEFAULT_TIMEZONE:
        return "UTC"
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def elapsed(seconds: int) -> str:
    """A duration in the one unit that reads best (`41s`, `5 min`, `5 h`, `3 days`)."""
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def ago(when: datetime | None, now: datetime, zone: ZoneInfo = UTC_ZONE) -> str:
    """When something happened, local, and how long before `now` (`never` when it did not)."""
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    return f"{local_time(when, zone)} ({elapsed(seconds)} ago)"


def iso_utc(when: datetime | None) -> str | None:
    """ISO 8601 in UTC (`+00:00`), or None."""
    return when.astimezone(timezone.utc).isoformat() if when is not None else None


def iso_local(when: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 in `zone` with its offset, or None."""
    return when.astimezone(zone).isoformat() if when is not None else None
