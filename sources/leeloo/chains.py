"""Which chains of messages a run reads, from how far back, and what a read proves: plain
decisions on list entries, ledger entries and chains, apart from any request or dlt."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sources.bookkeeping import Entry

from .times import to_utc
from .windowed import CHANGED


@dataclass
class Read:
    """One chain to read: from the window (news) or from the sweep."""

    channel_id: str
    loaded_until: datetime | None  # read back to here (None: the whole chain)
    newest: datetime | None  # the newest message known to exist: the head must reach it
    known_until: datetime | None  # what the ledger said was loaded before
    fingerprint: str | None = None  # of the list entry, when it was listed
    known: bool = False  # loaded before: a full chain then shows what is gone
    reason: str = CHANGED


def loaded_until(entry: Entry | None) -> datetime | None:
    """How far a channel's messages were loaded, as the ledger says."""
    return to_utc(entry.mark) if entry is not None and entry.mark else None


def listed_read(channel_id: str, last_message: Any, entry: Entry | None, listed_print: str, *,
                backfill: bool, window_start: datetime, overlap: timedelta) -> Read | None:
    """The read a listed channel calls for: none when its last message is already loaded;
    a backfill re-reads its window, a known channel from where it was loaded (less the
    overlap), a new one whole. `entry` is None for a channel never loaded (or back)."""
    last = to_utc(last_message)
    done = loaded_until(entry)
    if not (backfill or done is None or (last is not None and last > done)):
        return None
    back_to = window_start if backfill else (done - overlap if done else None)
    return Read(channel_id, back_to, last, done, listed_print, entry is not None)


def sweep_read(channel_id: str, reason: str, entry: Entry | None, with_marked_messages: Collection[str],
               overlap: timedelta) -> Read:
    """The sweep's re-read of a known channel: from where it was loaded (less the overlap),
    or whole when the warehouse holds messages of it marked deleted (they may be back)."""
    until = loaded_until(entry)
    back_to = None if channel_id in with_marked_messages or until is None else until - overlap
    return Read(channel_id, back_to, until, until, known=True, reason=reason)


def reached(task: Read, chain_newest: datetime | None, now: datetime) -> str | None:
    """What a proven read loaded the channel until: the newest message known, never past
    this run's start (sources.leeloo.times.next_cursor says why)."""
    moments = [t for t in (task.newest, chain_newest, task.known_until) if t is not None]
    return min(max(moments), now).isoformat() if moments else None


def messages_gone(read_whole: Mapping[str, Collection[str]], loaded: Mapping[str, Collection[str]]) -> list[str]:
    """Messages loaded before that a chain read in full (channel -> its message ids) no
    longer holds: they are gone."""
    return sorted(m for channel, ids in read_whole.items() for m in set(loaded.get(channel, ())) - set(ids))
