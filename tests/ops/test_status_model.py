"""The status model without a warehouse: one `AccountStatus`, judged once, rendered as text and
as JSON; both renderings agree on the verdict and on the facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pipelines.config.accounts import Account
from pipelines.operations.status import account_document, status_lines
from pipelines.operations.status.model import AccountStatus, Run, Trouble, verdict

NOW = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


def _run(outcome: str, hours_ago: float, **extra: object) -> Run:
    finished = NOW - timedelta(hours=hours_ago)
    return Run(outcome=outcome, started_at=finished - timedelta(minutes=1), finished_at=finished,
               duration_seconds=60.0, requests=12, rows=34, **extra)  # type: ignore[arg-type]


def _status(**facts: object) -> AccountStatus:
    return AccountStatus(Account("leeloo", "acme"), "duckdb", "leeloo_acme", **facts)  # type: ignore[arg-type]


def test_a_journaled_failure_is_the_last_run_and_makes_the_account_unhealthy() -> None:
    ok = _run("success", 5)
    failed = _run("failed", 1, step="load", error="the warehouse was gone")
    status = _status(history=[ok], journal_only=[failed])
    assert verdict(status).problems == ("a run the warehouse could not take failed",)
    lines = status_lines(status, NOW)
    assert lines[0] == "leeloo/acme (duckdb, dataset 'leeloo_acme')"
    assert "  last successful run: 2026-12-06 00:00:00 UTC (5 h ago), success, 60.0s, 12 API requests, " \
           "34 rows loaded" in lines
    assert any(line.startswith("  not in the warehouse yet") and "the warehouse was gone" in line for line in lines)
    document = account_document(status, NOW)
    assert document["healthy"] is False and document["last_run"]["outcome"] == "failed"
    assert document["last_success_at"] == "2026-12-06T00:00:00+00:00"
    assert document["freshness"]["age_seconds"] == 5 * 3600


def test_trouble_and_a_killed_run_are_both_said_and_judged() -> None:
    status = _status(reachable=False, trouble=Trouble("refused", "permission denied for schema leeloo_acme"),
                     killed={"step": "load", "pid": 42, "host": "etl1", "started_at": "2026-12-06T04:00:00+00:00"},
                     zone=ZoneInfo("Asia/Vladivostok"))
    assert verdict(status).problems == ("warehouse refused", "a run was killed")
    text = "\n".join(status_lines(status, NOW))
    assert "  NO ACCESS: permission denied for schema leeloo_acme" in text
    assert "killed during its load step (pid 42 on etl1, started 2026-12-06 14:00:00 +10:00)" in text
    assert "last successful run" not in text, "an unreadable warehouse must not read as 'never ran'"
    document = account_document(status, NOW)
    assert document["problems"] == ["warehouse refused", "a run was killed"] and document["healthy"] is False


def test_a_partial_run_in_progress_beside_a_healthy_history_is_healthy() -> None:
    status = _status(history=[_run("partial", 2, incomplete=["people"])],
                     running={"pid": 7, "step": "extract", "started_at": "2026-12-06T04:59:00Z"})
    assert verdict(status).healthy
    lines = status_lines(status, NOW)
    assert lines[1] == "  RUN IN PROGRESS (pid 7): at its extract step, started 2026-12-06 04:59:00 UTC (60s ago)"
    assert "    incomplete (continues next run): ['people']" in lines
    document = account_document(status, NOW)
    assert document["run_in_progress"]["pid"] == 7 and document["healthy"] is True and document["problems"] == []
