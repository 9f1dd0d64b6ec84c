"""What the resources of one run share: the client, the settings, the report, and the rules
for windows, cursors, budgets and the order of work."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import dlt

from sources.bookkeeping import Coverage, Entry, Ledger, coverage_rows, register_alongside
from sources.clocks import MAX_SKEW
from sources.http import ApiClient, ApiError, BudgetExhausted, UnexpectedAnswer, fan_out
from sources.http.client import ShapeCheck
from sources.kit.backfill import FIRST_WINDOW, fits_one_window, size_unknown, windows_pay_off
from sources.kit.paging import Listing, detail_problem, meta_total, page_problem
from sources.kit.values import Oddities
from sources.marks import table_of
from sources.report import SourceReport

from . import history, settings, stored
from .times import api_time, next_cursor, to_utc, window_bounds

NEWS = ("people", "communication_channels", "orders")  # resources whose new activity goes before any sweep
DELETABLE = ("people", "communication_channels", "chat_messages", "orders", "tunnels", "leadgentools", "users",
             "tags", "connections", "template_categories", "templates")
# every extract reads the deletion marks, and the sweep the channels holding marked messages:
# both in the turn that reads the ledgers
register_alongside(stored.SOURCE, lambda: stored.deleted_ids(DELETABLE))
register_alongside(stored.SOURCE, stored.channels_with_marked_messages)


def fingerprint(item: Any) -> str:
    """A short digest of a list item: any change the list shows changes it."""
    return hashlib.blake2b(json.dumps(item, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


Listed = tuple[dict[str, Any], str, str]  # a list entry, its id and its fingerprint


def listed_changed(entry: Entry | None, listed_print: str, *, backfill: bool = False,
                   marked_deleted: bool = False) -> bool:
    """Whether a list entry calls for a fresh read: new, its fingerprint moved, a backfill
    (which re-reads what it covers), or marked deleted in the warehouse (back again)."""
    return backfill or entry is None or entry.fingerprint != listed_print or marked_deleted


class Latest:
    """The newest timestamp seen so far: what a window cursor moves to once its window is done."""

    def __init__(self) -> None:
        self.value: datetime | None = None

    def see(self, value: Any) -> None:
        moment = to_utc(value)
        if moment is not None and (self.value is None or moment > self.value):
            self.value = moment


class NewsFirst:
    """New activity goes before the sweep, across resources: when the request budget is
    short, a resource's sweep must not spend what another resource's news still needs.

    A resource calls `finished(name)` when its news is done (or stopped), and runs its
    sweep after `wait()`, which yields None to dlt (dlt then advances the other
    resources) until every selected news resource has finished."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def finished(self, name: str) -> None:
        self.done.add(name)

    def wait(self) -> Iterator[None]:
        try:
            selected = set(dlt.current.source().selected_resources)
        except Exception:  # noqa: BLE001 - outside a source (a test calling a resource) nothing waits
            return
        while not (selected & set(NEWS)) <= self.done:
            yield None


