"""Newest history first as plain decisions: which window a backfill reads next, when it
will be done, and what a windowed resource's state says of it. No dlt, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sources.bookkeeping import Entry, Ledger
from sources.kit.backfill import WindowCost, estimated_completion, next_window
from sources.leeloo import history
from sources.leeloo.run import LeelooRun
from sources.leeloo.windowed import lists_whole
from sources.report import SourceReport

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SINCE = datetime(2015, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_the_first_window_is_the_last_day() -> None:
    assert next_window(NOW, SINCE, None, None, 3000) == (NOW - DAY, NOW)
    recent = NOW - timedelta(hours=5)  # a history that starts within the day: never before it
    assert next_window(NOW, recent, None, None, 3000) == (recent, NOW)


def test_a_window_is_sized_by_the_last_ones_requests_per_day() -> None:
    frontier = NOW - 10 * DAY
    # 1000 requests for 4 days: 250 a day, so 3000 requests buy 12 days (x3 of 4)
    start, end = next_window(NOW, SINCE, frontier, WindowCost(1000, 4 * DAY), 3000)
    assert end == frontier and start == frontier - 12 * DAY


def test_growth_is_clamped_to_one_to_four_times_the_last_span() -> None:
    frontier = NOW - 10 * DAY
    quiet = next_window(NOW, SINCE, frontier, WindowCost(1, 2 * DAY), 3000)
    assert quiet == (frontier - 8 * DAY, frontier)  # x4 at most, however cheap
    busy = next_window(NOW, SINCE, frontier, WindowCost(90000, 2 * DAY), 3000)
    assert busy == (frontier - 2 * DAY, frontier)  # never shrinks below the last span
    free = next_window(NOW, SINCE, frontier, WindowCost(0, 2 * DAY), 3000)
    assert free == (frontier - 8 * DAY, frontier)  # a window that cost no request: x4


def test_the_window_after_the_last_day_reads_the_rest_of_the_last_week() -> None:
    start, end = next_window(NOW, SINCE, None, None, 3000)
    assert (start, end) == (NOW - DAY, NOW)
    # x4 of the day would end at 5 days: three short of the week, whole only a window later
    assert next_window(NOW, SINCE, start, None, 3000) == (NOW - 7 * DAY, NOW - DAY)
    # counted from the first window, not the clock: planned a few minutes or two nights later alike
    assert next_window(NOW + timedelta(minutes=3), SINCE, start, None, 3000) == (NOW - 7 * DAY, NOW - DAY)
    assert next_window(NOW + 2 * DAY, SINCE, start, None, 3000) == (NOW - 7 * DAY, NOW - DAY)
    # once a window's cost is known, sized by requests alone
    assert next_window(NOW, SINCE, NOW - 7 * DAY, WindowCost(90000, 6 * DAY), 3000) == (NOW - 13 * DAY, NOW - 7 * DAY)
    assert next_window(NOW, SINCE, NOW - 7 * DAY, WindowCost(600, 6 * DAY), 3000) == (NOW - 31 * DAY, NOW - 7 * DAY)
    recent = NOW - 3 * DAY  # a history shorter than the week ends at its start
    assert next_window(NOW, recent, NOW - DAY, None, 3000) == (recent, NOW - DAY)


def test_windows_stop_at_the_start_of_history_and_never_overlap() -> None:
    frontier, cost, spans = NOW, None, []
    planned = next_window(NOW, SINCE, None, None, 3000)
    while planned is not None:
        start, end = planned
        assert end == frontier and start < end and start >= SINCE
        spans.append(planned)
        cost = WindowCost(10, end - start)
        frontier = start
        planned = next_window(NOW, SINCE, frontier, cost, 3000)
    assert spans[-1][0] == SINCE
    assert len(spans) < 12  # x4 a window: the twelve years of history in a handful of windows


def test_the_completion_estimate_uses_the_cost_so_far_and_the_rate_limit() -> None:
    frontier = SINCE + 100 * DAY
    # 300 requests a day of history for the 100 days left: 30000 requests, 100 minutes at 300 a minute
    assert estimated_completion(NOW, SINCE, frontier, requests=3000, covered=10 * DAY,
                                requests_per_minute=300) == NOW + timedelta(minutes=100)
    assert estimated_completion(NOW, SINCE, SINCE, requests=3000, covered=10 * DAY, requests_per_minute=300) is None
    assert estimated_completion(NOW, SINCE, frontier, requests=3000, covered=10 * DAY,
                                requests_per_minute=None) is None
    assert estimated_completion(NOW, SINCE, frontier, requests=0, covered=timedelta(0),
                                requests_per_minute=300) is None


def test_the_frontier_moves_with_each_window_and_a_forward_load_is_complete() -> None:
    state: dict = {}
    assert history.frontier(state, SINCE) is None and not history.pending(state, SINCE)
    history.first_done(state, NOW - DAY)
    assert history.frontier(state, SINCE) == NOW - DAY and history.pending(state, SINCE)
    assert history.step_window(state, SINCE, NOW, 3000) == (NOW - 7 * DAY, NOW - DAY)  # the rest of the week
    history.step_done(state, NOW - 7 * DAY, requests=400)
    assert history.last_cost(state) == WindowCost(400, 6 * DAY)
    assert history.frontier(state, SINCE) == NOW - 7 * DAY
    history.step_done(state, SINCE, requests=100)
    assert not history.pending(state, SINCE)
    assert history.coverage(state, SINCE, NOW, 300).estimated_complete_at is None
    # a cursor without history state: loaded forward from the start of history
    assert history.frontier({"cursor": NOW.isoformat()}, SINCE) == SINCE


def test_a_first_window_read_newest_first_is_not_a_whole_listing() -> None:
    assert lists_whole(False, False, None)
    assert not lists_whole(False, False, None, newest_first=True)  # a partial window proves nothing gone
    assert lists_whole(True, False, "2026-03-01T00:00:00+00:00", newest_first=True)


def test_no_full_listing_while_older_history_is_pending() -> None:
    """A full listing reads from the start of history at once: while the backfill is pending
    it would undo newest-first, and a history step is never one."""
    run = LeelooRun(client=None, report=SourceReport(), concurrency=1, page_size=10,  # type: ignore[arg-type]
                    overlap=DAY, start_of_history=SINCE, now=NOW, since=None, until=None, sweep_runs=7,
                    order_details=False)
    state: dict = {"cursor": NOW.isoformat(), "ledger_run": 10}
    ledger = Ledger("people", state, known={"a": Entry()})
    assert run.full_listing_due(state, ledger)
    history.first_done(state, NOW - DAY)
    assert not run.full_listing_due(state, ledger)
    history.step_done(state, SINCE, requests=10)
    assert run.full_listing_due(state, ledger)
    run.history_step = True
    assert not run.full_listing_due(state, ledger)


def test_a_history_that_fits_one_window_needs_no_newest_first() -> None:
    from sources.kit.backfill import fits_one_window

    assert fits_one_window(500, 3000)  # ~506 requests: read forward, one window
    assert not fits_one_window(2990, 3000)  # 2990 details and 29 pages: more than one window
    assert not fits_one_window(None, 3000)  # the API told no count: newest first, to be safe
    assert fits_one_window(0, 3000)


def test_the_estimate_by_count_prices_the_entities_left_at_what_a_step_paid_per_entity() -> None:
    from sources.kit.backfill import estimated_by_count

    # the steps paid 1200 requests for 1000 new people: 9000 left of 12000 cost 10800, 36 minutes at 300 a minute
    assert estimated_by_count(NOW, total=12_000, loaded=3_000, requests=1_200, read=1_000,
                              requests_per_minute=300) == NOW + timedelta(minutes=36)
    for unknown in ({"total": None}, {"loaded": 12_000}, {"read": 0}, {"requests_per_minute": None}):
        known: dict = {"total": 12_000, "loaded": 3_000, "requests": 1_200, "read": 1_000,
                       "requests_per_minute": 300}
        assert estimated_by_count(NOW, **{**known, **unknown}) is None, unknown


def test_the_state_keeps_the_count_probes_entities_and_what_each_window_added() -> None:
    state: dict = {}
    history.note_loaded(state, 40)  # before the first window: nothing to note it in
    assert state == {}
    history.first_done(state, NOW - DAY, entities=5_000)
    history.note_loaded(state, 40)
    first = history.coverage(state, SINCE, NOW, 300)
    assert (first.history_entities, first.loaded_entities) == (5_000, 40)
    assert first.estimated_complete_at is None, "no step read yet: nothing to price the rest by"
    history.note_loaded(state, 70)  # a nightly run's news, a step cut short: known, so loaded
    history.step_done(state, NOW - 5 * DAY, requests=600, read=460)
    history.note_loaded(state, 530)
    step = history.coverage(state, SINCE, NOW, 300)
    assert (step.history_entities, step.loaded_entities) == (5_000, 530)
    # 600 requests for 460 people: the 4,470 left cost ~5830 requests, ~19.4 minutes at 300 a minute
    assert step.estimated_complete_at == NOW + timedelta(minutes=600 / 460 * 4_470 / 300)
    history.step_done(state, SINCE, requests=100, read=10)
    assert history.coverage(state, SINCE, NOW, 300).estimated_complete_at is None, "done: whatever the count"


def test_a_backfill_begun_without_a_count_says_none_and_estimates_by_the_span() -> None:
    state: dict = {}
    history.first_done(state, NOW - DAY)
    history.step_done(state, NOW - 5 * DAY, requests=400, read=300)
    cover = history.coverage(state, SINCE, NOW, 300)
    assert cover.history_entities is None and cover.loaded_entities is None
    assert cover.estimated_complete_at == estimated_completion(NOW, SINCE, NOW - 5 * DAY, requests=400,
                                                               covered=4 * DAY, requests_per_minute=300)


def test_only_a_probe_failure_the_listing_would_not_meet_leaves_the_size_unknown() -> None:
    from sources.http.errors import ApiError, ApiUnreachable, AuthError, BudgetExhausted, Forbidden, UnexpectedAnswer
    from sources.kit.backfill import size_unknown

    assert size_unknown(UnexpectedAnswer("no meta", 200))
    assert size_unknown(BudgetExhausted())
    assert size_unknown(ApiError("HTTP 400 after retries", 400))  # the one-item request itself was refused
    assert not size_unknown(AuthError("HTTP 401", 401))
    assert not size_unknown(Forbidden("HTTP 403", 403))
    assert not size_unknown(ApiUnreachable("no answer after retries"))
    assert not size_unknown(ApiError("HTTP 503 after retries", 503))
    assert not size_unknown(ApiError("HTTP 429 after retries", 429))


def test_an_order_is_dated_by_the_later_of_its_creation_and_its_update() -> None:
    from sources.leeloo.deferred import order_date

    assert order_date({"createdAt": "2026-12-01T10:00:00Z", "updatedAt": "2026-12-05T10:00:00Z"}) == \
        datetime(2026, 12, 5, 10, tzinfo=UTC)
    assert order_date({"createdAt": "2026-12-01T10:00:00Z", "updatedAt": "NOT_DEFINED"}) == \
        datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert order_date({"createdAt": None, "updatedAt": "junk"}) is None


def test_only_an_order_never_read_and_dated_before_the_cutoff_waits() -> None:
    from sources.leeloo.deferred import waits

    cut = NOW - DAY
    assert waits(None, cut - timedelta(seconds=1), cut)
    assert not waits(None, cut, cut)  # the window's start is in the window
    assert not waits(Entry("print", "OPENED"), cut - DAY, cut)  # a known order that changed: read now
    assert not waits(None, None, cut)  # no date: no later window would claim it
    assert not waits(None, cut - DAY, None)  # no cutoff: a forward load reads all


def test_the_cutoff_is_the_window_then_the_frontier_while_history_is_pending() -> None:
    from sources.leeloo.deferred import cutoff

    assert cutoff({}, SINCE, NOW - DAY) == NOW - DAY  # a first window, a history step
    assert cutoff({}, SINCE, SINCE) is None  # a window reaching the start of history reads the rest, older too
    pending = {history.KEY: {"frontier": (NOW - 5 * DAY).isoformat()}}
    assert cutoff(pending, SINCE, None) == NOW - 5 * DAY  # a nightly run during the backfill
    done = {history.KEY: {"frontier": SINCE.isoformat()}}
    assert cutoff(done, SINCE, None) is None and cutoff({}, SINCE, None) is None


def test_the_next_order_window_holds_about_a_windows_worth_of_details() -> None:
    from sources.leeloo.deferred import next_start, plan, step_start

    dates = [NOW - k * DAY for k in range(2, 12)]  # ten waiting orders, one a day
    assert next_start(dates, 3, SINCE) == NOW - 4 * DAY  # the third newest
    assert next_start(dates, 10, SINCE) == SINCE  # all fit: the rest of history
    state: dict = {history.KEY: {"frontier": (NOW - 8 * DAY).isoformat(), "last_requests": 10}}
    plan(state, dates, 4, SINCE)
    assert step_start(state, SINCE) == NOW - 5 * DAY and history.frontier(state, SINCE) == NOW - 8 * DAY
    assert step_start({}, SINCE) == SINCE


def test_the_order_window_after_the_last_day_reads_through_the_last_week() -> None:
    from sources.leeloo.deferred import plan, step_start

    state: dict = {}
    history.first_done(state, NOW - DAY)
    plan(state, [NOW - k * DAY for k in range(2, 12)], 2, SINCE)  # two details: the window would end at 3 days
    assert step_start(state, SINCE) == NOW - 7 * DAY
    plan(state, [NOW - k * DAY for k in range(2, 12)], 9, SINCE)  # nine: past the week already, as planned
    assert step_start(state, SINCE) == NOW - 10 * DAY
    history.step_done(state, NOW - 7 * DAY, requests=5)  # later steps as planned
    plan(state, [NOW - k * DAY for k in range(8, 12)], 2, SINCE)
    assert step_start(state, SINCE) == NOW - 9 * DAY


class CountingClient:
    """Answers a one-item request with the list's count, and notes what it was asked."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.asked: list[str] = []

    def get_json(self, path: str, params: dict | None = None, expect: object = None) -> dict:
        self.asked.append(path)
        count = self.counts[path]
        return {"status": 1, "data": [{"id": "x"}] if count else [], "meta": {"totalCount": count}}


