"""`order_timing` (Leeloo and Salebot) equals values computed in Python from the fixture
rows (tests/transforms/truth.py), and the hand-worked figures below, on DuckDB and Postgres."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.transforms import fixture_data, salebot_fixture
from tests.transforms import truth as reference
from tests.transforms.conftest import ENGINES, Warehouse

D = date.fromisoformat


def keyed(rows: list[dict[str, Any]], *columns: str) -> dict[tuple, dict[str, Any]]:
    out = {tuple(r[c] for c in columns): r for r in rows}
    assert len(out) == len(rows), "duplicate keys"
    return out


def assert_equal_to_truth(got: dict[tuple, dict], want: dict[tuple, dict]) -> None:
    assert set(got) == set(want)
    for key, expected in want.items():
        for column, value in expected.items():
            if value is None:
                assert got[key][column] is None, (key, column)
            else:
                assert got[key][column] == pytest.approx(value), (key, column, got[key][column], value)


def test_leeloo_order_timing_equals_python(fixture_warehouse: Warehouse) -> None:
    rows = keyed(fixture_warehouse.rows("order_timing"), "tunnel_id", "week_start")
    want = reference.order_timing(fixture_data.PEOPLE, fixture_data.ORDERS, fixture_data.ORDER_STATUS_CHANGES)
    assert_equal_to_truth(rows, want)
    # the same by hand. First history entries: p1, p2, p3 -> t1; p4 none, p404 unknown -> NULL.
    # (t1, 01-01): o1 12 h (OPENED -> RESOLVED at its updatedAt), o2 2.5 h (first seen
    # already paid: its updatedAt), o3 never paid, o8 24 h (paid, later refunded: it did
    # reach paid). Sorted 2.5, 12, 24: median 12; p90 at 0.9*2 = 1.8 -> 12 + 0.8*12 = 21.6.
    t1 = rows[("t1", D("2024-01-01"))]
    assert (t1["tunnel_name"], t1["orders"], t1["paid_orders"]) == ("Main", 4, 3)
    assert (t1["median_hours_to_paid"], t1["p90_hours_to_paid"]) == pytest.approx((12.0, 21.6))
    # o4 open: an order and no hours
    assert rows[("t1", D("2024-01-08"))]["paid_orders"] == 0
    assert rows[("t1", D("2024-01-08"))]["median_hours_to_paid"] is None
    # o5: the paid change has no updatedAt, so the run that saw it (01-23 20:00) times it: 56 h
    assert rows[("t1", D("2024-01-15"))]["median_hours_to_paid"] == pytest.approx(56.0)
    # unattributed: o6 24 h, o7 1 h -> median 12.5, p90 1 + 0.9*23 = 21.7
    unattributed = rows[(None, D("2024-01-08"))]
    assert (unattributed["orders"], unattributed["paid_orders"]) == (2, 2)
    assert (unattributed["median_hours_to_paid"], unattributed["p90_hours_to_paid"]) == pytest.approx((12.5, 21.7))


@pytest.mark.parametrize("engine", ENGINES)
def test_leeloo_order_timing_before_the_change_history_exists(warehouse_factory, engine: str) -> None:
    # raw data loaded before the sources wrote order_status_changes: the report builds, and
    # orders paid now count as paid but are not timed
    tables = {k: v for k, v in fixture_data.TABLES.items() if k != "order_status_changes"}
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources(tables))
    result = wh.build()
    assert any("order_status_changes does not exist yet" in w for w in result.padded)
    t1 = keyed(wh.rows("order_timing"), "tunnel_id", "week_start")[("t1", D("2024-01-01"))]
    # o1, o2 paid now; o8 is REFUNDED now and its paid past is unknown without the history
    assert (t1["orders"], t1["paid_orders"], t1["median_hours_to_paid"]) == (4, 2, None)


def test_salebot_order_timing_equals_python(salebot_warehouse: Warehouse) -> None:
    rows = keyed(salebot_warehouse.rows("order_timing"), "messenger", "channel_group_id", "week_start")
    want = reference.salebot_order_timing(salebot_fixture.CLIENTS, salebot_fixture.ORDERS, salebot_fixture.CHANGES)
    assert_equal_to_truth(rows, want)
    # by hand: 5001 and 5002 first seen 01-01; 5001 seen successful 48 h later
    shop = rows[("telegram", "shop_bot", D("2024-01-01"))]
    assert (shop["orders"], shop["successful_orders"], shop["timed_orders"]) == (2, 1, 1)
    assert shop["median_hours_to_success"] == pytest.approx(48.0)
    # 5004 was first seen already successful: successful, but there is nothing to time
    wa = rows[("whatsapp", "wa_line", D("2024-01-01"))]
    assert (wa["successful_orders"], wa["timed_orders"], wa["median_hours_to_success"]) == (1, 0, None)
    # 5005: a CRM-state move on 01-09 is not a success; success seen 01-10, 48 h after 01-08
    later = rows[("telegram", "shop_bot", D("2024-01-08"))]
    assert later["median_hours_to_success"] == pytest.approx(48.0)
    assert salebot_warehouse.result.failed_tests == []


def test_salebot_status_changes_staging(salebot_warehouse: Warehouse) -> None:
    changes = salebot_warehouse.rows("stg_order_status_changes", order_by="order_id, observed_at")
    assert [(c["old_status_name"], c["new_status_name"]) for c in changes if c["order_id"] == "5005"] == [
        (None, "active"),
        ("active", "active"),
        ("active", "success"),
    ]
    assert [(c["old_state_id"], c["new_state_id"]) for c in changes if c["order_id"] == "5005"] == [
        (None, "10"),
        ("10", "12"),
        ("12", "11"),
    ]
