"""The durable inbox for Salebot's webhook pushes, shared by the receiver and the source.

SQLite, not an append-only file: the receiver and a pipeline run (another process) use it
at the same time; a committed transaction with ``synchronous=FULL`` is fsynced before the
receiver answers 200, so a crash or restart loses nothing and never leaves a half-written
record; and the loader needs a monotonic sequence number to keep its place in dlt state
and a column to mark what a successful load has consumed. ``AUTOINCREMENT`` keeps that
sequence monotonic even after pruning has deleted every row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

DEFAULT_RETENTION_DAYS = 30.0
_PRUNE_CHUNK = 5000  # rows per delete transaction: the receiver's writer never waits long

_SCHEMA = """
create table if not exists webhook_messages (
    seq          integer primary key autoincrement,
    message_id   integer not null,
    client_id    integer not null,
    payload      text    not null,
    received_at  real    not null,
    consumed_at  real
);
create index if not exists webhook_messages_pending on webhook_messages (consumed_at, seq);
create index if not exists webhook_messages_received on webhook_messages (received_at);
"""


@dataclass(frozen=True)
class PushRecord:
    """One validated push, ready to store: ``payload`` is its JSON text as received."""

    message_id: int
    client_id: int
    payload: str
    received_at: float


class InboxStats(TypedDict):
    """What ``chatfunnel status`` shows about an inbox (times in Unix seconds, UTC)."""

    path: str
    total: int
    pending: int
    oldest_pending_at: float | None  # when the oldest push not loaded yet was received
    newest_at: float | None  # when the newest push was received
    last_seq: int
    file_bytes: int  # the database file plus its write-ahead log


class WebhookStore:
    """A small SQLite log of pushes: ``append``/``append_many`` (receiver),
    ``read_after``/``mark_consumed`` (loader), ``prune`` and ``stats`` (housekeeping).

    Each thread gets its own connection; SQLite's locking serialises writers across
    threads and processes (a writer waits up to 30 s for another's transaction).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connect().executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=full")  # fsync on every commit
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def append(self, payload: dict[str, Any], received_at: float | None = None) -> int:
        """Store one push durably; returns its sequence number."""
        record = PushRecord(
            message_id=int(payload["id"]),
            client_id=int(payload["client"]["id"]),
            payload=json.dumps(payload, ensure_ascii=False),
            received_at=received_at if received_at is not None else time.time(),
        )
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[PushRecord]) -> list[int]:
        """Store pushes in one transaction (one fsync); their sequence numbers, in order.

        Either all are committed or none is (the caller answers each accordingly).
        """
        conn = self._connect()
        conn.execute("begin immediate")
        try:
            seqs = [
                int(
                    conn.execute(
                        "insert into webhook_messages (message_id, client_id, payload, received_at)"
                        " values (?, ?, ?, ?) returning seq",
                        (r.message_id, r.client_id, r.payload, r.received_at),
                    ).fetchone()[0]
                )
                for r in records
            ]
            conn.execute("commit")
        except BaseException:
            if conn.in_transaction:
                conn.execute("rollback")
            raise
        return seqs

    def read_after(self, seq: int) -> Iterator[dict[str, Any]]:
        """Every push with a sequence number above ``seq``, oldest first."""
        rows = self._connect().execute(
            "select seq, payload, received_at from webhook_messages where seq > ? order by seq", (seq,)
        ).fetchall()
        for s, payload, received_at in rows:
            yield {"seq": int(s), "payload": json.loads(payload), "received_at": float(received_at)}

    def mark_consumed(self, through_seq: int) -> int:
        """Mark every push up to ``through_seq`` as loaded; returns how many changed."""
        conn = self._connect()
        with conn:
            cur = conn.execute(
                "update webhook_messages set consumed_at = ? where seq <= ? and consumed_at is null",
                (time.time(), through_seq),
            )
        return cur.rowcount

    def prune(self, retention_days: float = DEFAULT_RETENTION_DAYS, now: float | None = None) -> int:
        """Delete pushes that were loaded and received more than ``retention_days`` ago.

        Unconsumed pushes are never deleted, however old. The file does not shrink (SQLite
        reuses the freed pages for new pushes), so it stays bounded by the retention.
        Returns how many pushes were deleted.
        """
        if retention_days < 0:
            raise ValueError("retention_days must be >= 0")
        cutoff = (time.time() if now is None else now) - retention_days * 86400
        conn = self._connect()
        deleted = 0
        while True:
            with conn:
                cur = conn.execute(
                    "delete from webhook_messages where seq in (select seq from webhook_messages"
                    " where received_at < ? and consumed_at is not null limit ?)",
                    (cutoff, _PRUNE_CHUNK),
                )
            deleted += cur.rowcount
            if cur.rowcount < _PRUNE_CHUNK:
                return deleted

    def counts(self) -> dict[str, int]:
        total, pending = self._connect().execute(
            "select count(*), count(*) filter (where consumed_at is null) from webhook_messages"
        ).fetchone()
        return {"total": int(total), "pending": int(pending)}

    def stats(self) -> InboxStats:
        conn = self._connect()
        counts = self.counts()
        oldest = conn.execute(
            "select received_at from webhook_messages where consumed_at is null order by seq limit 1"
        ).fetchone()
        newest = conn.execute("select received_at from webhook_messages order by seq desc limit 1").fetchone()
        last = conn.execute("select seq from sqlite_sequence where name = 'webhook_messages'").fetchone()
        return InboxStats(
            path=str(self.path),
            total=counts["total"],
            pending=counts["pending"],
            oldest_pending_at=float(oldest[0]) if oldest else None,
            newest_at=float(newest[0]) if newest else None,
            last_seq=int(last[0]) if last else 0,
            file_bytes=sum(p.stat().st_size for p in (self.path, _wal(self.path)) if p.exists()),
        )


def inbox_stats(path: str | os.PathLike[str]) -> InboxStats | None:
    """``stats()`` of the inbox at ``path``, or None when there is none (no file is created)."""
    if not Path(path).exists():
        return None
    store = WebhookStore(path)
    try:
        return store.stats()
    finally:
        store.close()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")
