"""The entities of a Leeloo account (people, channels, orders), the sorted indices the
window filters bisect, and the small rules that pick which records carry odd values.

People, channels and orders are ``__slots__`` objects: an account of a million people
must fit in memory."""
from __future__ import annotations

import bisect
import copy
import random
from collections.abc import Iterable
from typing import Any

from emulators.hostile import NOT_NUMBERS, ODD_TEXTS
from emulators.leeloo.vocab import ODD_EVERY


class Person:
    __slots__ = (
        "alive",
        "channels",
        "contacted_users",
        "created_ms",
        "custom_fields",
        "drift",
        "email",
        "gender",
        "id",
        "idx",
        "lmt_in",
        "lmt_ms",
        "locale",
        "name",
        "orders",
        "phone",
        "profile_image",
        "subscribe_history",
        "tags",
        "updated_ms",
    )
    alive: bool
    channels: list[Channel]
    contacted_users: list[str]
    created_ms: int
    custom_fields: list[dict[str, Any]]
    drift: bool
    email: Any  # text, or an odd shape
    gender: str
    id: str
    idx: int
    lmt_in: int | None  # the inbound reading: None until first asked for
    lmt_ms: int
    locale: str
    name: Any
    orders: list[Order]
    phone: Any
    profile_image: str
    subscribe_history: list[dict[str, Any]]
    tags: list[Any]
    updated_ms: int


class Channel:
    __slots__ = (
        "alive",
        "bot_status",
        "connection_id",
        "connection_status",
        "created_ms",
        "extra",
        "frm",
        "gen_ms",
        "id",
        "idx",
        "lmt_in",
        "lmt_ms",
        "n_gen",
        "name",
        "odd_msg",
        "person",
        "utm",
    )
    alive: bool
    bot_status: str
    connection_id: str
    connection_status: str
    created_ms: int
    extra: list[dict[str, Any]] | None  # messages added after generation
    frm: str
    gen_ms: int  # the generated messages end here
    id: str
    idx: int
    lmt_in: int | None
    lmt_ms: int
    n_gen: int
    name: Any
    odd_msg: bool
    person: Person
    utm: dict[str, Any]


class Order:
    __slots__ = (
        "created_ms",
        "currency",
        "description",
        "drift",
        "history",
        "id",
        "idx",
        "payment_method",
        "person",
        "price",
        "status",
        "title",
        "updated_ms",
    )
    created_ms: int
    currency: str
    description: str
    drift: bool
    history: list[tuple[str, int]] | None  # None: derived from the generated fields
    id: str
    idx: int
    payment_method: str
    person: Person
    price: Any  # a number, or text that is not one
    status: str
    title: Any
    updated_ms: int


class SortedIndex:
    """Entity indices sorted by an integer key (ms); ties keep insertion order."""

    def __init__(self, pairs: Iterable[tuple[int, int]]):
        pairs = sorted(pairs)
        self.keys = [k for k, _ in pairs]
        self.idxs = [i for _, i in pairs]

    def __len__(self) -> int:
        return len(self.keys)

    def window(self, lo_ms: int | None, hi_ms: int | None) -> tuple[int, int]:
        """Positions [lo, hi) of entries with lo_ms <= key <= hi_ms (inclusive)."""
        lo = 0 if lo_ms is None else bisect.bisect_left(self.keys, lo_ms)
        hi = len(self.keys) if hi_ms is None else bisect.bisect_right(self.keys, hi_ms)
        return lo, max(lo, hi)

    def _position(self, idx: int, key: int) -> int:
        i = bisect.bisect_left(self.keys, key)
        while self.idxs[i] != idx:
            i += 1
        return i

    def move(self, idx: int, old_key: int, new_key: int) -> None:
        self.remove(idx, old_key)
        self.add(idx, new_key)

    def remove(self, idx: int, key: int) -> None:
        i = self._position(idx, key)
        del self.keys[i]
        del self.idxs[i]

    def add(self, idx: int, key: int) -> None:
        j = bisect.bisect_right(self.keys, key)
        self.keys.insert(j, key)
        self.idxs.insert(j, idx)


def weighted_choice(r: random.Random, items, weights):
    """One of ``items``, drawn with ``weights`` (one draw of ``r``)."""
    return r.choices(items, weights)[0]


def odd_slot(k: int, n_kinds: int) -> int | None:
    """Which of ``n_kinds`` fields of record ``k`` carries an odd value, or None.

    Records 1..n_kinds carry one kind each (so every kind shows up in any account with a
    few records), then every ODD_EVERY-th record: "a few records per entity"."""
    if 1 <= k <= n_kinds:
        return k - 1
    if k > n_kinds and k % ODD_EVERY == 0:
        return (k // ODD_EVERY) % n_kinds
    return None


def odd_text(k: int) -> Any:
    """A fresh JSON object or list where the documents promise text."""
    return copy.deepcopy(ODD_TEXTS[k % len(ODD_TEXTS)])


def odd_number(k: int) -> str:
    """Text that is not a number where the documents promise one."""
    return NOT_NUMBERS[k % len(NOT_NUMBERS)]


def hash_int(entity_id: str) -> int:
    """The id's last six hex digits: a stable number to derive served extras from."""
    return int(entity_id[-6:], 16)


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


