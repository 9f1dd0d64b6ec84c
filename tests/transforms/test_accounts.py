"""Cross-account views over three accounts in one DuckDB file and in one Postgres database,
and drop_reports, which lets dlt's full refresh drop the raw tables the reports read."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from tests.transforms import fixture_data
from tests.transforms.conftest import ENGINES, Warehouse
from transforms.runner import build_account_views, drop_reports, load_models

REPORTS = sorted(m.name for m in load_models("leeloo") if m.layer == "reports")


def three_accounts(warehouse_factory: Any, engine: str, tmp_path: Path) -> tuple[list[Warehouse], str]:
    """'default' (the unnamed account) loaded from the whole fixture, 'acme' from the fixture
    without orders, 'globex' configured but never loaded: its reports do not exist yet."""
    base = f"t_{uuid.uuid4().hex[:10]}"
    file = str(tmp_path / "agency.duckdb")
    default, acme, globex = (
        warehouse_factory(engine, dataset=dataset, duckdb_file=file)
        for dataset in (base, f"{base}_acme", f"{base}_globex")
    )
    default.load(fixture_data.resources())
    default.build()
    acme.load(fixture_data.resources({k: v for k, v in fixture_data.TABLES.items() if k != "orders"}))
    acme.build()
    return [default, acme, globex], f"{base}_accounts"


def pairs(accounts: list[Warehouse]) -> list[tuple[str, str]]:
    return [(name, f"{wh.dataset}_reports") for name, wh in zip(("default", "acme", "globex"), accounts, strict=False)]


def by_account(wh: Warehouse, target: str, view: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in wh.rows(view, schema=target):
        out.setdefault(row.pop("account"), []).append(row)
    return out


def canonical(rows: list[dict[str, Any]]) -> list[tuple]:
    return sorted((tuple(sorted(r.items())) for r in rows), key=repr)


@pytest.mark.parametrize("engine", ENGINES)
def test_one_view_per_report_unites_the_accounts(warehouse_factory, tmp_path: Path, engine: str) -> None:
    (default, acme, globex), target = three_accounts(warehouse_factory, engine, tmp_path)
    # acme's reports were built by an older version that lacked romi
    acme.execute(f'alter table "{acme.dataset}_reports"."tunnel_funnel" drop column romi')
    result = build_account_views(default.pipeline, "leeloo", pairs([default, acme, globex]), target)
    assert sorted(result.views) == REPORTS and result.skipped == []
    assert all(result.views[v] == ["default", "acme"] for v in REPORTS)  # globex: no reports yet

    columns = list(default.rows("tunnel_funnel", schema=target)[0])
    assert columns[0] == "account" and "romi" in columns
    for view in REPORTS:
        rows = by_account(default, target, view)
        # each account's rows are exactly its own report's rows
        assert canonical(rows.get("default", [])) == canonical(default.rows(view)), view
        own = acme.rows(view)
        if view == "tunnel_funnel":
            assert {r["romi"] for r in rows["acme"]} == {None}
            own = [dict(r, romi=None) for r in own]
        assert canonical(rows.get("acme", [])) == canonical(own), view
    # the two accounts differ where their data does: acme has no orders
    revenue = by_account(default, target, "tunnel_revenue")
    assert revenue.get("acme") is None and revenue["default"]

    # globex loads; the next call adds it
    globex.load(fixture_data.resources())
    globex.build()
    result = build_account_views(default.pipeline, "leeloo", pairs([default, acme, globex]), target)
    assert result.views["source_funnel"] == ["default", "acme", "globex"]
    assert canonical(by_account(default, target, "source_funnel")["globex"]) == canonical(globex.rows("source_funnel"))


@pytest.mark.parametrize("engine", ENGINES)
def test_views_survive_a_rebuild_of_an_account(warehouse_factory, tmp_path: Path, engine: str) -> None:
    (default, acme, _), target = three_accounts(warehouse_factory, engine, tmp_path)
    build_account_views(default.pipeline, "leeloo", pairs([default, acme]), target)
    # a later run of acme loads its orders and rebuilds only its own reports
    acme.load(fixture_data.resources({"orders": fixture_data.TABLES["orders"]}))
    result = acme.build()
    if engine == "postgres":
        # same shapes: rows replaced in place, so the views over them stay (no drop cascade)
        assert "tunnel_revenue" in result.rebuilt_in_place
    revenue = by_account(default, target, "tunnel_revenue")
    assert canonical(revenue["acme"]) == canonical(acme.rows("tunnel_revenue")) and revenue["acme"]


@pytest.mark.parametrize("engine", ENGINES)
def test_full_refresh_after_drop_reports(warehouse_factory, tmp_path: Path, engine: str) -> None:
    (default, acme, _), target = three_accounts(warehouse_factory, engine, tmp_path)
    build_account_views(default.pipeline, "leeloo", pairs([default, acme]), target)
    tables = {"tunnels": fixture_data.TABLES["tunnels"]}
    if engine == "postgres":
        # what a full refresh hits with the reports in place
        with pytest.raises(PipelineStepFailed, match="other objects depend on it"):
            default.pipeline.run(fixture_data.resources(tables), refresh="drop_sources")
    dropped = drop_reports(default.pipeline, "leeloo")
    assert f"{target}.tunnel_funnel" in dropped.dropped  # the account views read default's reports
    assert f"{default.dataset}_reports.stg_tunnels" in dropped.dropped
    assert default.query(
        "select count(*) as n from information_schema.tables "
        f"where table_schema in ('{default.dataset}_reports', '{target}')"
    ) == [{"n": 0}]
    default.pipeline.run(fixture_data.resources(tables), refresh="drop_sources").raise_on_failed_jobs()
    # the other account's reports were not touched
    assert len(acme.rows("tunnel_funnel")) == 5
    default.build()
    assert [r["tunnel_id"] for r in default.rows("stg_tunnels", order_by="tunnel_id")] == ["t1", "t2", "t3"]
    assert default.rows("stg_people") == []  # refreshed: only what this load brought
    result = build_account_views(default.pipeline, "leeloo", pairs([default, acme]), target)
    assert result.views["tunnel_funnel"] == ["default", "acme"]


@pytest.mark.parametrize("engine", ENGINES)
def test_drop_reports_with_nothing_built_drops_nothing(warehouse_factory, engine: str) -> None:
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources({"tags": fixture_data.TABLES["tags"]}))
    assert drop_reports(wh.pipeline, "leeloo").dropped == []
