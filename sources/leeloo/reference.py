"""The account's reference lists: tunnels (with their lead-generation tools and stats),
users, tags, connections, template categories and templates, and the legacy v1 accounts.

They are small and read whole every run, so a complete read that lacks a known entity
is how a deletion shows: a paged list confirms it with a 404 on the entity's detail; a
list that comes in one answer is one consistent snapshot and proves it by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Ledger, proof_rows, table_hints
from sources.deletions import LISTING, Proof
from sources.kit.paging import Listing, envelope_items, meta_total, page_problem

from . import settings
from .rows import (
    CONNECTION_COLUMNS,
    LEADGENTOOL_COLUMNS,
    NAMED_COLUMNS,
    STATS_COLUMNS,
    TAG_COLUMNS,
    TEMPLATE_COLUMNS,
    V1_ACCOUNT_COLUMNS,
    leadgentool_row,
    simple_row,
    stats_row,
    v1_account_row,
)
from .run import LeelooRun, fingerprint, for_table, hinted
from .times import utc_now


def remember(ledger: Ledger, rows: list[dict[str, Any]], mark: str | None = None) -> None:
    """Note new and changed rows (what the ledger knows is what a later listing must show)."""
    for row in rows:
        entry = ledger.get(row["id"])
        print_ = fingerprint(row)
        if entry is None or entry.fingerprint != print_ or (mark is not None and entry.mark != mark):
            ledger.put(row["id"], fingerprint=print_, mark=mark)


ABSENT = "absent"  # a ledger fingerprint: a read of a list without a count lacked the entity once


def absent_before(ledger: Ledger, ids: Iterable[str]) -> set[str]:
    """The ids the previous run's read of a count-less list lacked (noted in the ledger: a
    read that shows the entity again gives it its real fingerprint back)."""
    return {i for i in ids if (entry := ledger.get(i)) is not None and entry.fingerprint == ABSENT}


def note_absent(ledger: Ledger, ids: Iterable[str]) -> None:
    """Lacking once: the next run's read confirms the deletion or clears the note."""
    for entity in ids:
        ledger.put(entity, fingerprint=ABSENT, verified=False)


def settle(run: LeelooRun, ledger: Ledger, table: str, *, seen: set[str], complete: bool,
           detail: str | None = None, counted: bool = True) -> Iterator[Any]:
    """Deletion and restore rows for `table` after a read of the whole list.

    `complete`: the read was whole and gap-free. With `detail` (a path with `{id}`), each
    known id the read lacks is confirmed gone by a 404 there; without, a counted read proves
    it, and a read of a list without a count (`counted=False`) only with the previous run's."""
    proof = Proof(table, known=list(ledger.entries), marked=run.deleted(table), seen=seen,
                  complete=complete and not run.stopped(table))
    if detail is None and counted:
        proof.prove(proof.absent(), LISTING)
    elif detail is None:
        if proof.complete:
            note_absent(ledger, proof.prove_twice(proof.absent(), absent_before(ledger, ledger.entries)))
    else:
        proof.confirm(run.fan_out(proof.absent(), lambda i: run.get_or_none(detail.format(id=i))))
    for entity in proof.proved():
        ledger.forget(entity)
    pending = ledger.rows()
    yield from ([pending] if pending is not None else [])
    yield from proof_rows(proof)


