"""A full refresh that does not read everything (some resources only, or stopped by a
request budget) keeps the history of what it did not read aside, and a later run that
reads those entities puts it back."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.leeloo.conftest import Target, run_leeloo
from tests.leeloo.truth import mismatches
from tests.refresh.test_leeloo_refresh import assert_history_of_truth, days_of_history, stored_changes, stored_snapshots


def test_history_of_entities_not_read_waits_for_them(emulator, duck_target: Target, monkeypatch, capsys) -> None:
    emu = emulator(scale=20)
    now = datetime.now(timezone.utc)
    earlier = days_of_history(emu, duck_target, monkeypatch, now)
    changes = stored_changes(duck_target)
    capsys.readouterr()

    assert run_leeloo(duck_target, "--full-refresh", "--resources", "tunnels,tunnel_stats") == 0
    out = capsys.readouterr().out
    assert "set aside for entities the reload has not read (or the API no longer has): " \
           f"order_status_changes={len(changes)}" in out, out
    assert "_chatfunnel_kept_order_status_changes" in duck_target.warehouse.tables()
    assert {k: v for k, v in stored_snapshots(duck_target).items() if k[1] < now.date()} == earlier

    assert run_leeloo(duck_target) == 0  # reads the orders: their history comes back
    out = capsys.readouterr().out
    assert f"order_status_changes ({len(changes)} changes)" in out, out
    assert changes <= stored_changes(duck_target)
    assert_history_of_truth(duck_target, emu.truth())
    assert "_chatfunnel_kept_order_status_changes" not in duck_target.warehouse.tables()
    assert not mismatches(duck_target.warehouse, emu.truth())
