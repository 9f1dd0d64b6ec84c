"""`communication_channels` and their `chat_messages`: the window, the chains with news,
then the sweep's re-checks.

Messages are read here rather than in a transformer so the window cursor can wait until
every channel's messages are in: a channel left half-read would otherwise fall out of the
next window. The two tables get their own hints (the resource declares none), so
`chat_messages` carries only message columns. Each step is a module-level function taking
the run and the resource's `ChannelsRead`; `chains` holds the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import proof_rows, table_hints
from sources.deletions import LISTING, NOT_FOUND, Proof
from sources.http import ApiError, BudgetExhausted
from sources.marks import TableMarks

from . import settings, stored
from .chains import Read, listed_read, messages_gone, reached, sweep_read
from .paging import Chain, read_chain
from .rows import CHANNEL_COLUMNS, MESSAGE_COLUMNS, channel_row, message_row, messages_table
from .run import LeelooRun, fingerprint, listed_changed
from .windowed import WindowRead, advance, close_window, coverage, nothing_older, open_window, recheck_targets

NAME = "communication_channels"
MESSAGES = "chat_messages"
CHANNEL_HINTS = table_hints(NAME, CHANNEL_COLUMNS)
MESSAGE_HINTS = table_hints(MESSAGES, MESSAGE_COLUMNS)
MESSAGES_PER_BATCH = 5000
CHECKS_PER_QUERY = 500  # full chains compared with the warehouse per query
DELETED_MESSAGES = "messages_deleted"


@dataclass
class ChannelsRead:
    """One run of the channels: the window's state, the messages' proof and the rows and
    chains waiting to be handed to dlt."""

    window: WindowRead
    messages: Proof
    unproven: set[str] = field(default_factory=set)  # read, but not "until" anything: still news
    channel_rows: list[dict[str, Any]] = field(default_factory=list)
    message_rows: list[dict[str, Any]] = field(default_factory=list)
    read_whole: dict[str, set[str]] = field(default_factory=dict)  # known channels read in full: their messages
    mark: TableMarks = field(default_factory=TableMarks)


def open_channels(run: LeelooRun, state: dict[str, Any]) -> ChannelsRead:
    window = open_window(run, state, NAME, settings.CHANNELS)
    window.counts[DELETED_MESSAGES] = 0
    return ChannelsRead(window, Proof(MESSAGES, marked=run.deleted(MESSAGES)))


def with_news(run: LeelooRun, read: ChannelsRead) -> Iterator[Read]:
    """The window's channels: a changed entry's row is kept, a chain with news is read."""
    window = read.window
    for channel, channel_id in window.listing.identified():
        window.listed.add(channel_id)
        window.newest.see(channel.get("lastMessageTime"))
        entry = None if channel_id in run.deleted(NAME) else window.ledger.get(channel_id)  # back: read anew
        listed_print = fingerprint(channel)
        changed = listed_changed(entry, listed_print, backfill=run.backfill)
        if changed and (row := channel_row(channel, run.odd)) is not None:
            read.channel_rows.append(row)
            window.proof.see([channel_id])
        task = listed_read(channel_id, channel.get("lastMessageTime"), entry, listed_print,
                           backfill=run.backfill, window_start=window.window_start, overlap=run.overlap)
        if task is not None:
            yield task
        elif changed:
            window.ledger.put(channel_id, fingerprint=listed_print, verified=False)


def chain_or_none(run: LeelooRun, task: Read) -> Chain | None:
    """The chain as read; None when a 404 says the channel is gone."""
    try:
        return read_chain(run.client, task.channel_id, task.loaded_until, run.page_size, task.newest)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def settle(run: LeelooRun, read: ChannelsRead, task: Read, chain: Chain | None) -> None:
    """Keep a chain's messages and note how far the channel is loaded (a 404 proves it gone)."""
    window = read.window
    window.counts[task.reason] += 1
    if chain is None:
        window.proof.prove([task.channel_id], NOT_FOUND)
        window.ledger.forget(task.channel_id)
        return
    rows = [r for m in chain.messages if (r := message_row(m, task.channel_id, run.odd)) is not None]
    read.message_rows.extend(rows)
    read.messages.see(r["id"] for r in rows)  # any read, a partial one too: these are live
    if chain.problem is not None:
        run.report.incomplete.add(NAME)
        run.report.warn(f"{MESSAGES}: the messages of channel {task.channel_id} could not be read whole, "
                        f"none of them was marked deleted and the next run reads them again: {chain.problem}")
    if chain.proven:
        window.ledger.put(task.channel_id, fingerprint=task.fingerprint, mark=reached(task, chain.newest, run.now))
        window.verified.add(task.channel_id)
    else:  # not loaded "until" anything: the channel stays news, and the cursor waits
        read.unproven.add(task.channel_id)
        if task.fingerprint is not None:
            window.ledger.put(task.channel_id, fingerprint=task.fingerprint, verified=False)
    if chain.complete and task.known:
        read.read_whole[task.channel_id] = {r["id"] for r in rows}


