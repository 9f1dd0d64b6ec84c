"""`order_status_changes`: one row per status a run saw change, the first sight included,
and the same change never twice, however a run ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from sources.leeloo.times import to_utc
from tests.leeloo.conftest import Target, run_leeloo

REPO = Path(__file__).resolve().parents[2]


def changes(target: Target) -> dict[str, list[tuple]]:
    """Per order: (old, new, changed_at) in the order the runs saw them."""
    out: dict[str, list[tuple]] = defaultdict(list)
    for order_id, old, new, changed_at, _observed in target.warehouse.query(
            "select order_id, old_status, new_status, changed_at, observed_at from {ds}.order_status_changes "
            "order by observed_at, change_id"):
        out[order_id].append((old, new, to_utc(changed_at)))
    return out


def test_each_run_records_what_it_saw_change(emulator, target: Target) -> None:
    emu = emulator(scale=60)
    assert run_leeloo(target) == 0
    first = {o["id"]: (o["status"], to_utc(o["updatedAt"])) for o in emu.truth()["orders"]}
    seen = changes(target)
    assert {o: rows[0] for o, rows in seen.items()} == {o: (None, s, at) for o, (s, at) in first.items()}, (
        "the first sight of every order is a change from nothing")
    created = emu.simulate(new_orders=4)["new_orders"]
    assert run_leeloo(target) == 0
    paid = emu.simulate(payments=6, status_changes=3)
    assert run_leeloo(target) == 0
    assert run_leeloo(target) == 0  # a run that sees nothing new adds nothing

    steps: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for entry in emu.truth()["order_status_history"]:  # what really happened, in time order
        steps[entry["order_id"]].append((entry["status"], to_utc(entry["at"])))
    seen = changes(target)
    moved = {p["id"] for p in paid["payments"]} | {s["id"] for s in paid["status_changes"]}
    assert moved and set(created) <= set(seen)
    for order_id, rows in seen.items():
        news = [new for _, new, _ in rows]
        assert [old for old, _, _ in rows] == [None, *news[:-1]], f"{order_id}: a change starts where the last ended"
        if order_id in created:
            assert rows[0][:2] == (None, "OPENED")
        if order_id in moved:
            path = steps[order_id]
            assert news[-1] == path[-1][0] and rows[-1][2] == path[-1][1], (order_id, rows, path)
            assert len(rows) >= 2
        else:
            assert len(rows) == 1, f"{order_id} did not change after it was first seen: {rows}"
    assert sum(len(r) for r in seen.values()) == len(first) + len(created) + len(moved)


def test_a_killed_run_never_records_a_change_twice(emulator, target: Target, dlt_env: Path) -> None:
    emu = emulator(scale=150)
    assert run_leeloo(target) == 0
    moved = emu.simulate(payments=8, status_changes=8, new_orders=3)
    emu.knobs.latency_ms = 15
    emu.reset_counts()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "run", "leeloo", *target.cli_args(), "--no-transform",
         "--progress", "none"], env=env, cwd=dlt_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while emu.request_counts()["by_endpoint"].get("GET /api/v2/orders/{id}", 0) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    emu.knobs.latency_ms = 0
    assert run_leeloo(target) == 0
    assert run_leeloo(target) == 0
    rows = target.warehouse.query("select order_id, old_status, new_status, changed_at from {ds}.order_status_changes")
    twice = [row for row, n in Counter(rows).items() if n > 1]
    assert not twice, f"changes recorded twice: {twice[:3]}"
    per_order = Counter(order_id for order_id, *_ in rows)
    changed = {p["id"] for p in moved["payments"]} | {s["id"] for s in moved["status_changes"]}
    assert all(per_order[o] == 2 for o in changed - set(moved["new_orders"])), "first sight, then the change"
    assert sum(per_order.values()) == len(emu.truth()["orders"]) + len(changed - set(moved["new_orders"]))
