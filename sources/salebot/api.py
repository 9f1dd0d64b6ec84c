"""The Salebot API wrapper: the READ actions, client paging, history windows split until
they fit, order lists, the page-shape checks, and the permissions a key turns out not to have.

The calls sit behind a small typed wrapper on the shared :class:`~sources.http.ApiClient`
(retries, rate limit, request budget, key redaction); which calls one client needs is
:mod:`sources.salebot.client_read`'s business, what to make of the answers the source's.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sources.deletions import list_problem
from sources.http import ApiClient, ApiError, Forbidden, RateLimiter, RequestBudget
from sources.http.client import ShapeCheck
from sources.salebot import settings

logger = logging.getLogger("chatfunnel.salebot")

def day(d: dt.date) -> str:
    return d.strftime(settings.HISTORY_DATE_FORMAT)


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
