"""The account's reference lists: tunnels (with their lead-generation tools and stats),
users, tags, connections, template categories and templates, and the legacy v1 accounts.

They are small and read whole every run, so a complete read that lacks a known entity
is how a deletion shows (`lists` says how each is proved). Each list is described once
(`ReferenceList`) and read by one of two module-level resources, paged or in one answer;
what hangs off a list's entities is read by a transformer of that list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Ledger, table_hints
from sources.deletions import Proof
from sources.kit.paging import Listing, envelope_items, meta_total, page_problem
from sources.marks import hinted

from . import settings
from .lists import held_under, prove_absent_twice, proved_rows, remember, settle
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
from .run import LeelooRun, for_table
from .times import utc_now

TOOLS, STATS, TEMPLATES, V1_ACCOUNTS = "leadgentools", "tunnel_stats", "templates", "v1_accounts"
TOOL_HINTS = table_hints(TOOLS, LEADGENTOOL_COLUMNS)
STATS_HINTS = table_hints(STATS, STATS_COLUMNS, ("tunnel_id", "snapshot_date"))
TEMPLATE_HINTS = table_hints(TEMPLATES, TEMPLATE_COLUMNS)
V1_HINTS = table_hints(V1_ACCOUNTS, V1_ACCOUNT_COLUMNS)


@dataclass(frozen=True)
class ReferenceList:
    """A reference list: where it is read and which text columns its rows keep."""

    name: str
    path: str
    fields: tuple[str, ...]
    columns: dict[str, Any]
    detail: str | None = None  # paged lists: the entity's detail, where a 404 proves it gone
    key: str | None = None  # lists in one answer: the key of the answer's list
    dependents: tuple[str, ...] = ()  # tables read from this list's entities


DATED = ("name", "createdAt", "updatedAt")
TUNNELS = ReferenceList("tunnels", settings.TUNNELS, DATED, NAMED_COLUMNS, detail=settings.TUNNEL,
                        dependents=(TOOLS, STATS))
USERS = ReferenceList("users", settings.USERS, DATED, NAMED_COLUMNS, detail=settings.USER)
TAGS = ReferenceList("tags", settings.TAGS, ("name",), TAG_COLUMNS)
CONNECTIONS = ReferenceList("connections", settings.CONNECTIONS, ("type", "name"), CONNECTION_COLUMNS,
                            key="connections")
CATEGORIES = ReferenceList("template_categories", settings.TEMPLATE_CATEGORIES, ("name",), TAG_COLUMNS,
                           key="categories")


@dataclass
class Answer:
    """What a read of a whole list found: the ids, and whether it was whole and counted."""

    seen: set[str] = field(default_factory=set)
    complete: bool = False
    counted: bool = False


def answered_whole(total: int | None, items: int) -> bool:
    """One answer holds the whole list unless its count says there is more (a first page)."""
    return total is None or total <= items


def listed_rows(run: LeelooRun, spec: ReferenceList, ledger: Ledger, pages: Iterable[list[Any]],
                answer: Answer) -> Iterator[Any]:
    """The rows of each page, noted as seen and in the ledger."""
    hints = table_hints(spec.name, spec.columns)
    for page in pages:
        rows = [r for item in page if (r := simple_row(item, spec.name, spec.fields, run.odd)) is not None]
        answer.seen.update(r["id"] for r in rows)
        remember(ledger, rows)
        if rows:
            yield hinted(rows, hints)


def paged_list(run: LeelooRun, spec: ReferenceList) -> Iterator[Any]:
    """A paged list, read whole; a known entity it lacks is confirmed gone by a 404."""
    ledger = run.ledger(spec.name)
    listing = Listing(run.client, spec.path, {}, run.page_size, whole_list=True)
    answer = Answer()
    yield from run.guarded(spec.name, lambda: listed_rows(run, spec, ledger, listing, answer))
    if run.stopped(spec.name):  # what hangs off the entities not listed was not read either
        run.report.incomplete.update(spec.dependents)
    yield from run.guarded(spec.name, lambda: settle(run, ledger, spec.name, seen=answer.seen,
                                                     complete=listing.complete, detail=spec.detail))
    yield from run.read_whole([spec.name], listing.complete)
    run.skipped(spec.name, listing)
    run.warn_oddities([spec.name])


def one_answer(run: LeelooRun, spec: ReferenceList, ledger: Ledger, answer: Answer) -> Iterator[Any]:
    body = run.get(spec.path, expect=partial(page_problem, key=spec.key, first=True, whole_list=True))
    items = envelope_items(body, spec.key)
    total = meta_total(body)
    answer.complete = answered_whole(total, len(items))
    answer.counted = total is not None
    yield from listed_rows(run, spec, ledger, [items], answer)


def whole_list(run: LeelooRun, spec: ReferenceList) -> Iterator[Any]:
    """A list that comes in one answer: the answer is the proof of what is gone."""
    ledger = run.ledger(spec.name)
    answer = Answer()
    yield from run.guarded(spec.name, lambda: one_answer(run, spec, ledger, answer))
    yield from run.guarded(spec.name, lambda: settle(run, ledger, spec.name, seen=answer.seen,
                                                     complete=answer.complete, counted=answer.counted))
    yield from run.read_whole([spec.name], answer.complete)
    run.warn_oddities([spec.name])


def tools_in_detail(body: Any) -> list[Any] | None:
    """The list of tools a tunnel's detail names (top level or under its data), or None."""
    linked = body.get("linked") if isinstance(body, dict) else None
    data = body.get("data") if isinstance(body, dict) else None
    found = linked.get("leadgentools") if isinstance(linked, dict) else None
    if found is None and isinstance(data, dict) and isinstance(data.get("linked"), dict):
        found = data["linked"].get("leadgentools")
    return found if isinstance(found, list) else None


