"""Deterministic synthetic Leeloo.ai account data.

Everything is derived from ``(seed, scale, anchor)`` and the data modes: the same
arguments give the same ids, names, timestamps and messages. ``scale`` is the number
of people. History spans ~2 years before ``anchor``; nothing generated lies after it.

The account is built from one part per entity, each in its own module:
``references`` (users, tags, connections, templates), ``tunnels`` (with leadgentools,
traffic sources and stats), ``orders``, ``channels`` (with their messages), ``people``
and ``deletions``; ``account`` holds the state they share and ``simulate`` makes the
account live. This module puts them together, draws the account in a fixed order and
answers the truth.

Memory: people, channels and orders are small ``__slots__`` objects. A
channel's generated messages are *not* stored: each channel keeps only its
message count, its creation time and the time its generated messages end; the
messages are rebuilt on demand from ``(seed, channel index)`` (an LRU cache keeps
the hot ones). Messages added later (``simulate``/``mutate_rate``) are kept per channel.

Indices: people and channels are kept in lists sorted by ``lastMessageTime``
(parallel key/index lists, maintained with bisect on every change), so a
window filter is two bisects; orders are kept sorted by ``createdAt``. The second
reading of ``lastMessageTime`` (moved only by the subscriber's own messages) has
its own pair of indices, built the first time it is asked for.

Deleted people and channels stay in ``people``/``channels`` (their position is their
index) with ``alive = False``; they are gone from the indices and the id maps.
"""
from __future__ import annotations

import collections
import datetime as _dt
import random
import threading
from collections.abc import Callable

from emulators.base import iso_ms, now_ms, to_ms
from emulators.leeloo.deletions import Deletions
from emulators.leeloo.entities import Channel, Order, Person, SortedIndex
from emulators.leeloo.vocab import DAY, DELETABLE, DELETED_TABLES, EXTRA_FIELDS, OPEN_STATUSES

__all__ = [
    "DELETABLE",
    "DELETED_TABLES",
    "OPEN_STATUSES",
    "Channel",
    "LeelooData",
    "Order",
    "Person",
    "SortedIndex",
]


