"""tunnel_stats_coverage (Leeloo) and the Salebot client variables with the UTM funnel built
on them, checked by hand against the fixtures, on DuckDB and Postgres."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.transforms.conftest import Warehouse

D = date.fromisoformat


def test_tunnel_stats_coverage_shows_gaps_and_never_fills_them(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows("tunnel_stats_coverage", order_by='"date"')
    today = datetime.now(UTC).date()
    # one row per UTC day from the first snapshot (2024-01-01) to today
    assert [r["date"] for r in rows] == [
        D("2024-01-01") + timedelta(days=i) for i in range((today - D("2024-01-01")).days + 1)
    ]
    by_day = {r["date"]: r for r in rows}
    # t1 on 01-01, 01-02, 01-04; t2 on 01-01, 01-02; t3 (created 2023-12-01) never
    assert [
        (by_day[D(d)]["tunnels_snapshotted"], by_day[D(d)]["tunnels_missing"], by_day[D(d)]["is_gap"])
        for d in ("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04")
    ] == [
        (2, 1, False),
        (2, 1, False),
        (0, 3, True),
        (1, 2, False),
    ]
    # every later day had no snapshot at all: a gap, except today, which is not over yet
    assert all(r["is_gap"] for r in rows if D("2024-01-04") < r["date"] < today)
    assert by_day[today]["is_gap"] is False and by_day[today]["tunnels_snapshotted"] == 0
    # and the funnel of the missed day is not invented: tunnel_funnel has no 01-03 row
    assert D("2024-01-03") not in {r["snapshot_date"] for r in fixture_warehouse.rows("tunnel_funnel")}
    assert fixture_warehouse.result.materialized["tunnel_stats_coverage"] == "view"


def test_salebot_client_variables(salebot_warehouse: Warehouse) -> None:
    variables = salebot_warehouse.rows("stg_client_variables", order_by="client_id, name")
    assert len(variables) == 7 and {"client_id", "name", "value"} <= set(variables[0])
    utm = {r["client_id"]: r for r in salebot_warehouse.rows("stg_client_utm")}
    # 101 utm_source ig; 102 spells it UTM_Source with padding: the same mark, trimmed;
    # 103's empty mark is no mark; 104 has no variables at all (no row)
    assert {k: (v["utm_source"], v["utm_campaign"]) for k, v in utm.items()} == {
        "101": ("ig", "spring"),
        "102": ("ig", "spring"),
        "103": (None, None),
    }


def test_salebot_utm_funnel(salebot_warehouse: Warehouse) -> None:
    rows = salebot_warehouse.rows("utm_funnel", order_by="utm_source nulls last")
    picked = [
        {
            k: r[k]
            for k in (
                "utm_source",
                "utm_campaign",
                "clients",
                "engaged_clients",
                "ordering_clients",
                "successful_clients",
                "engaged_share",
                "success_share",
            )
        }
        for r in rows
    ]
    assert picked == [
        # 101 (wrote 1001, orders 5001 success and 5002), 102 (never wrote; 5005 success)
        {
            "utm_source": "ig",
            "utm_campaign": "spring",
            "clients": 2,
            "engaged_clients": 1,
            "ordering_clients": 2,
            "successful_clients": 2,
            "engaged_share": 0.5,
            "success_share": 1.0,
        },
        # 103 (wrote; 5003 failed), 104 (wrote; 5004 success)
        {
            "utm_source": None,
            "utm_campaign": None,
            "clients": 2,
            "engaged_clients": 2,
            "ordering_clients": 2,
            "successful_clients": 1,
            "engaged_share": 1.0,
            "success_share": 0.5,
        },
    ]
    assert salebot_warehouse.result.failed_tests == []


def test_salebot_orders_created_counts_known_creation_windows(salebot_warehouse: Warehouse) -> None:
    days = {r["date"]: r for r in salebot_warehouse.rows("daily_activity")}
    created = {d: (r["orders_created"], r["successful_orders_created"]) for d, r in days.items() if r["orders_created"]}
    # 5003 (failed) created between the reads of 01-02 and 01-03, 5005 (success) between
    # 01-07 and 01-08: counted on the day first seen. 5001, 5002, 5004 were there at the
    # first read of their client: their creation is unknown and not counted
    assert created == {D("2024-01-03"): (1, 0), D("2024-01-08"): (1, 1)}
