"""A small hand-made Salebot project, in the raw shapes the Salebot source loads.

Expected values in test_salebot_models.py are worked out by hand from these rows. Dates are
January 2024 (Monday 2024-01-01 starts ISO week 1; Monday 2024-01-08 week 2).
"""

from __future__ import annotations

from typing import Any

import dlt

from tests.transforms.fixture_data import DELETED_AT, ts


def client(cid: int, client_type: int, group: str, created: str) -> dict[str, Any]:
    return {
        "id": cid,
        "platform_id": f"pl{cid}",
        "client_type": client_type,
        "group": group,
        "name": f"client {cid}",
        "tag": None,
        "created_at": ts(created),
        "updated_at": ts(created),
    }


CLIENTS = [
    client(101, 1, "shop_bot", "2024-01-01 10:00"),  # telegram
    client(102, 1, "shop_bot", "2024-01-02 10:00"),  # telegram
    client(103, 0, "vk_group", "2024-01-03 10:00"),  # vkontakte
    client(104, 6, "wa_line", "2024-01-05 10:00"),  # whatsapp
]


def message(mid: int, cid: int, inbound: bool, at: str, manager: int | None = None) -> dict[str, Any]:
    return {
        "id": mid,
        "client_id": cid,
        "created_at": ts(at),
        "client_replica": inbound,
        "manager_id": manager,
        "message_id": None,
        "text": f"text {mid}",
        "delivered": True,
        "origin": None,
    }


MESSAGES = [
    message(1001, 101, True, "2024-01-01 10:01"),
    message(1002, 101, False, "2024-01-01 10:02"),
    message(1003, 102, False, "2024-01-02 10:01"),  # 102 never writes
    message(1004, 103, True, "2024-01-03 10:01"),
    message(1005, 104, True, "2024-01-05 10:01"),
    message(1006, 104, False, "2024-01-05 10:30", manager=7),
]


def order(oid: int, cid: int, status: int, state: int, first_seen: str, created_after: str | None) -> dict[str, Any]:
    """An order as the source loads it: no creation time, a creation window instead."""
    return {
        "id": oid,
        "client_id": cid,
        "status": status,
        "status_name": ["active", "success", "failed"][status],
        "state_id": state,
        "first_seen_at": ts(first_seen),
        "created_after": ts(created_after) if created_after else None,
    }


ORDERS = [
    order(5001, 101, 1, 11, "2024-01-01 20:00", None),  # there at the first read of 101
    order(5002, 101, 0, 10, "2024-01-01 20:00", None),
    order(5003, 103, 2, 13, "2024-01-03 20:00", "2024-01-02 20:00"),  # created in that window
    order(5004, 104, 1, 11, "2024-01-05 20:00", None),  # a new client's order
    order(5005, 102, 1, 11, "2024-01-08 20:00", "2024-01-07 20:00"),
]

VARIABLES = [
    {"client_id": 101, "name": "utm_source", "value": "ig"},
    {"client_id": 101, "name": "utm_campaign", "value": "spring"},
    {"client_id": 101, "name": "client.name", "value": "Ann"},
    {"client_id": 102, "name": "UTM_Source", "value": " ig "},  # another spelling, padded
    {"client_id": 102, "name": "utm_campaign", "value": "spring"},
    {"client_id": 103, "name": "utm_source", "value": ""},  # an empty mark: not tagged
    {"client_id": 103, "name": "city", "value": "Kazan"},
]


def change(oid: int, old: int | None, new: int, old_state: int | None, new_state: int, observed: str) -> dict[str, Any]:
    return {
        "order_id": oid,
        "old_status": old,
        "new_status": new,
        "old_state_id": old_state,
        "new_state_id": new_state,
        "changed_at": None,
        "observed_at": ts(observed),
    }


# nightly runs at 20:00; the first observation of an order is a change from NULL
CHANGES = [
    change(5001, None, 0, None, 10, "2024-01-01 20:00"),
    change(5001, 0, 1, 10, 11, "2024-01-03 20:00"),  # successful 48 h after first seen
    change(5002, None, 0, None, 10, "2024-01-01 20:00"),
    change(5003, None, 0, None, 10, "2024-01-03 20:00"),
    change(5003, 0, 2, 10, 13, "2024-01-04 20:00"),
    change(5004, None, 1, None, 11, "2024-01-05 20:00"),  # first seen successful: not timed
    change(5005, None, 0, None, 10, "2024-01-08 20:00"),
    change(5005, 0, 0, 10, 12, "2024-01-09 20:00"),  # moved on the CRM board only
    change(5005, 0, 1, 12, 11, "2024-01-10 20:00"),  # successful 48 h after first seen
]

CHANNELS = [
    {"messenger": "telegram", "id": 1, "group_id": "shop_bot", "name": "Shop", "enabled": True},
    {"messenger": "vk", "id": 2, "group_id": "vk_group", "name": "VK group", "enabled": True},
]

TABLES: dict[str, tuple[list[dict[str, Any]], Any]] = {
    "clients": (CLIENTS, "id"),
    "messages": (MESSAGES, "id"),
    "orders": (ORDERS, "id"),
    "client_variables": (VARIABLES, ("client_id", "name")),
    "order_status_changes": (CHANGES, ("order_id", "observed_at")),
    "channels": (CHANNELS, ("messenger", "id")),
}
DELETABLE = {"clients", "messages", "orders", "client_variables"}


def resources(tables: dict[str, tuple[list[dict[str, Any]], Any]] | None = None) -> list[Any]:
    """dlt resources for the given raw tables (all of the above by default), merged on their
    keys, the deletable ones with their `deleted_at` column."""
    return [
        dlt.resource(
            [dict(r) for r in rows],
            name=name,
            write_disposition="merge",
            primary_key=key,
            columns=DELETED_AT if name in DELETABLE else {},
        )
        for name, (rows, key) in (tables or TABLES).items()
    ]
