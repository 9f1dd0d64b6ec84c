"""The coverage decisions without a warehouse: whether a backfill is under way, how much of the
span is loaded, the first whole day, and the words status, report and the dashboard say."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.operations.coverage import (
    backfill_document,
    backfill_under_way,
    banner_text,
    coverage_from_rows,
    coverage_line,
    first_whole_day,
    first_whole_week,
    hidden_before,
    percent,
)

UTC_ZONE = ZoneInfo("UTC")
VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
START = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def _row(resource: str, since: datetime | None, **extra: Any) -> dict[str, Any]:
    return {"resource": resource, "complete_since": since, "complete_until": UNTIL, "as_of": UNTIL,
            "history_since": START, "estimated_complete_at": None, **extra}


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_no_report_or_no_row_is_no_coverage() -> None:
    assert coverage_from_rows(None) is None
    assert coverage_from_rows([]) is None
    assert not backfill_under_way(None)
    assert backfill_document(None) is None
    assert coverage_from_rows([{k: v for k, v in _row("people", START).items() if k != "history_since"}]) is None, \
        "a report of another shape is no coverage"


def test_a_backfill_under_way_is_as_complete_as_its_furthest_behind_resource() -> None:
    coverage = coverage_from_rows([
        _row("people", START),
        _row("chat_messages", _iso("2026-09-30T14:00:00"), estimated_complete_at=_iso("2026-12-07T01:00:00")),
        _row("orders", _iso("2026-06-01T00:00:00"), estimated_complete_at=_iso("2026-12-06T20:00:00")),
    ])
    assert coverage is not None and backfill_under_way(coverage)
    assert [r.resource for r in coverage.under_way] == ["chat_messages", "orders"]
    assert coverage.complete_since == _iso("2026-09-30T14:00:00"), "the latest start: every resource is whole after"
    messages = next(r for r in coverage.resources if r.resource == "chat_messages")
    span = (UNTIL - START).total_seconds()
    assert messages.share_complete == (UNTIL - _iso("2026-09-30T14:00:00")).total_seconds() / span
    assert coverage.share_complete == messages.share_complete
    assert coverage.estimated_complete_at == _iso("2026-12-07T01:00:00"), "the last one done"
    line = coverage_line(coverage, VLADIVOSTOK, lambda when: when.astimezone(VLADIVOSTOK).isoformat())
    assert line == ("history complete since 2026-10-01 (backfill under way, 19% of the span, "
                    "estimated complete 2026-12-07T11:00:00+10:00)"), "14:00 UTC is midnight in Vladivostok"
    assert banner_text(coverage, UTC_ZONE) == "History complete since 2026-10-01 - older periods are still loading", \
        "from 14:00 on, 2026-09-30 is not whole in UTC"


def test_nothing_complete_yet_and_an_unknown_estimate() -> None:
    coverage = coverage_from_rows([_row("people", None), _row("orders", START)])
    assert coverage is not None and backfill_under_way(coverage)
    assert coverage.complete_since is None and coverage.share_complete == 0.0
    assert coverage.estimated_complete_at is None
    assert coverage_line(coverage, UTC_ZONE, str) == (
        "history: nothing complete yet (backfill under way, 0% of the span, no estimate yet)")
    assert "no period is complete yet" in banner_text(coverage, UTC_ZONE)
    assert first_whole_day(coverage, UTC_ZONE) is None
    assert hidden_before([1, 2], [date(2026, 1, 1), date(2026, 1, 2)], None) == [None, None]


def test_a_done_backfill_says_so_briefly() -> None:
    coverage = coverage_from_rows([_row("people", START), _row("orders", datetime(2025, 12, 1, tzinfo=UTC))])
    assert coverage is not None and not backfill_under_way(coverage) and coverage.complete
    assert coverage.share_complete == 1.0
    assert coverage_line(coverage, UTC_ZONE, str) == "history complete since 2026-01-01 (the configured start)"
    document = backfill_document(coverage)
    assert document is not None and document["complete"] is True
    assert document["resources"]["orders"]["share_complete"] == 1.0


def test_the_json_document_states_every_resource_in_utc() -> None:
    coverage = coverage_from_rows([_row("orders", _iso("2026-06-01T00:00:00"),
                                        estimated_complete_at=datetime(2026, 12, 7, 9, 0, tzinfo=VLADIVOSTOK))])
    document = backfill_document(coverage)
    assert document is not None
    assert document["complete"] is False and document["complete_since"] == "2026-06-01T00:00:00+00:00"
    orders = document["resources"]["orders"]
    assert orders == {"complete": False, "complete_since": "2026-06-01T00:00:00+00:00",
                      "complete_until": "2026-12-06T04:00:00+00:00", "history_since": "2026-01-01T00:00:00+00:00",
                      "estimated_complete_at": "2026-12-06T23:00:00+00:00", "as_of": "2026-12-06T04:00:00+00:00",
                      "share_complete": orders["share_complete"]}
    assert orders["share_complete"] == round((UNTIL - _iso("2026-06-01T00:00:00")) / (UNTIL - START), 4) == 0.5548


def test_the_first_whole_day_and_week_in_the_reports_zone() -> None:
    midnight = coverage_from_rows([_row("orders", datetime(2026, 11, 2, tzinfo=VLADIVOSTOK))])
    assert midnight is not None
    assert first_whole_day(midnight, VLADIVOSTOK) == date(2026, 11, 2), "from midnight: that day is whole"
    assert first_whole_day(midnight, UTC_ZONE) == date(2026, 11, 2), "14:00 UTC the day before: the next day"
    assert first_whole_week(midnight, VLADIVOSTOK) == date(2026, 11, 2), "a Monday"
    tuesday = coverage_from_rows([_row("orders", datetime(2026, 11, 3, tzinfo=UTC))])
    assert tuesday is not None and first_whole_week(tuesday, UTC_ZONE) == date(2026, 11, 9), "the next Monday"
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    assert hidden_before([0, 5, 7], days, date(2026, 11, 2)) == [None, 5, 7], "not loaded reads as missing, not 0"


def test_a_resource_without_a_start_of_history_is_not_under_way() -> None:
    coverage = coverage_from_rows([_row("orders", _iso("2026-06-01T00:00:00"), history_since=None)])
    assert coverage is not None and not backfill_under_way(coverage)
    assert percent(None) == "an unknown share" and percent(0.004) == "<1%" and percent(0.999) == "99%"
