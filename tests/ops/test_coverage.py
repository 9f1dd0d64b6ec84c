"""The coverage decisions without a warehouse: whether a backfill is under way, how much of the
span is loaded, the first whole day, and the words status, report and the dashboard say."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.config.registry import source_spec
from pipelines.operations.coverage import (
    backfill_document,
    backfill_under_way,
    banner_text,
    coverage_from_rows,
    coverage_line,
    first_whole_day,
    first_whole_week,
    hidden_before,
    not_covered_label,
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
                      "share_complete": orders["share_complete"], "share_basis": "span",
                      "history_entities": None, "loaded_entities": None}
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


def test_the_share_is_of_the_apis_count_where_a_first_load_had_one() -> None:
    """Two years of a ten-year span hold most people: by days the account reads "20%", by the
    count the first load asked for, 90% of its people are in."""
    since = _iso("2024-12-06T04:00:00")
    ten_years = datetime(2016, 12, 6, tzinfo=UTC)
    counted = _row("people", since, history_since=ten_years, history_entities=10_000, loaded_entities=9_000)
    coverage = coverage_from_rows([counted, _row("orders", ten_years, history_since=ten_years)])
    assert coverage is not None and backfill_under_way(coverage)
    people = coverage.resources[1]
    assert people.share_basis == "entities" and people.share_complete == 0.9
    assert round((UNTIL - since) / (UNTIL - ten_years), 1) == 0.2, "what the span would have said"
    assert coverage.share_complete == 0.9 and coverage.share_basis == "entities"
    assert coverage_line(coverage, UTC_ZONE, str) == (
        "history complete since 2024-12-07 (backfill under way, 90% of the history by the API's count "
        "(9,000 of 10,000), no estimate yet)")
    document = backfill_document(coverage)
    assert document is not None and document["share_basis"] == "entities" and document["share_complete"] == 0.9
    assert document["resources"]["people"]["history_entities"] == 10_000
    assert document["resources"]["people"]["loaded_entities"] == 9_000


def test_without_a_usable_count_the_share_is_of_the_span_and_says_so() -> None:
    since = _iso("2026-06-01T00:00:00")
    span = (UNTIL - since) / (UNTIL - START)
    for counts in ({}, {"history_entities": None, "loaded_entities": None},
                   {"history_entities": 100, "loaded_entities": 120}):  # more loaded than counted: new ones came
        coverage = coverage_from_rows([_row("people", since, **counts)])
        assert coverage is not None
        assert coverage.share_basis == "span" and coverage.share_complete == span, counts
        assert "55% of the span" in coverage_line(coverage, UTC_ZONE, str)
    done = coverage_from_rows([_row("people", START, history_entities=100, loaded_entities=90)])
    assert done is not None and done.share_complete == 1.0, "complete by the span whatever the count says"


def test_the_resource_furthest_behind_speaks_for_the_account() -> None:
    coverage = coverage_from_rows([
        _row("people", _iso("2026-06-01T00:00:00"), history_entities=1000, loaded_entities=800),
        _row("communication_channels", _iso("2026-06-01T00:00:00"), history_entities=3000, loaded_entities=600),
    ])
    assert coverage is not None and coverage.share_complete == 0.2
    assert "20% of the history by the API's count (600 of 3,000)" in coverage_line(coverage, UTC_ZONE, str)


def test_salebot_says_its_complete_span_holds_the_clients_created_since() -> None:
    """Salebot's first load reads the newest clients first: from a date on, the clients created
    since then are whole, not every client's news of those days; its words say so."""
    words = source_spec("salebot").complete_since
    assert source_spec("leeloo").complete_since == "since"
    coverage = coverage_from_rows([_row("clients", _iso("2026-10-01T00:00:00")), _row("blocks", START)], words)
    assert coverage is not None
    assert coverage_line(coverage, UTC_ZONE, str).startswith(
        "history complete for the clients created since 2026-10-01 (backfill under way, ")
    assert banner_text(coverage, UTC_ZONE) == ("History complete for the clients created since 2026-10-01 - older "
                                               "periods are still loading")
    assert not_covered_label(date(2026, 10, 1), words) == (
        "still loading (complete for the clients created since 2026-10-01)")


def test_an_estimate_already_past_says_the_rest_is_due_on_the_next_run() -> None:
    """A run cut by its budget whose rest is worth less than the time since: no time gone by."""
    eta = _iso("2026-12-06T15:49:37")
    coverage = coverage_from_rows([_row("people", _iso("2026-11-20T00:00:00"), estimated_complete_at=eta)])
    assert coverage is not None and coverage.estimated_complete_at == eta
    estimate = coverage.estimated_complete_at
    before = coverage_line(coverage, UTC_ZONE, str, now=estimate - timedelta(minutes=1))
    assert before.endswith(f"estimated complete {estimate})")
    after = coverage_line(coverage, UTC_ZONE, str, now=estimate + timedelta(seconds=1))
    assert after.endswith("the rest is due on the next run)") and str(estimate) not in after
