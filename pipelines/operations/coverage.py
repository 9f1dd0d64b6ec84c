"""How much of an account's history is loaded, from the `coverage` report of its
`<dataset>_reports` (one row per resource). A backfill loads newest first, so each resource
is complete from `complete_since` up to `complete_until`; it is done when `complete_since`
reaches `history_since`, the configured start of history.

`status`, the dashboard and `chatfunnel report` state coverage beside every number they show,
all through the decisions here: whether a backfill is under way, how much of the history is
loaded (by the API's count of entities where a first load had it, else by the span of days),
the day from which the figures are whole, and the words they say it in. A warehouse older
than the report has no coverage: every reader gets None and says nothing of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

REPORT = "coverage"
COLUMNS = ("resource", "complete_since", "complete_until", "as_of", "history_since", "estimated_complete_at")
ENTITIES, SPAN = "entities", "span"  # what a share measures: entities by the API's count, or the span of days
DEFAULT_SINCE_WORDS = "since"  # "history complete since <date>": every entity active since then is loaded


def _utc(value: Any) -> datetime | None:
    """A timestamptz as the engines return it (an aware datetime; naive is UTC), else None."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, str) and value:
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _count(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ResourceCoverage:
    """One row of the report: what of one resource's history is loaded."""

    resource: str
    complete_since: datetime | None
    complete_until: datetime | None
    as_of: datetime | None
    history_since: datetime | None
    estimated_complete_at: datetime | None
    history_entities: int | None = None
    loaded_entities: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ResourceCoverage:
        since, until, as_of, history_since, estimate = (_utc(row.get(c)) for c in COLUMNS[1:])
        return cls(str(row.get("resource")), since, until, as_of, history_since, estimate,
                   _count(row.get("history_entities")), _count(row.get("loaded_entities")))

    @property
    def complete(self) -> bool:
        """Done when the complete span reaches the start of history. A resource without a
        configured start is not said to be under way: nothing says what it still lacks."""
        if self.complete_since is None:
            return False
        return self.history_since is None or self.complete_since <= self.history_since

    @property
    def share_basis(self) -> str:
        """What the share measures. A first load that read its history newest first knows from
        the API how many entities the whole history holds: the share is of those. Without that
        count (the API gave none, an older version began the backfill), or once the loaded ones
        reach it (entities created since count too) while older days are still to read, it is
        the share of the span of days since the start of history, which a history whose
        entities crowd in recent years understates."""
        total, loaded = self.history_entities, self.loaded_entities
        counted = total is not None and loaded is not None and 0 <= loaded < total
        return ENTITIES if counted and not self.complete else SPAN

    @property
    def share_complete(self) -> float | None:
        """The loaded share (0 to 1) by `share_basis`: entities loaded of the API's count, or
        the span from `history_since` to `complete_until`; None when neither is known."""
        if self.complete:
            return 1.0
        if self.complete_since is None:
            return 0.0
        if self.share_basis == ENTITIES:
            return (self.loaded_entities or 0) / (self.history_entities or 1)
        end = self.complete_until or self.as_of
        if self.history_since is None or end is None or end <= self.history_since:
            return None
        share = (end - self.complete_since) / (end - self.history_since)
        return min(1.0, max(0.0, share))


@dataclass(frozen=True)
class Coverage:
    """An account's coverage: every resource's, and what they say together."""

    resources: tuple[ResourceCoverage, ...]
    # what "complete since <date>" holds, in the source's words (`SourceSpec.complete_since`):
    # Leeloo's every entity active since then; Salebot's the clients created since then
    since_words: str = DEFAULT_SINCE_WORDS

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.resources)

    @property
    def under_way(self) -> tuple[ResourceCoverage, ...]:
        return tuple(r for r in self.resources if not r.complete)

    @property
    def complete_since(self) -> datetime | None:
        """From when every resource is loaded: the latest `complete_since` (None when one
        resource has nothing complete yet)."""
        starts = [r.complete_since for r in self.resources]
        if not starts or any(s is None for s in starts):
            return None
        return max(s for s in starts if s is not None)

    @property
    def history_since(self) -> datetime | None:
        starts = [r.history_since for r in self.resources if r.history_since is not None]
        return min(starts) if starts else None

    @property
    def furthest_behind(self) -> ResourceCoverage | None:
        """The resource under way with the smallest known share: the figures are whole only as
        far as it. None when none is under way, or no share is known."""
        known = [r for r in self.under_way if r.share_complete is not None]
        return min(known, key=lambda r: r.share_complete or 0.0) if known else None

    @property
    def share_complete(self) -> float | None:
        """The share of the resource furthest behind (1 when done, None when unknown)."""
        if not self.under_way:
            return 1.0
        behind = self.furthest_behind
        return behind.share_complete if behind is not None else None

    @property
    def share_basis(self) -> str:
        behind = self.furthest_behind
        return behind.share_basis if behind is not None else SPAN

    @property
    def estimated_complete_at(self) -> datetime | None:
        """When the last resource under way is expected to be done; None when one has no estimate."""
        estimates = [r.estimated_complete_at for r in self.under_way]
        if not estimates or any(e is None for e in estimates):
            return None
        return max(e for e in estimates if e is not None)


def coverage_from_rows(rows: Iterable[dict[str, Any]] | None,
                       since_words: str = DEFAULT_SINCE_WORDS) -> Coverage | None:
    """The account's coverage from the report's rows; None without the report, a row, or one
    of its columns (a report of another shape says nothing it can be trusted for).
    `since_words`: what its source's "complete since" holds (`Coverage.since_words`)."""
    listed = list(rows or ())
    if any(column not in row for row in listed for column in COLUMNS):
        return None
    resources = tuple(ResourceCoverage.from_row(r) for r in listed if r.get("resource") is not None)
    return Coverage(tuple(sorted(resources, key=lambda r: r.resource)), since_words) if resources else None


