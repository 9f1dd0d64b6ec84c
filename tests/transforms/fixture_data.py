"""A small hand-made Leeloo account, in the raw shapes the Leeloo source loads.

Every expected value in test_reports.py is worked out by hand from these rows; the
comments there show the reasoning. Dates are January 2024: Monday 2024-01-01 starts ISO
week 1, Sunday 2024-01-07 ends it, Monday 2024-01-08 starts week 2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import dlt
from dlt.common.schema.typing import TWriteDisposition


def ts(text: str) -> datetime:
    """'2024-01-01 10:00' (UTC) -> an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def history(tunnel: str, tool: str, source: str) -> dict[str, Any]:
    return {
        "tunnel_name": {"t1": "Main", "t2": "Zero"}[tunnel],
        "leadgentool_name": {"l1": "Landing", "l2": "Widget"}[tool],
        "traffic_source": {"s1": "Ads", "s2": "Blog"}[source],
        "tunnel_id": tunnel,
        "leadgentool_id": tool,
        "traffic_source_id": source,
        "account_id": "acc1",
    }


def person(
    pid: str, name: Any, email: Any, phone: Any, created: str | None, hist: list, tags: list | None = None
) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "email": email,
        "phone": phone,
        "profile_image": None,
        "gender": "female" if pid == "p1" else None,
        "locale": "ru",
        "last_message_time": ts("2024-01-09 08:00"),
        "created_at": ts(created) if created else None,
        "updated_at": ts("2024-01-10 00:00"),
        "tags": tags or [],
        "accounts": [
            {"account_id": "a_" + pid, "connection_id": "con1", "connection_status": "ACTIVE", "from": "TELEGRAM"}
        ],
        "subscribe_history": hist,
        "custom_fields": [{"type": "STRING", "name": "city", "value": "Kazan"}] if pid == "p1" else [],
        "links": {"orders": [], "contacted_users": [{"type": "users", "id": "u1"}] if pid == "p1" else []},
    }


PEOPLE = [
    # several sources, and (t1, l1, s1) twice: it must count once
    person(
        "p1",
        "Anna",
        "  Anna@Example.COM ",
        "+7 (912) 345-67-89",
        "2024-01-01 10:00",
        [history("t1", "l1", "s1"), history("t1", "l1", "s2"), history("t2", "l2", "s1"), history("t1", "l1", "s1")],
        tags=["vip", "lead"],
    ),
    person("p2", "Boris", "NOT_DEFINED", "8 900 111-22-33", "2024-01-03 08:00", [history("t1", "l1", "s1")]),
    person("p3", "", "", "NOT_DEFINED", "2024-01-07 23:00", [history("t1", "l1", "s2")]),
    person("p4", "Dina", "dina@example.com", None, None, []),  # no history; created_at unknown
    person("p5", "Egor", None, None, "2024-01-10 12:00", [history("t2", "l2", "s1")]),
]


def channel(cid: str, pid: str, messenger: str, created: str, utm: dict | None) -> dict[str, Any]:
    row = {
        "id": cid,
        "person_id": pid,
        "name": f"chat {cid}",
        "from": messenger,
        "bot_status": "ACTIVE",
        "last_message_time": ts(created),
        "created_at": ts(created),
    }
    if utm:
        row["utm_marks"] = utm
    return row


CHANNELS = [
    channel(
        "c1",
        "p1",
        "TELEGRAM",
        "2024-01-01 10:05",
        {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "winter", "utm_content": "a", "utm_term": "bots"},
    ),
    channel("c2", "p1", "FACEBOOK", "2024-01-02 12:00", {"utm_source": "fb", "utm_medium": "social"}),
    channel(
        "c3",
        "p2",
        "TELEGRAM",
        "2024-01-03 09:00",
        {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "winter"},
    ),
    channel("c4", "p3", "TELEGRAM", "2024-01-07 23:30", None),
    channel("c5", "p4", "VK", "2024-01-09 08:00", None),
]


def message(mid: str, cid: str, kind: str, at: str, manager: str | None = None) -> dict[str, Any]:
    row = {
        "id": mid,
        "account_id": cid,
        "text": f"text {mid}",
        "type": kind,
        "read": True,
        "created_at": ts(at),
        "updated_at": ts(at),
    }
    if manager:
        row["links"] = {"created_by": {"type": "users", "id": manager}}
    return row


