"""`--full-refresh` on Leeloo re-reads everything and keeps what the API cannot give back:
the tunnel stats snapshots of earlier days and the observed order status changes, with the
reports built on them; `--drop-history` drops those too, and says so first. DuckDB and
Postgres, the real CLI over the emulator; the days are the run's clock, set per run."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import sources.leeloo.reference as reference
from emulators.leeloo import LeelooEmulator
from pipelines.cli import main
from sources.kit.values import to_utc
from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.truth import mismatches
from tests.transforms.truth import COUNTERS

DAYS = 2


def snapshot(truth: dict[str, Any]) -> dict[str, tuple]:
    """Per tunnel, the counters the API gives now (what a snapshot of today must hold); money
    as the exact decimal the API's text means (the warehouse keeps decimals, JSON gives floats)."""
    return {s["tunnel_id"]: tuple(_exact(s[key]) for key in COUNTERS.values()) for s in truth["tunnel_stats"]}


def _exact(value: Any) -> Any:
    return Decimal(repr(value)) if isinstance(value, float) else value


def stored_snapshots(target: Target) -> dict[tuple[str, date], tuple]:
    columns = ", ".join(COUNTERS)
    return {(str(r[0]), r[1]): tuple(r[2:]) for r in target.warehouse.query(
        f"select tunnel_id, snapshot_date, {columns} from {{ds}}.tunnel_stats")}


def stored_changes(target: Target) -> set[tuple]:
    return {(str(o), old, new, to_utc(at), to_utc(seen)) for o, old, new, at, seen in target.warehouse.query(
        "select order_id, old_status, new_status, changed_at, observed_at from {ds}.order_status_changes")}


def report(target: Target, name: str, order: str) -> list[tuple]:
    return target.warehouse.query(f'select * from "{target.dataset}_reports".{name} order by {order}')


def days_of_history(emu: LeelooEmulator, target: Target, monkeypatch: pytest.MonkeyPatch,
                    now: datetime) -> dict[tuple[str, date], tuple]:
    """Runs on DAYS earlier days (the snapshot day is the run's clock), orders changing in
    between; returns the snapshot each day must have kept, from the emulator's truth."""
    expected: dict[tuple[str, date], tuple] = {}
    for back in range(DAYS, 0, -1):
        day = now - timedelta(days=back)
        monkeypatch.setattr(reference, "utc_now", lambda day=day: day)
        assert run_leeloo(target) == 0
        expected.update({(t, day.date()): c for t, c in snapshot(emu.truth()).items()})
        emu.simulate(payments=4, status_changes=4, new_orders=3, active_people=0.1)
    monkeypatch.setattr(reference, "utc_now", lambda: now)
    return expected


def assert_history_of_truth(target: Target, truth: dict[str, Any]) -> None:
    """Every order's changes chain from its first sight (None) to its status in the API."""
    per_order: dict[str, list[tuple]] = defaultdict(list)
    for row in sorted(stored_changes(target), key=lambda r: r[4]):
        per_order[row[0]].append(row)
    current = {o["id"]: o["status"] for o in truth["orders"]}
    assert set(per_order) == set(current)
    for order_id, rows in per_order.items():
        news = [r[2] for r in rows]
        assert [r[1] for r in rows] == [None, *news[:-1]], f"{order_id}: {rows}"
        assert news[-1] == current[order_id], f"{order_id}: {rows}"


