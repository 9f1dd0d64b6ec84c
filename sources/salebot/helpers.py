"""Salebot API wrapper, paging, history windows, and the nightly re-read plan.

Salebot gives no updated-since filter and no totals, so the work of a run is "per
client": one history call per client (more when a window is full) and three
``get_orders`` calls plus two detail calls per order. This module keeps those calls
behind a small typed wrapper on the shared :class:`~sources.http.ApiClient`
(retries, rate limit, request budget, key redaction) and decides which clients a run
must re-read (:func:`plan_clients`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sources.http import ApiClient, ApiError, RateLimiter, RequestBudget
from sources.salebot import settings

logger = logging.getLogger("chatfunnel.salebot")

UTC = dt.UTC


# --------------------------------------------------------------------------- typing helpers


def to_utc(value: Any) -> dt.datetime | None:
    """Unix seconds (int, float or digit string, as drift may deliver) -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return dt.datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError):
        import pendulum

        parsed = pendulum.parse(str(value))
        return dt.datetime.fromisoformat(parsed.in_timezone("UTC").isoformat())  # type: ignore[union-attr]


def to_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def to_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def day(d: dt.date) -> str:
    return d.strftime(settings.HISTORY_DATE_FORMAT)


def utc_today() -> dt.date:
    return dt.datetime.now(UTC).date()


# --------------------------------------------------------------------------- API wrapper


def _is_app_error(body: Any) -> bool:
    """A 200 whose body says the call failed transiently (retried by the client)."""
    return isinstance(body, dict) and body.get("status") in settings.TRANSIENT_ERROR_STATUSES