def tunnel_tools(run: LeelooRun, tunnel: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tools in a tunnel's detail, which holds the whole list of that tunnel's tools;
    None when the tunnel is gone (the tunnels resource proves it, its tools go with it) or
    the answer names no list of tools (then nothing about them is proved)."""
    body = run.get_or_none(settings.TUNNEL.format(id=tunnel["id"]), {"include": "leadgentools"})
    found = tools_in_detail(body) if body is not None else None
    if found is None:
        return None
    return [r for t in found if (r := leadgentool_row(t, tunnel["id"], run.odd)) is not None]


def tool_rows(run: LeelooRun, tunnels: list[dict[str, Any]], ledger: Ledger, proof: Proof) -> Iterator[Any]:
    for tunnel, rows in run.fan_out(tunnels, partial(tunnel_tools, run)):
        if rows is None:
            continue  # the tunnel is gone or its answer named no tools: nothing proved
        proof.see(r["id"] for r in rows)
        # the detail's list is the whole list of that tunnel's tools, without a count
        prove_absent_twice(ledger, proof, held_under(ledger.entries, {tunnel["id"]}))
        remember(ledger, rows, mark=tunnel["id"])
        if rows:
            yield hinted(rows, TOOL_HINTS)


def leadgentools(page: list[dict[str, Any]], run: LeelooRun, meta: Any = None) -> Iterator[Any]:
    """A tunnel's tools come in its detail: each answer is the whole list of that tunnel."""
    if not for_table(meta, TUNNELS.name):
        return
    ledger = run.ledger(TOOLS)
    proof = Proof(TOOLS, marked=run.deleted(TOOLS))
    yield from run.guarded(TOOLS, lambda: tool_rows(run, page, ledger, proof))
    yield from proved_rows(ledger, proof)
    run.warn_oddities([TOOLS])


def stats_snapshot(run: LeelooRun, tunnel: dict[str, Any]) -> dict[str, Any] | None:
    body = run.get_or_none(settings.TUNNEL_STATS.format(id=tunnel["id"]))
    if body is None:
        return None
    return stats_row(tunnel["id"], body.get("data") if isinstance(body, dict) else None, utc_now(), run.odd)


def stats_rows(run: LeelooRun, tunnels: list[dict[str, Any]]) -> Iterator[Any]:
    rows = [row for _, row in run.fan_out(tunnels, partial(stats_snapshot, run)) if row is not None]
    if rows:
        yield hinted(rows, STATS_HINTS)


def tunnel_stats(page: list[dict[str, Any]], run: LeelooRun, meta: Any = None) -> Iterator[Any]:
    """Stats are counters as of the call; one snapshot per tunnel per UTC day."""
    if not for_table(meta, TUNNELS.name):
        return
    yield from run.guarded(STATS, lambda: stats_rows(run, page))
    run.warn_oddities([STATS])


def template_rows(run: LeelooRun, categories: list[dict[str, Any]], ledger: Ledger, proof: Proof,
                  answered: set[str]) -> Iterator[Any]:
    expect = partial(page_problem, key="templates")
    for category in categories:
        body = run.get_or_none(settings.TEMPLATES.format(id=category["id"]), expect=expect)
        if body is None:
            continue
        answered.add(category["id"])
        rows = [r for t in envelope_items(body, "templates")
                if (r := simple_row(t, TEMPLATES, ("message_name",), run.odd, category_id=category["id"]))]
        proof.see(r["id"] for r in rows)
        remember(ledger, rows, mark=category["id"])
        if rows:
            yield hinted(rows, TEMPLATE_HINTS)


def templates(categories: list[dict[str, Any]], run: LeelooRun, meta: Any = None) -> Iterator[Any]:
    """Templates per category; a template whose category is no longer listed went with it."""
    if not for_table(meta, CATEGORIES.name):
        return
    ledger = run.ledger(TEMPLATES)
    proof = Proof(TEMPLATES, marked=run.deleted(TEMPLATES))
    answered: set[str] = set()
    yield from run.guarded(TEMPLATES, lambda: template_rows(run, categories, ledger, proof, answered))
    if not run.stopped(TEMPLATES):
        # each answered category's list is whole but has no count; a category that is
        # gone takes its templates through the deletion cascade
        prove_absent_twice(ledger, proof, held_under(ledger.entries, answered))
    yield from proved_rows(ledger, proof)
    run.warn_oddities([TEMPLATES])


def v1_account_rows(run: LeelooRun) -> Iterator[Any]:
    for page in Listing(run.client, settings.V1_ACCOUNTS, {}, run.page_size):
        rows = [r for a in page if (r := v1_account_row(a, run.odd)) is not None]
        if rows:
            yield hinted(rows, V1_HINTS)


def v1_accounts(run: LeelooRun) -> Iterator[Any]:
    """Legacy v1 accounts list, for tokens on the old API. Off unless selected."""
    yield from run.guarded(V1_ACCOUNTS, lambda: v1_account_rows(run))
    run.warn_oddities([V1_ACCOUNTS])


def list_resource(run: LeelooRun, spec: ReferenceList) -> DltResource:
    read = paged_list if spec.detail is not None else whole_list
    return dlt.resource(read, name=spec.name, write_disposition="merge")(run, spec)


def child_resource(run: LeelooRun, read: Callable[[list[dict[str, Any]], LeelooRun, Any], Iterator[Any]],
                   name: str, parent: DltResource) -> DltResource:
    """`read` as a transformer of `parent`'s pages. dlt hands a transformer its `meta` (which
    table a page is for) only when no argument is bound to it, hence this one closure."""

    @dlt.transformer(name=name, data_from=parent, write_disposition="merge")
    def child(page: list[dict[str, Any]], meta: Any = None) -> Iterator[Any]:
        yield from read(page, run, meta)

    return child


def reference_resources(run: LeelooRun) -> list[DltResource]:
    tunnels, categories = list_resource(run, TUNNELS), list_resource(run, CATEGORIES)
    return [tunnels, child_resource(run, leadgentools, TOOLS, tunnels),
            child_resource(run, tunnel_stats, STATS, tunnels),
            list_resource(run, USERS), list_resource(run, TAGS), list_resource(run, CONNECTIONS), categories,
            child_resource(run, templates, TEMPLATES, categories),
            dlt.resource(v1_accounts, name=V1_ACCOUNTS, write_disposition="merge", selected=False)(run)]