def test_full_refresh_keeps_history_and_drop_history_drops_it(emulator, target: Target, monkeypatch, capsys) -> None:
    emu = emulator(scale=20)
    now = datetime.now(timezone.utc)
    earlier = days_of_history(emu, target, monkeypatch, now)
    args = ["run", "leeloo", *target.cli_args(), "--progress", "none"]
    assert main(args) == 0  # today, with the reports
    changes = stored_changes(target)
    daily = report(target, "tunnel_funnel_daily", "tunnel_id, snapshot_date")
    timing = report(target, "order_timing", "tunnel_id, week_start")
    assert daily and len(changes) > len(emu.truth()["orders"]), "there is history to keep"
    capsys.readouterr()

    assert main([*args, "--full-refresh"]) == 0
    out = capsys.readouterr().out
    truth = emu.truth()
    assert (f"kept (the API cannot give it back): order_status_changes ({len(changes)} changes), "
            f"tunnel_stats ({len(earlier)} snapshots)") in out, out
    today = {(t, now.date()): c for t, c in snapshot(truth).items()}
    assert stored_snapshots(target) == {**earlier, **today}
    assert stored_changes(target) == changes, "every observed change, as it was observed"
    assert report(target, "tunnel_funnel_daily", "tunnel_id, snapshot_date") == daily
    assert report(target, "order_timing", "tunnel_id, week_start") == timing
    assert not mismatches(target.warehouse, truth)
    assert not {t for t in target.warehouse.tables() if t.startswith("_chatfunnel_kept_")}, "the copy is gone"
    capsys.readouterr()
    main(["status", "leeloo", "--destination", target.destination, "--dataset", target.dataset])
    assert (f"history kept: order_status_changes={len(changes)}, tunnel_stats={len(earlier)}"
            in capsys.readouterr().out), "the run's record says what it kept"

    was = {o["id"]: o["status"] for o in truth["orders"]}
    emu.simulate(payments=3, status_changes=3)  # the memory of statuses survived the refresh too
    assert run_leeloo(target) == 0
    truth = emu.truth()
    assert_history_of_truth(target, truth)
    assert changes < stored_changes(target)
    moved = [o for o in truth["orders"] if was.get(o["id"]) != o["status"]]
    assert moved and len(stored_changes(target)) == len(changes) + len(moved), "one change per order that moved"
    assert_drop_history_drops_it(emu, target, now, capsys)


def assert_drop_history_drops_it(emu: LeelooEmulator, target: Target, now: datetime,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`--drop-history`: refused alone; with --full-refresh it says what it drops, then drops it."""
    snapshots, changes = len(stored_snapshots(target)), len(stored_changes(target))
    capsys.readouterr()
    assert main(["run", "leeloo", *target.cli_args(), "--progress", "none", "--drop-history"]) == 2
    assert "--drop-history drops history only as part of --full-refresh" in capsys.readouterr().err

    assert run_leeloo(target, "--full-refresh", "--drop-history") == 0
    out = capsys.readouterr().out
    first, _, rest = out.partition("\n")
    assert first.startswith("leeloo: --drop-history drops tunnel_stats (snapshots), order_status_changes (changes)")
    assert (f"dropped (--drop-history): order_status_changes ({changes} changes), "
            f"tunnel_stats ({snapshots} snapshots)") in rest, out
    assert "kept (" not in out
    truth = emu.truth()
    assert stored_snapshots(target) == {(t, now.date()): c for t, c in snapshot(truth).items()}
    assert {(r[1], r[2]) for r in stored_changes(target)} == {(None, o["status"]) for o in truth["orders"]}
    assert len(stored_changes(target)) == len(truth["orders"])
    assert not mismatches(target.warehouse, truth)


def test_full_refresh_with_every_report_in_place(emulator, target, capsys) -> None:
    """On Postgres the report views stop dlt from dropping the raw tables; a full refresh
    drops and rebuilds them in the right order, on every destination."""
    emu = emulator(scale=40)
    args = ["run", "leeloo", *target.cli_args(), "--progress", "none"]
    assert main(args) == 0
    for _ in range(2):
        emu.simulate(new_people=2)
        assert main([*args, "--full-refresh"]) == 0, capsys.readouterr().err
        assert not mismatches(target.warehouse, emu.truth())
    reports = target.warehouse.query(
        "select count(*) from information_schema.tables where table_schema = '" + target.dataset + "_reports'")
    assert reports[0][0] >= 20, "the reports were rebuilt after the refresh"
