"""The contract reports computed in plain Python from the Leeloo emulator's ground truth.

Independent of the SQL: reads `emu.truth()` (camelCase, as the API serves it) and applies
the report definitions in docs/reports.md directly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

PAID = {"RESOLVED", "SUCCESS"}
COUNTERS = {  # report column -> truth key
    "visits": "visits",
    "uniq_visits": "uniqVisits",
    "shows": "shows",
    "uniq_shows": "uniqShows",
    "subscribers": "subscribers",
    "uniq_subscribers": "uniqSubscribers",
    "orders": "orders",
    "sales": "sales",
    "uniq_sales": "uniqSales",
    "total_sale": "totalSale",
    "total_expenses": "totalExpenses",
}


def parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)


def parse_known(ts: str) -> datetime:
    """A time stamp the emulator always sets."""
    at = parse(ts)
    assert at is not None, ts
    return at


def week_start(ts: datetime, zone: tzinfo = UTC) -> date:
    d = ts.astimezone(zone).date()
    return d - timedelta(days=d.weekday())


def ratio(a: float, b: float) -> float | None:
    return None if not b else a / b


def percentile_cont(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def tunnel_funnel(truth: dict[str, Any], snapshot_date: date) -> dict[tuple, dict]:
    names = {t["id"]: t["name"] for t in truth["tunnels"]}
    out = {}
    for s in truth["tunnel_stats"]:
        row = {col: s[key] for col, key in COUNTERS.items()}
        row.update(
            tunnel_name=names[s["tunnel_id"]],
            show_rate=ratio(row["shows"], row["visits"]),
            subscribe_rate=ratio(row["subscribers"], row["shows"]),
            order_rate=ratio(row["orders"], row["subscribers"]),
            sale_rate=ratio(row["sales"], row["orders"]),
            romi=ratio(row["total_sale"] - row["total_expenses"], row["total_expenses"]),
        )
        out[(s["tunnel_id"], snapshot_date)] = row
    return out


def _people_sets(truth: dict[str, Any]) -> tuple[set, set, set]:
    owner = {c["id"]: c["person_id"] for c in truth["communication_channels"]}
    engaged = {
        owner[m["account_id"]]
        for m in truth["chat_messages"]
        if m["type"] == "FRIEND_MESSAGE" and m["account_id"] in owner
    }
    ordering = {o["person_id"] for o in truth["orders"]}
    paying = {o["person_id"] for o in truth["orders"] if o["status"] in PAID}
    return engaged, ordering, paying


def _history(truth: dict[str, Any], person: dict[str, Any]) -> list[dict[str, Any]]:
    """The person's subscribe-history entries that name no deleted tunnel or tool: the
    reports describe what exists (the emulator keeps such entries in the person)."""
    gone = truth.get("deleted") or {}
    tunnels, tools = set(gone.get("tunnels", ())), set(gone.get("leadgentools", ()))
    return [
        h
        for h in person.get("subscribeHistory") or []
        if h.get("tunnelId") not in tunnels and h.get("leadgentoolId") not in tools
    ]


def _entries(truth: dict[str, Any], person: dict[str, Any]) -> set[tuple]:
    return {(h.get("tunnelId"), h.get("leadgentoolId"), h.get("trafficSourceId")) for h in _history(truth, person)}


def source_funnel(truth: dict[str, Any]) -> dict[tuple, dict]:
    engaged, ordering, paying = _people_sets(truth)
    members: dict[tuple, set] = defaultdict(set)
    for p in truth["people"]:
        for entry in _entries(truth, p):
            members[entry].add(p["id"])
    return {
        entry: {
            "people": len(ids),
            "engaged_people": len(ids & engaged),
            "ordering_people": len(ids & ordering),
            "paying_people": len(ids & paying),
        }
        for entry, ids in members.items()
    }


def revenue_by_source(truth: dict[str, Any]) -> dict[tuple, dict]:
    entries = {p["id"]: _entries(truth, p) for p in truth["people"]}
    out: dict[tuple, dict] = defaultdict(lambda: {"paid_orders": 0, "revenue": 0.0})
    for o in truth["orders"]:
        if o["status"] not in PAID:
            continue
        for entry in entries.get(o["person_id"], ()):
            cell = out[(*entry, o["currency"])]
            cell["paid_orders"] += 1
            cell["revenue"] += float(o["price"])
    return dict(out)


def daily_activity(truth: dict[str, Any], zone: tzinfo = UTC) -> dict[date, dict]:
    """Per calendar day in `zone` (the account's reports_timezone)."""
    cols = ("new_channels", "inbound_messages", "outbound_messages", "orders_created", "paid_orders_created")
    days: dict[date, dict] = defaultdict(lambda: dict.fromkeys(cols, 0))
    for c in truth["communication_channels"]:
        days[parse_known(c["createdAt"]).astimezone(zone).date()]["new_channels"] += 1
    for m in truth["chat_messages"]:
        day = days[parse_known(m["createdAt"]).astimezone(zone).date()]
        if m["type"] == "FRIEND_MESSAGE":
            day["inbound_messages"] += 1
        elif m["type"] in ("BOT_MESSAGE", "YOUR_MESSAGE"):
            day["outbound_messages"] += 1
    for o in truth["orders"]:
        day = days[parse_known(o["createdAt"]).astimezone(zone).date()]
        day["orders_created"] += 1
        day["paid_orders_created"] += o["status"] in PAID
    first, last = min(days), max(days)
    return {
        first + timedelta(days=i): dict(days.get(first + timedelta(days=i)) or dict.fromkeys(cols, 0))
        for i in range((last - first).days + 1)
    }


def utm_funnel(truth: dict[str, Any]) -> dict[tuple, dict]:
    _, ordering, paying = _people_sets(truth)
    inbound = {m["account_id"] for m in truth["chat_messages"] if m["type"] == "FRIEND_MESSAGE"}
    groups: dict[tuple, list] = defaultdict(list)
    for c in truth["communication_channels"]:
        utm = c.get("utmMarks") or {}
        groups[(utm.get("utm_source"), utm.get("utm_medium"), utm.get("utm_campaign"))].append(c)
    out = {}
    for key, channels in groups.items():
        people = {c["person_id"] for c in channels}
        out[key] = {
            "channels": len(channels),
            "engaged_channels": sum(c["id"] in inbound for c in channels),
            "people": len(people),
            "engaged_people": len({c["person_id"] for c in channels if c["id"] in inbound}),
            "ordering_people": len(people & ordering),
            "paying_people": len(people & paying),
        }
    return out


def manager_response_times(truth: dict[str, Any], zone: tzinfo = UTC) -> dict[tuple, dict]:
    gone_users = set((truth.get("deleted") or {}).get("users", ()))
    by_channel: dict[str, list] = defaultdict(list)
    for m in truth["chat_messages"]:
        by_channel[m["account_id"]].append((parse(m["createdAt"]), m["id"], m))
    waits: dict[tuple, list] = defaultdict(list)
    for msgs in by_channel.values():
        msgs.sort(key=lambda x: (x[0], x[1]))
        for i, (at, _, m) in enumerate(msgs):
            if m["type"] != "FRIEND_MESSAGE":
                continue
            reply = next((x for x in msgs[i + 1 :] if x[2]["type"] == "YOUR_MESSAGE"), None)
            if reply is None:
                continue
            manager = ((reply[2].get("links") or {}).get("createdBy") or {}).get("id")
            if manager in gone_users:  # a deleted manager's answers are not reported
                continue
            waits[(manager, week_start(at, zone))].append((reply[0] - at).total_seconds() / 60)
    return {
        key: {
            "answered_messages": len(v),
            "median_response_minutes": percentile_cont(v, 0.5),
            "p90_response_minutes": percentile_cont(v, 0.9),
            "avg_response_minutes": sum(v) / len(v),
            "max_response_minutes": max(v),
        }
        for key, v in waits.items()
    }


def cohort_conversion(truth: dict[str, Any]) -> dict[tuple, dict]:
    seen: dict[str, datetime] = {}
    for p in truth["people"]:
        created = parse(p.get("created_at"))
        if created:
            seen[p["id"]] = created
    ids = {p["id"] for p in truth["people"]}
    for c in truth["communication_channels"]:
        at = parse(c["createdAt"])
        if c["person_id"] in ids and at and (c["person_id"] not in seen or at < seen[c["person_id"]]):
            seen[c["person_id"]] = at
    first_paid: dict[str, datetime] = {}
    for o in truth["orders"]:
        at = parse_known(o["createdAt"])
        if o["status"] in PAID and (o["person_id"] not in first_paid or at < first_paid[o["person_id"]]):
            first_paid[o["person_id"]] = at
    cells: dict[tuple, int] = defaultdict(int)
    sizes: dict[date, int] = defaultdict(int)
    for pid, at in seen.items():
        weeks = None
        if pid in first_paid:
            weeks = max(0, math.floor((first_paid[pid] - at).total_seconds() / 604800))
        cells[(week_start(at), weeks)] += 1
        sizes[week_start(at)] += 1
    return {key: {"people": n, "cohort_size": sizes[key[0]]} for key, n in cells.items()}


def utm_revenue(truth: dict[str, Any]) -> dict[tuple, dict]:
    utms: dict[str, set] = defaultdict(set)
    for c in truth["communication_channels"]:
        utm = c.get("utmMarks") or {}
        utms[c["person_id"]].add((utm.get("utm_source"), utm.get("utm_medium"), utm.get("utm_campaign")))
    out: dict[tuple, dict] = defaultdict(lambda: {"paid_orders": 0, "revenue": 0.0})
    for o in truth["orders"]:
        if o["status"] in PAID:
            for key in utms.get(o["person_id"], ()):
                cell = out[(*key, o["currency"])]
                cell["paid_orders"] += 1
                cell["revenue"] += float(o["price"])
    return dict(out)


def tunnel_revenue(truth: dict[str, Any]) -> dict[tuple, dict]:
    tunnels = {p["id"]: {e[0] for e in _entries(truth, p)} for p in truth["people"]}
    out: dict[tuple, dict] = defaultdict(lambda: {"paid_orders": 0, "revenue": 0.0, "payers": set()})
    for o in truth["orders"]:
        if o["status"] in PAID:
            for tunnel in tunnels.get(o["person_id"], ()):
                cell = out[(tunnel, o["currency"])]
                cell["paid_orders"] += 1
                cell["revenue"] += float(o["price"])
                cell["payers"].add(o["person_id"])
    return {
        k: {"paid_orders": v["paid_orders"], "revenue": v["revenue"], "paying_people": len(v["payers"])}
        for k, v in out.items()
    }


def order_timing_from_truth(truth: dict[str, Any]) -> dict[tuple, dict]:
    """Leeloo `order_timing` from the emulator's truth: the first paid moment is the first
    paid entry of the order's real status history (a run sees it at the order's updatedAt)."""
    first_tunnel = {}
    for p in truth["people"]:
        history = _history(truth, p)
        if history:
            first_tunnel[p["id"]] = history[0].get("tunnelId")
    paid_at: dict[str, datetime] = {}
    for h in truth["order_status_history"]:
        if h["status"] in PAID:
            at = parse_known(h["at"])
            paid_at[h["order_id"]] = min(at, paid_at.get(h["order_id"], at))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for o in truth["orders"]:
        groups[(first_tunnel.get(o["person_id"]), week_start(parse_known(o["createdAt"])))].append(o)
    out = {}
    for key, members in groups.items():
        hours = [
            (paid_at[o["id"]] - parse_known(o["createdAt"])).total_seconds() / 3600
            for o in members
            if o["id"] in paid_at
        ]
        out[key] = {
            "orders": len(members),
            "paid_orders": sum(o["id"] in paid_at or o["status"] in PAID for o in members),
            "median_hours_to_paid": percentile_cont(hours, 0.5) if hours else None,
            "p90_hours_to_paid": percentile_cont(hours, 0.9) if hours else None,
        }
    return out


# ------------------------------------------------------------------ from raw rows (fixtures)
# These take rows in the shape the sources load them (snake_case, aware datetimes), as the
# hand-made fixtures of tests/transforms hold them.


def order_timing(people: list[dict], orders: list[dict], changes: list[dict]) -> dict[tuple, dict]:
    """Leeloo `order_timing`: per (first subscribe-history tunnel, week of creation)."""
    first_tunnel = {p["id"]: p["subscribe_history"][0]["tunnel_id"] for p in people if p.get("subscribe_history")}
    paid_at: dict[str, datetime] = {}
    for c in changes:
        if c["new_status"].upper() in PAID:
            at = c["changed_at"] or c["observed_at"]
            paid_at[c["order_id"]] = min(at, paid_at.get(c["order_id"], at))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for o in orders:
        if o.get("created_at"):
            groups[(first_tunnel.get(o["person_id"]), week_start(o["created_at"]))].append(o)
    out = {}
    for key, members in groups.items():
        hours = [(paid_at[o["id"]] - o["created_at"]).total_seconds() / 3600 for o in members if o["id"] in paid_at]
        paid = sum(o["id"] in paid_at or o["status"].upper() in PAID for o in members)
        out[key] = {
            "orders": len(members),
            "paid_orders": paid,
            "paid_share": paid / len(members),
            "median_hours_to_paid": percentile_cont(hours, 0.5) if hours else None,
            "p90_hours_to_paid": percentile_cont(hours, 0.9) if hours else None,
        }
    return out


MESSENGERS = {
    0: "vkontakte",
    1: "telegram",
    2: "viber",
    3: "facebook",
    4: "online_chat",
    6: "whatsapp",
    7: "avito",
    8: "ok",
    9: "instagram",
    13: "telephony",
}


def salebot_order_timing(clients: list[dict], orders: list[dict], changes: list[dict]) -> dict[tuple, dict]:
    """Salebot `order_timing`: per (messenger, channel group, week of the first observation)."""
    client = {str(c["id"]): c for c in clients}
    first_seen: dict[str, datetime] = {}
    first_success: dict[str, datetime] = {}
    for c in changes:
        oid = str(c["order_id"])
        first_seen[oid] = min(c["observed_at"], first_seen.get(oid, c["observed_at"]))
        if str(c["new_status"]) in ("1", "success"):
            first_success[oid] = min(c["observed_at"], first_success.get(oid, c["observed_at"]))
    groups: dict[tuple, list[str]] = defaultdict(list)
    successful_now = {str(o["id"]) for o in orders if o["status"] == 1}
    for o in orders:
        oid = str(o["id"])
        if oid not in first_seen:
            continue
        owner = client.get(str(o["client_id"]))
        messenger = MESSENGERS.get(owner["client_type"], "other") if owner else None
        group = owner["group"] if owner else None
        groups[(messenger, group, week_start(first_seen[oid]))].append(oid)
    out = {}
    for key, ids in groups.items():
        hours = [
            (first_success[i] - first_seen[i]).total_seconds() / 3600
            for i in ids
            if i in first_success and first_success[i] > first_seen[i]
        ]
        out[key] = {
            "orders": len(ids),
            "successful_orders": sum(i in first_success or i in successful_now for i in ids),
            "timed_orders": len(hours),
            "median_hours_to_success": percentile_cont(hours, 0.5) if hours else None,
            "p90_hours_to_success": percentile_cont(hours, 0.9) if hours else None,
        }
    return out
