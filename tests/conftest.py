"""Fixtures shared by every test: an isolated dlt home, DuckDB files, the real Postgres."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_DSN = os.environ.get(
    "CHATFUNNEL_TEST_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/test"
)


# files whose every test depends on timing (a reader racing a run, contention on purpose, a
# server's time limits): `make test` runs them alone, after the rest has run in parallel. A
# timing-sensitive test in another file says so itself (`@pytest.mark.serial`). The kill
# tests run in parallel with the rest: a kill lands once its point is seen, and a busier
# machine only makes each step it waits for longer
SERIAL_PATHS = ("tests/readers/test_postgres_readers.py", "tests/webhook/test_webhook_load.py")


# the longest files, slowest first (seconds on a quiet 2-core machine): 30 kills of a real run
# on DuckDB and Postgres (~190 s), the DAG run under Airflow 3 and 2 (~65 s), three accounts
# side by side on DuckDB and Postgres (~70 s), the odd-pages property test's four accounts'
# nights (~35 s)
SLOW_FIRST = ("tests/crash/test_kills.py", "tests/deploy/test_airflow_dag.py", "tests/accounts/test_accounts.py",
              "tests/faults/test_odd_pages.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.relative_to(config.rootpath).as_posix()
        if where.startswith(SERIAL_PATHS):
            item.add_marker(pytest.mark.serial)
    items[:] = long_files_first(items, config.rootpath)


def long_files_first(items: list[pytest.Item], root: Path) -> list[pytest.Item]:
    """The SLOW_FIRST files, then those holding a `slow` test, then the rest, with the most
    tests first; a file's tests keep their order. `make test` hands files out in this order:
    xdist's own (`--loadscope-reorder`, most tests first) started the files of a few long
    tests last, and one worker ran them alone at the end while the other had finished."""
    where = {id(item): item.path.relative_to(root).as_posix() for item in items}
    per_file = Counter(where.values())
    slow = {where[id(item)] for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, int]:
        path = where[id(item)]
        if path in SLOW_FIRST:
            return (0, SLOW_FIRST.index(path))
        return (1 if path in slow else 2, -per_file[path])

    return sorted(items, key=rank)


@pytest.fixture(autouse=True)
def _dlt_logs_to_current_stderr() -> Iterator[None]:
    """dlt's logger keeps the stderr it first saw; under capsys that stream is closed after
    its test, and a later dlt warning would print a logging error instead of the warning."""
    import logging
    import sys

    for handler in logging.getLogger("dlt").handlers:
        if type(handler) is logging.StreamHandler:
            handler.stream = sys.stderr  # not setStream(): that flushes the closed stream
    yield


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests are retried as often as in production, without waiting seconds between tries
    (for tests that count attempts or outcomes, not waits)."""
    from sources.http import client as http_client

    monkeypatch.setattr(http_client, "BACKOFF_FACTOR", 0.01)


@pytest.fixture
def dlt_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own dlt data dir and working dir, so state never leaks between tests."""
    data_dir = tmp_path / "dlt_data"
    data_dir.mkdir()
    monkeypatch.setenv("DLT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for key in list(os.environ):
        if key.startswith(("SOURCES__", "DESTINATION__")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def _postgres_reachable(dsn: str) -> str | None:
    try:
        import psycopg2

        psycopg2.connect(dsn, connect_timeout=3).close()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The real Postgres on 127.0.0.1:5432. Under CI=true a missing server fails the test."""
    problem = _postgres_reachable(PG_DSN)
    if problem:
        message = f"PostgreSQL at {PG_DSN.split('@')[-1]} is not reachable ({problem})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI must have it", pytrace=False)
        pytest.skip(message + "; start it or set CHATFUNNEL_TEST_PG_DSN to run Postgres tests")
    return PG_DSN


@pytest.fixture
def unique_dataset(pg_dsn: str) -> Iterator[str]:
    """A dataset name no other test uses; its schemas are dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    import psycopg2

    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select nspname from pg_namespace where nspname like %s", (name + "%",)
        )
        for (schema,) in cur.fetchall():
            cur.execute(f'drop schema if exists "{schema}" cascade')
