"""The pager against a list that moves between requests, in-process and adversarial.

The emulator test (test_leeloo_pipeline) moves one person per request; these move many
at once, which is what makes the pager rewind, and check every claim of completeness.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from sources.leeloo.helpers import Listing


class MovingList:
    """A newest-first list from which `departures` random items leave before each request."""

    def __init__(self, size: int, departures: int, seed: int, short_pages: bool, cap: int) -> None:
        self.items = [{"id": f"p{i:05d}"} for i in range(size)]
        self.rng = random.Random(seed)
        self.departures = departures
        self.short_pages = short_pages
        self.cap = cap
        self.left: set[str] = set()

    def get_json(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        for _ in range(self.departures):
            if self.items:
                gone = self.items.pop(self.rng.randrange(len(self.items)))
                self.left.add(gone["id"])
        offset, limit = params["offset"], min(params["limit"], self.cap)
        page = self.items[offset : offset + limit]
        if self.short_pages and len(page) > 1 and self.rng.random() < 0.5:
            page = page[: self.rng.randint(1, len(page) - 1)]
        return {"status": 1, "data": page, "meta": {"totalCount": len(self.items)}}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("departures", [0, 1, 4, 9])
def test_pager_never_claims_complete_with_a_gap(seed: int, departures: int) -> None:
    api = MovingList(size=600, departures=departures, seed=seed, short_pages=seed % 2 == 1, cap=25)
    listing = Listing(api, "people", {}, page_size=100)  # type: ignore[arg-type]
    listed = {item["id"] for page in listing for item in page}
    still_there = {item["id"] for item in api.items}
    missing = still_there - listed
    if listing.complete:
        assert not missing, f"claimed complete but skipped {len(missing)} items"
    else:
        assert departures > 0, "a list that did not move must page completely"
    if departures <= 2:
        assert listing.complete and not missing


def test_pager_rewinds_when_the_list_jumps() -> None:
    api = MovingList(size=400, departures=6, seed=3, short_pages=False, cap=25)
    listing = Listing(api, "people", {}, page_size=100)  # type: ignore[arg-type]
    listed = {item["id"] for page in listing for item in page}
    assert listing.rewinds > 0
    assert {item["id"] for item in api.items} <= listed
