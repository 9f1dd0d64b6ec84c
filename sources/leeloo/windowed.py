"""What the windowed resources (`people`, `communication_channels`) share: the state one run
of them builds up as it reads, how it opens and closes, and the decisions on it (the orders,
read newest first on a first load, use their ledger, history-step and coverage steps).

The state is an explicit object handed from step to step rather than locals captured by
nested functions, so each step and each decision can be called, and tested, on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sources.bookkeeping import Entry, Ledger, coverage_rows
from sources.deletions import Proof, absent
from sources.kit.paging import Listing
from sources.kit.sweep import plan_sweep, stalest

from . import history
from .run import Latest, LeelooRun

# why the sweep re-reads an entity, in the order it reads them; each is counted in the run's facts
MISSING, FOLLOW_UP, SWEPT = "missing_checked", "follow_ups", "swept"
CHANGED = "changed"


@dataclass
class WindowRead:
    """One run of a windowed resource: its ledger and listing, and what it learns as it reads."""

    name: str
    ledger: Ledger
    listing: Listing
    window_start: datetime
    full: bool  # the sweep period's full listing (from the start of history)
    whole: bool  # the listing covers everything known: a full listing or a first run
    active_since: datetime | None
    proof: Proof
    requests_at_open: int = 0  # the client's count when the window opened: what the window cost
    first: bool = False  # newest first: the first run's window, the last day only
    history_size: int | None = None  # the count probe's entities of the whole history (a first load)
    known_at_open: int = 0  # the ledger's entities when the window opened: what a history step added
    newest: Latest = field(default_factory=Latest)
    listed: set[str] = field(default_factory=set)
    verified: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((CHANGED, FOLLOW_UP, SWEPT, MISSING), 0))


def lists_whole(full: bool, backfill: bool, cursor: Any, *, newest_first: bool = False) -> bool:
    """A listing covers every known entity when it is the period's full listing, or the
    first nightly run's read forward (no cursor yet: its window starts at the start of
    history). Newest first, the first run lists the last day: a partial window never
    proves anything gone."""
    return full or (not backfill and not cursor and not newest_first)


def open_ledger(run: LeelooRun, state: dict[str, Any], name: str) -> Ledger:
    """The resource's ledger for this run. A history step is not a run of the sweep's
    count: the ledger's run number stays."""
    ledger = Ledger(name, state)
    if run.history_step:
        ledger.run -= 1
        state["ledger_run"] = ledger.run
    return ledger


def open_window(run: LeelooRun, state: dict[str, Any], name: str, path: str) -> WindowRead:
    """The ledger, the window to list and the proof of deletions for one run of `name`."""
    ledger = open_ledger(run, state, name)
    full = run.full_listing_due(state, ledger)
    first = run.first_window(state, full) and not run.history_fits_one_window()
    size = run.history_size(path) if first else None
    whole = lists_whole(full, run.backfill, state.get("cursor"), newest_first=first or run.history_step)
    listing, start = run.window(state, path, full=full, first=first)
    return WindowRead(name, ledger, listing, start, full, whole, run.active_since(state),
                      Proof(name, known=list(ledger.entries), marked=run.deleted(name)), run.client.requests_made,
                      first=first, history_size=size, known_at_open=len(ledger))


def advance(run: LeelooRun, state: dict[str, Any], read: WindowRead) -> None:
    """Once the window's news is in: the cursor moves (a nightly run), the frontier moves to
    the window's start (the first window, a history step), the entities loaded are noted
    (whether the window completed or not), and the run learns whether older history is still
    to read."""
    if run.advance(state, read.name, read.listing, read.newest):
        if run.history_step:
            history.step_done(state, read.window_start, run.client.requests_made - read.requests_at_open,
                              read=max(0, len(read.ledger) - read.known_at_open))
        elif read.first:
            history.first_done(state, read.window_start, entities=read.history_size)
    history.note_loaded(state, len(read.ledger))
    if history.pending(state, run.start_of_history) and not run.backfill:
        run.report.history_pending.add(read.name)
    else:
        run.report.history_pending.discard(read.name)


def coverage(run: LeelooRun, state: dict[str, Any], tables: Sequence[str]) -> Any:
    """The coverage rows of the resource's tables, committed with its data."""
    return coverage_rows(tables, history.coverage(state, run.start_of_history, run.now, run.requests_per_minute))


def nothing_older(run: LeelooRun, state: dict[str, Any], name: str) -> bool:
    """A history step for a resource whose history is complete reads nothing."""
    if run.history_step and not history.pending(state, run.start_of_history):
        run.report.history_pending.discard(name)
        run.gate.finished(name)
        return True
    return False


def recheck_targets(entries: Mapping[str, Entry], run: int, sweep_runs: int, *, listed: Collection[str],
                    listing_whole: bool, done: Collection[str],
                    active_since: datetime | None) -> list[tuple[str, str]]:
    """What the sweep re-reads, and why, in order: known entities a whole listing lacked
    (a 404 proves them gone), then the follow-ups and the due ones (see `sweep`).
    `done`: verified, proved gone or left unproven by this run already."""
    missing = absent(entries, listed, listing_whole)
    plan = plan_sweep(entries, run, sweep_runs, done=set(done) | set(missing), active_since=active_since)
    return [*((e, MISSING) for e in missing), *((e, FOLLOW_UP) for e in plan.follow_ups),
            *((e, SWEPT) for e in plan.due)]


def close_window(run: LeelooRun, state: dict[str, Any], read: WindowRead, facts: str,
                 tables: Sequence[str]) -> None:
    """Note a whole listing, the run's start and the sweep's facts; warn of what was odd."""
    if read.whole and read.listing.complete:
        state["full_listing_run"] = read.ledger.run
    run.started(state)
    run.report.facts[facts] = {
        "known": len(read.ledger), **read.counts, "deleted": len(read.proof.gone),
        "stalest_runs": stalest(read.ledger.entries, read.ledger.run),
        "full_listing": int(read.full),
    }
    run.skipped(read.name, read.listing)
    run.warn_oddities(tables)
