"""Which clients a run re-reads, in what order, and how long a full re-verification takes.

Salebot has no updated-since filter, so the plan is built from the client list and the
memory of earlier runs. In order of urgency:

1. ``webhook``: clients a push named (new messages exist);
2. ``new``: clients never read in full (new, or cut by a budget before);
3. ``changed``: clients whose ``updated_at`` advanced past what the last read saw;
4. ``open_orders``: every client with an open order has its orders re-checked (only the
   orders: a block or a manager may move an order without moving ``updated_at``; open
   orders are few, and what an analyst watches);
5. ``sweep``: the ``ceil(known / sweep_runs)`` clients read longest ago, in full, so that
   whatever moved silently is found within ``sweep_runs`` runs.

Under a request budget the urgent work goes first, but the sweep keeps a fixed share of
the budget (``SWEEP_BUDGET_SHARE``) however busy the night: that share is what bounds the
nights until every client is re-verified (:func:`reverify_within`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sources.kit.sweep import least_recently_verified, sweep_quota
from sources.salebot import settings
from sources.salebot.memory import Memory

Scope = Literal["full", "orders", "history"]
REASONS = ("webhook", "new", "changed", "open_orders", "sweep", "backfill")


@dataclass(frozen=True)
class Task:
    client_id: int
    reason: str
    scope: Scope
    cost: int  # estimated requests


@dataclass
class Plan:
    tasks: list[Task] = field(default_factory=list)
    sweep_quota: int = 0

    def counts(self) -> dict[str, int]:
        counted = Counter(t.reason for t in self.tasks)
        return {reason: counted.get(reason, 0) for reason in REASONS}


def read_cost(orders: int) -> int:
    """Requests of a full read of a client with ``orders`` orders (history in one window)."""
    return settings.CLIENT_READ_REQUESTS + settings.ORDER_READ_REQUESTS * orders


def mean_orders(memory: Memory) -> float:
    """Orders per client as far as the memory knows (1 before anything is known)."""
    clients = sum(1 for c in memory.clients.values() if c.verified_run is not None and not c.deleted)
    orders = sum(1 for o in memory.orders.values() if not o.deleted)
    return orders / clients if clients else 1.0


def _updated(client: Mapping[str, Any]) -> int | None:
    value = client.get("updated_at")
    return int(value.timestamp()) if isinstance(value, dt.datetime) else None


def plan_clients(
    listed: Mapping[int, Mapping[str, Any]],
    memory: Memory,
    *,
    sweep_runs: int = settings.DEFAULT_SWEEP_RUNS,
    budget: int | None = None,
    backfill: bool = False,
) -> Plan:
    """The run's tasks, most urgent first (see the module docstring)."""
    plan = Plan()
    if backfill:
        plan.tasks = [Task(cid, "backfill", "history", 1) for cid in listed]
        return plan
    planned: set[int] = set()
    urgent: list[Task] = []
    new_cost = read_cost(round(mean_orders(memory)))

    def add(queue: list[Task], cid: int, reason: str, scope: Scope, cost: int) -> None:
        if cid not in planned:
            planned.add(cid)
            queue.append(Task(cid, reason, scope, cost))

    def full_cost(cid: int) -> int:
        return read_cost(len(memory.orders_of(cid))) if cid in memory.clients else new_cost

    for cid in sorted(memory.flagged()):
        if cid in listed:
            add(urgent, cid, "webhook", "full", full_cost(cid))
    for cid in listed:
        known = memory.client(cid)
        if known is None or known.verified_run is None or known.deleted:
            add(urgent, cid, "new", "full", new_cost)
    changed = []
    for cid, client in listed.items():
        known = memory.client(cid)
        updated = _updated(client)
        if known is not None and updated is not None and (known.seen is None or updated > known.seen):
            changed.append((-updated, cid))
    for _, cid in sorted(changed):
        add(urgent, cid, "changed", "full", full_cost(cid))

    sweep: list[Task] = []
    verified = [cid for cid in listed if (c := memory.client(cid)) is not None and c.verified_run is not None]
    plan.sweep_quota = sweep_quota(len(verified), sweep_runs)
    verified_runs = {cid: memory.clients[cid].verified_run for cid in verified}
    for cid in least_recently_verified(verified_runs, plan.sweep_quota, skip=planned):
        add(sweep, cid, "sweep", "full", full_cost(cid))

    open_clients = [cid for cid in memory.open_order_clients() if cid in listed and cid not in planned]
    for cid in sorted(open_clients, key=lambda i: (memory.clients[i].orders_run or 0 if i in memory.clients else 0, i)):
        opened = sum(1 for o in memory.orders_of(cid).values() if o.status == settings.OPEN_STATUS)
        add(urgent, cid, "open_orders", "orders", 1 + settings.ORDER_READ_REQUESTS * opened)

    plan.tasks = interleave(urgent, sweep) if budget is not None else urgent + sweep
    return plan


