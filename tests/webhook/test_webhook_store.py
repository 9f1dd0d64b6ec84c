"""Inbox housekeeping: what pruning removes and keeps, and the figures `status` shows."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pipelines.webhook import AppSettings, Receiver
from sources.salebot.webhook_store import PushRecord, WebhookStore, inbox_stats
from tests.webhook.conftest import FAST, inbox

DAY = 86400.0


def _record(message_id: int, received_at: float) -> PushRecord:
    payload = {"id": message_id, "client": {"id": 7}, "is_input": 1}
    return PushRecord(message_id, 7, json.dumps(payload), received_at)


def test_prune_removes_only_loaded_pushes_past_the_retention(tmp_path: Path) -> None:
    store = WebhookStore(tmp_path / "inbox.sqlite")
    now = time.time()
    old_loaded = store.append_many([_record(1, now - 40 * DAY), _record(2, now - 31 * DAY)])
    store.mark_consumed(old_loaded[-1])
    recent = store.append_many([_record(4, now - 2 * DAY)])
    store.mark_consumed(recent[0])  # loaded but recent: kept
    store.append_many([_record(3, now - 45 * DAY)])  # old (a clock far behind) but never loaded: kept
    assert store.counts() == {"total": 4, "pending": 1}

    assert store.prune(retention_days=30, now=now) == 2
    assert sorted(r["payload"]["id"] for r in store.read_after(0)) == [3, 4]
    assert store.prune(retention_days=30, now=now) == 0  # idempotent
    assert store.prune(retention_days=1, now=now) == 1  # a shorter retention takes the recent one too
    assert [r["payload"]["id"] for r in store.read_after(0)] == [3]


def test_sequence_numbers_keep_growing_after_everything_was_pruned(tmp_path: Path) -> None:
    """The loader keeps its place as a sequence number; a reused one would skip pushes."""
    store = WebhookStore(tmp_path / "inbox.sqlite")
    seqs = store.append_many([_record(i, time.time() - 60 * DAY) for i in range(3)])
    store.mark_consumed(seqs[-1])
    assert store.prune(retention_days=30) == 3
    assert store.counts() == {"total": 0, "pending": 0}
    assert store.append_many([_record(9, time.time())]) == [seqs[-1] + 1]


def test_stats_show_size_pending_and_the_oldest_unloaded_push(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite"
    assert inbox_stats(path) is None and not path.exists()  # asking creates nothing
    store = WebhookStore(path)
    empty = store.stats()
    assert (empty["total"], empty["pending"], empty["oldest_pending_at"], empty["last_seq"]) == (0, 0, None, 0)
    t0 = 1_700_000_000.0
    seqs = store.append_many([_record(1, t0), _record(2, t0 + 60), _record(3, t0 + 120)])
    store.mark_consumed(seqs[0])
    stats = inbox_stats(path)
    assert stats is not None
    assert (stats["total"], stats["pending"], stats["last_seq"]) == (3, 2, seqs[-1])
    assert stats["oldest_pending_at"] == t0 + 60  # the first push is loaded, the second is the oldest left
    assert stats["newest_at"] == t0 + 120
    assert stats["file_bytes"] >= path.stat().st_size > 0


def test_a_batch_is_committed_whole_or_not_at_all(tmp_path: Path) -> None:
    store = WebhookStore(tmp_path / "inbox.sqlite")
    bad = PushRecord(2, 7, None, time.time())  # type: ignore[arg-type]  # payload is NOT NULL
    try:
        store.append_many([_record(1, time.time()), bad])
    except Exception as exc:
        assert type(exc).__name__ == "IntegrityError"
    else:
        raise AssertionError("a NULL payload was stored")
    assert store.counts()["total"] == 0
    assert store.append_many([_record(3, time.time())]) == [1]  # the rolled-back sequence number too


def test_the_receiver_prunes_its_inboxes_as_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite"
    store = WebhookStore(path)
    now = time.time()
    loaded = store.append_many([_record(1, now - 40 * DAY), _record(2, now - 1 * DAY)])
    store.mark_consumed(loaded[-1])
    store.append_many([_record(3, now - 40 * DAY)])  # never loaded
    with Receiver([inbox(path, retention_days=30)], FAST, AppSettings(prune_interval=3600)):
        deadline = time.monotonic() + 10
        while store.counts()["total"] > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sorted(r["payload"]["id"] for r in store.read_after(0)) == [2, 3]
