"""The chat-message chain of a channel, read newest first back to what is already loaded.

Paging itself, and the verdict on a listing's completeness, is the kit's
(:mod:`sources.kit.paging`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sources.http import UnexpectedAnswer
from sources.kit.paging import JsonGetter, Listing

from . import settings
from .times import to_utc

# messages in order before a chain may stop early: a shuffled chain shows that many in order
# by chance once in 8! = 40,320 reads (two short pages of one message each would pass half the time)
ORDER_EVIDENCE = 8


@dataclass
class Chain:
    """A channel's messages as read: distinct, newest first where the server sorts so."""

    messages: list[dict[str, Any]]
    complete: bool  # the whole chain, with no gap possible
    proven: bool  # complete, or stopped where the order proves the rest is loaded
    newest: datetime | None  # the newest createdAt read
    problem: str | None = None  # why the chain could not be read whole (a page of unexpected shape)


def read_chain(
    client: JsonGetter,
    channel_id: str,
    loaded_until: datetime | None,
    page_size: int,
    newest: datetime | None,
) -> Chain:
    """Read a channel's messages, newest first, back to what is already loaded.

    Stops early only when the order proves itself: the first message is at least as new
    as the newest message known to exist (`newest`: the channel's last-message time, or
    what an earlier read reached), every message read so far has a non-increasing
    createdAt, and there were at least `ORDER_EVIDENCE` of them (a chain shorter than that
    is read whole anyway: one page). Otherwise the whole chain is read, because "older"
    pages may then still hold new messages. `loaded_until=None` reads the whole chain.
    """
    listing = Listing(client, settings.CHANNEL_MESSAGES.format(id=channel_id), {}, page_size, whole_list=True)
    order = _Order(newest)
    stopped_early = False
    problem = None
    try:
        for page in listing:
            for item in page:
                order.take(item)
            if order.proves_rest_loaded(loaded_until):
                stopped_early = True
                break
    except UnexpectedAnswer as exc:  # what was read is live; the rest is unknown, nothing is proved
        problem = str(exc)
    return Chain(order.messages, listing.complete, listing.complete or stopped_early, order.newest_read, problem)


@dataclass
class _Order:
    """Messages as taken, newest first, and whether their order still holds."""

    newest: datetime | None  # the newest message known to exist: the head must reach it
    messages: list[dict[str, Any]] = field(default_factory=list)
    in_order: bool = True
    previous: datetime | None = None
    newest_read: datetime | None = None

    def take(self, item: dict[str, Any]) -> None:
        created = to_utc(item.get("createdAt"))
        if created is None or (self.previous is not None and created > self.previous):
            self.in_order = False
        elif not self.messages:  # the head of the chain
            self.in_order = self.newest is not None and created >= self.newest - timedelta(seconds=1)
        self.previous = created or self.previous
        if created is not None and (self.newest_read is None or created > self.newest_read):
            self.newest_read = created
        self.messages.append(item)

    def proves_rest_loaded(self, loaded_until: datetime | None) -> bool:
        """In order, past what is loaded, with enough messages to trust the order."""
        return (self.in_order and loaded_until is not None and self.previous is not None
                and self.previous < loaded_until and len(self.messages) >= ORDER_EVIDENCE)
