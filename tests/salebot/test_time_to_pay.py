"""Salebot's time to pay: clients per messenger, bot and week of first contact (in the
account's reports_timezone), those with a successful order and the share without, equal
the emulator's truth; the hours to the first observed success lie between the run's start
and end measured from each client's first contact, on DuckDB and Postgres."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from zoneinfo import ZoneInfo

from emulators.salebot import SalebotEmulator
from tests.salebot.conftest import Warehouse
from tests.salebot.test_reports import MESSENGER, _report
from tests.transforms.truth import percentile_cont, week_start
from transforms.runner import build_reports

ZONE = ZoneInfo("Asia/Vladivostok")
PERCENTILES = (0.25, 0.5, 0.75, 0.9)


def test_time_to_pay_equals_the_truth(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    started = time.time()
    warehouse.run()
    ended = time.time()
    build_reports(warehouse.pipeline(), "salebot", reports_timezone="Asia/Vladivostok")
    truth = emu.truth()
    contact = {c["id"]: c["created_at"] for c in truth["clients"]}
    for m in truth["messages"]:
        if m["client_id"] in contact:
            contact[m["client_id"]] = min(contact[m["client_id"]], m["created_at"])
    paid = {o["client_id"] for o in truth["orders"] if o["status"] == 1}
    groups: dict[tuple, list] = defaultdict(list)
    for c in truth["clients"]:
        at = dt.datetime.fromtimestamp(contact[c["id"]], dt.UTC)
        key = (MESSENGER[c["client_type"]], None if c.get("group") is None else str(c["group"]), week_start(at, ZONE))
        groups[key].append(c["id"])
    rows = _report(warehouse, "time_to_pay", "messenger, channel_group_id, week_start, clients, successful_clients, "
                   "unpaid_share, p25_hours_to_pay, median_hours_to_pay, p75_hours_to_pay, p90_hours_to_pay")
    got = {tuple(r[:3]): r[3:] for r in rows}
    assert set(got) == set(groups)
    assert paid, "the truth has successful orders"
    for key, ids in groups.items():
        clients, successful, unpaid_share, *hours = got[key]
        mine = [i for i in ids if i in paid]
        assert (clients, successful) == (len(ids), len(mine)), key
        assert abs(unpaid_share - (1 - len(mine) / len(ids))) < 1e-9, key
        # a first load sees every success during the run: the hours are bounded by its start and end
        for q, value in zip(PERCENTILES, hours, strict=True):
            if not mine:
                assert value is None, key
                continue
            low = percentile_cont([(started - contact[i]) / 3600 for i in mine], q)
            high = percentile_cont([(ended - contact[i]) / 3600 for i in mine], q)
            assert low - 1e-6 <= value <= high + 1e-6, (key, q, low, value, high)
