"""One client's read: the calls a task's scope asks for, and what they found.

The work of a run is per client: one history call (more when a window is full), one
variables call, three ``get_orders`` calls plus two detail calls per order. A worker reads
one client (:func:`read_client`) into a :class:`ClientRead`; a part the key may not read
stays ``None``, and what the read means is for ``clients.py`` and ``orders.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sources.http import UnexpectedAnswer
from sources.kit.values import whole_number
from sources.salebot import settings
from sources.salebot.api import ActionDenied, SalebotApi, client_not_found, not_found
from sources.salebot.plan import Scope


@dataclass
class OrderSeen:
    """One order as this run read it: its list, its CRM state, its variables."""

    status: int
    state_id: int | None = None
    state_read: bool = False
    variables: Any = None
    gone: bool = False  # every detail call said "order not found"
    unchanged: bool = False  # an open-order check found status and state as known: nothing more read


@dataclass
class ClientRead:
    """What one client's task read. ``None`` in a part means it was not read (not in the
    task's scope, or the key may not read it)."""

    client_id: int
    gone: bool = False  # client_not_found: the client was deleted
    messages: list[Any] | None = None
    orders: dict[int, OrderSeen] | None = None  # the orders whose details were read
    listed_orders: set[int] = field(default_factory=set)  # every id the lists read named
    orders_complete: bool = False  # every status list was read: orders absent from them are gone
    variables: Any = None
    variables_read: bool = False
    problems: list[str] = field(default_factory=list)  # reads that failed on an answer of unexpected shape


@dataclass
class ClientTask:
    """Everything a worker needs to read one client, decided before the fan-out."""

    client_id: int
    scope: Scope
    start: dt.date
    stop: dt.date
    open_orders: frozenset[int] = field(default_factory=frozenset)  # known open orders (scope "orders")
    known: Mapping[int, tuple[int | None, int | None]] = field(default_factory=dict)  # order -> (status, state)


def read_client(
    api: SalebotApi, task: ClientTask, history_limit: int, order_variables: Sequence[str] | None
) -> ClientRead:
    """Read one client's history, orders and variables as its task's scope asks.

    A part the key may not read is left ``None``; ``client_not_found`` anywhere means the
    client is gone. Only the request budget (and errors retries did not cure) raise.
    """
    out = ClientRead(task.client_id)
    cid = task.client_id
    if task.scope in ("full", "history"):
        try:
            messages = api.history(cid, task.start, task.stop, history_limit)
        except ActionDenied:
            pass
        except UnexpectedAnswer as exc:  # a history of unexpected shape: not read, not empty
            out.problems.append(str(exc))
        else:
            if messages is None:
                out.gone = True
                return out
            out.messages = messages
    if task.scope == "history":
        return out
    try:
        if not _read_orders(api, task, out, order_variables):
            out.gone = True
            return out
    except ActionDenied:  # get_orders itself: the key may not read orders at all
        out.orders, out.orders_complete = None, False
    except UnexpectedAnswer as exc:  # an order list of unexpected shape: no order is proved gone
        out.orders, out.orders_complete = None, False
        out.problems.append(str(exc))
    if task.scope == "full":
        try:
            variables = api.variables(cid)
        except ActionDenied:
            pass
        else:
            if variables is None:
                out.gone = True
                return out
            out.variables, out.variables_read = variables, True
    return out


def _confirm_absent(api: SalebotApi, task: ClientTask, found: Mapping[int, int]) -> None:
    """A known order the client's lists left out is gone only when its detail says so too.
    Salebot sends no count with a list, so a list cut short (or a lone number where the list
    was) looks whole; an order whose state still reads makes the lists a failed read."""
    for oid in sorted(set(task.known) - set(found)):
        try:
            state = api.order_state(task.client_id, oid)
        except ActionDenied:  # the key may not read details: the lists are all there is
            return
        if not not_found(state):
            raise UnexpectedAnswer(
                f"{settings.GET_ORDERS}: order {oid} still exists but the client's order lists left it out",
                None,
                settings.GET_ORDERS,
            )


def _read_orders(api: SalebotApi, task: ClientTask, out: ClientRead, variables: Sequence[str] | None) -> bool:
    """Fill ``out.orders``; False if the client vanished. Scope "orders" reads the open list,
    and the other two only when a known open order left it (to find where it went)."""
    cid = task.client_id
    found: dict[int, int] = {}
    statuses = list(settings.ORDER_STATUSES) if task.scope == "full" else [settings.OPEN_STATUS]
    for status in statuses:
        ids = api.order_ids(cid, status)
        if ids is None:
            return False
        for oid in ids:
            found[oid] = status  # a later status wins if the order moved while we read
    if task.scope != "full" and task.open_orders - set(found):
        for status in (s for s in settings.ORDER_STATUSES if s != settings.OPEN_STATUS):
            ids = api.order_ids(cid, status)
            if ids is None:
                return False
            for oid in ids:
                found.setdefault(oid, status)
        statuses = list(settings.ORDER_STATUSES)
    out.orders_complete = len(statuses) == len(settings.ORDER_STATUSES)
    if out.orders_complete:
        _confirm_absent(api, task, found)
    out.listed_orders = set(found)
    orders: dict[int, OrderSeen] = {}
    for oid, status in sorted(found.items()):
        known = task.known.get(oid)
        if task.scope != "full" and status != settings.OPEN_STATUS and known is not None and known[0] == status:
            continue  # a closed order that stayed as it was: the sweep re-reads its details
        seen = OrderSeen(status)
        state: Any = None
        vars_: Any = None
        try:
            state = api.order_state(cid, oid)
            seen.state_read = True
            if isinstance(state, dict) and state.get("status") == "success":
                seen.state_id = whole_number(state.get("state_id"))
        except ActionDenied:
            pass
        same_state = not seen.state_read or (seen.state_id == known[1] if known is not None else False)
        if task.scope != "full" and known is not None and status == known[0] and same_state and not not_found(state):
            seen.unchanged = True  # the nightly check of an open order: its variables wait for the sweep
            orders[oid] = seen
            continue
        try:
            vars_ = api.order_vars(cid, oid, variables)
            if isinstance(vars_, dict) and vars_.get("status") == "success":
                seen.variables = vars_.get("result")
        except ActionDenied:
            pass
        if client_not_found(state) or client_not_found(vars_):
            return False
        # deleted between the list and the detail: every detail the key may read says so
        read = [body for body in (state, vars_) if body is not None]
        seen.gone = bool(read) and all(not_found(body) for body in read)
        orders[oid] = seen
    out.orders = orders
    return True
