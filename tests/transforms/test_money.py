"""Money is exact: prices, sales and expenses are decimals in the raw tables and the reports
on DuckDB and Postgres, sums of 0.1 + 0.2 and of a price with 14 digits before the point
equal the API's amounts exactly, and a warehouse the previous release loaded with float
columns is migrated to decimals on its first run of today's version."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import main
from sources.kit.values import Oddities, money
from tests.leeloo.conftest import Target, emulator, target  # noqa: F401
from tests.transforms.truth import PAID
from tests.upgrade import older

LARGE = 12345678901234.56  # 16 significant digits: a float still holds its decimal text


def test_money_is_the_decimal_the_api_wrote() -> None:
    odd = Oddities()
    assert money(0.1, "orders.price", odd) == (Decimal("0.1"), None)
    assert money(LARGE, "orders.price", odd) == (Decimal("12345678901234.56"), None)
    assert money("6103,95", "orders.price", odd) == (Decimal("6103.95"), None)
    assert money(" 1 490.00", "orders.price", odd) == (Decimal("1490.00"), None)
    assert money(149, "orders.price", odd) == (Decimal(149), None)
    assert money("NOT_DEFINED", "orders.price", odd) == (None, None)
    assert odd.count() == 0
    # what decimal(38, 9) cannot hold unrounded is kept as text, never rounded
    assert money(0.1 + 0.2, "orders.price", odd) == (None, "0.30000000000000004")
    assert money("1" * 30, "orders.price", odd) == (None, "1" * 30)
    assert money("free", "orders.price", odd) == (None, "free")
    assert money(True, "orders.price", odd)[0] is None
    assert odd.count() == 4


def price_paid_orders(emu: Any) -> list[str]:
    """Give three paid EUR orders the prices 0.1, 0.2 and LARGE; their ids."""
    paid = [o for o in emu.data.orders if o.currency == "EUR" and o.status in PAID]
    assert len(paid) >= 3, "the seed has paid EUR orders"
    for order, price in zip(paid, (0.1, 0.2, LARGE), strict=False):
        order.price = price
    return [o.id for o in paid[:3]]


def paid_sums(truth: dict[str, Any]) -> dict[str, Decimal]:
    """Paid revenue per currency from the truth, summed as decimals of the API's text."""
    sums: dict[str, Decimal] = {}
    for o in truth["orders"]:
        if o["status"] in PAID and isinstance(o["price"], (int, float)) and not isinstance(o["price"], bool):
            sums[o["currency"]] = sums.get(o["currency"], Decimal(0)) + Decimal(repr(o["price"]))
    return sums


def money_types(at: Target) -> dict[tuple[str, str], str]:
    rows = at.warehouse.query(
        "select table_name, column_name, data_type from information_schema.columns "
        f"where table_schema = '{at.dataset}' and column_name in ('price', 'total_sale', 'total_expenses')")
    return {(t, c): str(d).lower() for t, c, d in rows}


def check_exact(at: Target, emu: Any, ids: list[str]) -> None:
    types = money_types(at)
    assert set(types) >= {("orders", "price"), ("order_status_changes", "price"), ("tunnel_stats", "total_sale"),
                          ("tunnel_stats", "total_expenses")}, types
    assert all(t.startswith(("decimal", "numeric")) for t in types.values()), types
    listed = ", ".join(f"'{i}'" for i in ids)
    want = {o["id"]: Decimal(repr(o["price"])) for o in emu.truth()["orders"] if o["id"] in ids}
    # every version the raw table holds (one an older release loaded too) is the API's amount
    for order_id, price in at.warehouse.query(f"select id, price from {{ds}}.orders where id in ({listed})"):
        assert price == want[order_id], (order_id, price)
    reports = f'"{at.dataset}_reports"'
    ((small,),) = at.warehouse.query(f"select sum(price) from {reports}.stg_orders where order_id in ({listed})")
    assert small == Decimal("0.3") + Decimal("12345678901234.56")
    got = dict(at.warehouse.query(
        f"select currency, sum(price) from {reports}.stg_orders where is_paid group by currency"))
    assert got == paid_sums(emu.truth())
    assert all(isinstance(v, Decimal) for v in got.values())


def test_sums_of_money_are_exact(emulator, target: Target, capsys) -> None:  # noqa: F811
    emu = emulator(scale=60, seed=7)
    ids = price_paid_orders(emu)
    code = main(["run", "leeloo", *target.cli_args(), "--progress", "none"])
    assert code == 0, capsys.readouterr()
    check_exact(target, emu, ids)


@pytest.mark.slow
def test_float_columns_of_the_previous_release_become_exact(emulator, target: Target, tmp_path: Path,  # noqa: F811
                                                             capsys) -> None:
    folder = older.extract(older.RELEASES["0.15.0"], tmp_path / "releases")
    emu = emulator(scale=60, seed=7)
    ids = price_paid_orders(emu)
    first = older.run(folder, "run", "leeloo", *target.cli_args(), "--no-transform", "--progress", "none")
    assert first.returncode == 0, first.stdout + first.stderr
    assert money_types(target)[("orders", "price")] in ("double", "double precision")
    code = main(["run", "leeloo", *target.cli_args(), "--progress", "none"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "money columns made exact decimals" in out.out + out.err
    check_exact(target, emu, ids)
    code = main(["run", "leeloo", *target.cli_args(), "--progress", "none"])
    out = capsys.readouterr()
    assert code == 0 and "money columns" not in out.out + out.err, "migrated once"
