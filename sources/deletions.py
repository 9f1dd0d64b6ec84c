"""Deletions, proved one way for every source: list, compare, read details, prove.

The warehouse must equal the API: a row marked deleted that the API still has is as wrong
as a row the API lost. So a deletion is proved, never inferred from silence:

1. **list**: a listing is read and says whether it is complete. Each page is checked
   first (`list_problem`, `empty_page_problem`): a page whose `data` is null, missing or
   not a list, or an empty page whose counts say the list has items, is a failure of
   that listing (the HTTP client retries it, then raises), never an empty list;
2. **compare**: the known ids a *complete* listing lacks are `absent`; an incomplete
   listing makes nobody absent;
3. **read details**: where the API answers for one id, each absent id is asked for;
4. **prove**: an id is gone by a complete listing without it (where the list is one
   consistent snapshot) or by a "not found" for that id, and by nothing else. A list that
   carries no count (Leeloo's tags, connections, template categories, a category's
   templates, a tunnel's tools) cannot show that it was cut short, so one read that lacks
   an id proves nothing: it is gone when the reads of two runs in a row both lack it
   (`absent_twice`), which makes such a deletion one run later than others.

And the other way: an id seen again, in a complete read or a partial one, is live again
(`back`), so its mark is cleared; a proof is tied to the load that wrote it, and
`pipelines.run.reconcile` never applies it to a row loaded after it.

The decisions are plain functions and one small class, without dlt, so they are tested
on their own; the sources turn them into rows (`sources.bookkeeping.deletion_rows`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

LISTING = "listing"  # proof: a complete listing without the id
NOT_FOUND = "404"  # proof: the API said the id does not exist
LISTED_TWICE = "listing_twice"  # proof: two runs' reads of a list without a count both lack the id


def list_problem(data: Any) -> str | None:
    """Why `data` is not a list page (None: it is one). Never read a null as "no items"."""
    if data is None:
        return "the page's data is null"
    if not isinstance(data, list):
        return f"the page's data is {type(data).__name__}, not a list"
    return None


def empty_page_problem(items: int, counts: Collection[int], first: bool, whole_list: bool) -> str | None:
    """An empty first page that its own counts contradict (None: no contradiction).

    `counts` are the page's counts that may be the list's length. Without a filter
    (`whole_list`) any of them above zero contradicts an empty first page; with one, one
    count may be of the unfiltered list, so only all of them above zero do."""
    if items or not first or not counts:
        return None
    if (any if whole_list else all)(c > 0 for c in counts):
        return f"an empty first page although the counts say {max(counts)} items"
    return None


def absent(known: Iterable[str], seen: Collection[str], complete: bool) -> list[str]:
    """Step 2: the known ids a complete listing lacks; nobody, if it was not complete."""
    return sorted(set(known) - set(seen)) if complete else []


def absent_twice(absent_now: Iterable[str], absent_before: Collection[str]) -> tuple[list[str], list[str]]:
    """For a list without a count: (gone, absent once). Gone: lacking now and in the previous
    run's read too; absent once: lacking now only, to be confirmed (or cleared) next run."""
    now = set(absent_now)
    gone = now & set(absent_before)
    return sorted(gone), sorted(now - gone)


def returned(seen: Iterable[str], marked: Collection[str]) -> list[str]:
    """Ids marked deleted that were seen again: live again, whatever read saw them."""
    return sorted(set(seen) & set(marked))


@dataclass
class Proof:
    """One table's deletions for one run: what was seen, what is proved gone, what is back.

    `known`: the ids held (what a complete listing must show); `marked`: the ids marked
    deleted in the warehouse (one seen again gets its mark cleared)."""

    table: str
    known: Collection[str] = ()
    marked: Collection[str] = ()
    seen: set[str] = field(default_factory=set)
    complete: bool = False
    gone: dict[str, str] = field(default_factory=dict)  # id -> its proof

    def see(self, ids: Iterable[str]) -> None:
        """Step 1: ids a read showed; any read, a partial one too. The newest word wins:
        an id seen after a proof in this run is live again."""
        for entity in ids:
            self.seen.add(entity)
            self.gone.pop(entity, None)

    def absent(self) -> list[str]:
        """Step 2: what a complete listing lacks, and no proof yet."""
        return [i for i in absent(self.known, self.seen, self.complete) if i not in self.gone]

    def prove(self, ids: Iterable[str], proof: str) -> None:
        """Step 4: these ids are gone by `proof` (a later sight in this run undoes it)."""
        self.gone.update(dict.fromkeys(ids, proof))

    def prove_twice(self, ids: Iterable[str], absent_before: Collection[str]) -> list[str]:
        """Steps 2 and 4 for a list without a count (see `absent_twice`): the ids lacking
        from the previous run's read too are proved gone; returns those lacking only now."""
        gone, once = absent_twice((i for i in ids if i not in self.seen), absent_before)
        self.prove(gone, LISTED_TWICE)
        return once

    def proved(self) -> dict[str, str]:
        """The ids proved gone, with their proofs."""
        return dict(sorted(self.gone.items()))

    def confirm(self, answers: Iterable[tuple[str, Any]]) -> None:
        """Steps 3 and 4: `(id, answer)` pairs of detail reads; None answers "not found"."""
        self.prove([i for i, answer in answers if answer is None], NOT_FOUND)

    def back(self) -> list[str]:
        """Marked ids seen again, by any read, and not proved gone since: marks to clear."""
        return [i for i in returned(self.seen, self.marked) if i not in self.gone]

    def clear(self) -> None:
        """Start the next batch: what was seen and proved has had its rows yielded."""
        self.seen.clear()
        self.gone.clear()

    def by_proof(self) -> dict[str, list[str]]:
        """The proved ids grouped by their proof, for one set of deletion rows each."""
        grouped: dict[str, list[str]] = {}
        for entity, proof in self.proved().items():
            grouped.setdefault(proof, []).append(entity)
        return grouped
