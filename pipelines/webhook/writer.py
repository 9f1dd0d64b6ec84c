"""Commit pushes to an inbox from one thread, in batches, without blocking the event loop.

A commit costs an fsync (milliseconds); one per push would cap a burst at a few hundred
pushes a second. So the writer takes every push waiting when it is free and commits them
in one transaction: a group commit. Each push's future is settled only after that commit
returned, so the 200 still means "on disk".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sources.salebot.webhook_store import PushRecord, WebhookStore

logger = logging.getLogger("chatfunnel.webhook")

MAX_BATCH = 1000


class NotStored(Exception):
    """The inbox refused the commit (disk full, locked too long, unwritable)."""


@dataclass
class _Pending:
    record: PushRecord
    future: asyncio.Future[int]
    loop: asyncio.AbstractEventLoop


class InboxWriter:
    """The one thread that writes one inbox. ``start()``, ``await store(record)``, ``close()``."""

    def __init__(self, path: Path, max_batch: int = MAX_BATCH) -> None:
        self.path = path
        self.max_batch = max_batch
        self.stored = 0
        self.commits = 0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"inbox-writer:{path.name}", daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        """Open the inbox on the writer's thread; raises what opening it raised."""
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    async def store(self, record: PushRecord) -> int:
        """Commit ``record``; its sequence number once it is on disk, or :class:`NotStored`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.put(_Pending(record, future, loop))
        return await asyncio.shield(future)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            store = WebhookStore(self.path)
        except BaseException as exc:  # noqa: BLE001 - handed to start()'s caller
            self._open_error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                self._commit(store, batch)
        finally:
            store.close()

    def _commit(self, store: WebhookStore, batch: list[_Pending]) -> None:
        try:
            seqs = store.append_many([p.record for p in batch])
        except Exception as exc:  # noqa: BLE001 - whatever it was, nothing is stored; the thread lives on
            logger.error(
                "could not store %d Salebot push(es) in %s: %s: %s",
                len(batch), self.path, type(exc).__name__, exc,
            )
            failure = NotStored(type(exc).__name__)
            for p in batch:
                _call(p.loop, _settle_error, p.future, failure)
            return
        self.stored += len(batch)
        self.commits += 1
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int]]] = {}
        for p, seq in zip(batch, seqs, strict=True):
            by_loop.setdefault(p.loop, []).append((p.future, seq))
        for loop, settled in by_loop.items():
            _call(loop, _settle_all, settled)


def _call(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for the answer any more
        loop.call_soon_threadsafe(callback, *args)


def _settle_all(settled: list[tuple[asyncio.Future[int], int]]) -> None:
    for future, seq in settled:
        if not future.done():
            future.set_result(seq)


def _settle_error(future: asyncio.Future[int], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
