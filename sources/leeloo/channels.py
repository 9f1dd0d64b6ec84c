"""`communication_channels` and their `chat_messages`: the window, the chains with news,
then the sweep's re-checks.

Messages are read here rather than in a transformer so the window cursor can wait until
every channel's messages are in: a channel left half-read would otherwise fall out of the
next window. The two tables get their own hints (the resource declares none), so
`chat_messages` carries only message columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Ledger, proof_rows, table_hints
from sources.deletions import LISTING, NOT_FOUND, Proof, absent
from sources.http import ApiError, BudgetExhausted
from sources.kit.sweep import plan_sweep, stalest
from sources.kit.values import entity_id

from . import settings, stored
from .paging import Chain, read_chain
from .rows import CHANNEL_COLUMNS, MESSAGE_COLUMNS, channel_row, message_row, messages_table
from .run import Latest, LeelooRun, fingerprint, hinted
from .times import to_utc

NAME = "communication_channels"
MESSAGES = "chat_messages"
CHANNEL_HINTS = table_hints(NAME, CHANNEL_COLUMNS)
MESSAGE_HINTS = table_hints(MESSAGES, MESSAGE_COLUMNS)
MESSAGES_PER_BATCH = 5000
CHECKS_PER_QUERY = 500  # full chains compared with the warehouse per query


@dataclass
class Read:
    """One chain to read: from the window (news) or from the sweep."""

    channel_id: str
    loaded_until: datetime | None  # read back to here (None: the whole chain)
    newest: datetime | None  # the newest message known to exist: the head must reach it
    known_until: datetime | None  # what the ledger said was loaded before
    fingerprint: str | None = None  # of the list entry, when it was listed
    known: bool = False  # loaded before: a full chain then shows what is gone
    reason: str = "changed"


def channels_resource(run: LeelooRun) -> DltResource:
    @dlt.resource(name=NAME, write_disposition="merge")
    def communication_channels() -> Iterator[Any]:
        state = dlt.current.resource_state()
        ledger = Ledger(NAME, state)
        full = run.full_listing_due(state, ledger)
        whole = full or (not run.backfill and not state.get("cursor"))
        listing, window_start = run.window(state, settings.CHANNELS, full=full)
        active_since = run.active_since(state)
        newest = Latest()
        listed: set[str] = set()
        verified: set[str] = set()
        unproven: set[str] = set()
        proof = Proof(NAME, known=list(ledger.entries), marked=run.deleted(NAME))
        messages = Proof(MESSAGES, marked=run.deleted(MESSAGES))
        channel_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        chains: dict[str, set[str]] = {}  # known channels read in full: their message ids
        counts = {"changed": 0, "follow_ups": 0, "swept": 0, "missing_checked": 0, "messages_deleted": 0}

        def with_news() -> Iterator[Read]:
            for page in listing:
                for channel in page:
                    channel_id = entity_id(channel.get("id"))
                    if channel_id is None:
                        continue
                    listed.add(channel_id)
                    newest.see(channel.get("lastMessageTime"))
                    entry = None if channel_id in run.deleted(NAME) else ledger.get(channel_id)  # back: read anew
                    listed_print = fingerprint(channel)
                    changed = run.backfill or entry is None or entry.fingerprint != listed_print
                    if changed and (row := channel_row(channel, run.odd)) is not None:
                        channel_rows.append(row)
                        proof.see([channel_id])
                    last = to_utc(channel.get("lastMessageTime"))
                    done = to_utc(entry.mark) if entry is not None and entry.mark else None
                    if run.backfill or done is None or (last is not None and last > done):
                        back_to = window_start if run.backfill else (done - run.overlap if done else None)
                        yield Read(channel_id, back_to, last, done, listed_print, entry is not None)
                    elif changed:
                        ledger.put(channel_id, fingerprint=listed_print, verified=False)

        def read(task: Read) -> Chain | None:
            try:
                return read_chain(run.client, task.channel_id, task.loaded_until, run.page_size, task.newest)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise

        def settle(task: Read, chain: Chain | None) -> None:
            counts[task.reason] += 1
            if chain is None:  # a 404 for this channel proves it gone
                proof.prove([task.channel_id], NOT_FOUND)
                ledger.forget(task.channel_id)
                return
            rows = [r for m in chain.messages if (r := message_row(m, task.channel_id, run.odd)) is not None]
            message_rows.extend(rows)
            messages.see(r["id"] for r in rows)  # any read, a partial one too: these are live
            if chain.problem is not None:
                run.report.incomplete.add(NAME)
                run.report.warn(f"{MESSAGES}: the messages of channel {task.channel_id} could not be read whole, "
                                f"none of them was marked deleted and the next run reads them again: {chain.problem}")
            if chain.proven:
                reached = [t for t in (task.newest, chain.newest, task.known_until) if t is not None]
                # never past this run's start (sources.leeloo.times.next_cursor says why)
                ledger.put(task.channel_id, fingerprint=task.fingerprint,
                           mark=min(max(reached), run.now).isoformat() if reached else None)
                verified.add(task.channel_id)
            else:  # not loaded "until" anything: the channel stays news, and the cursor waits
                unproven.add(task.channel_id)
                if task.fingerprint is not None:
                    ledger.put(task.channel_id, fingerprint=task.fingerprint, verified=False)
            if chain.complete and task.known:
                chains[task.channel_id] = {r["id"] for r in rows}

        def messages_batch() -> Iterator[Any]:
            if message_rows:
                yield hinted(messages_table(message_rows), MESSAGE_HINTS)
                message_rows.clear()

        def channels_batch() -> Iterator[Any]:
            if channel_rows:
                yield hinted(channel_rows[:], CHANNEL_HINTS)
                channel_rows.clear()

        def message_deletions() -> Iterator[Any]:
            """Messages loaded before that a chain read in full no longer holds are gone."""
            if chains:
                loaded = stored.message_ids(list(chains))
                messages.prove(sorted(m for c, ids in chains.items() for m in loaded.get(c, set()) - ids), LISTING)
                chains.clear()
            counts["messages_deleted"] += len(messages.gone)
            yield from proof_rows(messages)
            messages.clear()

        def flush() -> Iterator[Any]:
            yield from channels_batch()
            yield from messages_batch()
            yield from message_deletions()
            pending = ledger.rows()
            if pending is not None:
                yield pending

        def work(tasks: Iterator[Read] | list[Read]) -> Iterator[Any]:
            try:
                for task, chain in run.fan_out(tasks, read):
                    yield from channels_batch()
                    settle(task, chain)
                    if len(message_rows) >= MESSAGES_PER_BATCH:
                        yield from messages_batch()
                    if len(chains) >= CHECKS_PER_QUERY:
                        yield from message_deletions()
            except BudgetExhausted:
                yield from flush()  # what is noted in the ledger must reach its tables
                raise

        def sweep() -> list[Read]:
            missing = absent(ledger.entries, listed, full and listing.complete)
            plan = plan_sweep(ledger.entries, ledger.run, run.sweep_runs,
                              done=verified | unproven | set(proof.gone) | set(missing), active_since=active_since)
            reasons = [*((c, "missing_checked") for c in missing), *((c, "follow_ups") for c in plan.follow_ups),
                       *((c, "swept") for c in plan.due)]
            marks = stored.channels_with_marked_messages()
            tasks = []
            for channel_id, reason in reasons:
                entry = ledger.get(channel_id)
                until = to_utc(entry.mark) if entry is not None and entry.mark else None
                back_to = None if channel_id in marks or until is None else until - run.overlap
                tasks.append(Read(channel_id, back_to, until, until, known=True, reason=reason))
            return tasks

        try:
            yield from run.guarded(NAME, lambda: work(with_news()))
            yield from flush()
        finally:
            run.gate.finished(NAME)
        if unproven:
            run.report.incomplete.add(NAME)
        run.advance(state, NAME, listing, newest)
        yield from run.gate.wait()
        if not run.report.budget_exhausted:
            yield from run.guarded(NAME, lambda: work(sweep()))
        yield from flush()
        yield from proof_rows(proof)
        if whole and listing.complete:
            state["full_listing_run"] = ledger.run
        run.started(state)
        run.report.facts["sweep_channels"] = {
            "known": len(ledger), **counts, "deleted": len(proof.gone),
            "stalest_runs": stalest(ledger.entries, ledger.run),
            "full_listing": int(full),
        }
        run.skipped(NAME, listing)
        run.warn_oddities([NAME, MESSAGES])

    return communication_channels