def _not_found(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("status", "")).lower() in settings.NOT_FOUND_STATUSES


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

    def get(self, action: str, **params: Any) -> Any:
        # "Body" parameters of GET actions travel in the query string
        return self.client.get_json(self._path(action), params={k: v for k, v in params.items() if v is not None})

    def post(self, action: str, body: Mapping[str, Any]) -> Any:
        return self.client.post_json(self._path(action), json=dict(body))

    # ---- lists
    def iter_client_pages(self, page_limit: int = settings.CLIENTS_PAGE_LIMIT) -> Iterator[list[dict[str, Any]]]:
        """Every client, page by page.

        ``reverse=1`` asks for oldest first, so clients created while we page are appended
        at the end instead of shifting every later offset. There is no total: stop only on
        an empty page (a short page may just be a server-side cap). A client seen twice
        (the server ignored ``reverse`` and the list moved) is yielded once.
        """
        offset, seen = 0, set()
        while True:
            body = self.get(settings.GET_CLIENTS, offset=offset, limit=page_limit, reverse=1)
            page = body.get("clients") if isinstance(body, dict) else body
            if not page:
                return
            offset += len(page)
            fresh = [c for c in page if c.get("id") not in seen]
            seen.update(c.get("id") for c in page)
            if fresh:
                yield fresh

    def history(
        self, client_id: int, start: dt.date, stop: dt.date, limit: int = settings.HISTORY_LIMIT
    ) -> list[dict[str, Any]] | None:
        """All messages of a client between two days (both inclusive); None if the client vanished.

        A window that comes back with ``limit`` messages may be truncated (the API has no
        paging): it is split in two overlapping halves until each fits or is one day.
        """
        body = self.get(settings.GET_HISTORY, client_id=client_id, limit=limit, start_date=day(start), stop_date=day(stop))
        if _not_found(body):
            return None
        rows = list(body.get("result") or []) if isinstance(body, dict) else list(body or [])
        if len(rows) < limit:
            return rows
        days = (stop - start).days
        if days == 0:
            logger.warning(
                "Salebot history of client %s on %s has %s+ messages: the API cannot page further",
                client_id, day(start), limit,
            )
            return rows
        if days == 1:
            halves = [(start, start), (stop, stop)]
        else:
            mid = start + dt.timedelta(days=days // 2)
            halves = [(start, mid), (mid, stop)]  # overlap the middle day: safe under either edge reading
        out: dict[Any, dict[str, Any]] = {}
        for a, b in halves:
            for row in self.history(client_id, a, b, limit) or []:
                out[row.get("id")] = row
        return list(out.values())

    def orders(self, client_id: int, variables: Sequence[str] | None = None) -> list[dict[str, Any]] | None:
        """Every order of a client with its status, CRM state and variables; None if the client vanished."""
        found: dict[int, int] = {}
        for status in settings.ORDER_STATUSES:
            body = self.get(settings.GET_ORDERS, client_id=client_id, order_status=status)
            if _not_found(body):
                return None
            ids = body.get("order_id") if isinstance(body, dict) else None
            if isinstance(ids, (int, str)):
                ids = [ids]
            for oid in ids or []:
                found[int(oid)] = status  # a later status wins if the order moved while we read
        out = []
        for oid, status in sorted(found.items()):
            state = self.get(settings.GET_ORDER_STATE, client_id=client_id, order_id=oid)
            body: dict[str, Any] = {"client_id": client_id, "order_id": oid}
            if variables:
                body["variables"] = list(variables)
            vars_ = self.post(settings.GET_ORDER_VARS, body)
            if _not_found(state) and _not_found(vars_):
                continue  # deleted between the list and the detail
            out.append(order_row(oid, client_id, status, state, vars_))
        return out

    def channels(self) -> list[dict[str, Any]]:
        body = self.get(settings.CONNECTED_CHANNELS)
        return channel_rows(body)

    def blocks(self) -> list[dict[str, Any]]:
        body = self.get(settings.GET_MESSAGES)
        if isinstance(body, list):
            return body
        if isinstance(body, dict):
            for key in ("messages", "result", "blocks", "items"):
                if isinstance(body.get(key), list):
                    return body[key]
        raise ApiError(f"get_messages: unexpected answer shape ({type(body).__name__})")


# --------------------------------------------------------------------------- row shaping


def client_row(c: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(c)
    row["id"] = int(row["id"])
    for k in ("created_at", "updated_at"):
        row[k] = to_utc(row.get(k))
    for k in ("client_type", "project_id", "message_id"):
        if k in row:
            row[k] = to_int(row[k])
    return row


def message_row(m: Mapping[str, Any], client_id: int) -> dict[str, Any]:
    row = dict(m)
    row["id"] = int(row["id"])
    row["client_id"] = client_id
    row["created_at"] = to_utc(row.get("created_at"))
    for k in ("answered", "client_replica", "delivered"):
        if k in row:
            row[k] = to_bool(row[k])
    for k in ("message_id", "manager_id", "message_from_outside"):
        if k in row:
            row[k] = to_int(row[k])
    row["origin"] = "history"
    row["received_at"] = None
    return row


def webhook_message_row(payload: Mapping[str, Any], received_at: float) -> dict[str, Any]:
    """A push in the shape of a history row. ``created_at`` is the time we received it
    (the push carries none); the history row, when polled, replaces it."""
    at = to_utc(received_at)
    return {
        "id": int(payload["id"]),
        "client_id": int(payload["client"]["id"]),
        "created_at": at,
        "text": payload.get("message"),
        "client_replica": to_bool(payload.get("is_input")),
        "message_id": to_int(payload.get("message_id")),
        "attachments": payload.get("attachments"),
        "delivered": to_bool(payload.get("delivered")),
        "error_message": payload.get("error_message"),
        "origin": "webhook",
        "received_at": at,
    }


def order_row(oid: int, client_id: int, status: int, state: Any, vars_: Any) -> dict[str, Any]:
    variables = vars_.get("result") if isinstance(vars_, dict) and vars_.get("status") == "success" else None
    state_id = to_int(state.get("state_id")) if isinstance(state, dict) and state.get("status") == "success" else None
    created = to_utc((variables or {}).get("created_at")) if isinstance(variables, dict) else None
    return {
        "id": oid,
        "client_id": client_id,
        "status": status,
        "status_name": settings.ORDER_STATUSES[status],
        "state_id": state_id,
        "created_at": created,
        "variables": variables,
    }


def channel_rows(body: Any) -> list[dict[str, Any]]:
    """``connected_channels`` is a dict keyed by messenger: one row per connected bot."""
    if not isinstance(body, dict):
        raise ApiError(f"connected_channels: unexpected answer shape ({type(body).__name__})")
    project_id = to_int(body.get("project_id"))
    rows = []
    for messenger, items in body.items():
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and item.get("id") is not None:
                group_id = item.get("group_id")
                rows.append({**item, "messenger": messenger, "project_id": project_id,
                             "group_id": None if group_id is None else str(group_id)})
    return rows


# --------------------------------------------------------------------------- the plan


@dataclass
class ClientPlan:
    """Which listed clients a resource re-reads this run, most urgent first, and why."""

    order: list[int] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)

    def add(self, cid: int, reason: str) -> None:
        if cid not in self.reasons:
            self.reasons[cid] = reason
            self.order.append(cid)

    def count(self, reason: str) -> int:
        return sum(1 for r in self.reasons.values() if r == reason)


def plan_clients(
    listed: Mapping[int, Mapping[str, Any]],
    known: Mapping[str, Mapping[str, Any]],
    *,
    flagged: Sequence[int] = (),
    sweep_days: int = settings.DEFAULT_SWEEP_DAYS,
    everyone: bool = False,
) -> ClientPlan:
    """Decide whom to re-read.

    In order of urgency: clients a webhook push named; new clients; clients whose
    ``updated_at`` advanced past what we stored; then a rotating sweep - the
    ``ceil(known / sweep_days)`` clients checked longest ago - so that a change that
    did not move ``updated_at`` is still found within ``sweep_days`` runs.
    """
    plan = ClientPlan()
    for cid in flagged:
        if cid in listed:
            plan.add(cid, "webhook")
    for cid, c in listed.items():
        if str(cid) not in known:
            plan.add(cid, "new")
    changed = []
    for cid, c in listed.items():
        k = known.get(str(cid))
        if k is not None and _ts(c.get("updated_at")) > float(k.get("seen", 0) or 0):
            changed.append(cid)
    for cid in sorted(changed, key=lambda i: -_ts(listed[i].get("updated_at"))):
        plan.add(cid, "changed")
    if everyone:
        for cid in listed:
            plan.add(cid, "backfill")
        return plan
    if sweep_days and sweep_days > 0:
        quota = math.ceil(len(known) / sweep_days)
        stale = sorted(
            (cid for cid in listed if cid not in plan.reasons and str(cid) in known),
            key=lambda i: (float(known[str(i)].get("checked", 0) or 0), i),
        )
        for cid in stale[:quota]:
            plan.add(cid, "sweep")
    return plan


def _ts(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