class LeelooData(Deletions):
    """The whole synthetic account. Not thread-safe by itself: the server
    holds ``EmulatorApp.data_lock`` around every read and mutation.

    Data modes (fixed at construction, kept by ``regenerate``): ``hostile`` puts
    :data:`emulators.hostile.PAYLOADS` into the strings strangers type, ``odd_shapes``
    gives a few records per entity values of the wrong JSON shape, ``extra_fields``
    serves fields the documents do not list."""

    def __init__(self, seed: int = 1, scale: int = 200, anchor: _dt.datetime | None = None, *,
                 hostile: bool = False, odd_shapes: bool = False, extra_fields: bool = False,
                 clock: Callable[[], int] = now_ms):
        if scale < 1:
            raise ValueError("scale must be >= 1")
        self.seed = int(seed)
        self.scale = int(scale)
        self.hostile = bool(hostile)
        self.odd_shapes = bool(odd_shapes)
        self.extra_fields = bool(extra_fields)
        self.clock = clock  # the API's "now" in epoch ms: what new activity is stamped with
        if anchor is None:
            anchor = _dt.datetime.fromtimestamp(clock() / 1000, _dt.UTC).replace(minute=0, second=0, microsecond=0)
        elif anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=_dt.UTC)
        self.anchor = anchor
        self.anchor_ms = to_ms(anchor)
        self.version = 0  # bumped on every change
        self._msg_cache = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self._derived_cache = {}
        # JSON text of list items, keyed (kind, idx[, drift]); dropped when the entity changes
        self.frag_cache = {}
        self.sim_rng = random.Random(self.seed * 7919 + 17)
        self.hostile_rng = random.Random(self.seed * 104_729 + 3)
        self.deleted = {t: [] for t in DELETED_TABLES}
        self.odd_values = []
        self._order_seq = 0
        self._live_people = None  # None: every person is alive (no copy)
        self.inbound_built = False
        self.people_index_in = None
        self.channel_index_in = None
        self._generate()

    def _generate(self) -> None:
        """Draw the account from one stream seeded by ``seed``, in a fixed order: each
        part draws what the next picks from (a person picks tags, users, connections
        and tunnels)."""
        r = random.Random(self.seed)
        self.start_ms = self.anchor_ms - 730 * DAY
        self._generate_reference_lists(r)
        self._generate_tunnels(r)
        if self.odd_shapes:  # before people, so subscribeHistory carries the same values
            self._odd_tunnels()
        self._generate_people(r)
        if self.odd_shapes:
            self._odd_records()

    def _generate_people(self, r: random.Random) -> None:
        """``scale`` people created over two years, and the indices over them."""
        end = self.anchor_ms
        self.people = []
        self.channels = []
        self.orders = []
        self.person_by_id = {}
        self.channel_by_id = {}
        self.order_by_id = {}
        for _ in range(self.scale):
            c = end - int(r.random() * 730 * DAY)
            self._new_person(r, c, end, self.tag_names)
        # orders sorted by createdAt; the list stays sorted (new orders are "now")
        self.orders.sort(key=lambda o: (o.created_ms, o.idx))
        self.people_index = SortedIndex((p.lmt_ms, p.idx) for p in self.people)
        self.channel_index = SortedIndex((c.lmt_ms, c.idx) for c in self.channels)

    def _odd_records(self) -> None:
        """A few records per entity get a JSON object or list where text is promised, or
        text that is not a number where a number is (see ``odd_slot``)."""
        self._odd_people()
        self._odd_channels()
        self._odd_orders()
        self._odd_reference_lists()

    # ----------------------------------------------------------------- truth
    def truth(self, *, inbound: bool = False) -> dict:
        """The account as the API serves it now (canonical shapes, no drift), read the
        way ``inbound`` says lastMessageTime moves."""
        if inbound:
            self.build_inbound()
        per, _tot = self.tunnel_stats()
        gone = {i for ids in self.deleted.values() for i in ids}
        people = []
        for p in self.live_people():
            d = self.person_detail(p)
            d["lastMessageTime"] = iso_ms(self.person_lmt(p, inbound))
            people.append(d)
        msgs = []
        odd_messages = []
        channels = self.live_channels()
        for c in channels:
            for m in self.messages(c):
                d = dict(m)
                d["account_id"] = c.id
                msgs.append(d)
            if c.odd_msg:
                odd_id = self.messages(c)[c.n_gen // 2]["id"]
                odd_messages.append({"table": "chat_messages", "id": odd_id, "field": "text"})
        orders = []
        history: list[dict[str, str]] = []
        for o in self.orders:
            d = self.order_detail(o)
            d["person_id"] = o.person.id
            orders.append(d)
            history.extend({"order_id": o.id, "status": s, "at": iso_ms(at)} for s, at in self.order_history(o))
        return {
            "people": people,
            "communication_channels": [self.channel_item(c, inbound) for c in channels],
            "chat_messages": msgs,
            "orders": orders,
            "tunnels": [self.tunnel_item(t) for t in self.tunnels],
            "leadgentools": [dict(self.lgt_item(lgt), tunnel_id=t["id"]) for t in self.tunnels for lgt in t["lgts"]],
            "traffic_sources": [dict(s, leadgentool_id=lgt["id"], tunnel_id=t["id"])
                                for t in self.tunnels for lgt in t["lgts"] for s in lgt["ts"]],
            "tunnel_stats": [dict(per[t["id"]], tunnel_id=t["id"]) for t in self.tunnels],
            "users": [dict(u) for u in self.users],
            "tags": [dict(t) for t in self.tags],
            "connections": [dict(c) for c in self.connections],
            "template_categories": [dict(c) for c in self.template_categories],
            "templates": [dict(t, category_id=cid) for cid, ts in self.templates.items() for t in ts],
            "anchor": iso_ms(self.anchor_ms),
            "last_message_time": "inbound" if inbound else "any",
            "deleted": {t: list(ids) for t, ids in self.deleted.items()},
            "order_status_history": history,
            "extra_fields": {t: list(f) for t, f in EXTRA_FIELDS.items()} if self.extra_fields else {},
            "odd_values": [v for v in [*self.odd_values, *odd_messages] if v["id"] not in gone],
        }