F, B, Y, S = "FRIEND_MESSAGE", "BOT_MESSAGE", "YOUR_MESSAGE", "SYSTEM_MESSAGE"
MESSAGES = [
    message("m01", "c1", F, "2024-01-01 10:06"),
    message("m02", "c1", B, "2024-01-01 10:06:30"),
    message("m03", "c1", F, "2024-01-01 10:10"),
    message("m04", "c1", Y, "2024-01-01 10:16", "u1"),
    message("m05", "c2", F, "2024-01-02 12:00"),
    message("m06", "c2", Y, "2024-01-02 12:30", "u2"),
    message("m07", "c3", F, "2024-01-03 09:00"),
    message("m08", "c3", Y, "2024-01-03 09:02", "u1"),
    message("m09", "c4", F, "2024-01-07 23:50"),  # Sunday, just before midnight
    message("m10", "c4", B, "2024-01-07 23:51"),
    message("m11", "c4", Y, "2024-01-08 00:20", "u1"),  # answered after midnight, next ISO week
    message("m12", "c4", F, "2024-01-08 00:25"),
    message("m13", "c4", Y, "2024-01-08 09:25", "u2"),  # a manager answering 9 hours late
    message("m14", "c5", F, "2024-01-09 08:00"),  # never answered
    message("m15", "c5", S, "2024-01-09 08:01"),
]


def order(oid: str, pid: str, price: float, currency: str, status: str, created: str) -> dict[str, Any]:
    return {
        "id": oid,
        "person_id": pid,
        "title": f"order {oid}",
        "description": None,
        "price": price,
        "currency": currency,
        "status": status,
        "payment_method": "card",
        "created_at": ts(created),
        "updated_at": ts(created),
    }


ORDERS = [
    order("o1", "p1", 1000.0, "RUB", "RESOLVED", "2024-01-02 13:00"),
    order("o2", "p1", 20.0, "USD", "SUCCESS", "2024-01-03 10:00"),
    order("o3", "p1", 500.0, "RUB", "REJECTED", "2024-01-03 11:00"),
    order("o4", "p2", 300.0, "RUB", "NEW", "2024-01-08 10:00"),
    order("o5", "p3", 700.0, "RUB", "SUCCESS", "2024-01-21 12:00"),
    order("o6", "p4", 50.0, "USD", "RESOLVED", "2024-01-09 09:00"),
    order("o7", "p404", 10.0, "RUB", "RESOLVED", "2024-01-09 10:00"),  # orphan: no such person
    order("o8", "p2", 100.0, "RUB", "REFUNDED", "2024-01-04 15:00"),
]


def change(
    oid: str, old: str | None, new: str, price: float, currency: str, changed: str | None, observed: str
) -> dict[str, Any]:
    return {
        "order_id": oid,
        "old_status": old,
        "new_status": new,
        "price": price,
        "currency": currency,
        "changed_at": ts(changed) if changed else None,
        "observed_at": ts(observed),
    }


# What nightly runs (20:00) saw of the orders; the first observation of an order is a change
# from NULL. Hours from creation to the first paid status are worked out in test_order_timing.
ORDER_STATUS_CHANGES = [
    change("o1", None, "OPENED", 1000.0, "RUB", "2024-01-02 13:00", "2024-01-02 20:00"),
    change("o1", "OPENED", "RESOLVED", 1000.0, "RUB", "2024-01-03 01:00", "2024-01-03 20:00"),  # 12 h
    change("o2", None, "SUCCESS", 20.0, "USD", "2024-01-03 12:30", "2024-01-03 20:00"),  # first seen paid: 2.5 h
    change("o3", None, "NEW", 500.0, "RUB", "2024-01-03 11:00", "2024-01-03 20:00"),
    change("o3", "NEW", "REJECTED", 500.0, "RUB", "2024-01-04 11:00", "2024-01-04 20:00"),
    change("o4", None, "NEW", 300.0, "RUB", "2024-01-08 10:00", "2024-01-08 20:00"),
    change("o5", None, "NEW", 700.0, "RUB", "2024-01-21 12:00", "2024-01-21 20:00"),
    change("o5", "NEW", "SUCCESS", 700.0, "RUB", None, "2024-01-23 20:00"),  # no updatedAt: seen at 56 h
    change("o6", None, "OPENED", 50.0, "USD", "2024-01-09 09:00", "2024-01-09 20:00"),
    change("o6", "OPENED", "RESOLVED", 50.0, "USD", "2024-01-10 09:00", "2024-01-10 20:00"),  # 24 h
    change("o7", None, "RESOLVED", 10.0, "RUB", "2024-01-09 11:00", "2024-01-09 20:00"),  # 1 h
    change("o8", None, "NEW", 100.0, "RUB", "2024-01-04 15:00", "2024-01-04 20:00"),
    change("o8", "NEW", "SUCCESS", 100.0, "RUB", "2024-01-05 15:00", "2024-01-05 20:00"),  # 24 h, then refunded
    change("o8", "SUCCESS", "REFUNDED", 100.0, "RUB", "2024-01-06 15:00", "2024-01-06 20:00"),
]

