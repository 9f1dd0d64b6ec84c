"""Salebot API wrapper: the READ actions, client paging, history windows, order lists,
and the permissions a key turns out not to have.

The work of a run is per client: one history call (more when a window is full), one
variables call, three ``get_orders`` calls plus two detail calls per order. This module
keeps those calls behind a small typed wrapper on the shared :class:`~sources.http.ApiClient`
(retries, rate limit, request budget, key redaction) and reads one client's data
(:func:`read_client`); what to make of it is the source's business.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sources.deletions import list_problem
from sources.http import ApiClient, ApiError, Forbidden, RateLimiter, RequestBudget, UnexpectedAnswer
from sources.http.client import ShapeCheck
from sources.kit.values import whole_number
from sources.salebot import settings
from sources.salebot.plan import Scope

logger = logging.getLogger("chatfunnel.salebot")

UTC = dt.UTC


def day(d: dt.date) -> str:
    return d.strftime(settings.HISTORY_DATE_FORMAT)


def utc_today() -> dt.date:
    return dt.datetime.now(UTC).date()


def _is_app_error(body: Any) -> bool:
    """A 200 whose body says the call failed transiently (retried by the client)."""
    return isinstance(body, dict) and body.get("status") in settings.TRANSIENT_ERROR_STATUSES


def clients_page_problem(body: Any) -> str | None:
    """Why an answer is not a page of the client list (None: it is). A page whose list is
    null, missing or not a list is retried, then fails the listing: it never ends it."""
    if isinstance(body, list):
        return None
    if not isinstance(body, dict) or "clients" not in body:
        return "the page has no clients list"
    return list_problem(body["clients"])


def history_problem(body: Any) -> str | None:
    """Why an answer is not a client's history (None: it is, or the client is gone). A null
    `result` read as "no messages" would move the client's history past messages never loaded."""
    if client_not_found(body) or isinstance(body, list):
        return None
    if not isinstance(body, dict) or "result" not in body:
        return "the answer has no result list"
    return list_problem(body["result"])


def orders_problem(body: Any) -> str | None:
    """Why an answer is not a client's order ids (None: it is, or the client is gone).
    An absent or null list would read as "no orders" and prove every known order gone."""
    if client_not_found(body):
        return None
    ids = body.get("order_id") if isinstance(body, dict) else None
    if isinstance(ids, list) or (isinstance(ids, (int, str)) and _order_id(ids) is not None):
        return None
    # a text that is no id (the list sent as JSON text, "none") would read as no orders at all
    return "the answer has no order_id list"


def not_found(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("status", "")).lower() in settings.NOT_FOUND_STATUSES


def client_not_found(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("status", "")).lower() == settings.CLIENT_NOT_FOUND


class ActionDenied(Exception):
    """The key may not call this action (403, or 404 for an action the document lists)."""

    def __init__(self, action: str, status: int) -> None:
        super().__init__(f"{action}: HTTP {status}")
        self.action = action
        self.status = status


