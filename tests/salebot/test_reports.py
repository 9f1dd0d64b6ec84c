"""salebot_reports built from a full load agree with the emulator's ground truth."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from emulators.salebot import SalebotEmulator
from tests.salebot.conftest import Warehouse
from transforms.runner import build_reports

MESSENGER = {0: "vkontakte", 1: "telegram", 2: "viber", 6: "whatsapp", 8: "ok"}


def _report(wh: Warehouse, name: str, columns: str) -> list[tuple]:
    with (
        wh.pipeline().sql_client() as c,
        c.execute_query(f'select {columns} from "{wh.dataset}_reports"."{name}"') as cur,
    ):
        return [tuple(r) for r in cur.fetchall()]


def test_reports_match_the_truth(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    """On a first load (after some activity) every contract report agrees with the truth."""
    emu.simulate(active_clients=3, new_clients=2, new_orders=3, status_changes=3)
    warehouse.run()
    build_reports(warehouse.pipeline(), "salebot")
    truth = emu.truth()
    utc = dt.UTC

    def day(ts: int) -> dt.date:
        return dt.datetime.fromtimestamp(ts, utc).date()

    daily = {
        r[0]: r[1:]
        for r in _report(
            warehouse, "daily_activity", '"date", new_clients, inbound_messages, outbound_messages, orders_created'
        )
    }
    expected_new = Counter(day(c["created_at"]) for c in truth["clients"])
    expected_in = Counter(day(m["created_at"]) for m in truth["messages"] if m["client_replica"])
    expected_out = Counter(day(m["created_at"]) for m in truth["messages"] if not m["client_replica"])
    for d, (new, inbound, outbound, _orders) in daily.items():
        assert (new, inbound, outbound) == (expected_new[d], expected_in[d], expected_out[d]), d
    # the API gives no order creation time and the loader invents none: every order of a
    # first load was already there when its client was first read, so none has a creation day
    assert sum(r[3] for r in daily.values()) == 0
    assert warehouse.query("select count(*) from {orders} where created_after is not null") == [(0,)]
    assert sum(r[0] for r in daily.values()) == len(truth["clients"])
    assert set(expected_in) <= set(daily)

    funnel = {
        (int(s), str(st)): (int(n), int(cl))
        for s, st, n, cl in _report(warehouse, "order_funnel", "status, state_id, orders, clients")
    }
    expected = Counter((o["status"], str(o["state_id"])) for o in truth["orders"])
    assert {k: v[0] for k, v in funnel.items()} == dict(expected)

    channels = _report(warehouse, "channel_funnel", "messenger, channel_group_id, channel_name, clients, orders")
    by_messenger: Counter[str] = Counter()
    for messenger, _group, name, clients, _orders in channels:
        by_messenger[messenger] += int(clients)
        assert name is not None, f"{messenger}/{_group} has no channel name"
    assert by_messenger == Counter(MESSENGER[c["client_type"]] for c in truth["clients"])
    assert sum(int(r[4]) for r in channels) == len(truth["orders"])
