"""People: who they are, their channels, subscriptions and orders at generation, the
CRM edits and new arrivals of simulate, and the shapes people are served in."""
from __future__ import annotations

import random
from typing import Any

from emulators.base import iso_ms
from emulators.hostile import PAYLOADS
from emulators.leeloo.channels import Channels
from emulators.leeloo.entities import Person, hash_int, odd_slot, odd_text, weighted_choice
from emulators.leeloo.orders import Orders
from emulators.leeloo.tunnels import Tunnels
from emulators.leeloo.vocab import (
    BOT_TEXTS,
    CUSTOM_FIELDS,
    DAY,
    DOMAINS,
    FIRST,
    FRIEND_TEXTS,
    GENDER_WEIGHTS,
    GENDERS,
    LAST,
    LOCALES,
    SYSTEM_TEXTS,
    TIMEZONES,
)


class People(Channels, Orders, Tunnels):
    """People with their channels, subscriptions and orders (so it stands on those parts)."""

    # ----------------------------------------------------------------- generation
    def _new_person(self, r: random.Random, created: int, until: int, tag_names: list[str], *,
                    fresh: bool = False) -> Person:
        """Create a person (and channels, orders) created at ``created``, with
        activity up to ``until``. ``fresh``: a brand-new person (simulate)."""
        p, first = self._draw_identity(r, created)
        self._draw_profile(r, p, tag_names)
        p.created_ms = created
        p.channels = []
        p.orders = []
        self.people.append(p)
        self.person_by_id[p.id] = p
        if self._live_people is not None:
            self._live_people.append(p)

        n_ch = min(len(self.messenger_conns), weighted_choice(r, [1, 2, 3], [60, 30, 10]))
        for k, connection in enumerate(r.sample(self.messenger_conns, n_ch)):
            ch_created = (created if k == 0
                          else min(until, created + int(r.random() * min(60 * DAY, until - created))))
            self._new_channel(r, p, first=first, created_ms=ch_created, connection=connection, until=until,
                              fresh=fresh)

        p.subscribe_history = []
        for _ in range(weighted_choice(r, [1, 2, 3], [65, 25, 10])):
            p.subscribe_history.append(self._subscription(r, p))

        force_order = self.hostile and not fresh and p.idx < len(PAYLOADS)  # order titles need records
        if (not fresh and r.random() < 0.40) or force_order:
            for _ in range(r.randint(1, 3)):
                oc = created + int(r.random() * (until - created))
                self._new_order(r, p, oc, until)
        p.lmt_ms = max(c.lmt_ms for c in p.channels)
        p.updated_ms = max(p.lmt_ms, max((o.updated_ms for o in p.orders), default=0))
        return p

    def _draw_identity(self, r: random.Random, created: int) -> tuple[Person, str]:
        """A new person's name, id, e-mail, phone and picture; and their first name."""
        p = Person()
        p.idx = len(self.people)
        p.alive = True
        p.lmt_in = None
        first, last = r.choice(FIRST), r.choice(LAST)
        p.name = f"{first} {last}" if r.random() < 0.85 else first
        if self.hostile:
            p.name = self._hostile(p.idx, p.name)
        p.id = self.oid(created, f"p{p.idx}")
        p.email = ("NOT_DEFINED" if r.random() < 0.25
                   else f"{first}.{last}{r.randint(1, 999)}@{r.choice(DOMAINS)}".lower())
        p.phone = "NOT_DEFINED" if r.random() < 0.35 else "+380" + "".join(r.choice("0123456789") for _ in range(9))
        image_dir = self.oid(created, f"img{p.idx}")
        p.profile_image = ("NOT_DEFINED" if r.random() < 0.5 else
                           f"https://static.leeloo.ai/images/{image_dir}/{r.getrandbits(64):016x}.jpg")
        return p, first

    def _draw_profile(self, r: random.Random, p: Person, tag_names: list[str]) -> None:
        """Gender, locale, tags, the users who wrote to them, custom fields, drift."""
        p.gender = weighted_choice(r, GENDERS, GENDER_WEIGHTS)
        p.locale = r.choice(LOCALES)
        p.tags = r.sample(tag_names, min(len(tag_names), weighted_choice(r, [0, 1, 2, 3], [40, 35, 18, 7])))
        n_users = min(len(self.users), weighted_choice(r, [0, 1, 2], [45, 45, 10]))
        p.contacted_users = [u["id"] for u in r.sample(self.users, n_users)]
        p.custom_fields = [{"type": t, "name": n, "value": f(r)}
                           for t, n, f in r.sample(CUSTOM_FIELDS, weighted_choice(r, [0, 1, 2, 3], [40, 30, 20, 10]))]
        if self.hostile:
            self._hostile_custom_field(p)
        p.drift = r.random() < 0.10

    def _hostile_custom_field(self, p: Person) -> None:
        text_fields = [f for f in p.custom_fields if f["type"] == "TEXT"]
        value = self._hostile(p.idx, None)
        if value is None:
            return
        if text_fields:
            text_fields[0]["value"] = value
        else:
            p.custom_fields.append({"type": "TEXT", "name": "note", "value": value})

    def _odd_people(self) -> None:
        """A few people's name, phone, e-mail, a tag or a custom field is a JSON value."""
        for k, p in enumerate(self.people):
            slot = odd_slot(k, 5)
            if slot is None:
                continue
            v = odd_text(k)
            if slot == 0:
                p.name, field = v, "name"
            elif slot == 1:
                p.phone, field = v, "phone"
            elif slot == 2:
                p.email, field = v, "email"
            elif slot == 3:
                p.tags, field = [*p.tags, v], "tags"
            else:
                field = "custom_fields"
                if p.custom_fields:
                    p.custom_fields[0] = dict(p.custom_fields[0], value=v)
                else:
                    p.custom_fields.append({"type": "TEXT", "name": "note", "value": v})
            self._odd("people", p.id, field)

    # ----------------------------------------------------------------- served shapes
    @staticmethod
    def person_extras(p: Person) -> dict:
        h = hash_int(p.id)
        return {"timezone": TIMEZONES[h % len(TIMEZONES)], "leadScore": h % 101, "isBlocked": h % 17 == 0}

    def accounts_of(self, p: Person) -> list[dict]:
        return [{"account_id": c.id, "connection_id": c.connection_id, "connection_status": c.connection_status,
                 "from": c.frm} for c in p.channels]

    def person_list_item(self, p: Person, inbound: bool = False) -> dict:
        d = {"id": p.id, "name": p.name, "email": p.email, "phone": p.phone, "tags": list(p.tags),
             "accounts": self.accounts_of(p), "lastMessageTime": iso_ms(self.person_lmt(p, inbound))}
        if self.extra_fields:
            d.update(self.person_extras(p))
        return d

    def person_detail(self, p: Person, *, drift: bool = False) -> dict:
        cf: Any
        if drift and p.drift:
            cf = {f["name"]: f["value"] for f in p.custom_fields}
        else:
            cf = [dict(f) for f in p.custom_fields]
        d = {
            "id": p.id, "name": p.name, "tags": list(p.tags), "profileImage": p.profile_image,
            "gender": p.gender, "phone": p.phone, "email": p.email, "locale": p.locale,
            "accounts": self.accounts_of(p),
            "subscribeHistory": [dict(s) for s in p.subscribe_history],
            "links": {"contactedUsers": [{"type": "users", "id": u} for u in self.live_contacted(p)],
                      "orders": [{"type": "orders", "id": o.id} for o in p.orders]},
            "custom_fields": cf,
            "created_at": iso_ms(p.created_ms), "updated_at": iso_ms(p.updated_ms),
        }
        if self.extra_fields:
            d.update(self.person_extras(p))
        return d

    def included_for(self, p: Person, include: set[str], *, drift: bool = False, v1: bool = False) -> dict:
        inc: dict = {}
        if "contactedUsers" in include:
            inc["users"] = [dict(self.user_by_id[u]) for u in self.live_contacted(p)]
        if "orders" in include:
            if v1:
                inc["orders"] = [{"id": o.id, "price": self.order_price(o, drift), "currency": o.currency,
                                  "paymentMethod": o.payment_method, "status": o.status,
                                  "updatedAt": iso_ms(o.updated_ms)} for o in p.orders]
            else:
                inc["orders"] = [self.included_order(o, drift) for o in p.orders]
        return inc

    # ----------------------------------------------------------------- changes (hold the data lock)
    def crm_edit(self, p: Person, r: random.Random) -> None:
        """Tags, a custom field and the e-mail change in the CRM; no message, so
        lastMessageTime stays; the detail's updated_at moves."""
        names = [t["name"] for t in self.tags if isinstance(t["name"], str)]
        before = list(p.tags)
        tags = list(before)
        removed = tags.pop(r.randrange(len(tags))) if tags and r.random() < 0.5 else None
        addable = [n for n in names if n not in before]
        if addable and (removed is None or r.random() < 0.7):
            tags.append(r.choice(addable))
        elif removed is None and tags:  # nothing to add: take one away instead
            tags.pop()
        p.tags = tags
        fields = {n: (t, f) for t, n, f in CUSTOM_FIELDS}
        cfs = [dict(f) for f in p.custom_fields]
        unused = [n for n in fields if n not in {f["name"] for f in cfs}]
        if cfs and (not unused or r.random() < 0.6):
            f = r.choice(cfs)
            gen = fields[f["name"]][1] if f["name"] in fields else (lambda rr: f"edited {rr.randint(1, 10**6)}")
            old = f["value"]
            while f["value"] == old:
                f["value"] = gen(r)
        else:
            name = r.choice(unused)
            cfs.append({"type": fields[name][0], "name": name, "value": fields[name][1](r)})
        p.custom_fields = cfs
        old_email = p.email
        while p.email == old_email:
            p.email = f"{r.choice(FIRST)}.{r.choice(LAST)}{r.randint(1, 9999)}@{r.choice(DOMAINS)}".lower()
        p.updated_ms = max(self.clock(), p.updated_ms)
        self.invalidate(p)
        self.version += 1

    def add_person_now(self, r: random.Random) -> Person:
        now = self.clock()
        p = self._new_person(r, now, now, self.tag_names, fresh=True)
        for ch in p.channels:
            self.channel_index.add(ch.idx, ch.lmt_ms)
            if self.channel_index_in is not None:
                self.channel_index_in.add(ch.idx, self.channel_lmt(ch, True))
        self.people_index.add(p.idx, p.lmt_ms)
        if self.people_index_in is not None:
            p.lmt_in = max(self.channel_lmt(c, True) for c in p.channels)
            self.people_index_in.add(p.idx, p.lmt_in)
        # an opening exchange on the first channel: subscription, then the client writes
        ch = p.channels[0]
        msgs = []
        for j, typ in enumerate(("SYSTEM_MESSAGE", "BOT_MESSAGE", "FRIEND_MESSAGE")):
            ms = now - (2 - j)
            texts = {"SYSTEM_MESSAGE": SYSTEM_TEXTS, "BOT_MESSAGE": BOT_TEXTS, "FRIEND_MESSAGE": FRIEND_TEXTS}[typ]
            m: dict[str, Any] = {"id": self.oid(ms, f"x{ch.idx}:{j}"), "text": self._hostile_later(r.choice(texts)),
                                 "type": typ,
                 "read": typ != "FRIEND_MESSAGE", "createdAt": iso_ms(ms), "updatedAt": iso_ms(ms)}
            if self.extra_fields:
                m.update(self.message_extras(m["id"]))
            msgs.append(m)
        self._touch_channel(ch, msgs, max(now, ch.lmt_ms))
        self.version += 1
        return p