class Permissions:
    """The actions this key turned out not to be allowed, learnt from their first refusal:
    later calls of a refused action are skipped without a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.denied: dict[str, int] = {}

    def check(self, action: str) -> None:
        status = self.denied.get(action)
        if status is not None:
            raise ActionDenied(action, status)

    def deny(self, action: str, status: int) -> None:
        with self._lock:
            self.denied.setdefault(action, status)

    def missing(self) -> list[str]:
        """The permissions (as the document names them) of the refused actions."""
        return sorted({settings.PERMISSIONS.get(a, a) for a in self.denied})

    def warnings(self) -> list[str]:
        """One sentence per missing permission: what it cost and how to get it."""
        out = []
        for permission in self.missing():
            actions = sorted(a for a in self.denied if settings.PERMISSIONS.get(a, a) == permission)
            answers = ", ".join(f"{a} answered HTTP {self.denied[a]}" for a in actions)
            lost = "; ".join(settings.LOADS.get(a, a) for a in actions)
            english = settings.PERMISSION_IN_ENGLISH.get(permission, permission)
            out.append(
                f"The Salebot API key lacks the permission «{permission}» ({english}): {answers}. "
                f"Not loaded: {lost}; everything else was. Give the key that permission "
                f"(project settings -> Integrations -> API keys) to load it."
            )
        return out


class SalebotApi:
    """The READ actions of the Salebot constructor API, with the key kept out of every message."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        requests_per_minute: float | None = None,
        max_requests: int | None = None,
        timeout: float = 30.0,
        concurrency: int = 16,
    ) -> None:
        if not api_key:
            raise ValueError("Salebot API key is empty: set SOURCES__SALEBOT__API_KEY")
        self._key = api_key
        self.budget = RequestBudget(max_requests)
        self.permissions = Permissions()
        self.client = ApiClient(
            base_url,
            secrets=(api_key,),
            rate_limiter=RateLimiter(requests_per_minute or None),
            budget=self.budget,
            timeout=timeout,
            max_connections=max(1, concurrency),
            is_app_error=_is_app_error,
        )

    @property
    def requests_made(self) -> int:
        return self.client.requests_made

    def _path(self, action: str) -> str:
        return settings.API_PATH.format(api_key=self._key, action=action)

    def get(self, action: str, expect: ShapeCheck | None = None, **params: Any) -> Any:
        # "Body" parameters of GET actions travel in the query string
        query = {k: v for k, v in params.items() if v is not None}
        return self._call(action, lambda: self.client.get_json(self._path(action), params=query, expect=expect))

    def post(self, action: str, body: Mapping[str, Any]) -> Any:
        return self._call(action, lambda: self.client.post_json(self._path(action), json=dict(body)))

    def _call(self, action: str, send: Any) -> Any:
        """Send, unless the key is known not to have the action's permission; a 403 (or a
        404 on a documented action) teaches it that."""
        self.permissions.check(action)
        try:
            return send()
        except Forbidden:
            self.permissions.deny(action, 403)
            raise ActionDenied(action, 403) from None
        except ApiError as exc:
            if exc.status == 404 and action != settings.GET_CLIENTS:  # a 404 on get_clients is a wrong base URL
                self.permissions.deny(action, 404)
                raise ActionDenied(action, 404) from None
            raise

    # ---- lists
    def iter_client_pages(self, page_limit: int = settings.CLIENTS_PAGE_LIMIT) -> Iterator[list[Any]]:
        """Every client, page by page, as the API sends them.

        ``reverse=1`` asks for oldest first, so clients created while we page are appended
        at the end instead of shifting every later offset. There is no total: stop only on
        an empty page (a short page may just be a server-side cap).
        """
        offset = 0
        while True:
            try:
                body = self.get(settings.GET_CLIENTS, clients_page_problem, offset=offset, limit=page_limit, reverse=1)
            except ActionDenied:
                raise Forbidden(
                    f"get_clients: the key lacks the permission «{settings.READ_CLIENTS}» "
                    "(read client information), without which nothing can be loaded",
                    403,
                    settings.GET_CLIENTS,
                ) from None
            page = body.get("clients") if isinstance(body, dict) else body
            if not page:
                return
            offset += len(page)
            yield page

    def history(
        self, client_id: int, start: dt.date, stop: dt.date, limit: int = settings.HISTORY_LIMIT
    ) -> list[Any] | None:
        """All messages of a client between two days (both inclusive); None if the client vanished.

        A window that comes back with ``limit`` messages may be truncated (the API has no
        paging): it is split in two overlapping halves until each fits or is one day.
        """
        body = self.get(
            settings.GET_HISTORY, history_problem, client_id=client_id, limit=limit, start_date=day(start),
            stop_date=day(stop),
        )
        if client_not_found(body):
            return None
        result = body.get("result") if isinstance(body, dict) else body
        rows = list(result) if isinstance(result, list) else []
        if len(rows) < limit:
            return rows
        days = (stop - start).days
        if days == 0:
            logger.warning(
                "Salebot history of client %s on %s has %s+ messages: the API cannot page further",
                client_id,
                day(start),
                limit,
            )
            return rows
        if days == 1:
            halves = [(start, start), (stop, stop)]
        else:
            mid = start + dt.timedelta(days=days // 2)
            halves = [(start, mid), (mid, stop)]  # overlap the middle day: safe under either edge reading
        out: list[Any] = []
        for a, b in halves:
            half = self.history(client_id, a, b, limit)
            if half is None:
                return None
            out.extend(half)
        return out

    def order_ids(self, client_id: int, status: int) -> list[int] | None:
        """Ids of the client's orders in ``status``; None if the client vanished."""
        body = self.get(settings.GET_ORDERS, orders_problem, client_id=client_id, order_status=status)
        if client_not_found(body):
            return None
        ids = body.get("order_id") if isinstance(body, dict) else None
        if isinstance(ids, (int, str)):
            ids = [ids]
        out = []
        for oid in ids if isinstance(ids, list) else []:
            number = _order_id(oid)
            if number is not None:
                out.append(number)
        return out

    def order_state(self, client_id: int, order_id: int) -> Any:
        return self.get(settings.GET_ORDER_STATE, client_id=client_id, order_id=order_id)

    def order_vars(self, client_id: int, order_id: int, variables: Sequence[str] | None) -> Any:
        body: dict[str, Any] = {"client_id": client_id, "order_id": order_id}
        if variables:
            body["variables"] = list(variables)
        return self.post(settings.GET_ORDER_VARS, body)

    def variables(self, client_id: int) -> Any:
        """``get_variables``: the document shows no answer; read as a flat ``{name: value}``
        (or ``{"status": "success", "result"|"variables": {...}}``); None if the client vanished."""
        body = self.get(settings.GET_VARIABLES, client_id=client_id)
        if client_not_found(body) and len(body) == 1:
            return None
        if isinstance(body, dict) and body.get("status") == "success":
            for key in ("result", "variables"):
                if isinstance(body.get(key), dict):
                    return body[key]
        return body

    def channels(self) -> Any:
        return self.get(settings.CONNECTED_CHANNELS)

    def blocks(self) -> list[Any]:
        body = self.get(settings.GET_MESSAGES)
        if isinstance(body, list):
            return body
        if isinstance(body, dict):
            for key in ("messages", "result", "blocks", "items"):
                if isinstance(body.get(key), list):
                    return list(body[key])
        raise ApiError(f"get_messages: unexpected answer shape ({type(body).__name__})")


def _order_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


# --------------------------------------------------------------------------- one client


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
