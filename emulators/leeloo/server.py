"""Leeloo.ai API emulator: the read endpoints of API v2 (and v1 accounts).

See ``emulators/README.md`` for the readings taken where the documents are loose.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from emulators.base import EmulatorApp, HTTPError, Knobs, Request, Response, api_clock_ms, parse_iso
from emulators.leeloo.data import Channel, LeelooData, Person, SortedIndex
from emulators.leeloo.knobs import LeelooKnobs
from emulators.leeloo.simulate import simulate as simulate_activity

AUTH_HEADERS = ("X-Leeloo-AuthToken", "X-Leeloo-Auth-Token")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DATA = ("data",)  # where a list route's list sits (the odd-page knobs spoil it there)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _list_response(frags: list[str], meta: dict) -> Response:
    """``{"status":1,"data":[...],"meta":{...}}`` from pre-serialised items."""
    body = '{"status":1,"data":[' + ",".join(frags) + '],"meta":' + _dumps(meta) + "}"
    return Response(200, body.encode("utf-8"))


def _shuffle_key(entity_id: str) -> int:
    # ids end in 16 hex of a hash: a stable pseudo-random order independent of time
    return int(entity_id[-12:], 16)


class LeelooEmulator(EmulatorApp):
    """Leeloo.ai emulator.

    ``LeelooEmulator(seed=1, scale=200, token="test-token", knobs=None, anchor=None,
    hostile=False, odd_shapes=False, extra_fields=False)``

    - ``serve()`` -> context manager yielding the base URL (real HTTP, random port)
    - ``truth()``, ``request_counts()``, ``reset_counts()``, ``simulate(...)``
    - ``knobs``: the live :class:`~emulators.leeloo.knobs.LeelooKnobs` (a plain
      :class:`~emulators.base.Knobs` given here is copied into one)
    - ``data``: the :class:`~emulators.leeloo.data.LeelooData` behind it
    - data modes (kept by ``regenerate``): ``hostile`` strangers' strings, ``odd_shapes``
      values of the wrong JSON shape, ``extra_fields`` fields the documents do not list
    """

    name = "leeloo"
    knobs_class = LeelooKnobs
    knobs: LeelooKnobs

    def __init__(self, seed: int = 1, scale: int = 200, token: str = "test-token",
                 knobs: Knobs | None = None, anchor: _dt.datetime | None = None, *,
                 hostile: bool = False, odd_shapes: bool = False, extra_fields: bool = False):
        super().__init__(seed=seed, knobs=knobs)
        self.scale = scale
        self.token = token
        self._anchor_arg = anchor
        self.modes = {"hostile": bool(hostile), "odd_shapes": bool(odd_shapes), "extra_fields": bool(extra_fields)}
        self.data = LeelooData(seed=seed, scale=scale, anchor=anchor, clock=self.clock_ms, **self.modes)
        self._order_cache: dict = {}
        route = self.route
        v2 = "/api/v2"
        # list routes name where their list sits (``items``): the odd-page knobs act on those
        route("GET", f"{v2}/people", self.people_list, items=DATA)
        route("GET", f"{v2}/people/{{id}}", self.person_get)
        route("GET", f"{v2}/communication-channels", self.channels_list, items=DATA)
        route("GET", f"{v2}/communication-channels/{{id}}/chat-messages", self.chat_messages, items=DATA)
        route("GET", f"{v2}/communication-channels/{{id}}/person", self.channel_person)
        route("GET", f"{v2}/communication-channels/{{person_id}}/{{id}}", self.channel_person_ru)
        route("GET", f"{v2}/orders", self.orders_list, items=DATA)
        route("GET", f"{v2}/orders/{{id}}", self.order_get)
        route("GET", f"{v2}/tunnels", self.tunnels_list, items=DATA)
        route("GET", f"{v2}/tunnels/stats", self.tunnels_stats)
        route("GET", f"{v2}/tunnels/{{id}}", self.tunnel_get)
        route("GET", f"{v2}/tunnels/{{id}}/stats", self.tunnel_stats)
        route("GET", f"{v2}/users", self.users_list, items=DATA)
        route("GET", f"{v2}/users/{{id}}", self.user_get)
        route("GET", f"{v2}/tags", self.tags_list, items=DATA)
        route("GET", f"{v2}/connections", self.connections_list, items=("data", "connections"))
        route("GET", f"{v2}/categories/templates", self.categories_list, items=("data", "categories"))
        route("GET", f"{v2}/categories/templates/{{id}}", self.templates_list, items=("data", "templates"))
        route("GET", "/api/v1/accounts", self.v1_accounts, items=DATA)
        route("GET", "/api/v1/accounts/{id}", self.v1_account_get)
        route("GET", "/api/v1/accounts/{id}/chat-messages", self.v1_chat_messages, items=DATA)

    def clock_ms(self) -> int:
        """The API's "now" (the clock knobs), read when asked: a knob changed later applies."""
        return api_clock_ms(self.knobs)

    # ------------------------------------------------------------------ hooks
    def authorize(self, req: Request) -> bool:
        for h in AUTH_HEADERS:
            v = req.headers.get(h)
            if v is not None:
                return v.strip() == self.token
        return False

    def regenerate(self) -> None:
        with self.data_lock:
            self.data = LeelooData(seed=self.seed, scale=self.scale, anchor=self._anchor_arg, clock=self.clock_ms,
                                   **self.modes)
            self._order_cache.clear()

    def truth(self) -> dict:
        """The account as served now, lastMessageTime read as the knob says."""
        with self.data_lock:
            return self.data.truth(inbound=self.knobs.last_message_time == "inbound")

    def simulate(self, *, active_people: float | int = 0, new_people: int = 0, new_orders: int = 0,
                 status_changes: int = 0, replies: int = 0, broadcasts: int = 0, crm_edits: int = 0,
                 payments: int = 0, delete: dict | None = None) -> dict:
        """Make the account live: see the module README and :mod:`emulators.leeloo.simulate`.
        Returns the ids touched."""
        counts = {"new_people": new_people, "new_orders": new_orders, "status_changes": status_changes,
                  "replies": replies, "broadcasts": broadcasts, "crm_edits": crm_edits, "payments": payments}
        with self.data_lock:
            return simulate_activity(self.data, active_people=active_people, counts=counts, delete=delete)

    # ------------------------------------------------------------------ helpers
    def _maybe_mutate(self) -> None:
        """mutate_rate: a random existing person writes a FRIEND_MESSAGE now."""
        if self.chance(self.knobs.mutate_rate):
            with self.data_lock:
                d = self.data
                live = d.live_people()
                d.person_writes(live[self.randint(0, len(live) - 1)], d.sim_rng, n_msgs=1)

    def _inbound(self) -> bool:
        """True under the inbound reading (its indices built). Hold the data lock."""
        if self.knobs.last_message_time != "inbound":
            return False
        self.data.build_inbound()
        return True

    def _people_index(self, inbound: bool) -> SortedIndex:
        d = self.data
        return d.people_index_in if inbound else d.people_index  # type: ignore[return-value]

    def _channel_index(self, inbound: bool) -> SortedIndex:
        d = self.data
        return d.channel_index_in if inbound else d.channel_index  # type: ignore[return-value]

    def _window(self, req: Request, required: bool) -> tuple[int | None, int | None]:
        f, t = req.arg("filter[last_message][from]"), req.arg("filter[last_message][to]")
        if required and (not f or not t):
            raise HTTPError(400, "filter[last_message][from] and filter[last_message][to] are required")
        try:
            lo = parse_iso(f) if f else None
            hi = parse_iso(t, end_of_day=True) if t else None
        except ValueError:
            raise HTTPError(400, "filter[last_message] dates must be YYYY-MM-DD or ISO 8601 datetimes") from None
        return lo, hi

    def _ordered(self, kind: str, idxs: list[int], ids: list[str]) -> list[int]:
        """Apply the ``sort`` knob to an ascending list of entity indices."""
        s = self.knobs.sort
        if s == "asc":
            return idxs
        if s == "desc":
            return idxs[::-1]
        return sorted(idxs, key=lambda i: _shuffle_key(ids[i]))

    def _list(self, req: Request, rows: list, total_all: int) -> dict:
        """Page a fully ordered list of served rows (small lists)."""
        offset, limit, n = self.page(req, len(rows), default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
        page = rows[offset:offset + n]
        return {"status": 1, "data": page, "meta": self._meta(limit, offset, len(page), len(rows), total_all)}

    def _meta(self, limit: int, offset: int, n_page: int, matching: int, total_all: int) -> dict:
        if self.knobs.meta_mode == "filter":
            return {"limit": limit, "offset": offset, "filteredCount": matching, "totalCount": total_all}
        return {"limit": limit, "offset": offset, "filteredCount": n_page, "totalCount": matching}

    def _sorted_rows(self, rows: list[dict], key: str) -> list[dict]:
        s = self.knobs.sort
        if s == "random":
            return sorted(rows, key=lambda x: _shuffle_key(x["id"]))
        return sorted(rows, key=lambda x: (x[key], x["id"]), reverse=(s == "desc"))

    def _windowed_page(self, req: Request, index: SortedIndex, entities: list, lo_ms: int | None, hi_ms: int | None,
                       *, predicate: Callable[[Any], bool] | None = None) -> tuple[list, int, int, int, int]:
        """Entities of a SortedIndex inside the window, filtered, ordered per
        ``sort``, paged. Returns (page entities, limit, offset, matching, total_all)."""
        lo, hi = index.window(lo_ms, hi_ms)
        s = self.knobs.sort
        if predicate is None and s != "random":
            matching = hi - lo
            offset, limit, n = self.page(req, matching, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
            if s == "asc":
                sel = index.idxs[lo + offset: lo + offset + n]
            else:
                end = hi - offset
                sel = index.idxs[max(lo, end - n): end][::-1]
        else:
            idxs = index.idxs[lo:hi]
            if predicate is not None:
                idxs = [i for i in idxs if predicate(entities[i])]
            if s == "random":
                ck = (id(index), lo_ms, hi_ms, self.data.version) if predicate is None else None
                cached = self._order_cache.get(ck) if ck else None
                if cached is None:
                    cached = sorted(idxs, key=lambda i: _shuffle_key(entities[i].id))
                    if ck:
                        self._cache_put(ck, cached)
                idxs = cached
            elif s == "desc":
                idxs = idxs[::-1]
            matching = len(idxs)
            offset, limit, n = self.page(req, matching, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
            sel = idxs[offset:offset + n]
        return [entities[i] for i in sel], limit, offset, matching, len(index)

    def _cache_put(self, key, value) -> None:
        """Small cache of random-order permutations (keys carry the data version)."""
        if len(self._order_cache) >= 16:
            self._order_cache.clear()
        self._order_cache[key] = value

    def _frags(self, kind: str, ents: list, make, drift: bool | None = None) -> list[str]:
        """Cached JSON text of list items (the hot path: no dict building per request)."""
        cache = self.data.frag_cache
        out = []
        for e in ents:
            key = (kind, e.idx) if drift is None else (kind, e.idx, drift)
            f = cache.get(key)
            if f is None:
                f = cache[key] = _dumps(make(e) if drift is None else make(e, drift))
            out.append(f)
        return out

    def _person(self, pid: str) -> Person:
        p = self.data.person_by_id.get(pid)
        if p is None:
            raise HTTPError(404, "Person not found")
        return p

    def _channel(self, cid: str) -> Channel:
        c = self.data.channel_by_id.get(cid)
        if c is None:
            raise HTTPError(404, "Communication channel not found")
        return c

    @staticmethod
    def _include(req: Request) -> set[str]:
        out: set[str] = set()
        for v in req.args("include"):
            out.update(x.strip() for x in v.split(",") if x.strip())
        return out

    def _person_body(self, p: Person, include: set[str]) -> dict:
        drift = self.knobs.drift
        return {"status": 1, "data": self.data.person_detail(p, drift=drift),
                "included": self.data.included_for(p, include, drift=drift)}

    # ------------------------------------------------------------------ people
    def people_list(self, req: Request) -> Response:
        lo, hi = self._window(req, required=True)
        tags = [t.strip() for v in req.args("filter[tags]") for t in v.split(",") if t.strip()]
        phone, email = req.arg("filter[phone]"), req.arg("filter[email]")
        self._maybe_mutate()
        with self.data_lock:
            d = self.data
            pred = None
            if tags or phone or email:
                tag_set = set(tags)
                tag_ids = {t["id"]: t["name"] for t in d.tags if isinstance(t["name"], str)}
                tag_set |= {tag_ids[t] for t in tags if t in tag_ids}

                def pred(p: Person) -> bool:
                    if tag_set and not any(isinstance(t, str) and t in tag_set for t in p.tags):
                        return False
                    if phone and p.phone != phone:
                        return False
                    return not email or (isinstance(p.email, str) and p.email.lower() == email.lower())
            inbound = self._inbound()
            ents, limit, offset, matching, total_all = self._windowed_page(
                req, self._people_index(inbound), d.people, lo, hi, predicate=pred)
            if inbound:
                data = self._frags("person_in", ents, lambda p: d.person_list_item(p, True))
            else:
                data = self._frags("person", ents, d.person_list_item)
        return _list_response(data, self._meta(limit, offset, len(data), matching, total_all))

    def person_get(self, req: Request) -> dict:
        with self.data_lock:
            return self._person_body(self._person(req.params["id"]), self._include(req))

    # ------------------------------------------------------------------ channels
    def channels_list(self, req: Request) -> Response:
        lo, hi = self._window(req, required=False)
        self._maybe_mutate()
        with self.data_lock:
            d = self.data
            inbound = self._inbound()
            ents, limit, offset, matching, total_all = self._windowed_page(
                req, self._channel_index(inbound), d.channels, lo, hi)
            if inbound:
                data = self._frags("channel_in", ents, lambda c: d.channel_item(c, True))
            else:
                data = self._frags("channel", ents, d.channel_item)
        return _list_response(data, self._meta(limit, offset, len(data), matching, total_all))

    def _messages_page(self, req: Request, ch: Channel) -> dict:
        msgs = self.data.messages(ch)
        s = self.knobs.sort
        if s == "desc":
            msgs = msgs[::-1]
        elif s == "random":
            msgs = sorted(msgs, key=lambda m: _shuffle_key(m["id"]))
        offset, limit, n = self.page(req, len(msgs), default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
        page = msgs[offset:offset + n]
        # meta: no filter on this endpoint, so "filter" mode counts the channel's messages twice
        return {"status": 1, "data": page, "meta": self._meta(limit, offset, len(page), len(msgs), len(msgs))}

    def chat_messages(self, req: Request) -> dict:
        self._maybe_mutate()
        with self.data_lock:
            return self._messages_page(req, self._channel(req.params["id"]))

    def channel_person(self, req: Request) -> dict:
        with self.data_lock:
            return self._person_body(self._channel(req.params["id"]).person, self._include(req))

    def channel_person_ru(self, req: Request) -> dict:
        with self.data_lock:
            ch = self._channel(req.params["id"])
            if ch.person.id != req.params["person_id"]:
                raise HTTPError(404, "Communication channel not found")
            return self._person_body(ch.person, self._include(req))

    # ------------------------------------------------------------------ orders
    def orders_list(self, req: Request) -> Response:
        self._maybe_mutate()
        with self.data_lock:
            d = self.data
            orders = d.orders  # ascending createdAt
            s = self.knobs.sort
            total = len(orders)
            offset, limit, n = self.page(req, total, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
            if s == "asc":
                sel = orders[offset:offset + n]
            elif s == "desc":
                sel = orders[max(0, total - offset - n): max(0, total - offset)][::-1]
            else:
                ck = ("orders", d.version, total)
                perm = self._order_cache.get(ck)
                if perm is None:
                    perm = sorted(orders, key=lambda o: _shuffle_key(o.id))
                    self._cache_put(ck, perm)
                sel = perm[offset:offset + n]
            data = self._frags("order", sel, d.order_item, bool(self.knobs.drift))
        return _list_response(data, self._meta(limit, offset, len(data), total, total))

    def order_get(self, req: Request) -> dict:
        with self.data_lock:
            o = self.data.order_by_id.get(req.params["id"])
            if o is None:
                raise HTTPError(404, "Order not found")
            return {"status": 1, "data": self.data.order_detail(o, self.knobs.drift)}

    # ------------------------------------------------------------------ tunnels
    def tunnels_list(self, req: Request) -> dict:
        with self.data_lock:
            rows = self._sorted_rows([self.data.tunnel_item(t) for t in self.data.tunnels], "createdAt")
        return self._list(req, rows, len(rows))

    def _tunnel(self, tid: str) -> dict:
        t = self.data.tunnel_by_id.get(tid)
        if t is None:
            raise HTTPError(404, "Tunnel not found")
        return t

    def tunnel_get(self, req: Request) -> dict:
        with self.data_lock:
            t = self._tunnel(req.params["id"])
            lgts = list(t["lgts"])
            links = {"leadgentools": [{"type": "leadgentools", "id": lgt["id"]} for lgt in lgts]}
            body = {"status": 1, "data": dict(self.data.tunnel_item(t), links=links)}
            if "leadgentools" in self._include(req):
                body["linked"] = {"leadgentools": [self.data.lgt_item(lgt) for lgt in lgts]}
        return body

    def _stats_out(self, stats: dict, key: str) -> dict:
        out = dict(stats)
        if self.knobs.drift:  # some numbers arrive as strings
            h = hashlib.blake2b(key.encode(), digest_size=2).digest()[0]
            if not isinstance(out["totalSale"], str):
                out["totalSale"] = f"{out['totalSale']:.2f}"
            if h % 2:
                out["totalExpenses"] = str(out["totalExpenses"])
                out["uniqVisits"] = str(out["uniqVisits"])
        return out

    def tunnels_stats(self, req: Request) -> dict:
        with self.data_lock:
            _per, tot = self.data.tunnel_stats()
        return {"status": 1, "data": [self._stats_out(tot, "all")]}

    def tunnel_stats(self, req: Request) -> dict:
        with self.data_lock:
            t = self._tunnel(req.params["id"])
            per, _tot = self.data.tunnel_stats()
        return {"status": 1, "data": [self._stats_out(per[t["id"]], t["id"])]}

    # ------------------------------------------------------------------ small lists
    def users_list(self, req: Request) -> dict:
        with self.data_lock:
            rows = self._sorted_rows([dict(u) for u in self.data.users], "createdAt")
        return self._list(req, rows, len(rows))

    def user_get(self, req: Request) -> dict:
        with self.data_lock:
            u = self.data.user_by_id.get(req.params["id"])
            if u is None:
                raise HTTPError(404, "User not found")
            return {"status": 1, "data": dict(u)}

    def tags_list(self, req: Request) -> dict:
        with self.data_lock:
            return {"status": 1, "data": [dict(t) for t in self.data.tags]}

    def connections_list(self, req: Request) -> dict:
        with self.data_lock:
            return {"status": 1, "data": {"connections": [dict(c) for c in self.data.connections]}}

    def categories_list(self, req: Request) -> dict:
        with self.data_lock:
            return {"status": 1, "data": {"categories": [dict(c) for c in self.data.template_categories]}}

    def templates_list(self, req: Request) -> dict:
        cid = req.params["id"]
        with self.data_lock:
            if cid not in self.data.category_by_id:
                raise HTTPError(404, "Category not found")
            return {"status": 1, "data": {"templates": [dict(t) for t in self.data.templates[cid]]}}

    # ------------------------------------------------------------------ v1
    def v1_accounts(self, req: Request) -> Response:
        tags = {t.strip() for v in req.args("filter[tags]") for t in v.split(",") if t.strip()}
        self._maybe_mutate()
        pred = (lambda c: any(isinstance(t, str) and t in tags for t in c.person.tags)) if tags else None
        with self.data_lock:
            d = self.data
            inbound = self._inbound()
            ents, limit, offset, matching, total_all = self._windowed_page(
                req, self._channel_index(inbound), d.channels, None, None, predicate=pred)
            if inbound:
                data = self._frags("v1account_in", ents, lambda c: d.v1_account_item(c, True))
            else:
                data = self._frags("v1account", ents, d.v1_account_item)
        return _list_response(data, self._meta(limit, offset, len(data), matching, total_all))

    def v1_account_get(self, req: Request) -> dict:
        with self.data_lock:
            ch = self._channel(req.params["id"])
            return {"status": 1, "data": self.data.v1_account_detail(ch),
                    "included": self.data.included_for(ch.person, self._include(req), drift=self.knobs.drift, v1=True)}

    def v1_chat_messages(self, req: Request) -> dict:
        self._maybe_mutate()
        with self.data_lock:
            return self._messages_page(req, self._channel(req.params["id"]))
