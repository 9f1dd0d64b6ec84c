"""`client_details`: history, orders and variables of the clients the plan names, webhook
pushes, order status changes and deletions.

The resource only wires the steps; each decision is a plain function
(:mod:`sources.salebot.clients`, :mod:`sources.salebot.orders`, :mod:`sources.salebot.plan`,
:mod:`sources.salebot.inbox`). State: only the ledger's epoch and run counter, and
``webhook_through`` (the last push, by store sequence, this resource has taken).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Coverage, Ledger, coverage_rows
from sources.http import BudgetExhausted, fan_out
from sources.kit import frontier
from sources.kit.backfill import windows_pay_off
from sources.kit.batches import TableRows
from sources.kit.kinds import Shapes
from sources.kit.listing import SharedListing
from sources.report import SourceReport
from sources.salebot import newest, settings
from sources.salebot.api import SalebotApi
from sources.salebot.client_read import ClientRead, ClientTask, read_client
from sources.salebot.clients import absorb, client_exists, client_task, history_messages, reconcile_listing
from sources.salebot.columns import hints
from sources.salebot.inbox import late_push_rows, open_store, take_pushes
from sources.salebot.legacy import migrate_old_state
from sources.salebot.memory import Memory
from sources.salebot.plan import Plan, mean_orders, plan_clients, reverify_within
from sources.salebot.rows import salebot_shapes

logger = logging.getLogger("chatfunnel.salebot")

DETAILS = "client_details"


@dataclass(frozen=True)
class DetailOptions:
    """The run options `client_details` reads."""

    sweep_runs: int
    max_requests: int | None
    workers: int
    history_limit: int
    order_variables: Sequence[str] | None
    webhook_store: str | None
    since: dt.datetime | None
    until: dt.datetime | None
    newest_first: bool = True
    history_step: bool = False  # a step of the backfill: the next window of older clients
    window_requests: int = settings.BACKFILL_WINDOW_REQUESTS
    requests_per_minute: float | None = None

    @property
    def backfill(self) -> bool:
        """A backfill reads history in its own window and moves no memory."""
        return self.since is not None or self.until is not None


@dataclass
class _Work:
    """What one run of `client_details` reads into: rows, memory, and what it got done."""

    listed: Mapping[int, dict[str, Any]]
    memory: Memory
    options: DetailOptions
    rows: TableRows = field(default_factory=lambda: TableRows(hints))
    shapes: Shapes = field(default_factory=salebot_shapes)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    history_read: set[int] = field(default_factory=set)
    done: Counter[str] = field(default_factory=Counter)


def details_resource(api: SalebotApi, listing: SharedListing[int], report: SourceReport,
                     note_permissions: Callable[[], None], options: DetailOptions) -> DltResource:
    @dlt.resource(name=DETAILS, write_disposition="merge")
    def client_details() -> Iterator[Any]:
        """History, orders and variables of the clients the plan names, webhook pushes, order
        status changes and deletions (see :mod:`sources.salebot.details`)."""
        state = dlt.current.resource_state()
        yield from read_details(api, listing, report, options, state=state, note_permissions=note_permissions)

    return client_details


def read_details(api: SalebotApi, listing: SharedListing[int], report: SourceReport, options: DetailOptions, *,
                 state: dict[str, Any], note_permissions: Callable[[], None]) -> Iterator[Any]:
    """The steps of one run, in order: inbox, listing, deletions, plan, reads, late pushes, memory."""
    at_open = api.client.requests_made
    memory = _memory(state, options)
    nightly = not (options.backfill or options.history_step)
    if nightly:
        migrate_old_state(memory, dlt.current.source_state().get("resources", {}))
    store = open_store(options.webhook_store) if nightly else None
    pushes = take_pushes(store, int(state.get("webhook_through", 0)), memory)
    listed = listing.get()
    if not listing.complete:
        report.incomplete.add(DETAILS)
    work = _Work(listed, memory, options)
    if not options.backfill:
        _reconcile(api, listing, work, report)
    read = None if options.backfill else newest.phase(
        state, listed, memory, now=work.now,
        newest_first=options.newest_first and windows_pay_off(options.requests_per_minute),
        history_step=options.history_step, window_requests=options.window_requests)
    plan = _plan(work, read)
    report.planned[DETAILS] = plan.counts()
    yield from _read_planned(api, plan, work, report)
    if store is not None:
        work.rows.add("messages", late_push_rows(pushes, work.history_read, work.shapes))
        if pushes:
            state["webhook_through"] = pushes[-1]["seq"]
    yield from work.rows.flush()
    if read is not None:
        complete = listing.complete and not report.budget_exhausted and not {DETAILS, "clients"} & report.incomplete
        yield from _bookkeeping(work, state, read, report, plan, complete=complete,
                                requests=api.client.requests_made - at_open)
    note_permissions()
    for message in work.shapes.warnings():
        report.warn(message)


def _memory(state: dict[str, Any], options: DetailOptions) -> Memory:
    """The run's memory; a backfill's moves nothing, and a history step is not a run of the
    sweep's count (the ledger's run number stays)."""
    if options.backfill:
        return Memory(Ledger(DETAILS, dict(state)))
    ledger = Ledger(DETAILS, state)
    if options.history_step:
        ledger.run -= 1
        state["ledger_run"] = ledger.run
    return Memory(ledger)


def _plan(work: _Work, read: newest.Phase | None) -> Plan:
    """A history step reads its window; any other run plans as ever, newest clients first,
    without the older never-read ones a pending backfill holds back for its steps."""
    options = work.options
    if read is not None and read.step:
        return newest.window_plan(newest.unread(work.listed, work.memory, read.start, read.end, work.now)
                                  if read.start is not None else [], work.memory)
    held = read.held_back if read is not None else frozenset()
    listed = {cid: work.listed[cid] for cid in newest.by_creation(work.listed, work.now) if cid not in held}
    return plan_clients(listed, work.memory, sweep_runs=options.sweep_runs, budget=options.max_requests,
                        backfill=options.backfill)


def _bookkeeping(work: _Work, state: dict[str, Any], read: newest.Phase, report: SourceReport, plan: Plan, *,
                 complete: bool, requests: int) -> Iterator[Any]:
    """The memory, the run's facts, the coverage and whether older clients wait for a history step."""
    ledger_rows = work.memory.rows(work.rows.mark)
    if ledger_rows is not None:
        yield ledger_rows
    report.facts.update(run_facts(work.listed, work.memory, plan, work.done, work.options))
    rows = coverage(work, state, read, complete=complete, requests=requests)
    if rows is not None:
        yield rows
    if newest.pending(state, read.history_since):
        report.history_pending.add(DETAILS)
    else:
        report.history_pending.discard(DETAILS)


