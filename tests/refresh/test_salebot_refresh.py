"""`--full-refresh` on Salebot keeps the observed order status changes: the source's memory
starts over (it numbers an order's changes from 0 again), so the kept ones are renumbered
below it and the next changes never overwrite them. DuckDB and Postgres, the real CLI over
the emulator."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from emulators.salebot import SalebotEmulator
from pipelines.cli import main
from tests.leeloo.conftest import Target


def run(target: Target, *extra: str) -> int:
    return main(["run", "salebot", *target.cli_args(), "--progress", "none", *extra])


def stored_changes(target: Target) -> list[tuple]:
    """(order, old status, new status, old state, new state, observed_at), in change order."""
    return [tuple(r[1:]) for r in target.warehouse.query(
        "select change_seq, order_id, old_status, new_status, old_state_id, new_state_id, observed_at "
        "from {ds}.order_status_changes order by order_id, change_seq")]


def live_orders(target: Target) -> dict[int, tuple]:
    return {int(i): (int(s), int(st)) for i, s, st in target.warehouse.query(
        "select id, status, state_id from {ds}.orders where deleted_at is null")}


def sightings(target: Target) -> dict[int, tuple]:
    """Per order: when a run first saw it, and the client's full read it was created after."""
    return {int(i): (seen, after) for i, seen, after in target.warehouse.query(
        "select id, first_seen_at, created_after from {ds}.orders")}


def report(target: Target, name: str) -> list[tuple]:
    return target.warehouse.query(f'select * from "{target.dataset}_reports".{name} order by 1, 2')


def assert_chains_end_in_truth(target: Target, truth: dict[str, Any]) -> None:
    """Per order, each change starts where the one before ended, the first from nothing,
    and the last is the order as the API has it now."""
    chains: dict[int, list[tuple]] = defaultdict(list)
    for row in stored_changes(target):
        chains[int(row[0])].append(row)
    current = {o["id"]: (o["status"], o["state_id"]) for o in truth["orders"]}
    assert live_orders(target) == current
    for order_id, (status, state) in current.items():
        rows = chains[order_id]
        assert [(r[1], r[3]) for r in rows] == [(None, None), *((r[2], r[4]) for r in rows[:-1])], rows
        assert (rows[-1][2], rows[-1][4]) == (status, state), (order_id, rows)


def test_full_refresh_keeps_every_change_and_the_next_ones_follow(emu: SalebotEmulator, sb_target: Target,
                                                                  capsys) -> None:
    assert run(sb_target) == 0
    for _ in range(2):
        emu.simulate(status_changes=6, new_orders=3)
        assert run(sb_target) == 0
    before = stored_changes(sb_target)
    assert len(before) > len(emu.truth()["orders"]), "some orders changed: there is history to keep"
    seen = sightings(sb_target)
    assert any(after is not None for _, after in seen.values()), "orders created between runs"
    timing, activity = report(sb_target, "order_timing"), report(sb_target, "daily_activity")
    capsys.readouterr()

    assert run(sb_target, "--full-refresh") == 0
    out = capsys.readouterr().out
    assert (f"kept (the API cannot give it back): order_status_changes ({len(before)} changes), "
            f"orders.first_seen_at/created_after ({len(seen)} first sightings)") in out, out
    assert stored_changes(sb_target) == before, "every change, in its order, as it was observed"
    assert sightings(sb_target) == seen
    assert report(sb_target, "order_timing") == timing
    assert report(sb_target, "daily_activity") == activity
    assert_chains_end_in_truth(sb_target, emu.truth())

    emu.simulate(status_changes=6)
    assert run(sb_target) == 0
    after = stored_changes(sb_target)
    assert set(before) < set(after), "the next changes are added, none overwrites a kept one"
    assert_chains_end_in_truth(sb_target, emu.truth())
    assert sightings(sb_target) == seen, "the source's memory kept the first sightings too"

    capsys.readouterr()
    started = datetime.now(timezone.utc)
    assert run(sb_target, "--full-refresh", "--drop-history") == 0
    out = capsys.readouterr().out
    assert out.startswith("salebot: --drop-history drops order_status_changes (changes), "
                          "orders.first_seen_at/created_after (first sightings)"), out
    assert (f"dropped (--drop-history): order_status_changes ({len(after)} changes), "
            f"orders.first_seen_at/created_after ({len(seen)} first sightings)") in out, out
    truth, rows = emu.truth(), stored_changes(sb_target)
    assert len(rows) == len(truth["orders"]), "one first sight per order, nothing before"
    assert {(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows} == {
        (o["id"], None, o["status"], None, o["state_id"]) for o in truth["orders"]}
    assert all(first >= started and after is None for first, after in sightings(sb_target).values())
