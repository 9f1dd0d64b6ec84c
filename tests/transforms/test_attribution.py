"""Revenue that reconciles: revenue_summary, first- and last-touch attribution computed in
Python from the emulator's truth equal the reports on DuckDB and Postgres, every paid order
counts exactly once (attributed + unattributed = revenue_summary for every currency, also
after deletions), and the reconciliation's data test fails the build when it does not hold."""

from __future__ import annotations

import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import transforms
from pipelines.cli import main
from tests.leeloo.conftest import Target, emulator, target  # noqa: F401
from tests.leeloo.truth import _money
from tests.transforms import fixture_data
from tests.transforms.truth import PAID, _history
from transforms.datatests import model_tests_sql, parse_header_tests
from transforms.runner import DataTestError

GROUPS = {"RESOLVED": "paid", "SUCCESS": "paid", "REFUNDED": "refunded", "REJECTED": "failed", "FAILED": "failed"}


def summary(truth: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = defaultdict(lambda: {"paid_orders": 0, "revenue": Decimal(0), "refunded_orders": 0,
                                                          "refunded": Decimal(0), "open_orders": 0})
    for o in truth["orders"]:
        group = GROUPS.get(str(o["status"]).strip().upper(), "open")
        cell = out[o["currency"] or None]
        amount = _money(o["price"]) or Decimal(0)
        if group == "paid":
            cell["paid_orders"] += 1
            cell["revenue"] += amount
        elif group == "refunded":
            cell["refunded_orders"] += 1
            cell["refunded"] += amount
        elif group == "open":
            cell["open_orders"] += 1
    return dict(out)


def touches(truth: dict[str, Any], pick: int) -> dict[tuple, dict[str, Any]]:
    """Paid orders and revenue per (attributed, tunnel, tool, source, currency); pick 0 is the
    first entry of the buyer's history, -1 the last."""
    entry = {}
    for p in truth["people"]:
        history = _history(truth, p)
        if history:
            h = history[pick]
            entry[p["id"]] = (True, h.get("tunnelId"), h.get("leadgentoolId"), h.get("trafficSourceId"))
    out: dict[tuple, dict[str, Any]] = defaultdict(lambda: {"paid_orders": 0, "revenue": Decimal(0)})
    for o in truth["orders"]:
        if o["status"] in PAID:
            cell = out[(*entry.get(o["person_id"], (False, None, None, None)), o["currency"])]
            cell["paid_orders"] += 1
            cell["revenue"] += _money(o["price"]) or Decimal(0)
    return dict(out)


def rows(at: Target, model: str, keys: int) -> dict[tuple, dict[str, Any]]:
    reports = f'"{at.dataset}_reports"'
    with_names = at.warehouse.query(f"select * from {reports}.{model}")
    names = [r[0] for r in at.warehouse.query(
        "select column_name from information_schema.columns where "
        f"table_schema = '{at.dataset}_reports' and table_name = '{model}' order by ordinal_position")]
    return {tuple(r[:keys]): dict(zip(names[keys:], r[keys:], strict=True)) for r in with_names}


def check(at: Target, truth: dict[str, Any], unattributed: bool | None) -> None:
    got = rows(at, "revenue_summary", 1)
    want = summary(truth)
    assert set(got) == {(c,) for c in want}
    for (currency,), cell in got.items():
        for column, value in want[currency].items():
            assert cell[column] == value, (currency, column)
    assert rows(at, "revenue_first_touch", 5) == touches(truth, 0)
    assert rows(at, "revenue_last_touch", 5) == touches(truth, -1)
    reconciliation = rows(at, "revenue_reconciliation", 2)
    assert len(reconciliation) == 2 * len(want)
    for (touch, currency), cell in reconciliation.items():
        assert cell["order_difference"] == 0 and cell["revenue_difference"] == 0, (touch, currency)
        assert cell["revenue"] == want[currency]["revenue"]
    if unattributed is not None:
        assert any(c["unattributed_orders"] for c in reconciliation.values()) == unattributed


def test_every_paid_order_counts_once(emulator, target: Target, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "1")
    emu = emulator(scale=80, seed=21)
    assert main(["run", "leeloo", *target.cli_args(), "--progress", "none"]) == 0, capsys.readouterr()
    check(target, emu.truth(), unattributed=False)  # every buyer has a history
    emu.simulate(delete={"people": 4, "orders": 2, "tunnels": 1}, payments=5, new_orders=4)
    for _ in range(2):  # the run that finds the news, and the sweep that proves deletions
        assert main(["run", "leeloo", *target.cli_args(), "--progress", "none"]) == 0, capsys.readouterr()
    check(target, emu.truth(), unattributed=True)  # a deleted buyer's paid orders stay revenue


def test_hostile_strings_reconcile(emulator, target: Target, capsys) -> None:  # noqa: F811
    emu = emulator(scale=60, seed=23, modes={"hostile": True})
    assert main(["run", "leeloo", *target.cli_args(), "--progress", "none"]) == 0, capsys.readouterr()
    check(target, emu.truth(), unattributed=None)


def test_an_order_counted_twice_fails_the_build(warehouse_factory, tmp_path: Path) -> None:
    """A first-touch model that counts an order under every entry (as revenue_by_source
    does) no longer adds up: the build fails naming the reconciliation's test."""
    root = tmp_path / "transforms"
    shutil.copytree(Path(transforms.__file__).parent / "leeloo", root / "leeloo")
    model = root / "leeloo" / "staging" / "stg_touches.sql"
    model.write_text(model.read_text().replace("earlier.position < h.position", "false"))
    wh = warehouse_factory("duckdb")
    wh.load(fixture_data.resources())
    with pytest.raises(DataTestError, match=r"revenue_reconciliation: zero\(order_difference, revenue_difference\)"):
        wh.build(transforms_dir=root)


def test_a_difference_fails_the_reconciliation() -> None:
    (test,) = parse_header_tests("zero(order_difference, revenue_difference)", None)  # type: ignore[arg-type]
    count = model_tests_sql("m", [test], "1 hour")
    assert "order_difference <> 0" in count and "revenue_difference is null" in count
