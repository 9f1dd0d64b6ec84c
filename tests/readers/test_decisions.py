"""The plain decisions behind the readers' safety, without a database: how long to pause
between tries, when to stop, what counts as a lock wait, how a blocker and a run in progress
are described."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest


class _LockTimeout(Exception):
    pgcode = "55P03"  # what psycopg2 sets on a statement that hit lock_timeout


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_pauses_grow_and_are_capped() -> None:
    from pipelines.warehouse.lockwaits import LONGEST_PAUSE_SECONDS, pause_before

    assert [pause_before(n) for n in range(1, 7)] == [1, 2, 4, 8, 16, LONGEST_PAUSE_SECONDS]
    assert pause_before(40) == LONGEST_PAUSE_SECONDS


def test_lock_waits_are_retried_until_the_deadline_then_reported() -> None:
    from pipelines.warehouse.lockwaits import LockWaitsExhausted, retry_lock_waits

    clock = _Clock()
    tries: list[float] = []

    def blocked() -> None:
        tries.append(clock.now)
        clock.now += 1.0  # each try waits its lock_timeout
        raise RuntimeError("wrapped") from _LockTimeout("canceling statement due to lock timeout")

    with pytest.raises(LockWaitsExhausted) as raised:
        retry_lock_waits(blocked, deadline_seconds=20, sleep=clock.sleep, clock=clock)
    assert raised.value.tries == len(tries) == 5 and clock.pauses == [1, 2, 4, 8]
    assert tries[-1] <= 20, "the last try starts before the deadline"
    assert clock.now <= 20 + 1.0, "no pause may end past the deadline"


def test_a_lock_freed_in_time_lets_the_action_through_and_other_failures_pass_at_once() -> None:
    from pipelines.warehouse.lockwaits import retry_lock_waits

    clock = _Clock()
    results = iter([_LockTimeout(), _LockTimeout(), "built"])

    def flaky() -> str:
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    assert retry_lock_waits(flaky, deadline_seconds=60, sleep=clock.sleep, clock=clock) == "built"
    assert clock.pauses == [1, 2]

    def broken() -> None:
        raise ValueError("a model that does not compile")

    with pytest.raises(ValueError):
        retry_lock_waits(broken, deadline_seconds=60, sleep=clock.sleep, clock=clock)
    assert clock.pauses == [1, 2], "a failure that is not a lock wait is not retried"


def test_a_blocking_session_is_named_with_what_a_dba_needs() -> None:
    from pipelines.warehouse.lockwaits import describe_session

    since = datetime(2026, 12, 6, 1, 2, 3, tzinfo=timezone.utc)
    text = describe_session({"pid": 4242, "user": "analyst", "application_name": "psql", "client": "10.1.2.3",
                             "state": "idle in transaction", "xact_start": since})
    assert text == "pid 4242, user analyst, application 'psql', from 10.1.2.3, idle in transaction, " \
                   "since 2026-12-06 01:02:03 UTC"


def test_a_run_in_progress_is_described_from_its_lock_file() -> None:
    from pipelines.operations.status import running_line

    now = datetime(2026, 12, 6, 1, 10, 0, tzinfo=timezone.utc)
    line = running_line({"pid": 77, "host": "etl1", "command": "chatfunnel run leeloo", "step": "extract",
                         "step_since": "2026-12-06T01:09:30Z", "started_at": "2026-12-06T01:08:00Z"}, now)
    assert line == ("  RUN IN PROGRESS (pid 77, on etl1, chatfunnel run leeloo): at its extract step since "
                    "2026-12-06 01:09:30 UTC (30s ago), started 2026-12-06 01:08:00 UTC (2 min ago)")
    assert running_line({}, now) == "  RUN IN PROGRESS (another process): starting"
    loading = running_line({"pid": 77, "step": "load", "step_since": "2026-12-06T01:09:50Z",
                            "progress": "5120 rows extracted to load"}, now)
    assert loading == "  RUN IN PROGRESS (pid 77): at its load step since 2026-12-06 01:09:50 UTC (10s ago) " \
                      "(5120 rows extracted to load)"


def test_duckdb_lock_conflict_text_is_read_in_one_place() -> None:
    """The driver's wording (DuckDB 1.x), pinned: if it changes, this fails before users see
    'check the credentials' again. The real driver's message is checked in
    test_duckdb_readers too."""
    import duckdb

    from pipelines.operations.diagnosis import duckdb_file_holder

    text = ('IO Error: Could not set lock on file "/srv/chatfunnel.duckdb": Conflicting lock is held in '
            "/usr/bin/metabase-java (PID 4711) by user bi. See also https://duckdb.org/docs/current/connect/concurrency")
    assert duckdb_file_holder(RuntimeError("load failed").with_traceback(None)) is None
    try:
        raise RuntimeError("dlt's wrapper") from duckdb.IOException(text)
    except RuntimeError as exc:
        assert duckdb_file_holder(exc) == {"file": "/srv/chatfunnel.duckdb", "program": "/usr/bin/metabase-java",
                                           "pid": "4711"}
    assert duckdb_file_holder(duckdb.IOException("IO Error: No such file or directory")) is None
