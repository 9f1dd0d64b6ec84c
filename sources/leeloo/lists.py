"""What the runs remember of the reference lists, and what a read of a whole list proves.

A list read whole every run shows a deletion by lacking a known entity: a paged list
confirms it with a 404 on the entity's detail; a list that comes in one answer with a
count is one consistent snapshot and proves it by itself; one without a count proves it
only when the next run's read lacks the entity too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from sources.bookkeeping import Entry, Ledger, proof_rows
from sources.deletions import LISTING, Proof

from .run import LeelooRun, fingerprint

ABSENT = "absent"  # a ledger fingerprint: a read of a list without a count lacked the entity once
BY_DETAIL, BY_COUNTED_LIST, BY_TWO_READS = "detail", "counted", "twice"


def remember(ledger: Ledger, rows: list[dict[str, Any]], mark: str | None = None) -> None:
    """Note new and changed rows (what the ledger knows is what a later listing must show)."""
    for row in rows:
        entry = ledger.get(row["id"])
        print_ = fingerprint(row)
        if entry is None or entry.fingerprint != print_ or (mark is not None and entry.mark != mark):
            ledger.put(row["id"], fingerprint=print_, mark=mark)


def absent_before(ledger: Ledger, ids: Iterable[str]) -> set[str]:
    """The ids the previous run's read of a count-less list lacked (noted in the ledger: a
    read that shows the entity again gives it its real fingerprint back)."""
    return {i for i in ids if (entry := ledger.get(i)) is not None and entry.fingerprint == ABSENT}


def note_absent(ledger: Ledger, ids: Iterable[str]) -> None:
    """Lacking once: the next run's read confirms the deletion or clears the note."""
    for entity in ids:
        ledger.put(entity, fingerprint=ABSENT, verified=False)


def held_under(entries: Mapping[str, Entry], parents: Collection[str]) -> list[str]:
    """The known entities of the parents named (a child's ledger mark is its parent's id)."""
    return [entity for entity, entry in entries.items() if entry.mark in parents]


def prove_absent_twice(ledger: Ledger, proof: Proof, held: list[str]) -> None:
    """`held` came in a whole list without a count: those absent now and in the previous
    run's read are gone; those absent only now are noted for the next run."""
    note_absent(ledger, proof.prove_twice(held, absent_before(ledger, held)))


def proof_method(detail: str | None, counted: bool) -> str:
    """How a known entity a whole read lacks is proved gone: a 404 on its detail when
    there is one, else the read itself when the list says how many it holds, else two
    reads in a row."""
    if detail is not None:
        return BY_DETAIL
    return BY_COUNTED_LIST if counted else BY_TWO_READS


def proved_rows(ledger: Ledger, proof: Proof) -> Iterator[Any]:
    """Forget what is proved gone; the ledger's pending rows, then the deletion rows."""
    for entity in proof.proved():
        ledger.forget(entity)
    pending = ledger.rows()
    yield from ([pending] if pending is not None else [])
    yield from proof_rows(proof)


def settle(run: LeelooRun, ledger: Ledger, table: str, *, seen: set[str], complete: bool,
           detail: str | None = None, counted: bool = True) -> Iterator[Any]:
    """Deletion and restore rows for `table` after a read of the whole list.

    `complete`: the read was whole and gap-free. With `detail` (a path with `{id}`), each
    known id the read lacks is confirmed gone by a 404 there (see `proof_method`)."""
    proof = Proof(table, known=list(ledger.entries), marked=run.deleted(table), seen=seen,
                  complete=complete and not run.stopped(table))
    method = proof_method(detail, counted)
    if method == BY_COUNTED_LIST:
        proof.prove(proof.absent(), LISTING)
    elif method == BY_TWO_READS:
        if proof.complete:
            note_absent(ledger, proof.prove_twice(proof.absent(), absent_before(ledger, ledger.entries)))
    elif detail is not None:
        proof.confirm(run.fan_out(proof.absent(), lambda i: run.get_or_none(detail.format(id=i))))
    yield from proved_rows(ledger, proof)
