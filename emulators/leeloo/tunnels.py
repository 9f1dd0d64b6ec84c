"""Tunnels, their leadgentools and traffic sources, people's subscriptions to them, and
the stats the API derives from those subscriptions."""
from __future__ import annotations

import random
from typing import Any

from emulators.base import iso_ms
from emulators.hostile import PAYLOADS
from emulators.leeloo.account import AccountBase
from emulators.leeloo.entities import Person, hash_int, is_number, odd_number, odd_slot, odd_text
from emulators.leeloo.vocab import (
    DAY,
    LGT_NAMES,
    LGT_TYPES,
    MINUTE,
    SALE_STATUSES,
    STATS_KEYS,
    TS_NAMES,
    TUNNEL_NAMES,
    USD_RATE,
)


class Tunnels(AccountBase):
    """Tunnels -> leadgentools -> traffic sources, subscriptions and tunnel stats."""

    # ----------------------------------------------------------------- generation
    def _generate_tunnels(self, r: random.Random) -> None:
        """``max(3, scale / 250)`` tunnels; in hostile mode one more per payload, whose
        names (and their leadgentools' and traffic sources') are payloads."""
        n_tunnels = max(3, self.scale // 250)
        n_hostile_tunnels = len(PAYLOADS) if self.hostile else 0
        self.tunnels = []
        self.lgt_by_id = {}
        for ti in range(n_tunnels + n_hostile_tunnels):
            self.tunnels.append(self._new_tunnel(r, ti, ti - n_tunnels))
        self.tunnel_by_id = {t["id"]: t for t in self.tunnels}

    def _new_tunnel(self, r: random.Random, ti: int, j: int) -> dict[str, Any]:
        """Tunnel ``ti``; ``j >= 0``: the hostile tunnel of payload ``j``."""
        end = self.anchor_ms
        c = end - r.randint(735, 800) * DAY + r.randint(0, DAY)
        u = c + r.randint(0, end - c)
        name = TUNNEL_NAMES[ti % len(TUNNEL_NAMES)] + ("" if ti < len(TUNNEL_NAMES) else f" #{ti}")
        if j >= 0:
            name = PAYLOADS[j]
        t: dict[str, Any] = {"id": self.oid(c, f"tun{ti}"), "name": name, "createdAt": iso_ms(c),
                             "updatedAt": iso_ms(u),
             "lgts": [], "show_ratio": r.uniform(0.5, 3.0), "visit_ratio": r.uniform(0.2, 1.5),
             "cost_per_visit": round(r.uniform(0.0, 0.8), 2)}
        for li in range(r.randint(2, 5)):
            lgt = self._new_leadgentool(r, t, c, ti=ti, li=li, j=j)
            t["lgts"].append(lgt)
            self.lgt_by_id[lgt["id"]] = lgt
        return t

    def _new_leadgentool(self, r: random.Random, t: dict, c: int, *, ti: int, li: int, j: int) -> dict[str, Any]:
        """Leadgentool ``li`` of tunnel ``t`` (created at ``c``) with 1-3 traffic sources."""
        n_payloads = len(PAYLOADS)
        lname = LGT_NAMES[li] if li else "Default leadgentool"
        if j >= 0:
            lname = PAYLOADS[(j + li) % n_payloads]
        lgt: dict[str, Any] = {"id": self.oid(c + li * MINUTE, f"lgt{ti}:{li}"), "name": lname,
               "type": "DEFAULT" if li == 0 else r.choice(LGT_TYPES[:-1]), "tunnel_id": t["id"], "ts": []}
        for si in range(r.randint(1, 3)):
            sname = TS_NAMES[si] if si else "Default traffic source"
            if j >= 0:
                sname = PAYLOADS[(j + li + si) % n_payloads]
            lgt["ts"].append({"id": self.oid(c + li * MINUTE + si * 1000, f"ts{ti}:{li}:{si}"), "name": sname})
        return lgt

    def _odd_tunnels(self) -> None:
        for k, t in enumerate(self.tunnels):
            slot = odd_slot(k, 2)
            if slot == 0:
                t["name"] = odd_text(k)
                self._odd("tunnels", t["id"], "name")
            elif slot == 1:
                counter = STATS_KEYS[k % len(STATS_KEYS)]
                t["odd_stat"] = (counter, odd_number(k))
                self._odd("tunnel_stats", t["id"], counter)

    def _subscription(self, r: random.Random, p: Person) -> dict:
        t = r.choice(self.tunnels)
        lgt = r.choice(t["lgts"])
        ts = r.choice(lgt["ts"])
        return {"tunnelName": t["name"], "leadgentoolName": lgt["name"], "trafficSource": ts["name"],
                "tunnelId": t["id"], "leadgentoolId": lgt["id"], "trafficSourceId": ts["id"],
                "accountId": r.choice(p.channels).id}

    def add_subscription(self, r: random.Random, p: Person) -> dict:
        s = self._subscription(r, p)
        p.subscribe_history.append(s)
        self.version += 1
        return s

    # ----------------------------------------------------------------- served shapes
    @staticmethod
    def tunnel_extras(t: dict) -> dict:
        h = hash_int(t["id"])
        return {"archived": h % 5 == 0, "color": f"#{h:06x}"}

    def tunnel_item(self, t: dict) -> dict:
        d = {"id": t["id"], "name": t["name"], "createdAt": t["createdAt"], "updatedAt": t["updatedAt"]}
        if self.extra_fields:
            d.update(self.tunnel_extras(t))
        return d

    @staticmethod
    def lgt_item(lgt: dict) -> dict:
        return {"id": lgt["id"], "name": lgt["name"], "type": lgt["type"]}

    # ----------------------------------------------------------------- tunnel stats
    def tunnel_stats(self) -> tuple[dict[str, dict], dict]:
        """Per-tunnel stats (by tunnel id) and the all-tunnels totals, as of now.
        subscribers = subscribeHistory entries to the tunnel; uniqSubscribers =
        distinct people; orders/sales = orders (sales: SUCCESS or RESOLVED) of
        the people subscribed to it; totalSale = sales in USD. shows/visits add
        a per-tunnel multiple of the subscribers (never fewer). Deleted people and
        subscriptions to deleted tunnels no longer count; a price that is not a
        number adds nothing to totalSale."""
        key = ("stats", self.version)
        hit = self._derived_cache.get("stats")
        if hit and hit[0] == key:
            return hit[1]
        acc, everyone = self._tally_subscribers()
        per: dict[str, dict[str, Any]] = {}
        tot: dict[str, Any] = dict.fromkeys(STATS_KEYS, 0)
        extra_us = extra_uv = 0
        for t in self.tunnels:
            a = acc[t["id"]]
            show_extra = round(a["subs"] * t["show_ratio"])
            visit_extra = round((a["subs"] + show_extra) * t["visit_ratio"])
            row = per[t["id"]] = self._tunnel_counters(t, a, show_extra, visit_extra)
            for counter in ("subscribers", "visits", "shows", "totalExpenses"):
                tot[counter] += row[counter]
            extra_us += int(show_extra * 0.7)
            extra_uv += int(visit_extra * 0.7)
            if "odd_stat" in t:
                counter, text = t["odd_stat"]
                row[counter] = text
        tot.update(uniqSubscribers=everyone["people"], orders=everyone["orders"], sales=everyone["sales"],
                   uniqSales=everyone["usales"], totalSale=round(everyone["usd"], 2),
                   totalExpenses=round(tot["totalExpenses"], 2))
        tot["uniqShows"] = everyone["people"] + extra_us
        tot["uniqVisits"] = tot["uniqShows"] + extra_uv
        result = (per, tot)
        self._derived_cache["stats"] = (key, result)
        return result

    def _tally_subscribers(self) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """Per tunnel, and for everyone subscribed anywhere: subscriptions, people, their
        orders, sales, people with a sale and sales in USD (live people, live tunnels)."""
        acc: dict[str, dict[str, Any]] = {
            t["id"]: {"subs": 0, "people": 0, "orders": 0, "sales": 0, "usales": 0, "usd": 0.0} for t in self.tunnels}
        all_people = all_orders = all_sales = all_usales = 0
        all_usd = 0.0
        for p in self.live_people():
            tids = set()
            for s in p.subscribe_history:
                a = acc.get(s["tunnelId"])
                if a is not None:
                    a["subs"] += 1
                    tids.add(s["tunnelId"])
            n_orders = len(p.orders)
            sales = [o for o in p.orders if o.status in SALE_STATUSES]
            usd = sum(o.price * USD_RATE[o.currency] for o in sales if is_number(o.price))
            for tid in tids:
                a = acc[tid]
                a["people"] += 1
                a["orders"] += n_orders
                a["sales"] += len(sales)
                a["usales"] += 1 if sales else 0
                a["usd"] += usd
            if tids:
                all_people += 1
                all_orders += n_orders
                all_sales += len(sales)
                all_usales += 1 if sales else 0
                all_usd += usd
        everyone = {"people": all_people, "orders": all_orders, "sales": all_sales, "usales": all_usales,
                    "usd": all_usd}
        return acc, everyone

    @staticmethod
    def _tunnel_counters(t: dict, a: dict[str, Any], show_extra: int, visit_extra: int) -> dict[str, Any]:
        """One tunnel's stats from its tally: shows and visits add the tunnel's multiples."""
        shows = a["subs"] + show_extra
        visits = shows + visit_extra
        uniq_shows = a["people"] + int(show_extra * 0.7)
        uniq_visits = uniq_shows + int(visit_extra * 0.7)
        expenses = round(visits * t["cost_per_visit"], 2)
        return {"subscribers": a["subs"], "uniqSubscribers": a["people"], "orders": a["orders"],
                "sales": a["sales"], "uniqSales": a["usales"], "visits": visits, "uniqVisits": uniq_visits,
                "shows": shows, "uniqShows": uniq_shows, "totalSale": round(a["usd"], 2),
                "totalExpenses": expenses}