@dataclass
class LeelooRun:
    """One run of the source: built once by `leeloo_source`, shared by its resources."""

    client: ApiClient
    report: SourceReport
    concurrency: int
    page_size: int
    overlap: timedelta
    start_of_history: datetime
    now: datetime
    since: datetime | None
    until: datetime | None
    sweep_runs: int
    order_details: bool
    newest_first: bool = True
    history_step: bool = False  # a step of the backfill: the next window older than the frontier
    window_requests: int = settings.BACKFILL_WINDOW_REQUESTS
    requests_per_minute: float | None = None
    odd: Oddities = field(default_factory=Oddities)
    gate: NewsFirst = field(default_factory=NewsFirst)
    _deleted: dict[str, set[str]] | None = None
    _ledgers: dict[str, Ledger] = field(default_factory=dict)
    _history_fits: bool | None = None
    _sizes: dict[str, int | None] = field(default_factory=dict)

    @property
    def backfill(self) -> bool:
        return self.since is not None or self.until is not None

    def get(self, path: str, params: dict[str, Any] | None = None, expect: ShapeCheck | None = None) -> Any:
        return self.client.get_json(path, params, expect)

    def get_or_none(self, path: str, params: dict[str, Any] | None = None,
                    expect: ShapeCheck | None = detail_problem) -> Any:
        """The answer, or None when the API says the entity does not exist (404). An answer
        whose shape is not an entity's detail is retried, then raises `UnexpectedAnswer`."""
        try:
            return self.client.get_json(path, params, expect)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def fan_out(self, items: Any, work: Callable[[Any], Any], concurrency: int | None = None) -> Any:
        return fan_out(items, work, concurrency or self.concurrency, self.client.workers)

    def guarded(self, name: str, work: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """Run part of a resource; a spent budget ends it cleanly, marked incomplete, and so
        does an answer of unexpected shape, which the run reports as a listing it could not read."""
        try:
            yield from work()
        except BudgetExhausted:
            self.report.spent(name)
        except UnexpectedAnswer as exc:
            self.unreadable(name, exc)

    def unreadable(self, name: str, exc: UnexpectedAnswer) -> None:
        """`name` could not be read whole: it is incomplete (its cursor waits, nothing is
        proved gone by it) and the run says which read failed."""
        self.report.incomplete.add(name)
        self.report.warn(f"{name}: could not be read whole, nothing in it was marked deleted and the next run "
                         f"reads it again: {exc}")

    def stopped(self, name: str) -> bool:
        return name in self.report.incomplete

    def ledger(self, name: str) -> Ledger:
        """The resource's ledger, read once per run (a transformer runs once per page)."""
        if name not in self._ledgers:
            self._ledgers[name] = Ledger(name, dlt.current.resource_state())
        return self._ledgers[name]

    def deleted(self, table: str) -> set[str]:
        """Ids of `table` marked deleted in the warehouse (read once per run): one that is
        listed again is loaded again, whatever its fingerprint says."""
        if self._deleted is None:
            self._deleted = stored.deleted_ids(DELETABLE)
        return self._deleted.get(table, set())

    def first_window(self, state: dict[str, Any], full: bool) -> bool:
        """A nightly run with no cursor yet lists only the last day when history is read newest first."""
        return self.newest_first and not (self.backfill or full or self.history_step or state.get("cursor"))

    @property
    def first_window_start(self) -> datetime:
        """Newest first, a first load reads the last day first."""
        return max(self.now - FIRST_WINDOW, self.start_of_history)

    def history_fits_one_window(self) -> bool:
        """Whether the account's whole history fits one window: people, channels and order
        details together, as a first load reads them side by side (each alone may fit while
        together they make the first window the whole load). Asked once per run, by a first
        load only: a one-item request per list, until the lists counted so far are too many.
        Without a rate limit it always fits (`windows_pay_off`)."""
        if self._history_fits is None and not windows_pay_off(self.requests_per_minute):
            self._history_fits = True
        if self._history_fits is None:
            lists = [(settings.PEOPLE, True), (settings.CHANNELS, True)]
            lists += [(settings.ORDERS, False)] if self.order_details else []
            total: int | None = 0
            for path, windowed in lists:
                size = self.history_size(path, windowed=windowed)
                total = None if size is None or total is None else total + size
                if not fits_one_window(total, self.window_requests):
                    break
            self._history_fits = fits_one_window(total, self.window_requests)
        return self._history_fits

    def history_size(self, path: str, *, windowed: bool = True) -> int | None:
        """How many entities the whole history of `path` lists, by one request for one item:
        the larger of the page's meta counts. None when it tells none, or the probe failed in
        a way that leaves only the size unknown (`size_unknown`); a failure the listing would
        meet too (credentials refused, no answer) fails the run now, after one round of retries.
        `windowed`: the list takes the last-message window (from the start of history); a
        list without a filter (orders) is asked as it is. Asked once per list and run."""
        if path in self._sizes:
            return self._sizes[path]
        params: dict[str, Any] = {"limit": 1, "offset": 0}
        if windowed:
            start, end = window_bounds(None, self.start_of_history, self.overlap, since=None, until=None,
                                       now=self.now)
            params.update({settings.WINDOW_FROM: api_time(start), settings.WINDOW_TO: api_time(end)})
        try:
            size = meta_total(self.get(path, params, partial(page_problem, first=True, whole_list=not windowed)))
        except (ApiError, UnexpectedAnswer, BudgetExhausted) as exc:
            if not size_unknown(exc):
                raise
            size = None
        self._sizes[path] = size
        return size

    def bounds(self, state: dict[str, Any], full: bool, first: bool) -> tuple[datetime, datetime]:
        """From the cursor (minus the overlap), or from the start of history when the sweep
        period's full listing is due; newest first, the last day, then a history step's window
        (up to the overlap past the frontier: window edges may be date-granular)."""
        if self.history_step:
            planned = history.step_window(state, self.start_of_history, self.now, self.window_requests)
            if planned is not None:
                return planned[0], min(planned[1] + self.overlap, self.now + MAX_SKEW)
        if first:
            return self.first_window_start, self.now + MAX_SKEW
        cursor = None if full else state.get("cursor")
        return window_bounds(cursor, self.start_of_history, self.overlap, since=self.since, until=self.until,
                             now=self.now)

    def window(self, state: dict[str, Any], path: str, *, full: bool = False,
               first: bool = False) -> tuple[Listing, datetime]:
        """The last-message window to list (see `bounds`); `first`: the last day, newest first."""
        start, end = self.bounds(state, full, first)
        params = {settings.WINDOW_FROM: api_time(start), settings.WINDOW_TO: api_time(end)}
        return Listing(self.client, path, params, self.page_size), start

    def advance(self, state: dict[str, Any], name: str, listing: Listing, newest: Latest) -> bool:
        """Move the window cursor, only when the whole window is done; whether it was."""
        if self.backfill:
            return False
        if not listing.complete or self.stopped(name):
            self.report.incomplete.add(name)
            return False
        if self.history_step:
            return True
        cursor = next_cursor(state.get("cursor"), newest.value, self.now)
        if cursor is not None:
            state["cursor"] = cursor.isoformat()
        state["complete_until"] = self.now.isoformat()
        return True

    def full_listing_due(self, state: dict[str, Any], ledger: Ledger) -> bool:
        """Once per sweep period a windowed resource lists everything: what a listing ever
        missed is found, and what is gone is noticed."""
        if self.backfill or self.history_step or not len(ledger) or self.sweep_runs <= 0:
            return False
        if history.pending(state, self.start_of_history):
            return False
        return ledger.run - int(state.get("full_listing_run") or 0) >= self.sweep_runs

    def active_since(self, state: dict[str, Any]) -> datetime | None:
        """Entities active since the run before the previous one started had news that the
        previous run (or this one) read: the sweep follows them up at once."""
        starts = state.get("recent_run_starts") or []
        return to_utc(starts[0]) if len(starts) == 2 else None

    def started(self, state: dict[str, Any]) -> None:
        if not (self.backfill or self.history_step):
            state["recent_run_starts"] = [*(state.get("recent_run_starts") or [])[-1:], self.now.isoformat()]

    def read_whole(self, names: Sequence[str], complete: bool) -> Iterator[Any]:
        """The coverage of resources read whole (the reference lists): complete from
        the start of history as of this run, once a run read them completely; otherwise
        the coverage an earlier run wrote stands."""
        done = [name for name in names if complete and not self.stopped(name)]
        if done:
            yield coverage_rows(done, Coverage(self.start_of_history, self.now, self.start_of_history))

    def skipped(self, name: str, listing: Listing) -> None:
        if listing.unidentified:
            self.report.warn(f"{name}: {listing.unidentified} list entries without a usable id were skipped")

    def warn_oddities(self, entities: Sequence[str]) -> None:
        for line in self.odd.warnings(entities):
            self.report.warn(line)


def for_table(meta: Any, table: str) -> bool:
    """A transformer gets every item of its parent, the parent's bookkeeping rows included."""
    marked = table_of(meta)
    return marked is None or marked == table
