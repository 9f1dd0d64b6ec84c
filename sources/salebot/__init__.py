"""dlt source for the Salebot.pro constructor API: clients, message history, CRM orders, channels, bot blocks.

Salebot has no updated-since filter, no totals, day-granular history windows and a daily
call cap, so this source works per client and remembers, in dlt resource state, what it
has read of each one:

- ``clients`` lists every client each run (500 per call: cheap) and merges on ``id``;
- ``messages`` re-reads history only for clients that need it (a webhook push named them,
  they are new, their ``updated_at`` advanced, or the rotating sweep is due) in day
  windows overlapped by a day, and folds in the pushes the webhook receiver stored;
- ``orders`` re-reads order ids per status, CRM state and variables for the same kind of
  selection;
- ``channels`` and ``blocks`` are small snapshots, merged.

A request budget (``max_requests``) stops a run cleanly: work finished so far is loaded,
cursors move only for clients whose work completed, and the next run continues.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.http import BudgetExhausted, fan_out
from sources.report import SourceReport
from sources.salebot import settings
from sources.salebot.helpers import (
    SalebotApi,
    client_row,
    message_row,
    plan_clients,
    utc_today,
    webhook_message_row,
)
from sources.salebot.webhook_store import WebhookStore

__all__ = ["SourceReport", "mark_webhook_consumed", "salebot_source"]

logger = logging.getLogger("chatfunnel.salebot")

def _ts() -> dict[str, Any]:
    # a fresh dict per column: dlt writes the column name into the hint it is given
    return {"data_type": "timestamp", "timezone": True}


CLIENT_COLUMNS = {
    "id": {"data_type": "bigint"},
    "created_at": _ts(),
    "updated_at": _ts(),
    "custom_answer": {"data_type": "text"},
    "operator_start_dialog": {"data_type": "text"},
}
MESSAGE_COLUMNS = {
    "id": {"data_type": "bigint"},
    "client_id": {"data_type": "bigint"},
    "created_at": _ts(),
    "received_at": _ts(),
    "text": {"data_type": "text"},
    "client_replica": {"data_type": "bool"},
    "answered": {"data_type": "bool"},
    "delivered": {"data_type": "bool"},
    "error_message": {"data_type": "text"},
    "message_id": {"data_type": "bigint"},
    "manager_id": {"data_type": "bigint"},
    "manager_email": {"data_type": "text"},
    "message_from_outside": {"data_type": "bigint"},
    "attachments": {"data_type": "json"},
    "origin": {"data_type": "text"},
}
ORDER_COLUMNS = {
    "id": {"data_type": "bigint"},
    "client_id": {"data_type": "bigint"},
    "status": {"data_type": "bigint"},
    "status_name": {"data_type": "text"},
    "state_id": {"data_type": "bigint"},
    "created_at": _ts(),
    "variables": {"data_type": "json"},
}


class _Listing:
    """The client list, read once per run and shared by every resource that needs it."""

    def __init__(self, api: SalebotApi, report: SourceReport) -> None:
        self._api = api
        self._report = report
        self._lock = threading.Lock()
        self._clients: dict[int, dict[str, Any]] | None = None
        self.complete = False

    def get(self) -> dict[int, dict[str, Any]]:
        with self._lock:
            if self._clients is None:
                self._clients = {}
                try:
                    for page in self._api.iter_client_pages():
                        for c in page:
                            row = client_row(c)
                            self._clients[row["id"]] = row
                    self.complete = True
                except BudgetExhausted:
                    self._report.spent("clients")
                    logger.warning(
                        "Salebot request budget spent while listing clients: %d listed so far",
                        len(self._clients),
                    )
            return self._clients


def _window_start(known: dict[str, Any] | None, client: dict[str, Any], today: dt.date) -> dt.date:
    overlap = dt.timedelta(days=settings.HISTORY_OVERLAP_DAYS)
    if known and known.get("through"):
        return dt.date.fromisoformat(known["through"]) - overlap
    created = client.get("created_at")
    return (created.date() if isinstance(created, dt.datetime) else today) - overlap


def _store(path: str | None) -> WebhookStore | None:
    return WebhookStore(path) if path and Path(path).exists() else None


@dlt.source(name="salebot", max_table_nesting=0)
def salebot_source(
    api_key: str = dlt.secrets.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    max_requests: int | None = None,
    concurrency: int = settings.DEFAULT_CONCURRENCY,
    requests_per_minute: float = settings.DEFAULT_REQUESTS_PER_MINUTE,
    sweep_days: int = settings.DEFAULT_SWEEP_DAYS,
    history_limit: int = settings.HISTORY_LIMIT,
    order_variables: Sequence[str] | None = None,
    webhook_store: str | None = settings.DEFAULT_WEBHOOK_STORE,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    report: SourceReport | None = None,
) -> Sequence[DltResource]:
    """Salebot project -> dataset ``salebot``.

    Args:
        api_key: the project's API key (``sources.salebot.api_key``; a URL path segment,
            redacted from every message this source produces).
        base_url: ``sources.salebot.base_url``.
        max_requests: stop cleanly after this many HTTP requests (retries included).
        concurrency: clients read in parallel.
        requests_per_minute: client-side rate limit shared by all threads (0: none).
        sweep_days: every known client is re-read at least once per this many runs even
            when nothing says it changed (0 disables the sweep).
        history_limit: ``limit`` of ``get_history`` (the documented maximum, 2000).
        order_variables: names for ``get_order_vars``; None asks for all of them.
        webhook_store: the receiver's SQLite inbox; pushes in it are loaded into ``messages``.
        since, until: backfill window for message history (UTC); cursors do not move.
        report: filled in while the run goes (requests, budget, unfinished resources).
    """
    report = report if report is not None else SourceReport()
    workers = max(1, int(concurrency or 1))
    api = SalebotApi(
        base_url,
        api_key,
        requests_per_minute=requests_per_minute,
        max_requests=max_requests,
        concurrency=workers,
    )
    report.client = api.client
    listing = _Listing(api, report)
    backfill = since is not None or until is not None

    @dlt.resource(name="clients", primary_key="id", write_disposition="merge", columns=CLIENT_COLUMNS)
    def clients() -> Iterator[list[dict[str, Any]]]:
        """Every client; the list is also what the other resources plan their work from."""
        rows = list(listing.get().values())
        for i in range(0, len(rows), 1000):
            yield rows[i : i + 1000]

    @dlt.resource(name="channels", primary_key=["messenger", "id"], write_disposition="merge")
    def channels() -> Iterator[list[dict[str, Any]]]:
        """Connected messengers (``connected_channels``), one row per bot."""
        try:
            yield api.channels()
        except BudgetExhausted:
            report.spent("channels")

    @dlt.resource(name="blocks", primary_key="id", write_disposition="merge")
    def blocks() -> Iterator[list[dict[str, Any]]]:
        """Blocks of the bot scheme (``get_messages``); a message's ``message_id`` points here."""
        try:
            yield api.blocks()
        except BudgetExhausted:
            report.spent("blocks")

    @dlt.resource(name="messages", primary_key="id", write_disposition="merge", columns=MESSAGE_COLUMNS)
    def messages() -> Iterator[list[dict[str, Any]]]:
        """History of the clients that need it, plus the webhook pushes not covered by it.

        State: ``clients[id] = {seen: updated_at read, through: last UTC day read, checked}``,
        ``flagged``: clients a push named whose history is still to be read,
        ``webhook_through``: the last push (store sequence) this resource has taken.
        """
        state = dlt.current.resource_state()
        known: dict[str, dict[str, Any]] = state.setdefault("clients", {})
        store = None if backfill else _store(webhook_store)
        through_seq = int(state.get("webhook_through", 0))
        pushes: list[dict[str, Any]] = []
        if store is not None:
            # dlt loads any pending package before it extracts again, so pushes up to the
            # stored sequence are in the destination now
            store.mark_consumed(through_seq)
            pushes = list(store.read_after(through_seq))
        flagged = list(dict.fromkeys([*state.get("flagged", []), *(int(p["payload"]["client"]["id"]) for p in pushes)]))
        listed = listing.get()
        plan = plan_clients(listed, known, flagged=flagged, sweep_days=sweep_days, everyone=backfill)
        report.planned["messages"] = {r: plan.count(r) for r in ("webhook", "new", "changed", "sweep", "backfill")}
        if not listing.complete:
            report.incomplete.add("messages")
        today = utc_today()
        stop = (until.date() if until else today) + dt.timedelta(days=settings.HISTORY_OVERLAP_DAYS)

        def read(cid: int) -> list[dict[str, Any]] | None:
            if backfill:
                start = (since.date() if since else listed[cid]["created_at"].date()) - dt.timedelta(days=1)
            else:
                start = _window_start(known.get(str(cid)), listed[cid], today)
            return api.history(cid, start, stop, history_limit)

        done: set[int] = set()
        try:
            for cid, rows in fan_out(plan.order, read, workers, api.client.workers):
                if rows:
                    yield [message_row(r, cid) for r in rows]
                done.add(cid)
                if not backfill:
                    known[str(cid)] = {
                        "seen": listed[cid]["updated_at"].timestamp() if listed[cid].get("updated_at") else 0,
                        "through": today.isoformat(),
                        "checked": time.time(),
                    }
        except BudgetExhausted:
            report.spent("messages")
            logger.warning(
                "Salebot request budget spent: history read for %d of %d planned clients; the rest next run",
                len(done), len(plan.order),
            )
        if store is not None:
            # a push whose client was just read is in that history (it was stored before
            # the read began); the others land now and are replaced when polled
            late = [
                webhook_message_row(p["payload"], p["received_at"])
                for p in pushes
                if int(p["payload"]["client"]["id"]) not in done
            ]
            if late:
                yield late
            if pushes:
                state["webhook_through"] = pushes[-1]["seq"]
        state["flagged"] = [cid for cid in flagged if cid not in done]

    @dlt.resource(name="orders", primary_key="id", write_disposition="merge", columns=ORDER_COLUMNS)
    def orders() -> Iterator[list[dict[str, Any]]]:
        """Orders of the clients that need it: ids per status, then CRM state and variables.

        State: ``clients[id] = {seen, checked}``, ``flagged``, ``webhook_through`` as for messages.
        """
        state = dlt.current.resource_state()
        known: dict[str, dict[str, Any]] = state.setdefault("clients", {})
        store = None if backfill else _store(webhook_store)
        through_seq = int(state.get("webhook_through", 0))
        pushes = list(store.read_after(through_seq)) if store is not None else []
        flagged = list(dict.fromkeys([*state.get("flagged", []), *(int(p["payload"]["client"]["id"]) for p in pushes)]))
        listed = listing.get()
        plan = plan_clients(listed, known, flagged=flagged, sweep_days=sweep_days)
        report.planned["orders"] = {r: plan.count(r) for r in ("webhook", "new", "changed", "sweep")}
        if not listing.complete:
            report.incomplete.add("orders")

        def read(cid: int) -> list[dict[str, Any]] | None:
            return api.orders(cid, order_variables)

        done: set[int] = set()
        try:
            for cid, rows in fan_out(plan.order, read, workers, api.client.workers):
                if rows:
                    yield rows
                done.add(cid)
                known[str(cid)] = {
                    "seen": listed[cid]["updated_at"].timestamp() if listed[cid].get("updated_at") else 0,
                    "checked": time.time(),
                }
        except BudgetExhausted:
            report.spent("orders")
            logger.warning(
                "Salebot request budget spent: orders read for %d of %d planned clients; the rest next run",
                len(done), len(plan.order),
            )
        if pushes:
            state["webhook_through"] = pushes[-1]["seq"]
        state["flagged"] = [cid for cid in flagged if cid not in done]

    return (clients, channels, blocks, messages, orders)


def mark_webhook_consumed(pipeline: dlt.Pipeline, store_path: str | None = None) -> int:
    """After a successful load: mark the webhook pushes that load carried as consumed.

    Safe to skip (the source keeps its own cursor in dlt state and marks them at the start
    of the next run); calling it right after ``pipeline.run`` just keeps the inbox tidy.
    """
    path = store_path or dlt.config.get("sources.salebot.webhook_store", str) or settings.DEFAULT_WEBHOOK_STORE
    store = _store(path)
    if store is None:
        return 0
    sources_state = pipeline.state.get("sources", {}).get("salebot", {})
    through = int(sources_state.get("resources", {}).get("messages", {}).get("webhook_through", 0))
    return store.mark_consumed(through) if through else 0