def tunnel_tools(run: LeelooRun, tunnel: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tools in a tunnel's detail, which holds the whole list of that tunnel's tools;
    None when the tunnel is gone (the tunnels resource proves it, its tools go with it) or
    the answer names no list of tools (then nothing about them is proved)."""
    body = run.get_or_none(settings.TUNNEL.format(id=tunnel["id"]), {"include": "leadgentools"})
    if body is None:
        return None
    linked = body.get("linked") if isinstance(body, dict) else None
    data = body.get("data") if isinstance(body, dict) else None
    found = linked.get("leadgentools") if isinstance(linked, dict) else None
    if found is None and isinstance(data, dict) and isinstance(data.get("linked"), dict):
        found = data["linked"].get("leadgentools")
    if not isinstance(found, list):
        return None
    return [r for t in found if (r := leadgentool_row(t, tunnel["id"], run.odd)) is not None]


def reference_resources(run: LeelooRun) -> list[DltResource]:
    odd = run.odd

    def paged(name: str, path: str, detail: str, columns: dict[str, Any],
              build: Callable[[Any], dict[str, Any] | None], *, dependents: tuple[str, ...] = ()) -> DltResource:
        hints = table_hints(name, columns)

        @dlt.resource(name=name, write_disposition="merge")
        def listed() -> Iterator[Any]:
            ledger = run.ledger(name)
            listing = Listing(run.client, path, {}, run.page_size, whole_list=True)
            seen: set[str] = set()

            def work() -> Iterator[Any]:
                for page in listing:
                    rows = [r for item in page if (r := build(item)) is not None]
                    seen.update(r["id"] for r in rows)
                    remember(ledger, rows)
                    if rows:
                        yield hinted(rows, hints)

            yield from run.guarded(name, work)
            if run.stopped(name):  # what hangs off the entities not listed was not read either
                run.report.incomplete.update(dependents)
            yield from run.guarded(
                name, lambda: settle(run, ledger, name, seen=seen, complete=listing.complete, detail=detail))
            run.skipped(name, listing)
            run.warn_oddities([name])

        return listed

    def whole(name: str, path: str, key: str | None, columns: dict[str, Any],
              build: Callable[[Any], dict[str, Any] | None]) -> DltResource:
        hints = table_hints(name, columns)

        @dlt.resource(name=name, write_disposition="merge")
        def listed() -> Iterator[Any]:
            ledger = run.ledger(name)
            seen: set[str] = set()
            answered = {"complete": False, "counted": False}

            def work() -> Iterator[Any]:
                body = run.get(path, expect=partial(page_problem, key=key, first=True, whole_list=True))
                items = envelope_items(body, key)
                total = meta_total(body)
                answered["complete"] = total is None or total <= len(items)  # one answer, not a first page
                answered["counted"] = total is not None
                rows = [r for item in items if (r := build(item)) is not None]
                seen.update(r["id"] for r in rows)
                remember(ledger, rows)
                if rows:
                    yield hinted(rows, hints)

            yield from run.guarded(name, work)
            yield from run.guarded(name, lambda: settle(run, ledger, name, seen=seen, complete=answered["complete"],
                                                        counted=answered["counted"]))
            run.warn_oddities([name])

        return listed

    tunnels = paged("tunnels", settings.TUNNELS, settings.TUNNEL, NAMED_COLUMNS,
                    lambda t: simple_row(t, "tunnels", ("name", "createdAt", "updatedAt"), odd),
                    dependents=("leadgentools", "tunnel_stats"))
    users = paged("users", settings.USERS, settings.USER, NAMED_COLUMNS,
                  lambda u: simple_row(u, "users", ("name", "createdAt", "updatedAt"), odd))
    tags = whole("tags", settings.TAGS, None, TAG_COLUMNS, lambda t: simple_row(t, "tags", ("name",), odd))
    connections = whole("connections", settings.CONNECTIONS, "connections", CONNECTION_COLUMNS,
                        lambda c: simple_row(c, "connections", ("type", "name"), odd))
    template_categories = whole("template_categories", settings.TEMPLATE_CATEGORIES, "categories", TAG_COLUMNS,
                                lambda c: simple_row(c, "template_categories", ("name",), odd))

    tool_hints = table_hints("leadgentools", LEADGENTOOL_COLUMNS)
    stats_hints = table_hints("tunnel_stats", STATS_COLUMNS, ("tunnel_id", "snapshot_date"))
    template_hints = table_hints("templates", TEMPLATE_COLUMNS)

    @dlt.transformer(name="leadgentools", data_from=tunnels, write_disposition="merge")
    def leadgentools(page: list[dict[str, Any]], meta: Any = None) -> Iterator[Any]:
        """A tunnel's tools come in its detail: each answer is the whole list of that tunnel."""
        if not for_table(meta, "tunnels"):
            return
        ledger = run.ledger("leadgentools")
        proof = Proof("leadgentools", marked=run.deleted("leadgentools"))

        def work() -> Iterator[Any]:
            for tunnel, rows in run.fan_out(page, lambda t: tunnel_tools(run, t)):
                if rows is None:
                    continue  # the tunnel is gone or its answer named no tools: nothing proved
                ids = {r["id"] for r in rows}
                proof.see(ids)
                # the detail's list is the whole list of that tunnel's tools, without a count
                held = [i for i, e in ledger.entries.items() if e.mark == tunnel["id"]]
                note_absent(ledger, proof.prove_twice(held, absent_before(ledger, held)))
                remember(ledger, rows, mark=tunnel["id"])
                if rows:
                    yield hinted(rows, tool_hints)

        yield from run.guarded("leadgentools", work)
        for entity in proof.proved():
            ledger.forget(entity)
        pending = ledger.rows()
        yield from ([pending] if pending is not None else [])
        yield from proof_rows(proof)
        run.warn_oddities(["leadgentools"])

    @dlt.transformer(name="tunnel_stats", data_from=tunnels, write_disposition="merge")
    def tunnel_stats(page: list[dict[str, Any]], meta: Any = None) -> Iterator[Any]:
        """Stats are counters as of the call; one snapshot per tunnel per UTC day."""
        if not for_table(meta, "tunnels"):
            return

        def snapshot(tunnel: dict[str, Any]) -> dict[str, Any] | None:
            body = run.get_or_none(settings.TUNNEL_STATS.format(id=tunnel["id"]))
            if body is None:
                return None
            return stats_row(tunnel["id"], body.get("data") if isinstance(body, dict) else None, utc_now(), odd)

        def work() -> Iterator[Any]:
            rows = [row for _, row in run.fan_out(page, snapshot) if row is not None]
            if rows:
                yield hinted(rows, stats_hints)

        yield from run.guarded("tunnel_stats", work)
        run.warn_oddities(["tunnel_stats"])

    @dlt.transformer(name="templates", data_from=template_categories, write_disposition="merge")
    def templates(categories: list[dict[str, Any]], meta: Any = None) -> Iterator[Any]:
        """Templates per category; a template whose category is no longer listed went with it."""
        if not for_table(meta, "template_categories"):
            return
        ledger = run.ledger("templates")
        proof = Proof("templates", marked=run.deleted("templates"))
        answered: set[str] = set()
        expect = partial(page_problem, key="templates")

        def work() -> Iterator[Any]:
            for category in categories:
                body = run.get_or_none(settings.TEMPLATES.format(id=category["id"]), expect=expect)
                if body is None:
                    continue
                answered.add(category["id"])
                rows = [r for t in envelope_items(body, "templates")
                        if (r := simple_row(t, "templates", ("message_name",), odd, category_id=category["id"]))]
                proof.see(r["id"] for r in rows)
                remember(ledger, rows, mark=category["id"])
                if rows:
                    yield hinted(rows, template_hints)

        yield from run.guarded("templates", work)
        if not run.stopped("templates"):
            # each answered category's list is whole but has no count; a category that is
            # gone takes its templates through the deletion cascade
            held = [i for i, e in ledger.entries.items() if e.mark in answered]
            note_absent(ledger, proof.prove_twice(held, absent_before(ledger, held)))
        for entity in proof.proved():
            ledger.forget(entity)
        pending = ledger.rows()
        yield from ([pending] if pending is not None else [])
        yield from proof_rows(proof)
        run.warn_oddities(["templates"])

    v1_hints = table_hints("v1_accounts", V1_ACCOUNT_COLUMNS)

    @dlt.resource(name="v1_accounts", write_disposition="merge", selected=False)
    def v1_accounts() -> Iterator[Any]:
        """Legacy v1 accounts list, for tokens on the old API. Off unless selected."""
        def work() -> Iterator[Any]:
            for page in Listing(run.client, settings.V1_ACCOUNTS, {}, run.page_size):
                rows = [r for a in page if (r := v1_account_row(a, odd)) is not None]
                if rows:
                    yield hinted(rows, v1_hints)

        yield from run.guarded("v1_accounts", work)
        run.warn_oddities(["v1_accounts"])

    return [tunnels, leadgentools, tunnel_stats, users, tags, connections, template_categories, templates,
            v1_accounts]
