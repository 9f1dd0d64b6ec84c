"""A bounded fan-out of calls over worker threads shared by every fan-out of a client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from threading import Lock
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerPool:
    """One set of worker threads shared by every fan-out on a client.

    Three resources fan out at once (people, channels, orders); with a pool each they
    ran 3 x concurrency threads that queued on the in-flight bound, and every hand-over
    cost a wake-up and a GIL round. One pool of `workers` threads serves them all (the
    client sizes it to twice its in-flight bound: a worker spends part of each call
    outside the request, parsing and building rows). It starts with the first fan-out that
    leases it and stops when the last one ends, so a long-lived host process (a
    scheduler's worker) keeps no idle threads between runs.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._lock = Lock()
        self._users = 0
        self._executor: ThreadPoolExecutor | None = None

    @contextmanager
    def lease(self) -> Iterator[ThreadPoolExecutor]:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="chatfunnel")
            executor = self._executor
            self._users += 1
        try:
            yield executor
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._executor is executor:
                    self._executor = None
                    executor.shutdown(wait=True)


def fan_out(
    items: Iterable[T], fn: Callable[[T], R], concurrency: int, pool: WorkerPool | None = None
) -> Iterator[tuple[T, R]]:
    """Run `fn` over `items` on worker threads and yield `(item, result)` as each finishes.

    The threads come from `pool` when given (shared with the client's other fan-outs),
    else from a pool of `concurrency` made for this call. At most `4 * concurrency`
    calls are queued: enough that the workers never run dry while the consumer is busy
    elsewhere, few enough that a long item stream is never materialised. The first
    exception cancels what has not started and is re-raised after running calls end,
    so a caller can stop cleanly (e.g. on BudgetExhausted) having consumed every result
    that did complete.
    """
    concurrency = max(1, concurrency)
    queued = 4 * concurrency
    iterator = iter(items)
    pending: dict[Future[R], T] = {}
    error: BaseException | None = None

    def top_up(executor: ThreadPoolExecutor) -> None:
        for item in iterator:
            pending[executor.submit(fn, item)] = item
            if len(pending) >= queued:
                break

    with (pool or WorkerPool(concurrency)).lease() as executor:
        try:
            top_up(executor)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    exc = future.exception()
                    if exc is not None:
                        error = error or exc
                        continue
                    yield item, future.result()
                if error is None:
                    top_up(executor)
                else:
                    for future in list(pending):
                        if future.cancel():
                            pending.pop(future)
        finally:
            for future in pending:
                future.cancel()
            if pending:
                wait(pending)  # a shared pool outlives this call: let running calls end first
    if error is not None:
        raise error
