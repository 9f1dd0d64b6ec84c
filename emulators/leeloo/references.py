"""The account's reference lists: users (operators), tags, messenger connections and
message templates in their categories. Drawn first, from the generator's stream, in
this order: the people drawn after them pick from these lists."""
from __future__ import annotations

import random
from typing import Any

from emulators.base import iso_ms
from emulators.hostile import PAYLOADS
from emulators.leeloo.account import AccountBase
from emulators.leeloo.entities import odd_slot, odd_text
from emulators.leeloo.vocab import (
    CATEGORY_NAMES,
    CONNECTION_NAMES,
    DAY,
    HOUR,
    MESSENGERS,
    TAG_NAMES,
    TEMPLATE_NAMES,
    USER_NAMES,
)


class ReferenceLists(AccountBase):
    """Users, tags, connections, template categories and templates."""

    def _generate_reference_lists(self, r: random.Random) -> None:
        self._generate_users(r)
        self._generate_tags(r)
        self._generate_connections(r)
        self._generate_templates(r)

    def _generate_users(self, r: random.Random) -> None:
        end = self.anchor_ms
        n_users = max(3, self.scale // 500)
        self.users = []
        for i in range(n_users):
            c = end - r.randint(740, 1100) * DAY + r.randint(0, DAY)
            u = c + r.randint(0, end - c)
            name = USER_NAMES[i % len(USER_NAMES)] + ("" if i < len(USER_NAMES) else f" {i}")
            self.users.append({"id": self.oid(c, f"u{i}"), "name": name, "createdAt": iso_ms(c),
                               "updatedAt": iso_ms(u)})
        self.user_by_id = {u["id"]: u for u in self.users}

    def _generate_tags(self, r: random.Random) -> None:
        """Tags; in hostile mode one more per payload, so people can carry them."""
        end = self.anchor_ms
        n_tags = r.randint(10, 20)
        self.tags = [{"id": self.oid(end - 800 * DAY + i * HOUR, f"tag{i}"), "name": n}
                     for i, n in enumerate(r.sample(TAG_NAMES, n_tags))]
        if self.hostile:
            self.tags += [{"id": self.oid(end - 800 * DAY + (n_tags + k) * HOUR, f"tag{n_tags + k}"), "name": s}
                          for k, s in enumerate(PAYLOADS)]
        self.tag_names = [t["name"] for t in self.tags]

    def _generate_connections(self, r: random.Random) -> None:
        """Telegram and a few others; channels are opened on the messenger ones."""
        end = self.anchor_ms
        others = ["facebook", "vk", "viber", "whatsapp", "instagram", "sendGrid"]
        ctypes = ["telegram", *r.sample(others, r.randint(2, 5))]
        self.connections = [{"id": self.oid(end - 900 * DAY + i * DAY, f"conn{i}"), "type": t,
                             "name": CONNECTION_NAMES[t]} for i, t in enumerate(ctypes)]
        self.messenger_conns = [(MESSENGERS[c["type"]], c["id"]) for c in self.connections if c["type"] in MESSENGERS]

    def _generate_templates(self, r: random.Random) -> None:
        end = self.anchor_ms
        self.template_categories = []
        self.templates = {}
        for ci in range(r.randint(2, 4)):
            cid = self.oid(end - 850 * DAY + ci * DAY, f"cat{ci}")
            self.template_categories.append({"id": cid, "name": CATEGORY_NAMES[ci]})
            self.templates[cid] = [{"id": self.oid(end - 840 * DAY + ci * DAY + ti * HOUR, f"tpl{ci}:{ti}"),
                                    "message_name": n}
                                   for ti, n in enumerate(r.sample(TEMPLATE_NAMES, r.randint(1, 5)))]
        self.category_by_id = {c["id"]: c for c in self.template_categories}

    def _odd_reference_lists(self) -> None:
        """A user's and a tag's name, a template's message_name: a JSON value, not text."""
        rows: list[dict[str, Any]]
        for table, rows, field in (("users", self.users, "name"), ("tags", self.tags, "name"),
                                   ("templates", [t for ts in self.templates.values() for t in ts], "message_name")):
            for k, row in enumerate(rows):
                if odd_slot(k, 1) is not None:
                    row[field] = odd_text(k)
                    self._odd(table, row["id"], field)