COVERED = ("clients", "messages", "orders", "client_variables", "order_status_changes")


def coverage(work: _Work, state: dict[str, Any], read: newest.Phase, *, complete: bool, requests: int) -> Any:
    """The coverage rows of the tables this resource loads. Loaded forward (a project that
    fits one window, or loaded before newest first): complete from the start of history once
    a run read every client it planned, NULL before; a later run cut short leaves the last
    complete run's row. Newest first: complete for the clients created since the frontier
    (`sources.salebot.newest`). The start of history is the oldest client's creation."""
    since = read.history_since
    if complete:
        newest.window_done(state, read, requests=requests, now=work.now)
    if frontier.KEY in state:
        return coverage_rows(COVERED, newest.coverage(state, read, work.now, work.options.requests_per_minute))
    if complete:
        return coverage_rows(COVERED, Coverage(since, work.now, since))
    if newest.COMPLETE_SINCE not in state:
        return coverage_rows(COVERED, Coverage(None, None, since))
    return None


def _reconcile(api: SalebotApi, listing: SharedListing[int], work: _Work, report: SourceReport) -> None:
    kept = reconcile_listing(work.listed, listing.complete, work.memory, work.rows, partial(client_exists, api))
    if kept:
        report.incomplete.add("clients")
        report.warn(f"clients: the client list left out {len(kept)} client(s) that still exist (first: "
                    f"{kept[0]}); none was marked deleted and the next run reads the list again")


def _read_planned(api: SalebotApi, plan: Plan, work: _Work, report: SourceReport) -> Iterator[Any]:
    """Read the planned clients in parallel, most urgent first, taking each read as it comes."""
    options = work.options
    reasons = {t.client_id: t.reason for t in plan.tasks}
    today = work.now.date()
    tasks = (client_task(t, work.memory, work.listed, today, since=options.since, until=options.until)
             for t in plan.tasks)
    read = partial(_read_one, api, options)
    try:
        for task, client in fan_out(tasks, read, options.workers, api.client.workers):
            _take(task, client, work, report)
            work.done[reasons[task.client_id]] += 1
            if work.rows.full():
                yield from work.rows.flush()
    except BudgetExhausted:
        report.spent(DETAILS)
        logger.warning("Salebot request budget spent: %d of %d planned clients read; the rest next run",
                       sum(work.done.values()), len(plan.tasks))


def _read_one(api: SalebotApi, options: DetailOptions, task: ClientTask) -> ClientRead:
    return read_client(api, task, options.history_limit, options.order_variables)


def _take(task: ClientTask, read: ClientRead, work: _Work, report: SourceReport) -> None:
    """One client's read into rows and memory (a backfill takes only its messages)."""
    for problem in read.problems:
        report.incomplete.add(DETAILS)
        report.warn(f"{DETAILS}: client {read.client_id} could not be read whole, nothing of it was "
                    f"marked deleted and the next run reads it again: {problem}")
    if work.options.backfill:
        if read.messages is not None:
            work.rows.add("messages", history_messages(read, work.shapes))
        return
    absorb(task, read, listed=work.listed, memory=work.memory, rows=work.rows, shapes=work.shapes, now=work.now)
    if read.messages is not None:
        work.history_read.add(read.client_id)


def run_facts(listed: Mapping[int, Any], memory: Memory, plan: Plan, done: Mapping[str, int],
              options: DetailOptions) -> dict[str, Any]:
    """What the run report says of the sweep: how many clients, how soon all are re-read."""
    verified = sum(1 for cid in listed if (c := memory.client(cid)) is not None and c.verified_run is not None)
    return {
        "clients": len(listed),
        "sweep_runs": options.sweep_runs,
        "sweep_quota": plan.sweep_quota,
        "reverified_clients": sum(n for r, n in done.items() if r != "open_orders"),
        "open_order_checks": done.get("open_orders", 0),
        "reverify_within_runs": reverify_within(
            verified, options.sweep_runs, options.max_requests, orders_per_client=mean_orders(memory)
        ),
    }
