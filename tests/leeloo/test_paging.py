"""The pager against lists that move between requests, in-process and adversarial.

The pipeline tests page the emulator over HTTP; these script the moves exactly, including
the sequence that once lost a channel, and check every claim of completeness: a listing
may give up ("not complete"), but it may never call itself complete with a gap.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from sources.kit.paging import Listing
from sources.leeloo.paging import read_chain


class MovingList:
    """A list from which `departures` random items leave before each request; with
    `reshuffle`, every change also shuffles the whole order (a server whose order is not
    stable while data changes)."""

    def __init__(self, size: int, departures: int, seed: int, *, short_pages: bool, cap: int,
                 reshuffle: bool = False, meta: bool = True) -> None:
        self.items = [{"id": f"p{i:05d}"} for i in range(size)]
        self.rng = random.Random(seed)
        self.departures = departures
        self.short_pages = short_pages
        self.cap = cap
        self.reshuffle = reshuffle
        self.meta = meta
        self.requests = 0

    def get_json(self, path: str, params: dict[str, Any], expect: Any = None) -> dict[str, Any]:
        self.requests += 1
        for _ in range(self.departures):
            if self.items:
                self.items.pop(self.rng.randrange(len(self.items)))
                if self.reshuffle:
                    self.rng.shuffle(self.items)
        offset, limit = params["offset"], min(params["limit"], self.cap)
        page = self.items[offset : offset + limit]
        if self.short_pages and len(page) > 1 and self.rng.random() < 0.5:
            page = page[: self.rng.randint(1, len(page) - 1)]
        body: dict[str, Any] = {"status": 1, "data": page}
        if self.meta:
            body["meta"] = {"totalCount": len(self.items), "filteredCount": len(page)}
        return body


def listed_ids(listing: Listing) -> set[str]:
    return {item["id"] for page in listing for item in page}


@pytest.mark.parametrize("meta", [True, False], ids=["counts", "no-counts"])
@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("departures", [0, 1, 4, 9])
def test_pager_never_claims_complete_with_a_gap(seed: int, departures: int, meta: bool) -> None:
    api = MovingList(size=600, departures=departures, seed=seed, short_pages=seed % 2 == 1, cap=25, meta=meta)
    listing = Listing(api, "people", {}, page_size=100)  # type: ignore[arg-type]
    listed = listed_ids(listing)
    missing = {item["id"] for item in api.items} - listed
    if listing.complete:
        assert not missing, f"claimed complete but skipped {len(missing)} items"
    else:
        assert departures > 0, f"a list that did not move must page completely ({listing.problem})"
    if departures == 0 or (departures == 1 and meta):
        # with counts a page that reaches the count proves the end within one answer; without
        # them, a list that shrinks before the pager on every request never shows its end twice
        assert listing.complete and not missing, listing.problem


@pytest.mark.parametrize("seed", range(40))
def test_a_server_that_reshuffles_on_every_change_is_never_called_complete_with_a_gap(seed: int) -> None:
    """Finding an anchor again proves nothing when the whole order changes: the pager
    must notice that what surrounds the anchor is not what it read before."""
    api = MovingList(size=150, departures=1 if seed % 3 else 2, seed=seed, short_pages=seed % 2 == 0, cap=7,
                     reshuffle=True, meta=seed % 4 != 0)
    listing = Listing(api, "people", {}, page_size=100)  # type: ignore[arg-type]
    listed = listed_ids(listing)
    missing = {item["id"] for item in api.items} - listed
    assert not (listing.complete and missing), f"called complete, {len(missing)} items skipped"
    assert not listing.complete, "a list reshuffled under the pager cannot be proved complete"


class ScriptedList:
    """A stable list in pages of 5 whose pages at some offsets come back short, and from
    which some items leave the first time the pager looks at or past an offset."""

    def __init__(self, size: int, *, short_at: dict[int, int], leave: tuple[int, list[int]] | None = None) -> None:
        self.items = [{"id": f"c{i}"} for i in range(size)]
        self.short_at = short_at
        self.leave = leave
        self.requests: list[tuple[int, list[str]]] = []

    def get_json(self, path: str, params: dict[str, Any], expect: Any = None) -> dict[str, Any]:
        offset = params["offset"]
        if self.leave is not None and offset >= self.leave[0]:
            gone = {f"c{i}" for i in self.leave[1]}
            self.items = [item for item in self.items if item["id"] not in gone]
            self.leave = None
        page = self.items[offset : offset + min(params["limit"], 5)][: self.short_at.get(offset, 5)]
        self.requests.append((offset, [item["id"] for item in page]))
        # counts that prove nothing: the larger one is the unfiltered total
        return {"status": 1, "data": page, "meta": {"filteredCount": len(page), "totalCount": 10**6}}


def test_the_sequence_that_lost_a_channel() -> None:
    """What happened in the hostile-server run that lost an old channel and its 9 messages.

    The page requested at the anchors came back short, showing nothing after the last
    channel taken. The pager then looked past it, at the offset where the next page
    should start; but meanwhile people listed before it had written, so they left the
    window (which ends at the run's start) and the list shrank under the pager. The look
    past the end came back empty, and the empty page was taken for the end of the list:
    the channels right after the anchor were never listed, the listing was called
    complete, and the cursor moved past them for good (they were old: no later window
    reaches them).

    Scripted: 7 channels, pages of 5; page 1 takes c0..c4; the page at the anchors
    (c2..c4) comes back short; c0 and c1 leave when the pager looks at offset 5, which is
    then empty although c5 and c6 are still there."""
    api = ScriptedList(7, short_at={2: 3}, leave=(5, [0, 1]))
    listing = Listing(api, "communication-channels", {}, page_size=5)  # type: ignore[arg-type]
    listed = listed_ids(listing)
    assert api.requests[:3] == [(0, ["c0", "c1", "c2", "c3", "c4"]), (2, ["c2", "c3", "c4"]), (5, [])], api.requests
    assert {"c5", "c6"} <= listed, f"skipped the channels after the anchors: {api.requests}"
    assert listing.complete, listing.problem


def test_an_empty_page_right_after_the_last_item_is_confirmed_before_it_ends_the_listing() -> None:
    api = ScriptedList(7, short_at={})
    listing = Listing(api, "people", {}, page_size=5)  # type: ignore[arg-type]
    assert listed_ids(listing) == {f"c{i}" for i in range(7)}
    assert listing.complete
    offsets = [offset for offset, _ in api.requests]
    assert offsets == [0, 2, 4, 7, 6], "the end: a page ending at c6, nothing after it, c6 still at its offset"


class GrowingList:
    """A list that gains one item before each request, at the front or at the end."""

    def __init__(self, size: int, *, at_front: bool) -> None:
        self.items = [{"id": f"m{i:04d}"} for i in range(size)]
        self.at_front = at_front
        self.added = 0

    def get_json(self, path: str, params: dict[str, Any], expect: Any = None) -> dict[str, Any]:
        self.added += 1
        new = {"id": f"new{self.added}"}
        self.items = [new, *self.items] if self.at_front else [*self.items, new]
        page = self.items[params["offset"] : params["offset"] + min(params["limit"], 10)]
        return {"status": 1, "data": page, "meta": {"totalCount": len(self.items), "filteredCount": len(self.items)}}


def test_items_arriving_behind_the_pager_are_noticed_by_the_count() -> None:
    """A new message at the head of a chain the pager is past shifts the anchors without
    breaking their order; only the chain's count shows that something was not read."""
    behind = GrowingList(45, at_front=True)
    listing = Listing(behind, "chat-messages", {}, page_size=10, whole_list=True)  # type: ignore[arg-type]
    listed = listed_ids(listing)
    assert {item["id"] for item in behind.items} - listed, "the scenario must leave something unread"
    assert not listing.complete and "grew behind" in (listing.problem or "")
    ahead = GrowingList(45, at_front=False)
    listing = Listing(ahead, "chat-messages", {}, page_size=10, whole_list=True)  # type: ignore[arg-type]
    assert not {item["id"] for item in ahead.items} - listed_ids(listing) or not listing.complete


def test_pager_rewinds_when_the_list_jumps() -> None:
    api = MovingList(size=400, departures=6, seed=3, short_pages=False, cap=25)
    listing = Listing(api, "people", {}, page_size=100)  # type: ignore[arg-type]
    listed = listed_ids(listing)
    assert listing.rewinds > 0
    assert {item["id"] for item in api.items} <= listed


def test_items_without_a_usable_id_are_counted_not_yielded() -> None:
    class Odd:
        def get_json(self, path: str, params: dict[str, Any], expect: Any = None) -> dict[str, Any]:
            data = [{"id": "a"}, {"id": {"$oid": "x"}}, {"name": "no id"}, {"id": 7}][params["offset"]:]
            return {"status": 1, "data": data, "meta": {"totalCount": 4}}

    listing = Listing(Odd(), "people", {}, page_size=100)  # type: ignore[arg-type]
    assert [item["id"] for page in listing for item in page] == ["a", 7]
    assert listing.unidentified == 2 and listing.complete
    assert list(listing.identified()) == [({"id": "a"}, "a"), ({"id": 7}, "7")]  # what the resources iterate
    assert listing.unidentified == 2 and listing.complete


class Chain:
    def __init__(self, created: list[str], cap: int = 3) -> None:
        self.messages = [{"id": f"m{i}", "createdAt": c} for i, c in enumerate(created)]
        self.cap = cap
        self.offsets: list[int] = []

    def get_json(self, path: str, params: dict[str, Any], expect: Any = None) -> dict[str, Any]:
        self.offsets.append(params["offset"])
        page = self.messages[params["offset"] : params["offset"] + self.cap]
        return {"status": 1, "data": page, "meta": {"totalCount": len(self.messages)}}


def test_a_chain_in_order_stops_at_what_is_loaded() -> None:
    from sources.leeloo.times import to_utc

    newest_first = [f"2026-01-{d:02d}T00:00:00.000Z" for d in range(20, 0, -1)]
    api = Chain(newest_first, cap=8)
    chain = read_chain(api, "c1", to_utc("2026-01-17T12:00:00Z"), 8, to_utc(newest_first[0]))  # type: ignore[arg-type]
    assert len(chain.messages) == 8 and api.offsets == [0], "one page reaches back past what is loaded"
    assert chain.proven and not chain.complete
    assert chain.newest == to_utc(newest_first[0])


def test_a_shuffled_chain_that_looks_sorted_for_a_moment_is_read_whole() -> None:
    """A server that shuffles messages, answering short pages: the newest message first,
    then an old one, looks newest-first for two messages. Stopping there lost a new
    message further down the chain."""
    from sources.leeloo.times import to_utc

    new, old, other_new = "2026-01-09T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "2026-01-08T00:00:00.000Z"
    api = Chain([new, old, other_new, *["2026-01-02T00:00:00.000Z"] * 6], cap=2)
    chain = read_chain(api, "c1", to_utc("2026-01-05T00:00:00Z"), 100, to_utc(new))  # type: ignore[arg-type]
    assert "m2" in {m["id"] for m in chain.messages}, "the other new message must be read"
    assert chain.complete


def test_a_chain_out_of_order_is_read_whole() -> None:
    from sources.leeloo.times import to_utc

    api = Chain([f"2026-01-0{d}T00:00:00.000Z" for d in (1, 9, 8, 7, 6, 5, 4, 3, 2)])
    chain = read_chain(api, "c1", to_utc("2026-01-07T12:00:00Z"), 3, to_utc("2026-01-09T00:00:00Z"))  # type: ignore[arg-type]
    assert len(chain.messages) == 9 and chain.complete and chain.proven
