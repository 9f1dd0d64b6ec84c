"""Communication channels (a person's account on one messenger) and their chat messages.

A channel's generated messages are not stored: they are rebuilt on demand from
``(seed, channel index)`` (an LRU cache keeps the hot ones); only messages added later
(``simulate``, ``mutate_rate``) are kept, in ``Channel.extra``."""
from __future__ import annotations

import random
from typing import Any

from emulators.base import iso_ms, parse_iso
from emulators.hostile import PAYLOADS
from emulators.leeloo.account import AccountBase
from emulators.leeloo.entities import Channel, Person, SortedIndex, hash_int, odd_slot, odd_text
from emulators.leeloo.vocab import (
    BOT_TEXTS,
    BROADCAST_TEXTS,
    DAY,
    FRIEND_TEXTS,
    HOSTILE_TAIL,
    HOUR,
    INBOUND_TYPE,
    MINUTE,
    MSG_TYPES,
    SILENT_MS,
    SYSTEM_TEXTS,
    UTM_CAMPAIGNS,
    UTM_MEDIUMS,
    UTM_SOURCES,
    YOUR_TEXTS,
)


class Channels(AccountBase):
    """Channels, their messages (generated and added), and the inbound reading of
    ``lastMessageTime`` (when the subscriber last wrote)."""

    # ----------------------------------------------------------------- generation
    def _new_channel(self, r: random.Random, p: Person, *, first: str, created_ms: int, connection: tuple[str, str],
                     until: int, fresh: bool) -> Channel:
        """A channel of ``p`` on ``connection`` (from, connection id), with its generated
        messages' count and time span (none when ``fresh``: a brand-new person)."""
        ch = Channel()
        ch.idx = len(self.channels)
        ch.alive = True
        ch.odd_msg = False
        ch.person = p
        ch.created_ms = created_ms
        ch.id = self.oid(ch.created_ms, f"c{ch.idx}")
        ch.name = p.name if r.random() < 0.8 else r.choice(["TIIIIK", first.lower() + str(r.randint(1, 99)), first])
        ch.frm, ch.connection_id = connection
        ch.connection_status = "OK" if r.random() < 0.95 else "BLOCKED"
        ch.bot_status = "BOT" if r.random() < 0.8 else "ADMIN"
        ch.utm = self._draw_utm(r)
        if self.hostile:
            self._hostile_utm(ch)
        ch.extra = None
        self._draw_message_span(r, ch, until, fresh)
        ch.gen_ms = ch.lmt_ms  # generated messages end here whatever is added later
        p.channels.append(ch)
        self.channels.append(ch)
        self.channel_by_id[ch.id] = ch
        return ch

    @staticmethod
    def _draw_utm(r: random.Random) -> dict[str, Any]:
        """UTM marks for ~30% of channels: a source, maybe medium, campaign, content, term."""
        utm: dict[str, Any] = {}
        if r.random() < 0.30:
            utm["utm_source"] = r.choice(UTM_SOURCES)
            for key, vals in (("utm_medium", UTM_MEDIUMS), ("utm_campaign", UTM_CAMPAIGNS)):
                if r.random() < 0.6:
                    utm[key] = r.choice(vals)
            if r.random() < 0.2:
                utm["utm_content"] = f"ad{r.randint(1, 20)}"
            if r.random() < 0.1:
                utm["utm_term"] = r.choice(["course", "webinar", "бот"])
        return utm

    def _draw_message_span(self, r: random.Random, ch: Channel, until: int, fresh: bool) -> None:
        """How many messages the channel was generated with and when the last one was."""
        if fresh:
            ch.n_gen = 0
            ch.lmt_ms = ch.created_ms
            ch.lmt_in = ch.created_ms
            return
        ch.n_gen = min(25, int(r.expovariate(1 / 8.5)))
        if self.hostile and ch.idx < len(PAYLOADS):
            ch.n_gen = max(1, ch.n_gen)  # its first message carries payload idx
        span = until - ch.created_ms
        ch.lmt_ms = ch.created_ms if ch.n_gen == 0 else ch.created_ms + int(span * (r.random() ** 0.6))
        ch.lmt_in = None  # computed when the inbound reading is first asked for

    def _hostile_utm(self, ch: Channel) -> None:
        value = self._hostile(ch.idx, None)
        if value is not None and (ch.utm or ch.idx < len(PAYLOADS)):
            key = "utm_source" if not ch.utm else self.hostile_rng.choice(sorted(ch.utm))
            ch.utm[key] = value

    def _odd_channels(self) -> None:
        """A few channels' name or utm_source is a JSON value, and so is the text of one
        message in a few channels with messages (its id is known once generated)."""
        with_messages = 0
        for k, ch in enumerate(self.channels):
            slot = odd_slot(k, 2)
            if slot == 0:
                ch.name = odd_text(k)
                self._odd("communication_channels", ch.id, "name")
            elif slot == 1:
                ch.utm = dict(ch.utm, utm_source=odd_text(k))
                self._odd("communication_channels", ch.id, "utmMarks")
            if ch.n_gen:
                with_messages += 1
                ch.odd_msg = odd_slot(with_messages, 1) is not None

    # ----------------------------------------------------------------- messages
    def _message_plan(self, ch: Channel) -> list[tuple[int, str, str, bool, str | None]]:
        """The channel's generated messages as (ms, type, text, unread, creator), oldest first."""
        n = ch.n_gen
        r = random.Random(self.seed * 1_000_003 + ch.idx)
        gaps = []
        for _ in range(n - 1):
            if r.random() < 0.75:
                gaps.append(r.uniform(2_000, 15 * MINUTE))  # within a conversation
            else:
                gaps.append(r.uniform(HOUR, 12 * DAY))  # a new conversation
        span = ch.gen_ms - ch.created_ms
        total = sum(gaps)
        if total > span:
            factor = span / total if total else 0.0
            gaps = [g * factor for g in gaps]
        times = [ch.gen_ms]
        t = float(ch.gen_ms)
        for g in reversed(gaps):
            t -= g
            times.append(max(ch.created_ms, int(t)))
        times.reverse()
        users = ch.person.contacted_users
        plan = []
        for j, ms in enumerate(times):
            if j == 0:
                typ = "SYSTEM_MESSAGE" if r.random() < 0.4 else "FRIEND_MESSAGE"
            else:
                typ = r.choices(MSG_TYPES, (40, 35, 15, 10))[0]
            if typ == "YOUR_MESSAGE" and not users:
                typ = "BOT_MESSAGE"
            text = r.choice({"FRIEND_MESSAGE": FRIEND_TEXTS, "BOT_MESSAGE": BOT_TEXTS,
                             "YOUR_MESSAGE": YOUR_TEXTS, "SYSTEM_MESSAGE": SYSTEM_TEXTS}[typ])
            unread = typ == "FRIEND_MESSAGE" and j >= n - 2 and r.random() < 0.3
            plan.append((ms, typ, text, unread, r.choice(users) if typ == "YOUR_MESSAGE" else None))
        return plan

    def _generated_messages(self, ch: Channel) -> list[dict]:
        """The channel's seed-generated messages, oldest first (served shape)."""
        if ch.n_gen == 0:
            return []
        with self._cache_lock:
            cached = self._msg_cache.get(ch.idx)
            if cached is not None:
                self._msg_cache.move_to_end(ch.idx)
                return cached
        plan = self._message_plan(ch)
        hr = random.Random(self.seed * 7_368_787 + ch.idx) if self.hostile else None
        odd_j = len(plan) // 2 if ch.odd_msg else -1
        out = []
        for j, (ms, typ, text, unread, creator) in enumerate(plan):
            value: Any = text
            if hr is not None:
                if j == 0 and ch.idx < len(PAYLOADS):
                    value = PAYLOADS[ch.idx]
                elif hr.random() < HOSTILE_TAIL:
                    value = hr.choice(PAYLOADS)
            if j == odd_j:
                value = odd_text(ch.idx)
            m: dict[str, Any] = {"id": self.oid(ms, f"m{ch.idx}:{j}"), "text": value, "type": typ, "read": not unread,
                 "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
            if creator is not None:
                m["links"] = {"createdBy": {"type": "users", "id": creator}}
            if self.extra_fields:
                m.update(self.message_extras(m["id"]))
            out.append(m)
        with self._cache_lock:
            self._msg_cache[ch.idx] = out
            if len(self._msg_cache) > self.MESSAGE_CACHE_CHANNELS:
                self._msg_cache.popitem(last=False)
        return out

    def messages(self, ch: Channel) -> list[dict]:
        """All messages of a channel, oldest first (do not mutate the dicts)."""
        gen = self._generated_messages(ch)
        return gen + ch.extra if ch.extra else gen

    def message_count(self, ch: Channel) -> int:
        return ch.n_gen + (len(ch.extra) if ch.extra else 0)

    # ----------------------------------------------------------------- the inbound reading
    def channel_inbound_ms(self, ch: Channel) -> int:
        """When the subscriber last wrote on ``ch`` (its ``createdAt`` if never)."""
        if ch.lmt_in is None:
            last = ch.created_ms
            if ch.n_gen:
                last = max([last] + [p[0] for p in self._message_plan(ch) if p[1] == INBOUND_TYPE])
            for m in ch.extra or ():
                if m["type"] == INBOUND_TYPE:
                    last = max(last, parse_iso(m["createdAt"]))
            ch.lmt_in = last
        return ch.lmt_in

    def build_inbound(self) -> None:
        """Indices over the inbound reading, built on first use and kept up to date after."""
        if self.inbound_built:
            return
        for ch in self.channels:
            if ch.alive:
                self.channel_inbound_ms(ch)
        for p in self.live_people():
            p.lmt_in = max(self.channel_lmt(c, True) for c in p.channels)
        self.channel_index_in = SortedIndex((self.channel_lmt(c, True), c.idx) for c in self.channels if c.alive)
        self.people_index_in = SortedIndex((self.person_lmt(p, True), p.idx) for p in self.live_people())
        self.inbound_built = True

    # ----------------------------------------------------------------- served shapes
    @staticmethod
    def channel_extras(c: Channel) -> dict:
        h = hash_int(c.id)
        return {"unreadCount": h % 7, "isPinned": h % 11 == 0}

    @staticmethod
    def message_extras(message_id: str) -> dict:
        h = hash_int(message_id)
        return {"deliveryStatus": ("SENT", "DELIVERED", "READ")[h % 3], "isForwarded": h % 13 == 0}

    def channel_item(self, c: Channel, inbound: bool = False) -> dict:
        d = {"id": c.id, "person_id": c.person.id, "name": c.name, "from": c.frm, "botStatus": c.bot_status,
             "lastMessageTime": iso_ms(self.channel_lmt(c, inbound)), "createdAt": iso_ms(c.created_ms),
             "utmMarks": dict(c.utm)}
        if self.extra_fields:
            d.update(self.channel_extras(c))
        return d

    def v1_account_item(self, c: Channel, inbound: bool = False) -> dict:
        d = {"id": c.id, "name": c.name, "tags": list(c.person.tags), "from": c.frm, "botStatus": c.bot_status,
             "lastMessageTime": iso_ms(self.channel_lmt(c, inbound)), "createdAt": iso_ms(c.created_ms)}
        if self.extra_fields:
            d.update(self.channel_extras(c))
        return d

    def v1_account_detail(self, c: Channel) -> dict:
        p = c.person
        return {
            "id": c.id, "name": c.name, "tags": list(p.tags), "from": c.frm, "botStatus": c.bot_status,
            "gender": p.gender, "phone": p.phone, "email": p.email, "locale": p.locale,
            "subscribeHistory": [{"tunnelName": s["tunnelName"], "leadgentoolName": s["leadgentoolName"],
                                  "trafficSource": s["trafficSource"]} for s in p.subscribe_history],
            "links": {"contactedUsers": [{"type": "users", "id": u} for u in self.live_contacted(p)],
                      "orders": [{"type": "orders", "id": o.id} for o in p.orders]},
            "custom_fields": {f["name"]: f["value"] for f in p.custom_fields},
            "createdAt": iso_ms(c.created_ms), "updatedAt": iso_ms(max(c.lmt_ms, p.updated_ms)),
        }

    # ----------------------------------------------------------------- changes (hold the data lock)
    def _touch_channel(self, ch: Channel, new_msgs: list[dict], last_ms: int) -> None:
        """Append messages to ``ch``: the any-type time moves to ``last_ms``; the inbound
        time only with a FRIEND_MESSAGE."""
        self.invalidate(ch.person)
        if ch.extra is None:
            ch.extra = []
        ch.extra.extend(new_msgs)
        if last_ms != ch.lmt_ms:
            self.channel_index.move(ch.idx, ch.lmt_ms, last_ms)
            ch.lmt_ms = last_ms
        inbound = [parse_iso(m["createdAt"]) for m in new_msgs if m["type"] == INBOUND_TYPE]
        if inbound and ch.lmt_in is not None and max(inbound) > ch.lmt_in:
            if self.channel_index_in is not None:
                self.channel_index_in.move(ch.idx, ch.lmt_in, max(inbound))
            ch.lmt_in = max(inbound)
        p = ch.person
        self._move_person(p)
        p.updated_ms = max(p.updated_ms, last_ms)

    def _message(self, ch: Channel, ms: int, seq: int, typ: str, text: str, *, creator: str | None = None) -> dict:
        m: dict[str, Any] = {"id": self.oid(ms, f"x{ch.idx}:{seq}"), "text": self._hostile_later(text), "type": typ,
             "read": typ != INBOUND_TYPE, "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
        if creator is not None:
            m["links"] = {"createdBy": {"type": "users", "id": creator}}
        if self.extra_fields:
            m.update(self.message_extras(m["id"]))
        return m

    def person_writes(self, p: Person, r: random.Random, *, n_msgs: int = 1, at_ms: int | None = None) -> dict:
        """``p`` writes now on one of their channels: a FRIEND_MESSAGE, then
        (n_msgs-1) BOT/YOUR replies, the last one stamped ``at_ms`` (default now)."""
        now = self.clock() if at_ms is None else at_ms
        ch = r.choice(p.channels)
        if now <= ch.lmt_ms:  # keep timestamps increasing within the channel
            now = ch.lmt_ms + n_msgs
        msgs = []
        base = len(ch.extra) if ch.extra else 0
        users = self.live_contacted(p)
        for j in range(n_msgs):
            ms = now - (n_msgs - 1 - j)
            if j == 0:
                typ = "FRIEND_MESSAGE"
            else:
                typ = "YOUR_MESSAGE" if users and r.random() < 0.4 else "BOT_MESSAGE"
            texts = {"FRIEND_MESSAGE": FRIEND_TEXTS, "BOT_MESSAGE": BOT_TEXTS, "YOUR_MESSAGE": YOUR_TEXTS}[typ]
            text = r.choice(texts)
            creator = r.choice(users) if typ == "YOUR_MESSAGE" else None
            msgs.append(self._message(ch, ms, base + j, typ, text, creator=creator))
        self._touch_channel(ch, msgs, now)
        self.version += 1
        return {"person_id": p.id, "account_id": ch.id, "message_ids": [m["id"] for m in msgs],
                "lastMessageTime": iso_ms(now)}

    def send_outbound(self, ch: Channel, r: random.Random, *, broadcast: bool) -> list[dict]:
        """Messages to ``ch``'s subscriber now, none from them: a broadcast (one
        BOT_MESSAGE) or a reply (1-2 YOUR_MESSAGE from a contacted user, or BOT_MESSAGE)."""
        n_msgs = 1 if broadcast else r.randint(1, 2)
        now = max(self.clock(), ch.lmt_ms + n_msgs)
        users = self.live_contacted(ch.person)
        base = len(ch.extra) if ch.extra else 0
        msgs = []
        for j in range(n_msgs):
            ms = now - (n_msgs - 1 - j)
            if broadcast:
                msgs.append(self._message(ch, ms, base + j, "BOT_MESSAGE", r.choice(BROADCAST_TEXTS)))
            elif users and r.random() < 0.6:
                msgs.append(self._message(ch, ms, base + j, "YOUR_MESSAGE", r.choice(YOUR_TEXTS),
                                          creator=r.choice(users)))
            else:
                msgs.append(self._message(ch, ms, base + j, "BOT_MESSAGE", r.choice(BOT_TEXTS)))
        self._touch_channel(ch, msgs, now)
        self.version += 1
        return msgs

    def reply_targets(self, r: random.Random, n: int) -> list[Channel]:
        """``n`` distinct channels: half among the 10% most recently active (a manager
        answers who wrote lately), half among all."""
        live = self.live_channels()
        n = min(n, len(live))
        idxs = self.channel_index.idxs
        recent = [self.channels[i] for i in idxs[len(idxs) - max(1, len(idxs) // 10):]]
        picked: dict[int, Channel] = {}
        for c in r.sample(recent, min(len(recent), n - n // 2)):
            picked[c.idx] = c
        rest = [c for c in live if c.idx not in picked]
        for c in r.sample(rest, n - len(picked)):
            picked[c.idx] = c
        return list(picked.values())

    def silent_channels(self, r: random.Random, n: int) -> list[Channel]:
        """Up to ``n`` channels whose subscriber has not written for SILENT_MS (or never)."""
        cutoff = self.clock() - SILENT_MS
        live = self.live_channels()
        out = []
        for c in r.sample(live, len(live)):
            if self.channel_inbound_ms(c) < cutoff:
                out.append(c)
                if len(out) == n:
                    break
        return out
