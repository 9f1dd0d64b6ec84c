"""`people`: the last-message window, detail only for what changed, then the sweep.

Each step is a module-level function taking the run and the resource's `WindowRead`;
`people_resource` binds them to dlt."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import proof_rows, table_hints
from sources.deletions import NOT_FOUND
from sources.kit.batches import Batches
from sources.kit.paging import envelope_items

from . import settings
from .rows import PEOPLE_COLUMNS, person_row
from .run import LeelooRun, Listed, fingerprint, listed_changed
from .times import to_utc
from .windowed import CHANGED, WindowRead, advance, close_window, coverage, nothing_older, open_window, recheck_targets

NAME = "people"
HINTS = table_hints(NAME, PEOPLE_COLUMNS)


def person_detail(run: LeelooRun, person_id: str) -> dict[str, Any] | None:
    """The person's detail; None when a 404 says the person is gone."""
    body = run.get_or_none(settings.PERSON.format(id=person_id), {"include": settings.PERSON_INCLUDE})
    if body is None:
        return None
    found = envelope_items(body)
    return found[0] if found else {}


def listed_detail(run: LeelooRun, listed: Listed) -> dict[str, Any] | None:
    return person_detail(run, listed[1])


def fetched(run: LeelooRun, read: WindowRead, listed_item: dict[str, Any], person_id: str,
            found: dict[str, Any] | None) -> dict[str, Any] | None:
    """The person's row from a detail read; a 404 proves the person gone."""
    if found is None:
        read.proof.prove([person_id], NOT_FOUND)
        read.ledger.forget(person_id)
        return None
    row = person_row(listed_item, found, run.odd)
    if row is None:
        return None
    read.verified.add(person_id)
    read.proof.see([person_id])
    return row


def changed(run: LeelooRun, read: WindowRead) -> Iterator[Listed]:
    """The window's people whose list entry calls for their detail."""
    for person, person_id in read.listing.identified():
        read.listed.add(person_id)
        read.newest.see(person.get("lastMessageTime"))
        listed_print = fingerprint(person)
        if listed_changed(read.ledger.get(person_id), listed_print, backfill=run.backfill,
                          marked_deleted=person_id in run.deleted(NAME)):
            yield person, person_id, listed_print


def news(run: LeelooRun, read: WindowRead) -> Iterator[dict[str, Any]]:
    """Rows of the people whose list entry changed, each noted in the ledger."""
    for (person, person_id, listed_print), found in run.fan_out(changed(run, read), partial(listed_detail, run)):
        row = fetched(run, read, person, person_id, found)
        if row is not None:
            read.counts[CHANGED] += 1
            read.ledger.put(person_id, fingerprint=listed_print, mark=_iso(person.get("lastMessageTime")))
            yield row


def sweep(run: LeelooRun, read: WindowRead) -> Iterator[dict[str, Any]]:
    """Rows of the people the sweep re-reads: missing from a whole listing, followed up, due."""
    targets = recheck_targets(read.ledger.entries, read.ledger.run, run.sweep_runs, listed=read.listed,
                              listing_whole=read.full and read.listing.complete,
                              done=read.verified | set(read.proof.gone), active_since=read.active_since)
    reasons = dict(targets)
    for person_id, found in run.fan_out([person_id for person_id, _ in targets], partial(person_detail, run)):
        entry = read.ledger.get(person_id)
        known = {"id": person_id, "lastMessageTime": entry.mark if entry else None}
        row = fetched(run, read, known, person_id, found)
        read.counts[reasons[person_id]] += 1
        if row is not None:
            read.ledger.put(person_id)
            yield row


def people(run: LeelooRun) -> Iterator[Any]:
    """People in the last-message window; detail only for those whose list entry
    changed; then the sweep re-reads the detail of people nothing pointed at."""
    state = dlt.current.resource_state()
    if nothing_older(run, state, NAME):
        yield coverage(run, state, [NAME])
        return
    read = open_window(run, state, NAME, settings.PEOPLE)
    out = Batches(HINTS, read.ledger)
    try:
        yield from run.guarded(NAME, lambda: out.rows(news(run, read)))
        yield from out.flush()
    finally:
        run.gate.finished(NAME)
    advance(run, state, read)
    yield from run.gate.wait()
    if not (run.report.budget_exhausted or run.history_step):
        yield from run.guarded(NAME, lambda: out.rows(sweep(run, read)))
    yield from out.flush(*proof_rows(read.proof, out.mark), coverage(run, state, [NAME]))
    close_window(run, state, read, "sweep_people", [NAME])


def people_resource(run: LeelooRun) -> DltResource:
    return dlt.resource(people, name=NAME, write_disposition="merge")(run)


def _iso(value: Any) -> str | None:
    moment = to_utc(value)
    return moment.isoformat() if moment else None
