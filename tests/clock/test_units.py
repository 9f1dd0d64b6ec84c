"""The clock rules without dlt: how far windows reach, where cursors stop, how a skew is measured and said."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pyarrow as pa

from sources.clocks import MAX_SKEW, TOLERANCE, ClockSkew, date_offset, skew_message
from sources.leeloo.times import next_cursor, window_bounds
from sources.salebot.plan import history_days

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
START = datetime(2015, 1, 1, tzinfo=UTC)
DAY = timedelta(hours=24)


def test_window_reaches_the_widest_skew_past_now() -> None:
    assert window_bounds(None, START, DAY, since=None, until=None, now=NOW) == (START, NOW + MAX_SKEW)
    cursor = (NOW - timedelta(hours=5)).isoformat()
    assert window_bounds(cursor, START, DAY, since=None, until=None, now=NOW) == (
        NOW - timedelta(hours=29), NOW + timedelta(hours=14))


def test_a_backfill_keeps_its_own_end_and_reaches_ahead_without_one() -> None:
    since, until = NOW - 10 * DAY, NOW - 2 * DAY
    assert window_bounds("x", START, DAY, since=since, until=until, now=NOW) == (since, until)
    assert window_bounds(None, START, DAY, since=since, until=None, now=NOW) == (since, NOW + MAX_SKEW)


def test_a_cursor_never_passes_the_runs_start() -> None:
    ahead = NOW + timedelta(hours=3)  # the newest row, stamped by a clock 3 h ahead
    assert next_cursor(None, ahead, NOW) == NOW
    # a cursor already in the future (taken before this rule) comes back to now
    assert next_cursor(ahead.isoformat(), NOW - timedelta(hours=1), NOW) == NOW


def test_a_cursor_never_moves_backwards_below_now() -> None:
    old = NOW - timedelta(hours=2)
    assert next_cursor(old.isoformat(), NOW - timedelta(hours=5), NOW) == old
    assert next_cursor(old.isoformat(), None, NOW) == old
    assert next_cursor(None, None, NOW) is None


def test_the_api_clock_put_right_loses_nothing() -> None:
    """A night with the API 3 h ahead, then its clock put right: the next window starts the
    overlap before the previous run began, so what was stamped after that run is listed,
    even with an overlap far shorter than the skew."""
    overlap = timedelta(minutes=30)
    cursor = next_cursor(None, NOW + timedelta(hours=3), NOW)
    later = NOW + timedelta(hours=20)
    start, end = window_bounds(cursor.isoformat() if cursor else None, START, overlap, since=None, until=None,
                               now=later)
    written_after_the_run = NOW + timedelta(minutes=1)  # stamped by the corrected clock
    assert start <= written_after_the_run <= end


def test_date_offset_reads_the_http_date_header() -> None:
    received = datetime(2026, 12, 6, 1, 0, 0, 500000, tzinfo=UTC)
    header = format_datetime(received + timedelta(hours=3), usegmt=True)
    assert date_offset(header, received) == timedelta(hours=3, microseconds=-500000)
    assert date_offset(None, received) is None
    assert date_offset("yesterday", received) is None


def test_rows_stamped_in_the_future_are_counted_once_each_with_the_most_ahead() -> None:
    skew = ClockSkew()
    now = datetime.now(UTC)
    future, past = now + timedelta(hours=3), now - timedelta(hours=1)
    rows = [{"id": 1, "created_at": future, "updated_at": future + timedelta(minutes=30)},
            {"id": 2, "created_at": past}, {"id": 3, "created_at": now + TOLERANCE / 2}, "not a row"]
    assert [skew.see_rows(r) for r in rows] == rows  # a map step: the rows pass unchanged
    table = pa.table({"id": ["a", "b", "c"],
                      "created_at": pa.array([past, future, None], pa.timestamp("us", tz="UTC")),
                      "deleted_at": pa.array([future, None, None], pa.timestamp("us", tz="UTC"))})
    assert skew.see_rows(table) is table
    assert skew.future_rows == 3  # row 1, and the table's a and b; within the tolerance is no skew
    assert timedelta(hours=3, minutes=29) < skew.most_ahead <= timedelta(hours=3, minutes=30)


def test_the_message_says_the_size_and_the_direction() -> None:
    three = timedelta(hours=3)
    assert skew_message(0, timedelta(0), None) is None
    assert skew_message(0, timedelta(0), timedelta(seconds=-3)) is None  # clocks a few seconds apart
    assert skew_message(625, three, three) == (
        "the API's clock looks 3.0 h ahead of this machine: 625 rows stamped in the future, by up to 3.0 h "
        "(loaded as stamped)")
    assert skew_message(0, timedelta(0), -three) == (
        "the API's clock looks 3.0 h behind this machine (its HTTP Date header); rows are loaded with the "
        "API's times as they are")
    zone = skew_message(12, timedelta(hours=2.44), timedelta(seconds=1))
    assert zone is not None and zone.startswith("the API's clock looks at least 2.4 h ahead of this machine")
    assert zone.endswith("12 rows stamped in the future, by up to 2.4 h (loaded as stamped)")


def test_the_header_offset_is_the_median_of_the_answers() -> None:
    skew = ClockSkew()
    received = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    for hours in (3, 3, 3, 0, 3):  # one answer from a proxy with its own clock
        skew.saw_answer(format_datetime(received + timedelta(hours=hours), usegmt=True), received)
    assert skew.header_offset == timedelta(hours=3)
    assert skew.message() == "the API's clock looks 3.0 h ahead of this machine (its HTTP Date header); " \
                             "rows are loaded with the API's times as they are"


def test_salebot_history_days_reach_a_day_past_each_overlap() -> None:
    today, through = date(2026, 12, 6), date(2026, 12, 4)
    created = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
    # nightly, a client read before: two days before the last day read, two days past today
    assert history_days(through, created, today, since=None, until=None) == (date(2026, 12, 2), date(2026, 12, 8))
    # a client never read: from the day before its creation
    assert history_days(None, created, today, since=None, until=None) == (date(2026, 10, 31), date(2026, 12, 8))
    # a backfill keeps its own window (a day of overlap at each end), whatever was read
    since, until = datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    assert history_days(through, created, today, since=since, until=until) == (date(2026, 11, 9), date(2026, 11, 21))


def test_salebot_history_days_hold_what_a_clock_14_hours_off_stamps() -> None:
    """The last run read on `through` (our day); a message written since, stamped by a clock
    14 h behind and read in a zone 12 h behind UTC, falls on the day before the day before
    `through`; one stamped 14 h ahead in UTC+14 on the day after tomorrow, when our run is
    late in the day."""
    run_before = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)  # the previous run, just after midnight
    written = run_before + timedelta(minutes=5)
    behind_day = (written - timedelta(hours=14) - timedelta(hours=12)).date()
    now = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    ahead_day = (now + timedelta(hours=14) + timedelta(hours=14)).date()
    start, stop = history_days(run_before.date(), None, now.date(), since=None, until=None)
    assert start <= behind_day and ahead_day <= stop
    assert (behind_day, ahead_day) == (date(2026, 12, 2), date(2026, 12, 8))
