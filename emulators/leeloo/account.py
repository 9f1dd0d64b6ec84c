"""What every part of a Leeloo account shares: its state, ids, hostile strings, the live
entities, the two readings of ``lastMessageTime`` and the caches a change must drop.

The account is one object built from parts (people, channels and messages, orders,
tunnels, reference lists, deletions), each a class in its own module; this base names
the state they share, so each part reads as what it adds."""
from __future__ import annotations

import collections
import datetime as _dt
import hashlib
import random
import threading
from collections.abc import Callable
from typing import Any

from emulators.hostile import PAYLOADS
from emulators.leeloo.entities import Channel, Order, Person, SortedIndex
from emulators.leeloo.vocab import HOSTILE_TAIL


class AccountBase:
    """The state of one synthetic account (set by ``LeelooData.__init__`` and its
    generation) and the helpers every part uses. Hold the data lock around changes."""

    MESSAGE_CACHE_CHANNELS = 20_000

    seed: int
    scale: int
    hostile: bool
    odd_shapes: bool
    extra_fields: bool
    clock: Callable[[], int]
    anchor: _dt.datetime
    anchor_ms: int
    start_ms: int
    version: int
    _msg_cache: collections.OrderedDict[int, list]
    _cache_lock: threading.Lock
    _derived_cache: dict
    frag_cache: dict[tuple, str]
    sim_rng: random.Random
    hostile_rng: random.Random
    deleted: dict[str, list[str]]
    odd_values: list[dict]
    _order_seq: int
    _live_people: list[Person] | None
    inbound_built: bool
    people_index: SortedIndex
    channel_index: SortedIndex
    people_index_in: SortedIndex | None
    channel_index_in: SortedIndex | None
    users: list[dict[str, Any]]
    user_by_id: dict[str, dict[str, Any]]
    tags: list[dict[str, Any]]
    tag_names: list[str]
    connections: list[dict[str, Any]]
    messenger_conns: list[tuple[str, str]]
    template_categories: list[dict[str, Any]]
    templates: dict[str, list[dict[str, Any]]]
    category_by_id: dict[str, dict[str, Any]]
    tunnels: list[dict[str, Any]]
    tunnel_by_id: dict[str, dict[str, Any]]
    lgt_by_id: dict[str, dict[str, Any]]
    people: list[Person]
    channels: list[Channel]
    orders: list[Order]
    person_by_id: dict[str, Person]
    channel_by_id: dict[str, Channel]
    order_by_id: dict[str, Order]

    # ----------------------------------------------------------------- ids
    def oid(self, ts_ms: int, key: str) -> str:
        """24-hex Mongo-like id: 8 hex of the timestamp + 16 hex of a hash of (seed, key)."""
        h = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).hexdigest()
        return f"{(int(ts_ms) // 1000) & 0xFFFFFFFF:08x}{h}"

    # ----------------------------------------------------------------- hostile strings and odd values
    def _hostile(self, k: int, normal: Any) -> Any:
        """Record ``k`` of a place: payload k for the first records (every payload shows up
        once), then a random payload for a share of the rest."""
        if k < len(PAYLOADS):
            return PAYLOADS[k]
        if self.hostile_rng.random() < HOSTILE_TAIL:
            return self.hostile_rng.choice(PAYLOADS)
        return normal

    def _hostile_later(self, normal: str) -> str:
        """A string typed after generation (simulate) in hostile mode."""
        if self.hostile and self.hostile_rng.random() < HOSTILE_TAIL:
            return self.hostile_rng.choice(PAYLOADS)
        return normal

    def _odd(self, table: str, entity_id: str, field: str) -> None:
        self.odd_values.append({"table": table, "id": entity_id, "field": field})

    # ----------------------------------------------------------------- live entities
    def live_people(self) -> list[Person]:
        """People not deleted, in generation order (the full list itself while none is)."""
        return self.people if self._live_people is None else self._live_people

    def live_channels(self) -> list[Channel]:
        return [c for c in self.channels if c.alive]

    def live_contacted(self, p: Person) -> list[str]:
        return [u for u in p.contacted_users if u in self.user_by_id]

    # ----------------------------------------------------------------- the readings of lastMessageTime
    @staticmethod
    def person_lmt(p: Person, inbound: bool) -> int:
        if inbound:
            assert p.lmt_in is not None, "build_inbound() first"
            return p.lmt_in
        return p.lmt_ms

    @staticmethod
    def channel_lmt(c: Channel, inbound: bool) -> int:
        if inbound:
            assert c.lmt_in is not None, "build_inbound() first"
            return c.lmt_in
        return c.lmt_ms

    def _move_person(self, p: Person) -> None:
        """Re-key ``p`` in the indices after its channels' times changed."""
        new_p = max(c.lmt_ms for c in p.channels)
        if new_p != p.lmt_ms:
            self.people_index.move(p.idx, p.lmt_ms, new_p)
            p.lmt_ms = new_p
        if self.inbound_built:
            assert self.people_index_in is not None
            new_in = max(self.channel_lmt(c, True) for c in p.channels)
            old_in = self.person_lmt(p, True)
            if new_in != old_in:
                self.people_index_in.move(p.idx, old_in, new_in)
                p.lmt_in = new_in

    # ----------------------------------------------------------------- caches
    def invalidate(self, *entities: Any) -> None:
        """Forget cached list-item JSON of changed people/channels/orders."""
        fc = self.frag_cache
        for e in entities:
            if isinstance(e, Person):
                fc.pop(("person", e.idx), None)
                fc.pop(("person_in", e.idx), None)
                for c in e.channels:
                    self.invalidate(c)
            elif isinstance(e, Channel):
                for kind in ("channel", "v1account", "channel_in", "v1account_in"):
                    fc.pop((kind, e.idx), None)
            elif isinstance(e, Order):
                fc.pop(("order", e.idx, False), None)
                fc.pop(("order", e.idx, True), None)
