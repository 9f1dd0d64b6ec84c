"""Every Leeloo report built from the hand-made account (fixture_data.py), on DuckDB and Postgres.

Expected values are worked out by hand from the fixture rows; the comments give the working.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.transforms.conftest import Warehouse

D = date.fromisoformat


def approx_rows(rows: list[dict], expected: list[dict]) -> None:
    """Rows equal the expected ones (floats approximately), compared on the expected keys."""
    assert len(rows) == len(expected), rows
    for got, want in zip(rows, expected, strict=False):
        picked = {k: got[k] for k in want}
        assert picked == pytest.approx(want, nan_ok=False), (picked, want)


# ------------------------------------------------------------------ staging


def test_staging_cleans_contacts(fixture_warehouse: Warehouse) -> None:
    people = {r["person_id"]: r for r in fixture_warehouse.rows("stg_people")}
    # '  Anna@Example.COM ' -> trimmed, lower-cased; '+7 (912) 345-67-89' -> '+' and digits
    assert people["p1"]["email"] == "anna@example.com"
    assert people["p1"]["phone"] == "+79123456789"
    # NOT_DEFINED email -> NULL; '8 900 111-22-33' -> '+89001112233' (digits kept as given)
    assert people["p2"]["email"] is None
    assert people["p2"]["phone"] == "+89001112233"
    # '' name and email, NOT_DEFINED phone -> NULL
    assert (people["p3"]["name"], people["p3"]["email"], people["p3"]["phone"]) == (None, None, None)
    assert people["p1"]["created_at"].utcoffset() == timedelta(0)


def test_staging_unnests_children_with_parent_id(fixture_warehouse: Warehouse) -> None:
    tags = fixture_warehouse.rows("stg_people_tags", order_by="person_id, position")
    assert [(r["person_id"], r["tag"]) for r in tags] == [("p1", "vip"), ("p1", "lead")]
    history = fixture_warehouse.rows("stg_subscribe_history", order_by="person_id, position")
    # p1 has 4 entries (one repeated), p2, p3 and p5 one each, p4 none
    assert [(r["person_id"], r["tunnel_id"], r["traffic_source_id"]) for r in history] == [
        ("p1", "t1", "s1"),
        ("p1", "t1", "s2"),
        ("p1", "t2", "s1"),
        ("p1", "t1", "s1"),
        ("p2", "t1", "s1"),
        ("p3", "t1", "s2"),
        ("p5", "t2", "s1"),
    ]
    accounts = fixture_warehouse.rows("stg_people_accounts", order_by="person_id")
    assert [(r["person_id"], r["messenger"]) for r in accounts][:2] == [("p1", "TELEGRAM"), ("p2", "TELEGRAM")]


def test_staging_renames_and_types(fixture_warehouse: Warehouse) -> None:
    channels = {r["channel_id"]: r for r in fixture_warehouse.rows("stg_channels")}
    assert channels["c2"]["messenger"] == "FACEBOOK"  # raw column "from"
    assert (channels["c2"]["utm_source"], channels["c2"]["utm_campaign"]) == ("fb", None)
    assert channels["c4"]["utm_source"] is None
    orders = {r["order_id"]: r for r in fixture_warehouse.rows("stg_orders")}
    assert {k: (o["status_group"], o["is_paid"]) for k, o in orders.items()} == {
        "o1": ("paid", True),
        "o2": ("paid", True),
        "o3": ("failed", False),
        "o4": ("open", False),
        "o5": ("paid", True),
        "o6": ("paid", True),
        "o7": ("paid", True),
        "o8": ("refunded", False),
    }
    messages = {r["message_id"]: r for r in fixture_warehouse.rows("stg_chat_messages")}
    assert (messages["m04"]["manager_id"], messages["m04"]["direction"]) == ("u1", "outbound")
    assert (messages["m01"]["manager_id"], messages["m01"]["direction"]) == (None, "inbound")
    assert messages["m15"]["direction"] == "system"


# ------------------------------------------------------------------ contract reports


def test_tunnel_funnel(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("tunnel_funnel", order_by="tunnel_id, snapshot_date")
    approx_rows(
        rows,
        [
            # 50/100, 20/50, 5/20, 2/5, (300-200)/200
            {
                "tunnel_id": "t1",
                "tunnel_name": "Main",
                "snapshot_date": D("2024-01-01"),
                "visits": 100,
                "show_rate": 0.5,
                "subscribe_rate": 0.4,
                "order_rate": 0.25,
                "sale_rate": 0.4,
                "romi": 0.5,
            },
            # 60/130, 24/60, 8/24, 2/8, (300-300)/300 = 0 (not NULL: the divisor is 300)
            {
                "tunnel_id": "t1",
                "snapshot_date": D("2024-01-02"),
                "show_rate": 60 / 130,
                "subscribe_rate": 0.4,
                "order_rate": 8 / 24,
                "sale_rate": 0.25,
                "romi": 0.0,
            },
            # 66/150, 25/66, 9/25, 4/9, (900-300)/300
            {
                "tunnel_id": "t1",
                "snapshot_date": D("2024-01-04"),
                "show_rate": 0.44,
                "subscribe_rate": 25 / 66,
                "order_rate": 0.36,
                "sale_rate": 4 / 9,
                "romi": 2.0,
                "total_sale": 900.0,
            },
            # an empty tunnel: every divisor is 0 -> every rate NULL
            {
                "tunnel_id": "t2",
                "tunnel_name": "Zero",
                "snapshot_date": D("2024-01-01"),
                "visits": 0,
                "show_rate": None,
                "subscribe_rate": None,
                "order_rate": None,
                "sale_rate": None,
                "romi": None,
            },
            # visits 10 but shows 0: show_rate 0/10 = 0, later rates divide by 0 -> NULL; (0-50)/50
            {
                "tunnel_id": "t2",
                "snapshot_date": D("2024-01-02"),
                "show_rate": 0.0,
                "subscribe_rate": None,
                "order_rate": None,
                "sale_rate": None,
                "romi": -1.0,
            },
        ],
    )
    # t3 has no stats at all: no rows
    assert all(r["tunnel_id"] != "t3" for r in rows)


def test_source_funnel(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("source_funnel", order_by="tunnel_id, leadgentool_id, traffic_source_id")
    # entries: p1 -> (t1,l1,s1) x2, (t1,l1,s2), (t2,l2,s1); p2 -> (t1,l1,s1); p3 -> (t1,l1,s2);
    # p5 -> (t2,l2,s1). Wrote in (FRIEND_MESSAGE): p1, p2, p3, p4. Ordered: p1, p2 (open and
    # refunded only), p3, p4. Paid: p1 (o1, o2), p3 (o5), p4 (o6).
    approx_rows(
        rows,
        [
            # p1, p2 (p1's repeated entry counts once): both wrote, both ordered, only p1 paid
            {
                "tunnel_id": "t1",
                "leadgentool_id": "l1",
                "traffic_source_id": "s1",
                "tunnel_name": "Main",
                "leadgentool_name": "Landing",
                "people": 2,
                "engaged_people": 2,
                "ordering_people": 2,
                "paying_people": 1,
                "paying_share": 0.5,
            },
            # p1, p3: both paid
            {
                "tunnel_id": "t1",
                "leadgentool_id": "l1",
                "traffic_source_id": "s2",
                "people": 2,
                "engaged_people": 2,
                "ordering_people": 2,
                "paying_people": 2,
                "engaged_share": 1.0,
            },
            # p1 and p5; p5 never wrote nor ordered
            {
                "tunnel_id": "t2",
                "leadgentool_id": "l2",
                "traffic_source_id": "s1",
                "people": 2,
                "engaged_people": 1,
                "ordering_people": 1,
                "paying_people": 1,
                "engaged_share": 0.5,
                "ordering_share": 0.5,
                "paying_share": 0.5,
            },
        ],
    )


def test_revenue_by_source(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows(
        "revenue_by_source", order_by="tunnel_id, leadgentool_id, traffic_source_id, currency"
    )
    # paid orders: o1 p1 1000 RUB, o2 p1 20 USD, o5 p3 700 RUB, o6 p4 50 USD (p4 has no
    # history: not attributed), o7 (person unknown: not attributed). p1's repeated entry
    # (t1,l1,s1) counts o1 once. RUB and USD are never added together.
    approx_rows(
        rows,
        [
            {"tunnel_id": "t1", "traffic_source_id": "s1", "currency": "RUB", "paid_orders": 1, "revenue": 1000.0},
            {"tunnel_id": "t1", "traffic_source_id": "s1", "currency": "USD", "paid_orders": 1, "revenue": 20.0},
            {"tunnel_id": "t1", "traffic_source_id": "s2", "currency": "RUB", "paid_orders": 2, "revenue": 1700.0},
            {"tunnel_id": "t1", "traffic_source_id": "s2", "currency": "USD", "paid_orders": 1, "revenue": 20.0},
            {"tunnel_id": "t2", "traffic_source_id": "s1", "currency": "RUB", "paid_orders": 1, "revenue": 1000.0},
            {"tunnel_id": "t2", "traffic_source_id": "s1", "currency": "USD", "paid_orders": 1, "revenue": 20.0},
        ],
    )


def test_daily_activity(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("daily_activity", order_by='"date"')
    by_day = {r["date"]: r for r in rows}
    # a row for every day from the first activity (01-01) to the last (o5 on 01-21)
    assert [r["date"] for r in rows] == [D("2024-01-01") + timedelta(days=i) for i in range(21)]
    cols = ("new_channels", "inbound_messages", "outbound_messages", "orders_created", "paid_orders_created")
    expected = {
        # c1; m01 m03 in, m02 bot + m04 manager out
        "2024-01-01": (1, 2, 2, 0, 0),
        # c2; m05 in, m06 out; o1 paid
        "2024-01-02": (1, 1, 1, 1, 1),
        # c3; m07, m08; o2 paid, o3 rejected
        "2024-01-03": (1, 1, 1, 2, 1),
        # o8 refunded is not paid
        "2024-01-04": (0, 0, 0, 1, 0),
        "2024-01-05": (0, 0, 0, 0, 0),
        # c4 at 23:30; m09 23:50 in, m10 23:51 out — all before midnight UTC
        "2024-01-07": (1, 1, 1, 0, 0),
        # after midnight: m11 out, m12 in, m13 out; o4 open
        "2024-01-08": (0, 1, 2, 1, 0),
        # c5; m14 in, m15 is a system message (neither); o6, o7 paid
        "2024-01-09": (1, 1, 0, 2, 2),
        "2024-01-21": (0, 0, 0, 1, 1),
    }
    for day, values in expected.items():
        assert tuple(by_day[D(day)][c] for c in cols) == values, day


# ------------------------------------------------------------------ further reports


def test_tunnel_funnel_daily(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("tunnel_funnel_daily", order_by="tunnel_id, snapshot_date")
    approx_rows(
        rows,
        [
            # 130-100, 60-50, 24-20, 8-5, 2-2; money 300-300, 300-200
            {
                "tunnel_id": "t1",
                "snapshot_date": D("2024-01-02"),
                "previous_snapshot_date": D("2024-01-01"),
                "days_between": 1,
                "visits_change": 30,
                "shows_change": 10,
                "subscribers_change": 4,
                "orders_change": 3,
                "sales_change": 0,
                "total_sale_change": 0.0,
                "total_expenses_change": 100.0,
            },
            # 01-03 was not snapshotted: the change spans two days
            {
                "tunnel_id": "t1",
                "snapshot_date": D("2024-01-04"),
                "previous_snapshot_date": D("2024-01-02"),
                "days_between": 2,
                "visits_change": 20,
                "uniq_visits_change": 10,
                "sales_change": 2,
                "uniq_sales_change": 1,
                "total_sale_change": 600.0,
            },
            {
                "tunnel_id": "t2",
                "snapshot_date": D("2024-01-02"),
                "visits_change": 10,
                "uniq_visits_change": 9,
                "shows_change": 0,
                "total_expenses_change": 50.0,
            },
        ],
    )


def test_utm_funnel_and_revenue(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("utm_funnel", order_by="utm_source nulls last")
    # google/cpc/winter: c1 (p1), c3 (p2), both with inbound; p1 and p2 ordered, p1 paid.
    # fb/social/NULL: c2 (p1), m05 inbound; p1 ordered and paid.
    # untagged: c4 (p3), c5 (p4), both with inbound; both ordered and paid.
    approx_rows(
        rows,
        [
            {
                "utm_source": "fb",
                "utm_medium": "social",
                "utm_campaign": None,
                "channels": 1,
                "engaged_channels": 1,
                "people": 1,
                "engaged_people": 1,
                "ordering_people": 1,
                "paying_people": 1,
            },
            {
                "utm_source": "google",
                "utm_medium": "cpc",
                "utm_campaign": "winter",
                "channels": 2,
                "engaged_channels": 2,
                "people": 2,
                "engaged_people": 2,
                "ordering_people": 2,
                "paying_people": 1,
                "paying_share": 0.5,
            },
            {
                "utm_source": None,
                "utm_medium": None,
                "utm_campaign": None,
                "channels": 2,
                "engaged_channels": 2,
                "people": 2,
                "engaged_people": 2,
                "ordering_people": 2,
                "paying_people": 2,
            },
        ],
    )
    revenue = fixture_warehouse.rows("utm_revenue", order_by="utm_source nulls last, currency")
    # p1's o1/o2 count under both of p1's combinations; untagged: o5 (p3, RUB), o6 (p4, USD)
    approx_rows(
        revenue,
        [
            {"utm_source": "fb", "currency": "RUB", "paid_orders": 1, "revenue": 1000.0},
            {"utm_source": "fb", "currency": "USD", "paid_orders": 1, "revenue": 20.0},
            {"utm_source": "google", "currency": "RUB", "paid_orders": 1, "revenue": 1000.0},
            {"utm_source": "google", "currency": "USD", "paid_orders": 1, "revenue": 20.0},
            {"utm_source": None, "currency": "RUB", "paid_orders": 1, "revenue": 700.0},
            {"utm_source": None, "currency": "USD", "paid_orders": 1, "revenue": 50.0},
        ],
    )


def test_manager_response_times(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("manager_response_times", order_by="manager_id, week_start")
    # u1 answered: m01 10:06 -> m04 10:16 = 10 min; m03 10:10 -> m04 = 6 (the bot's m02 is not
    # an answer); m07 09:00 -> m08 09:02 = 2; m09 Sun 23:50 -> m11 Mon 00:20 = 30 (counted in
    # the week of the client's message, 2024-01-01). Sorted 2, 6, 10, 30: median (6+10)/2 = 8;
    # p90 at position 0.9*3 = 2.7 -> 10 + 0.7*(30-10) = 24; mean 48/4 = 12.
    # u2: m05 -> m06 = 30 (week 01-01); m12 Mon 00:25 -> m13 09:25 = 540 (week 01-08).
    # m14 is never answered by a manager: not counted.
    approx_rows(
        rows,
        [
            {
                "manager_id": "u1",
                "manager_name": "Masha",
                "week_start": D("2024-01-01"),
                "answered_messages": 4,
                "median_response_minutes": 8.0,
                "p90_response_minutes": 24.0,
                "avg_response_minutes": 12.0,
                "max_response_minutes": 30.0,
            },
            {
                "manager_id": "u2",
                "manager_name": "Pavel",
                "week_start": D("2024-01-01"),
                "answered_messages": 1,
                "median_response_minutes": 30.0,
                "p90_response_minutes": 30.0,
            },
            {
                "manager_id": "u2",
                "week_start": D("2024-01-08"),
                "answered_messages": 1,
                "median_response_minutes": 540.0,
                "p90_response_minutes": 540.0,
            },
        ],
    )
    assert fixture_warehouse.result.materialized["manager_response_times"] == "table"


def test_cohort_conversion(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("cohort_conversion", order_by="cohort_week, weeks_to_first_paid nulls last")
    # first seen: p1 01-01 10:00, p2 01-03 08:00, p3 Sun 01-07 23:00 -> cohort 2024-01-01 (3);
    # p4 has no created_at -> its channel c5 01-09 08:00; p5 01-10 -> cohort 2024-01-08 (2).
    # first paid: p1 o1 01-02 13:00 (27 h -> week 0); p3 o5 01-21 12:00 (13.5 days -> week 1);
    # p4 o6 01-09 09:00 (1 h -> week 0); p2 (open/refunded only) and p5 never -> NULL.
    approx_rows(
        rows,
        [
            {
                "cohort_week": D("2024-01-01"),
                "weeks_to_first_paid": 0,
                "people": 1,
                "cohort_size": 3,
                "share_of_cohort": 1 / 3,
                "cumulative_paying_share": 1 / 3,
            },
            {
                "cohort_week": D("2024-01-01"),
                "weeks_to_first_paid": 1,
                "people": 1,
                "cohort_size": 3,
                "cumulative_paying_share": 2 / 3,
            },
            {"cohort_week": D("2024-01-01"), "weeks_to_first_paid": None, "people": 1, "cumulative_paying_share": None},
            {
                "cohort_week": D("2024-01-08"),
                "weeks_to_first_paid": 0,
                "people": 1,
                "cohort_size": 2,
                "share_of_cohort": 0.5,
                "cumulative_paying_share": 0.5,
            },
            {"cohort_week": D("2024-01-08"), "weeks_to_first_paid": None, "people": 1, "cohort_size": 2},
        ],
    )


def test_tunnel_revenue_and_summary(fixture_warehouse: Warehouse) -> None:
    from transforms.runner import summary_rows

    revenue = fixture_warehouse.rows("tunnel_revenue", order_by="tunnel_id, currency")
    # t1 members p1, p2, p3: o1 + o5 RUB (once each although p1 has 3 t1 entries), o2 USD
    approx_rows(
        revenue,
        [
            {"tunnel_id": "t1", "currency": "RUB", "paid_orders": 2, "paying_people": 2, "revenue": 1700.0},
            {"tunnel_id": "t1", "currency": "USD", "paid_orders": 1, "revenue": 20.0},
            {"tunnel_id": "t2", "currency": "RUB", "paid_orders": 1, "revenue": 1000.0},
            {"tunnel_id": "t2", "currency": "USD", "paid_orders": 1, "revenue": 20.0},
        ],
    )
    summary = {r["tunnel"]: r for r in summary_rows(fixture_warehouse.pipeline, "leeloo")}
    assert set(summary) == {"Main", "Zero", "Unused"}
    assert summary["Main"]["visits"] == 150  # the latest snapshot, 2024-01-04
    assert summary["Main"]["people"] == 3
    assert summary["Main"]["paid_revenue"] == "RUB 1700.00, USD 20.00"
    assert summary["Unused"]["visits"] is None and summary["Unused"]["paid_orders"] == 0


def test_build_reports_orphans_and_missing_raw(fixture_warehouse: Warehouse) -> None:
    result = fixture_warehouse.result
    # o7 belongs to an unknown person: reported, not a failure
    orphan = [t for t in result.tests if t.model == "stg_orders" and t.test.startswith("orphans")]
    assert orphan[0].failures == 1 and "p404" in orphan[0].message
    assert result.failed_tests == []
    # nobody has order links, so dlt never created people__links__orders: built empty
    assert any("people__links__orders does not exist" in w for w in result.padded)
    assert fixture_warehouse.rows("stg_people_order_links") == []
    # the reports dataset is named after the raw one
    assert result.reports_dataset == fixture_warehouse.dataset + "_reports"


@pytest.mark.parametrize(
    "table, order_by",
    [
        ("daily_activity", '"date"'),
        ("manager_response_times", "manager_id, week_start"),
        ("cohort_conversion", "cohort_week, weeks_to_first_paid"),
    ],
)
def test_reports_do_not_depend_on_the_readers_time_zone(
    fixture_warehouse: Warehouse, table: str, order_by: str
) -> None:
    # a dashboard session in UTC+14 or UTC-10 must still see UTC days and weeks: m09 at
    # Sunday 23:50 UTC would move to Monday (the next week) if the SQL used the session zone
    utc = fixture_warehouse.rows_in_time_zone(table, "UTC", order_by)
    assert utc  # not vacuous
    for zone in ("Pacific/Kiritimati", "Pacific/Honolulu"):
        assert fixture_warehouse.rows_in_time_zone(table, zone, order_by) == utc, zone
