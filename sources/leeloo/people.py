"""`people`: the last-message window, detail only for what changed, then the sweep."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Ledger, proof_rows, table_hints
from sources.deletions import NOT_FOUND, Proof, absent
from sources.kit.batches import Batches
from sources.kit.paging import envelope_items
from sources.kit.sweep import plan_sweep, stalest
from sources.kit.values import entity_id

from . import settings
from .rows import PEOPLE_COLUMNS, person_row
from .run import Latest, LeelooRun, fingerprint
from .times import to_utc

NAME = "people"
HINTS = table_hints(NAME, PEOPLE_COLUMNS)


def people_resource(run: LeelooRun) -> DltResource:
    @dlt.resource(name=NAME, write_disposition="merge")
    def people() -> Iterator[Any]:
        """People in the last-message window; detail only for those whose list entry
        changed; then the sweep re-reads the detail of people nothing pointed at."""
        state = dlt.current.resource_state()
        ledger = Ledger(NAME, state)
        full = run.full_listing_due(state, ledger)
        whole = full or (not run.backfill and not state.get("cursor"))
        listing, _ = run.window(state, settings.PEOPLE, full=full)
        active_since = run.active_since(state)
        newest = Latest()
        listed: set[str] = set()
        verified: set[str] = set()
        proof = Proof(NAME, known=list(ledger.entries), marked=run.deleted(NAME))
        out = Batches(HINTS, ledger)
        counts = {"changed": 0, "follow_ups": 0, "swept": 0, "missing_checked": 0}

        def detail(person_id: str) -> dict[str, Any] | None:
            body = run.get_or_none(settings.PERSON.format(id=person_id), {"include": settings.PERSON_INCLUDE})
            if body is None:
                return None
            found = envelope_items(body)
            return found[0] if found else {}

        def fetched(listed_item: dict[str, Any], person_id: str, found: dict[str, Any] | None) -> Any:
            if found is None:  # a 404 for this id proves it gone
                proof.prove([person_id], NOT_FOUND)
                ledger.forget(person_id)
                return None
            row = person_row(listed_item, found, run.odd)
            if row is None:
                return None
            verified.add(person_id)
            proof.see([person_id])
            return row

        def changed() -> Iterator[tuple[dict[str, Any], str, str]]:
            for page in listing:
                for person in page:
                    person_id = entity_id(person.get("id"))
                    if person_id is None:
                        continue
                    listed.add(person_id)
                    newest.see(person.get("lastMessageTime"))
                    entry = ledger.get(person_id)
                    listed_print = fingerprint(person)
                    if (run.backfill or entry is None or entry.fingerprint != listed_print
                            or person_id in run.deleted(NAME)):
                        yield person, person_id, listed_print

        def news() -> Iterator[dict[str, Any]]:
            for (person, person_id, listed_print), found in run.fan_out(changed(), lambda p: detail(p[1])):
                row = fetched(person, person_id, found)
                if row is not None:
                    counts["changed"] += 1
                    ledger.put(person_id, fingerprint=listed_print, mark=_iso(person.get("lastMessageTime")))
                    yield row

        def sweep() -> Iterator[dict[str, Any]]:
            missing = absent(ledger.entries, listed, full and listing.complete)
            plan = plan_sweep(ledger.entries, ledger.run, run.sweep_runs,
                              done=verified | set(proof.gone) | set(missing), active_since=active_since)
            reasons = {**dict.fromkeys(plan.due, "swept"), **dict.fromkeys(plan.follow_ups, "follow_ups"),
                       **dict.fromkeys(missing, "missing_checked")}
            targets = [*missing, *plan]
            for person_id, found in run.fan_out(targets, detail):
                entry = ledger.get(person_id)
                known = {"id": person_id, "lastMessageTime": entry.mark if entry else None}
                row = fetched(known, person_id, found)
                counts[reasons[person_id]] += 1
                if row is not None:
                    ledger.put(person_id)
                    yield row

        try:
            yield from run.guarded(NAME, lambda: out.rows(news()))
            yield from out.flush()
        finally:
            run.gate.finished(NAME)
        run.advance(state, NAME, listing, newest)
        yield from run.gate.wait()
        if not run.report.budget_exhausted:
            yield from run.guarded(NAME, lambda: out.rows(sweep()))
        yield from out.flush(*proof_rows(proof))
        if whole and listing.complete:
            state["full_listing_run"] = ledger.run
        run.started(state)
        run.report.facts["sweep_people"] = {
            "known": len(ledger), **counts, "deleted": len(proof.gone),
            "stalest_runs": stalest(ledger.entries, ledger.run),
            "full_listing": int(full),
        }
        run.skipped(NAME, listing)
        run.warn_oddities([NAME])

    return people


def _iso(value: Any) -> str | None:
    moment = to_utc(value)
    return moment.isoformat() if moment else None
