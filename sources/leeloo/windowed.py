"""What the windowed resources (`people`, `communication_channels`) share: the state one run
of them builds up as it reads, how it opens and closes, and the decisions on it.

The state is an explicit object handed from step to step rather than locals captured by
nested functions, so each step and each decision can be called, and tested, on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sources.bookkeeping import Entry, Ledger
from sources.deletions import Proof, absent
from sources.kit.paging import Listing
from sources.kit.sweep import plan_sweep, stalest

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
    newest: Latest = field(default_factory=Latest)
    listed: set[str] = field(default_factory=set)
    verified: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((CHANGED, FOLLOW_UP, SWEPT, MISSING), 0))


def lists_whole(full: bool, backfill: bool, cursor: Any) -> bool:
    """A listing covers every known entity when it is the period's full listing, or the
    first nightly run's (no cursor yet: its window starts at the start of history)."""
    return full or (not backfill and not cursor)


def open_window(run: LeelooRun, state: dict[str, Any], name: str, path: str) -> WindowRead:
    """The ledger, the window to list and the proof of deletions for one run of `name`."""
    ledger = Ledger(name, state)
    full = run.full_listing_due(state, ledger)
    whole = lists_whole(full, run.backfill, state.get("cursor"))
    listing, start = run.window(state, path, full=full)
    return WindowRead(name, ledger, listing, start, full, whole, run.active_since(state),
                      Proof(name, known=list(ledger.entries), marked=run.deleted(name)))


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