def message_batch(read: ChannelsRead) -> Iterator[Any]:
    if read.message_rows:
        yield read.mark(messages_table(read.message_rows), MESSAGE_HINTS)
        read.message_rows.clear()


def channel_batch(read: ChannelsRead) -> Iterator[Any]:
    if read.channel_rows:
        yield read.mark(read.channel_rows[:], CHANNEL_HINTS)
        read.channel_rows.clear()


def message_deletions(read: ChannelsRead) -> Iterator[Any]:
    """Messages loaded before that a chain read in full no longer holds are gone."""
    if read.read_whole:
        read.messages.prove(messages_gone(read.read_whole, stored.message_ids(list(read.read_whole))), LISTING)
        read.read_whole.clear()
    read.window.counts[DELETED_MESSAGES] += len(read.messages.gone)
    yield from proof_rows(read.messages, read.mark)
    read.messages.clear()


def flush(read: ChannelsRead) -> Iterator[Any]:
    yield from channel_batch(read)
    yield from message_batch(read)
    yield from message_deletions(read)
    pending = read.window.ledger.rows(read.mark)
    if pending is not None:
        yield pending


def read_chains(run: LeelooRun, read: ChannelsRead, tasks: Iterable[Read]) -> Iterator[Any]:
    """Read the chains and hand their rows to dlt in batches."""
    try:
        for task, chain in run.fan_out(tasks, lambda t: chain_or_none(run, t)):
            yield from channel_batch(read)
            settle(run, read, task, chain)
            if len(read.message_rows) >= MESSAGES_PER_BATCH:
                yield from message_batch(read)
            if len(read.read_whole) >= CHECKS_PER_QUERY:
                yield from message_deletions(read)
    except BudgetExhausted:
        yield from flush(read)  # what is noted in the ledger must reach its tables
        raise


def sweep(run: LeelooRun, read: ChannelsRead) -> list[Read]:
    """The chains the sweep re-reads: missing from a whole listing, followed up, due."""
    window = read.window
    targets = recheck_targets(window.ledger.entries, window.ledger.run, run.sweep_runs, listed=window.listed,
                              listing_whole=window.full and window.listing.complete,
                              done=window.verified | read.unproven | set(window.proof.gone),
                              active_since=window.active_since)
    marks = stored.channels_with_marked_messages()
    return [sweep_read(channel_id, reason, window.ledger.get(channel_id), marks, run.overlap)
            for channel_id, reason in targets]


def communication_channels(run: LeelooRun) -> Iterator[Any]:
    state = dlt.current.resource_state()
    if nothing_older(run, state, NAME):
        yield coverage(run, state, [NAME, MESSAGES])
        return
    read = open_channels(run, state)
    try:
        yield from run.guarded(NAME, lambda: read_chains(run, read, with_news(run, read)))
        yield from flush(read)
    finally:
        run.gate.finished(NAME)
    if read.unproven:
        run.report.incomplete.add(NAME)
    advance(run, state, read.window)
    yield from run.gate.wait()
    if not (run.report.budget_exhausted or run.history_step):
        yield from run.guarded(NAME, lambda: read_chains(run, read, sweep(run, read)))
    yield from flush(read)
    yield from proof_rows(read.window.proof, read.mark)
    yield coverage(run, state, [NAME, MESSAGES])
    close_window(run, state, read.window, "sweep_channels", [NAME, MESSAGES])


def channels_resource(run: LeelooRun) -> DltResource:
    return dlt.resource(communication_channels, name=NAME, write_disposition="merge")(run)
