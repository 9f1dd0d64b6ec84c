"""The durable inbox for Salebot's webhook pushes, shared by the receiver and the source.

SQLite, not an append-only file: the receiver (many threads) and a pipeline run (another
process) use it at the same time; a committed transaction with ``synchronous=FULL`` is
fsynced before the receiver answers 200, so a crash or restart loses nothing and never
leaves a half-written record; and the loader needs a monotonic sequence number to keep
its place in dlt state and a column to mark what a successful load has consumed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
"""


class WebhookStore:
    """A small SQLite log of pushes: ``append`` (receiver), ``pending``/``mark_consumed`` (loader)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

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
        conn = self._connect()
        with conn:
            cur = conn.execute(
                "insert into webhook_messages (message_id, client_id, payload, received_at) values (?, ?, ?, ?)",
                (
                    int(payload["id"]),
                    int(payload["client"]["id"]),
                    json.dumps(payload, ensure_ascii=False),
                    received_at if received_at is not None else time.time(),
                ),
            )
        return int(cur.lastrowid or 0)

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

    def counts(self) -> dict[str, int]:
        total, pending = self._connect().execute(
            "select count(*), count(*) filter (where consumed_at is null) from webhook_messages"
        ).fetchone()
        return {"total": int(total), "pending": int(pending)}
