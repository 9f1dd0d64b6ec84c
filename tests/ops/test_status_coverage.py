"""`chatfunnel status` states how much of the history is loaded, from the `coverage` report of
the account's reports (built by hand here, in a real DuckDB file and a real Postgres schema):
one line while a backfill is under way, in the account's reports timezone; `status --json` has
the `backfill` object. A warehouse without the report says nothing of coverage."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.config.accounts import Account
from pipelines.operations.runs import RunRecord, record
from pipelines.operations.status import print_status
from pipelines.warehouse.account_pipeline import make_pipeline
from tests.leeloo.conftest import Target
from tests.ops.conftest import PYTHON, subprocess_env

COVERAGE_COLUMNS = ("resource text, complete_since timestamptz, complete_until timestamptz, as_of timestamptz, "
                    "history_since timestamptz, estimated_complete_at timestamptz, history_entities bigint, "
                    "loaded_entities bigint")
HISTORY = datetime(2025, 12, 1, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Vladivostok")


WINDOWS = [{"requests": 67, "seconds": 9.6, "ready_after_seconds": 9.6},
           {"requests": 21, "seconds": 8.1, "ready_after_seconds": 17.7}]


def _record(target: Target) -> None:
    pipeline = make_pipeline(Account("leeloo"), target.destination, target.dataset)
    finished = datetime.now(UTC) - timedelta(hours=1)
    record(pipeline, RunRecord(source="leeloo", account=None, pipeline_name=pipeline.pipeline_name,
                               dataset=target.dataset, destination=target.destination,
                               started_at=finished - timedelta(seconds=30), finished_at=finished, outcome="success",
                               requests=7, rows_per_table={"people": 3},
                               facts={"history_windows": WINDOWS, "history_pending": ["people"]}))


def write_coverage(target: Target, rows: list[tuple[Any, ...]]) -> None:
    """The `coverage` report as the backfill writes it, in the account's reports schema."""
    schema = f'"{target.dataset}_reports"'
    statements = [f"create schema if not exists {schema}", f"create table if not exists {schema}.coverage "
                  f"({COVERAGE_COLUMNS})", f"delete from {schema}.coverage"]
    insert = f"insert into {schema}.coverage values (%s, %s, %s, %s, %s, %s, %s, %s)"
    rows = [(*row, None, None)[:8] for row in rows]  # no count unless the row gives one
    if target.destination == "duckdb":
        import duckdb

        with duckdb.connect(str(target.warehouse.duckdb_path)) as con:
            for statement in statements:
                con.execute(statement)
            con.executemany(insert.replace("%s", "?"), rows)
        return
    import psycopg2

    with psycopg2.connect(target.warehouse.pg_dsn) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        cur.executemany(insert, rows)


def _text(target: Target) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        print_status(target.destination, ["leeloo"], dataset=target.dataset)
    return out.getvalue()


def _json(target: Target, **env: str) -> dict[str, Any]:
    done = subprocess.run([PYTHON, "-m", "pipelines", "status", "leeloo", "--json", *target.cli_args()],
                          capture_output=True, text=True, env=subprocess_env(**env), timeout=120)
    assert done.returncode == 0, done.stderr
    [account] = json.loads(done.stdout)["accounts"]
    return dict(account)


def test_status_states_the_backfill_under_way_then_done(emulator, target: Target, monkeypatch) -> None:
    emulator(scale=5)
    _record(target)
    text = _text(target)
    assert "last successful run: " in text and "history complete" not in text, "no report: nothing said of coverage"
    assert ("    history windows:\n      1. 67 API requests in 9.6s, reports ready 9.6s into the run\n"
            "      2. 21 API requests in 8.1s, reports ready 17.7s into the run\n") in text, text
    assert "{" not in text, "no record shown as a raw dict"
    assert _json(target)["backfill"] is None

    until = datetime.now(UTC).replace(microsecond=0)
    since = datetime(2026, 9, 30, 15, 30, tzinfo=UTC)  # 01:30 on 2026-10-01 in Vladivostok: the 2nd is whole
    estimate = until + timedelta(hours=30)
    write_coverage(target, [("people", HISTORY, until, until, HISTORY, None),
                            ("chat_messages", since, until, until, HISTORY, estimate),
                            ("orders", None, None, until, HISTORY, None)])
    monkeypatch.setenv("SOURCES__LEELOO__REPORTS_TIMEZONE", "Asia/Vladivostok")
    text = _text(target)
    assert "  history: nothing complete yet (backfill under way, 0% of the span, no estimate yet)" in text, text

    write_coverage(target, [("people", HISTORY, until, until, HISTORY, None),
                            ("chat_messages", since, until, until, HISTORY, estimate),
                            ("orders", since - timedelta(days=30), until, until, HISTORY, until + timedelta(hours=2))])
    text = _text(target)
    share = int((until - since) / (until - HISTORY) * 100)
    local_estimate = estimate.astimezone(ZONE)
    assert (f"  history complete since 2026-10-02 (backfill under way, {share}% of the span, estimated complete "
            f"{local_estimate:%Y-%m-%d %H:%M:%S} +10:00)") in text, text

    account = _json(target, SOURCES__LEELOO__REPORTS_TIMEZONE="Asia/Vladivostok")
    backfill = account["backfill"]
    assert backfill["complete"] is False and backfill["complete_since"] == since.isoformat()
    assert backfill["estimated_complete_at"] == estimate.isoformat(), "UTC: the contract"
    assert backfill["history_since"] == HISTORY.isoformat()
    assert set(backfill["resources"]) == {"people", "chat_messages", "orders"}
    messages = backfill["resources"]["chat_messages"]
    assert messages["complete"] is False and messages["share_complete"] == backfill["share_complete"]
    assert (messages["complete_since"], messages["complete_until"]) == (since.isoformat(), until.isoformat())
    people = backfill["resources"]["people"]
    assert (people["complete"], people["share_complete"], people["estimated_complete_at"]) == (True, 1.0, None)
    assert account["healthy"] is True, "a backfill under way is no trouble"

    # a first load that had the API's count of its history says its share by it
    write_coverage(target, [("people", HISTORY, until, until, HISTORY, None),
                            ("chat_messages", since, until, until, HISTORY, estimate, 12_000, 4_500)])
    text = _text(target)
    assert "backfill under way, 37% of the history by the API's count (4,500 of 12,000), estimated" in text, text
    counted = _json(target)["backfill"]
    assert (counted["share_basis"], counted["share_complete"]) == ("entities", 0.375)
    assert counted["resources"]["chat_messages"]["history_entities"] == 12_000

    write_coverage(target, [("people", HISTORY, until, until, HISTORY, None),
                            ("orders", HISTORY - timedelta(days=1), until, until, HISTORY, None)])
    text = _text(target)
    assert "  history complete since 2025-12-01 (the configured start)" in text, text
    assert "backfill under way" not in text
    assert _json(target)["backfill"]["complete"] is True

