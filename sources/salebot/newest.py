"""Newest history first for Salebot: a first load reads its clients newest first, by when
they were created, one committed window at a time (the kit's planner, `sources.kit.backfill`).

Salebot's work is per client (its whole history, orders and variables: several requests),
and its client list is whole and cheap, so a window is a span of client creation times: a
client is read once, in the window it was created in, and the frontier says "every client
created since then is loaded whole". Ids grow with creation, but the list's order is not
promised: what was listed is sorted here. Clients older than the frontier that were never
read wait for the history steps; a nightly run in between reads its news (new clients,
pushes, changes, open orders, the sweep) and leaves them be. Plain decisions, no dlt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sources.bookkeeping import Coverage
from sources.kit import frontier
from sources.kit.backfill import FIRST_WINDOW, fits_one_window
from sources.kit.values import to_utc
from sources.salebot import settings
from sources.salebot.memory import Memory
from sources.salebot.plan import Plan, Task, mean_orders, read_cost

COMPLETE_SINCE = "complete_since"  # a forward load's mark: every planned client was read
COMPLETE_UNTIL = "complete_until"


@dataclass(frozen=True)
class Phase:
    """Where one run of `client_details` stands in the backfill.

    `start`/`end`: the window of creation times it reads (`end` None: up to now), None when
    it reads no window; `held_back`: never-read clients older than the frontier, left to the
    history steps; `step`: a history step (only its window is read)."""

    history_since: dt.datetime
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    step: bool = False
    held_back: frozenset[int] = field(default_factory=frozenset)

    @property
    def first(self) -> bool:
        return self.start is not None and not self.step


def created(row: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    """When a listed client was created; one without a usable time counts as new."""
    value = row.get("created_at")
    return value if isinstance(value, dt.datetime) else now


def history_since(listed: Mapping[int, Mapping[str, Any]], now: dt.datetime) -> dt.datetime:
    """The start of the project's history: its oldest client's creation."""
    return min((created(row, now) for row in listed.values()), default=now)


def _forward(state: Mapping[str, Any]) -> bool:
    return COMPLETE_SINCE in state


def by_creation(listed: Mapping[int, Mapping[str, Any]], now: dt.datetime) -> list[int]:
    """The listed clients, newest first: by creation, then by id."""
    return sorted(listed, key=lambda cid: (created(listed[cid], now), cid), reverse=True)


def unread(listed: Mapping[int, Mapping[str, Any]], memory: Memory, start: dt.datetime | None,
           end: dt.datetime | None, now: dt.datetime) -> list[int]:
    """Clients never read in full created in `[start, end)`, newest first."""
    found = []
    for cid in by_creation(listed, now):
        known = memory.client(cid)
        if known is not None and known.verified_run is not None and not known.deleted:
            continue
        moment = created(listed[cid], now)
        if (start is None or moment >= start) and (end is None or moment < end):
            found.append(cid)
    return found


def window_plan(clients: list[int], memory: Memory) -> Plan:
    """A history step's tasks: its window's clients, each read in full, newest first."""
    cost = read_cost(round(mean_orders(memory)))
    return Plan(tasks=[Task(cid, "new", "full", cost) for cid in clients])


def first_load(state: Mapping[str, Any], clients: int, window_requests: int) -> bool:
    """A first load (no window read, no forward load complete) too big for one window."""
    if frontier.KEY in state or _forward(state):
        return False
    return not fits_one_window(clients, window_requests, per_entity=read_cost(1), page=settings.CLIENTS_PAGE_LIMIT)


def phase(state: dict[str, Any], listed: Mapping[int, Mapping[str, Any]], memory: Memory, *, now: dt.datetime,
          newest_first: bool, history_step: bool, window_requests: int) -> Phase:
    """What this run reads of the backfill: the first window (the last day), a history
    step's window (older than the frontier, sized by the planner), or none (a nightly run,
    which holds back the clients older than a pending frontier)."""
    since = history_since(listed, now)
    if history_step:
        planned = frontier.step_window(state, since, now, window_requests, loaded_forward=_forward(state))
        if planned is None:
            return Phase(since, step=True)
        return Phase(since, planned[0], planned[1], step=True)
    if newest_first and first_load(state, len(listed), window_requests):
        start = max(now - FIRST_WINDOW, since)
        return Phase(since, start, held_back=frozenset(unread(listed, memory, None, start, now)))
    edge = frontier.frontier(state, since, loaded_forward=_forward(state))
    if edge is None or edge <= since:
        return Phase(since)
    return Phase(since, held_back=frozenset(unread(listed, memory, None, edge, now)))


def window_done(state: dict[str, Any], read: Phase, *, requests: int, now: dt.datetime) -> None:
    """The run's window is in whole: the frontier moves to its start (a nightly run, whole,
    also says the news is complete up to now)."""
    if read.step and read.start is not None:
        frontier.step_done(state, read.start, requests)
    elif read.first and read.start is not None:
        frontier.first_done(state, read.start)
    if not read.step:
        state[COMPLETE_UNTIL] = now.isoformat()
        if not pending(state, read.history_since):
            state[COMPLETE_SINCE] = read.history_since.isoformat()


def pending(state: Mapping[str, Any], since: dt.datetime) -> bool:
    """Older clients are still to be read by history steps."""
    return frontier.pending(dict(state), since, loaded_forward=_forward(state))


def coverage(state: dict[str, Any], read: Phase, now: dt.datetime, requests_per_minute: float | None) -> Coverage:
    """What the details tables hold complete: clients created since the frontier, whole."""
    until = to_utc(state.get(COMPLETE_UNTIL))
    return frontier.coverage(state, read.history_since, now, requests_per_minute, loaded_forward=_forward(state),
                             complete_until=until or now)