def counted_run(people: int, channels: int, orders: int, requests_per_minute: float | None = 300) -> LeelooRun:
    client = CountingClient({"api/v2/people": people, "api/v2/communication-channels": channels,
                             "api/v2/orders": orders})
    return LeelooRun(client=client, report=SourceReport(), concurrency=1, page_size=100,  # type: ignore[arg-type]
                     overlap=DAY, start_of_history=SINCE, now=NOW, since=None, until=None, sweep_runs=7,
                     order_details=True, window_requests=3000, requests_per_minute=requests_per_minute)


def test_the_whole_accounts_history_decides_newest_first() -> None:
    """Each list alone fits one window here; together they would make the first window the whole load."""
    run = counted_run(2000, 900, 1500)
    assert not run.history_fits_one_window()
    assert not run.history_fits_one_window() and len(run.client.asked) == 3  # type: ignore[attr-defined]
    small = counted_run(100, 150, 80)
    assert small.history_fits_one_window() and len(small.client.asked) == 3  # type: ignore[attr-defined]
    big = counted_run(3500, 900, 1500)  # the people alone are too many: nothing else is asked
    assert not big.history_fits_one_window() and big.client.asked == ["api/v2/people"]  # type: ignore[attr-defined]
    unlimited = counted_run(3500, 900, 1500, requests_per_minute=None)  # no rate limit: one window, nothing asked
    assert unlimited.history_fits_one_window() and unlimited.client.asked == []  # type: ignore[attr-defined]


def test_windows_pay_off_only_under_a_rate_limit() -> None:
    from sources.kit.backfill import windows_pay_off

    assert windows_pay_off(300) and windows_pay_off(0.5)
    assert not windows_pay_off(None) and not windows_pay_off(0)