def interleave(urgent: list[Task], sweep: list[Task], share: float = settings.SWEEP_BUDGET_SHARE) -> list[Task]:
    """Urgent tasks first, except that the sweep gets ``share`` of the estimated requests
    while both have work: a budget that ends the run anywhere leaves the sweep its share."""
    out: list[Task] = []
    u = s = 0
    spent_urgent = spent_sweep = 0
    while u < len(urgent) or s < len(sweep):
        take_sweep = s < len(sweep) and (u >= len(urgent) or spent_sweep < share * (spent_urgent + spent_sweep))
        if take_sweep:
            out.append(sweep[s])
            spent_sweep += sweep[s].cost
            s += 1
        else:
            out.append(urgent[u])
            spent_urgent += urgent[u].cost
            u += 1
    return out


def reverify_within(
    known: int,
    sweep_runs: int,
    budget: int | None,
    *,
    orders_per_client: float = 1.0,
    share: float = settings.SWEEP_BUDGET_SHARE,
) -> int | None:
    """Runs within which every one of ``known`` clients is re-read in full, however busy the
    runs are: the sweep's quota, or what its share of the budget pays for, whichever is
    smaller. None: never (no sweep, or a budget too small for even one client)."""
    if sweep_runs <= 0 or known <= 0:
        return None if sweep_runs <= 0 else 0
    quota = sweep_quota(known, sweep_runs)
    if budget is not None:
        listing = math.ceil(known / settings.CLIENTS_PAGE_LIMIT) + 1
        cost = settings.CLIENT_READ_REQUESTS + settings.ORDER_READ_REQUESTS * orders_per_client
        quota = min(quota, math.floor(share * max(0, budget - listing) / cost))
    return math.ceil(known / quota) if quota > 0 else None


def history_days(
    through: dt.date | None, created: Any, today: dt.date, *, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.date, dt.date]:
    """The days of a client's history a full read asks for (both inclusive).

    A backfill: its own window, from the day before `since` (or the client's creation).
    Nightly: from the last day read (`through`), or the client's creation day, minus the
    overlap, to today plus the overlap. Salebot's days are its time zone's and its clock is
    its own: the overlap covers the zone, `CLOCK_SKEW_DAYS` more on each side of a read that
    follows another covers a clock (or a zone label) up to 14 hours off ours, ahead (rows on
    our tomorrow) or behind (rows on the day before the last one read)."""
    overlap = dt.timedelta(days=settings.HISTORY_OVERLAP_DAYS)
    skew = dt.timedelta(days=settings.CLOCK_SKEW_DAYS)
    created_day = created.date() if isinstance(created, dt.datetime) else today
    if since is not None or until is not None:
        start = (since.date() if since else created_day) - dt.timedelta(days=1)
    elif through is not None:
        start = through - overlap - skew
    else:
        start = created_day - overlap
    stop = until.date() + overlap if until else today + overlap + skew
    return start, max(start, stop)