TUNNELS = [
    {"id": "t1", "name": "Main", "created_at": ts("2023-12-01 00:00"), "updated_at": ts("2024-01-01 00:00")},
    {"id": "t2", "name": "Zero", "created_at": ts("2023-12-01 00:00"), "updated_at": ts("2024-01-01 00:00")},
    {"id": "t3", "name": "Unused", "created_at": ts("2023-12-01 00:00"), "updated_at": ts("2024-01-01 00:00")},
]

LEADGENTOOLS = [
    {"id": "l1", "tunnel_id": "t1", "name": "Landing", "type": "LANDING"},
    {"id": "l2", "tunnel_id": "t2", "name": "Widget", "type": "WIDGET"},
]

COUNTERS = (
    "visits",
    "uniq_visits",
    "shows",
    "uniq_shows",
    "subscribers",
    "uniq_subscribers",
    "orders",
    "sales",
    "uniq_sales",
)


def stats(tunnel: str, day: str, values: tuple, total_sale: float, total_expenses: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tunnel_id": tunnel,
        "snapshot_date": date.fromisoformat(day),
        "snapshot_at": ts(day + " 03:00"),
    }
    row.update(dict(zip(COUNTERS, values, strict=False)))
    row["total_sale"] = float(total_sale)
    row["total_expenses"] = float(total_expenses)
    return row


TUNNEL_STATS = [
    #                      visits uv shows us subs usubs orders sales usales
    stats("t1", "2024-01-01", (100, 80, 50, 40, 20, 18, 5, 2, 2), 300, 200),
    stats("t1", "2024-01-02", (130, 100, 60, 45, 24, 21, 8, 2, 2), 300, 300),
    stats("t1", "2024-01-04", (150, 110, 66, 50, 25, 22, 9, 4, 3), 900, 300),  # 01-03 missing
    stats("t2", "2024-01-01", (0, 0, 0, 0, 0, 0, 0, 0, 0), 0, 0),  # an empty tunnel
    stats("t2", "2024-01-02", (10, 9, 0, 0, 0, 0, 0, 0, 0), 0, 50),
]

USERS = [
    {"id": "u1", "name": "Masha", "created_at": ts("2023-01-01 00:00"), "updated_at": ts("2023-01-01 00:00")},
    {"id": "u2", "name": "Pavel", "created_at": ts("2023-01-01 00:00"), "updated_at": ts("2023-01-01 00:00")},
]
TAGS = [{"id": "tag1", "name": "vip"}, {"id": "tag2", "name": "lead"}]
CONNECTIONS = [{"id": "con1", "type": "TELEGRAM", "name": "Shop bot"}]
TEMPLATE_CATEGORIES = [{"id": "cat1", "name": "Greetings"}]
TEMPLATES = [{"id": "tpl1", "category_id": "cat1", "message_name": "Hello"}]

TABLES: dict[str, tuple[list[dict[str, Any]], Any]] = {
    "people": (PEOPLE, "id"),
    "communication_channels": (CHANNELS, "id"),
    "chat_messages": (MESSAGES, "id"),
    "orders": (ORDERS, "id"),
    "tunnels": (TUNNELS, "id"),
    "leadgentools": (LEADGENTOOLS, "id"),
    "tunnel_stats": (TUNNEL_STATS, ("tunnel_id", "snapshot_date")),
    "users": (USERS, "id"),
    "tags": (TAGS, "id"),
    "connections": (CONNECTIONS, "id"),
    "template_categories": (TEMPLATE_CATEGORIES, "id"),
    "templates": (TEMPLATES, "id"),
    "order_status_changes": (ORDER_STATUS_CHANGES, ("order_id", "observed_at")),
}

# The raw tables whose rows the API can delete: the sources declare a `deleted_at` column
# on them (NULL while the entity exists), set after the load for what is gone.
DELETABLE = {
    "people",
    "communication_channels",
    "chat_messages",
    "orders",
    "tunnels",
    "leadgentools",
    "users",
    "tags",
    "connections",
    "template_categories",
    "templates",
}
DELETED_AT: dict[str, Any] = {"deleted_at": {"data_type": "timestamp", "timezone": True, "nullable": True}}


def resources(
    tables: dict[str, tuple[list[dict[str, Any]], Any]] | None = None,
    write_disposition: TWriteDisposition = "merge",
    deletable: frozenset[str] | set[str] = frozenset(),
) -> list[Any]:
    """dlt resources that load the given raw tables (all of the above by default); the
    tables named in ``deletable`` get the `deleted_at` column the sources declare."""
    out = []
    for name, (rows, key) in (tables or TABLES).items():
        out.append(
            dlt.resource(
                [dict(r) for r in rows],
                name=name,
                write_disposition=write_disposition,
                primary_key=key,
                columns=DELETED_AT if name in deletable else {},
            )
        )
    return out
