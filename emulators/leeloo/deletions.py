"""Deletions: what disappears with what (a person takes their channels and messages, a
tunnel its leadgentools and traffic sources), and what stays as history. Every id
gone is recorded in ``deleted`` for the truth."""
from __future__ import annotations

import random
from collections.abc import Iterable

from emulators.leeloo.entities import Channel, Order, Person
from emulators.leeloo.people import People
from emulators.leeloo.references import ReferenceLists
from emulators.leeloo.vocab import DELETABLE, DELETED_TABLES, MESSENGERS


class Deletions(People, ReferenceLists):
    """Deleting entities of every deletable table (hold the data lock)."""

    def _gone(self, table: str, ids: Iterable[str], out: dict[str, list[str]]) -> None:
        ids = list(ids)
        out[table].extend(ids)
        self.deleted[table].extend(ids)

    def _drop_channel(self, ch: Channel, out: dict[str, list[str]]) -> None:
        self._gone("chat_messages", (m["id"] for m in self.messages(ch)), out)
        self._gone("communication_channels", [ch.id], out)
        self.invalidate(ch)
        self.channel_index.remove(ch.idx, ch.lmt_ms)
        if self.channel_index_in is not None:
            self.channel_index_in.remove(ch.idx, self.channel_lmt(ch, True))
        ch.alive = False
        del self.channel_by_id[ch.id]
        with self._cache_lock:
            self._msg_cache.pop(ch.idx, None)

    def delete_person(self, p: Person, out: dict[str, list[str]]) -> None:
        """The person, their channels and those channels' messages; orders stay listed."""
        self.invalidate(p)
        for ch in p.channels:
            self._drop_channel(ch, out)
        self._gone("people", [p.id], out)
        self.people_index.remove(p.idx, p.lmt_ms)
        if self.people_index_in is not None:
            self.people_index_in.remove(p.idx, self.person_lmt(p, True))
        p.alive = False
        del self.person_by_id[p.id]
        self._live_people = [x for x in self.people if x.alive]

    def delete_channel(self, ch: Channel, out: dict[str, list[str]]) -> None:
        """One channel of a person who keeps another, and its messages."""
        p = ch.person
        self.invalidate(p)
        self._drop_channel(ch, out)
        p.channels.remove(ch)
        self._move_person(p)

    def delete_order(self, o: Order, out: dict[str, list[str]]) -> None:
        self.invalidate(o)
        self.orders.remove(o)
        del self.order_by_id[o.id]
        if o in o.person.orders:
            o.person.orders.remove(o)
        self._gone("orders", [o.id], out)

    def delete_tunnel(self, t: dict, out: dict[str, list[str]]) -> None:
        """The tunnel with its leadgentools and their traffic sources; subscribeHistory
        entries stay (they are history) but count no more in the stats."""
        self.tunnels.remove(t)
        del self.tunnel_by_id[t["id"]]
        for lgt in t["lgts"]:
            self.lgt_by_id.pop(lgt["id"], None)
            self._gone("leadgentools", [lgt["id"]], out)
            self._gone("traffic_sources", (s["id"] for s in lgt["ts"]), out)
        self._gone("tunnels", [t["id"]], out)

    def delete_leadgentool(self, lgt: dict, out: dict[str, list[str]]) -> None:
        self.tunnel_by_id[lgt["tunnel_id"]]["lgts"].remove(lgt)
        del self.lgt_by_id[lgt["id"]]
        self._gone("leadgentools", [lgt["id"]], out)
        self._gone("traffic_sources", (s["id"] for s in lgt["ts"]), out)

    def delete_user(self, u: dict, out: dict[str, list[str]]) -> None:
        """Gone from the users list and from people's contacted users; messages keep
        their ``links.createdBy`` (they are history)."""
        self.users.remove(u)
        del self.user_by_id[u["id"]]
        self._gone("users", [u["id"]], out)

    def delete_tag(self, t: dict, out: dict[str, list[str]], untagged: list[str]) -> None:
        """Gone from the tags list and from every person's tags (no message, updated_at stays)."""
        self.tags.remove(t)
        if t["name"] in self.tag_names:
            self.tag_names.remove(t["name"])
        for p in self.live_people():
            if any(x == t["name"] for x in p.tags):
                p.tags = [x for x in p.tags if x != t["name"]]
                self.invalidate(p)
                untagged.append(p.id)
        self._gone("tags", [t["id"]], out)

    def delete_connection(self, c: dict, out: dict[str, list[str]]) -> None:
        """Gone from the list; channels keep their ``connection_id`` (no new channel uses it)."""
        self.connections.remove(c)
        self.messenger_conns = [mc for mc in self.messenger_conns if mc[1] != c["id"]]
        self._gone("connections", [c["id"]], out)

    def delete_template_category(self, c: dict, out: dict[str, list[str]]) -> None:
        self.template_categories.remove(c)
        del self.category_by_id[c["id"]]
        self._gone("templates", (t["id"] for t in self.templates.pop(c["id"])), out)
        self._gone("template_categories", [c["id"]], out)

    def delete_template(self, cid: str, t: dict, out: dict[str, list[str]]) -> None:
        self.templates[cid].remove(t)
        self._gone("templates", [t["id"]], out)

    def delete(self, r: random.Random, counts: dict[str, int]) -> tuple[dict[str, list[str]], list[str]]:
        """Delete ``counts[table]`` random entities per table (fewer when the account
        cannot spare them: a person keeps one channel, a tunnel one leadgentool, the
        account one tunnel and one messenger connection). Returns ({table: ids}, ids of
        people who lost a deleted tag)."""
        out: dict[str, list[str]] = {t: [] for t in DELETED_TABLES}
        untagged: list[str] = []

        def pick(cands: list, n: int) -> list:
            return r.sample(cands, min(int(n), len(cands)))

        for table in DELETABLE:
            n = counts.get(table, 0)
            if not n:
                continue
            if table == "people":
                for p in pick(self.live_people(), n):
                    self.delete_person(p, out)
            elif table == "communication_channels":
                for ch in [c for c in pick(self.live_channels(), len(self.channels)) if len(c.person.channels) > 1]:
                    if n and len(ch.person.channels) > 1:
                        self.delete_channel(ch, out)
                        n -= 1
            elif table == "orders":
                for o in pick(self.orders, n):
                    self.delete_order(o, out)
            elif table == "tunnels":
                for t in pick(self.tunnels, min(n, len(self.tunnels) - 1)):
                    self.delete_tunnel(t, out)
            elif table == "leadgentools":
                lgts = [lgt for t in self.tunnels for lgt in t["lgts"]]
                for lgt in pick(lgts, len(lgts)):
                    if n and len(self.tunnel_by_id[lgt["tunnel_id"]]["lgts"]) > 1:
                        self.delete_leadgentool(lgt, out)
                        n -= 1
            elif table == "users":
                for u in pick(self.users, n):
                    self.delete_user(u, out)
            elif table == "tags":
                for t in pick(self.tags, n):
                    self.delete_tag(t, out, untagged)
            elif table == "connections":
                for c in pick(self.connections, len(self.connections)):
                    if n and (c["type"] not in MESSENGERS or len(self.messenger_conns) > 1):
                        self.delete_connection(c, out)
                        n -= 1
            elif table == "template_categories":
                for c in pick(self.template_categories, n):
                    self.delete_template_category(c, out)
            elif table == "templates":
                for cid, t in pick([(cid, t) for cid, ts in self.templates.items() for t in ts], n):
                    self.delete_template(cid, t, out)
        self.version += 1
        return out, sorted(set(untagged))