def backfill_under_way(coverage: Coverage | None) -> bool:
    """Whether the figures lack older history that a backfill is still loading."""
    return coverage is not None and not coverage.complete


def first_whole_day(coverage: Coverage, zone: ZoneInfo) -> date | None:
    """The first day (in the reports' zone) whose counts are whole: the day of
    `complete_since` when it starts at that day's midnight, else the next. None: no day yet."""
    since = coverage.complete_since
    if since is None:
        return None
    local = since.astimezone(zone)
    return local.date() if local.time() == time(0) else local.date() + timedelta(days=1)


def first_whole_week(coverage: Coverage, zone: ZoneInfo) -> date | None:
    """The first ISO week (its Monday) whose counts are whole."""
    first = first_whole_day(coverage, zone)
    if first is None:
        return None
    return first if first.weekday() == 0 else first + timedelta(days=7 - first.weekday())


def local_day(when: datetime | None, zone: ZoneInfo) -> str:
    """`2026-11-02`: the day `when` falls on in `zone`."""
    return "" if when is None else f"{when.astimezone(zone):%Y-%m-%d}"


def percent(share: float | None) -> str:
    """`37%`; below 1% but not nothing `<1%`, an unknown share `an unknown share`."""
    if share is None:
        return "an unknown share"
    if 0 < share < 0.01:
        return "<1%"
    return f"{int(share * 100)}%"


def coverage_line(coverage: Coverage, zone: ZoneInfo, when: Callable[[datetime], str], *,
                  now: datetime | None = None) -> str:
    """The one line `status` and `report` print: `history complete since <date> (backfill
    under way, N% of the span, estimated complete <time>)`, or that the history is complete.
    The date is the first whole day in the reports' zone (a day loaded from 18:00 on is not
    complete); `when` renders the estimate as the caller renders its other times. An
    estimate already past at `now` (a run stopped by its budget with the rest worth less
    than the time since) says the rest is due on the next run, not a time gone by."""
    if coverage.complete:
        start = coverage.history_since
        return "history complete" + (f" since {local_day(start, zone)} (the configured start)" if start else "")
    first = first_whole_day(coverage, zone)
    words = f"history complete {coverage.since_words} {first}" if first else "history: nothing complete yet"
    estimate = coverage.estimated_complete_at
    if estimate is None:
        eta = "no estimate yet"
    elif now is not None and estimate <= now:
        eta = "the rest is due on the next run"
    else:
        eta = f"estimated complete {when(estimate)}"
    return f"{words} (backfill under way, {share_words(coverage)}, {eta})"


def share_words(coverage: Coverage) -> str:
    """`37% of the history by the API's count (4,400 of 12,000)`: entities of the resource
    furthest behind (a message table's count is its channels'); without a count `37% of the
    span` (of the days since the start of history)."""
    behind = coverage.furthest_behind
    share = percent(coverage.share_complete)
    if behind is None or behind.share_basis != ENTITIES:
        return f"{share} of the span"
    return f"{share} of the history by the API's count ({behind.loaded_entities:,} of {behind.history_entities:,})"


def banner_text(coverage: Coverage, zone: ZoneInfo) -> str:
    """The dashboard's banner over an account whose backfill is under way."""
    first = first_whole_day(coverage, zone)
    if first is None:
        return "History is still loading - no period is complete yet, every figure is partial"
    return f"History complete {coverage.since_words} {first} - older periods are still loading"


def not_covered_label(first: date | None, since_words: str = DEFAULT_SINCE_WORDS) -> str:
    """The label of a chart's region whose counts are not whole yet: `complete from <date>`, or
    in the source's own words (`Coverage.since_words`)."""
    if first is None:
        return "still loading (history not complete yet)"
    words = "from" if since_words == DEFAULT_SINCE_WORDS else since_words
    return f"still loading (complete {words} {first})"


def resource_document(resource: ResourceCoverage) -> dict[str, Any]:
    """One resource in `status --json`'s `backfill.resources`; times ISO 8601 in UTC."""
    return {"complete": resource.complete, "complete_since": _iso(resource.complete_since),
            "complete_until": _iso(resource.complete_until), "history_since": _iso(resource.history_since),
            "estimated_complete_at": _iso(resource.estimated_complete_at), "share_complete": _round(
                resource.share_complete), "share_basis": resource.share_basis, "as_of": _iso(resource.as_of),
            "history_entities": resource.history_entities, "loaded_entities": resource.loaded_entities}


def backfill_document(coverage: Coverage | None) -> dict[str, Any] | None:
    """`status --json`'s `backfill` object of an account; None without a coverage report."""
    if coverage is None:
        return None
    return {"complete": coverage.complete, "complete_since": _iso(coverage.complete_since),
            "history_since": _iso(coverage.history_since), "share_complete": _round(coverage.share_complete),
            "share_basis": coverage.share_basis,
            "estimated_complete_at": _iso(coverage.estimated_complete_at),
            "resources": {r.resource: resource_document(r) for r in coverage.resources}}


def hidden_before(values: Sequence[Any], days: Sequence[date | None], first: date | None) -> list[Any]:
    """A chart series with the points before `first` (every point when None) taken out, so a
    day not loaded yet reads as missing, never as zero."""
    return [None if d is None or first is None or d < first else v for v, d in zip(values, days, strict=True)]


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).isoformat() if when is not None else None


def _round(share: float | None) -> float | None:
    return round(share, 4) if share is not None else None
