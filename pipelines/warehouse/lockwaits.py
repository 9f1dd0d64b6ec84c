"""A run never waits unbounded for a reader on Postgres, and never fails at the first wait.

Readers take locks too: a dashboard's query, or an analyst's transaction left open in psql
after `select * from leeloo_reports.tunnel_funnel`, holds a share lock on that view and on
every view it reads until the transaction ends. Replacing such a view needs an exclusive
lock, so the rebuild would wait behind the reader for as long as the reader stays (up to
the statement timeout, an hour), holding the run lock all that time.

So the statements that need such locks (the report rebuild, dropping the reports for a full
refresh, the deletion marks) run under a short `lock_timeout`
(`chatfunnel.postgres_lock_timeout_seconds`): the waiting statement gives up, its
transaction rolls back (readers keep the previous reports, whole) and `retry_lock_waits`
tries again after a growing pause, up to `chatfunnel.postgres_lock_deadline_seconds`. At the
deadline the run ends with `SessionBlocked` (exit 74) naming the sessions that hold the
locks (`blocking_sessions`): the loaded data stays, and the next run rebuilds what this one
could not. dlt's own loads are not bounded this way: they only add rows to the raw tables,
which a reader's share lock does not block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from transforms.engine import lock_holders, lock_not_available

logger = logging.getLogger("chatfunnel.lockwaits")

T = TypeVar("T")
FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 30.0


class LockWaitsExhausted(Exception):
    """Every try until the deadline gave up waiting for a lock; `tries` were made."""

    def __init__(self, tries: int, last: BaseException) -> None:
        super().__init__(f"gave up waiting for a lock after {tries} tries: {last}")
        self.tries = tries
        self.last = last


def pause_before(attempt: int) -> float:
    """The pause before try `attempt` + 1 (1-based): 1 s, 2 s, 4 s ... at most 30 s."""
    return min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** max(0, attempt - 1))


def retry_lock_waits(action: Callable[[], T], *, deadline_seconds: float,
                     sleep: Callable[[float], None] = time.sleep,
                     clock: Callable[[], float] = time.monotonic) -> T:
    """`action()`, tried again after a pause each time it gave up a lock wait, until
    `deadline_seconds` have passed; then `LockWaitsExhausted`. Other failures pass through."""
    end = clock() + max(0.0, deadline_seconds)
    attempt = 0
    while True:
        attempt += 1
        try:
            return action()
        except Exception as exc:
            if not lock_not_available(exc):
                raise
            pause = pause_before(attempt)
            if clock() + pause > end:
                raise LockWaitsExhausted(attempt, exc) from exc
            logger.warning("a reader holds a lock this step needs (try %d); trying again in %g s", attempt, pause)
            sleep(pause)


def describe_session(row: dict[str, Any]) -> str:
    """One blocking session for a human: pid, user, program, client, state and since when."""
    since = row.get("xact_start") or row.get("backend_start")
    parts = [f"pid {row.get('pid')}", f"user {row.get('user')}"]
    if row.get("application_name"):
        parts.append(f"application {row['application_name']!r}")
    if row.get("client"):
        parts.append(f"from {row['client']}")
    if row.get("state"):
        parts.append(str(row["state"]))
    if isinstance(since, datetime):
        parts.append(f"since {since:%Y-%m-%d %H:%M:%S %Z}".rstrip())
    return ", ".join(parts)


def blocking_sessions(pipeline: Any, schemas: Iterable[str]) -> list[str]:
    """The sessions that hold locks on relations of `schemas` now, described; [] if none
    (or if asking failed: the message then says less, the run's outcome is the same)."""
    try:
        with pipeline.sql_client() as client:
            return [describe_session(row) for row in lock_holders(client, list(schemas))]
    except Exception:  # naming the blocker is a courtesy, never a second failure
        logger.debug("could not list the sessions holding locks", exc_info=True)
        return []
