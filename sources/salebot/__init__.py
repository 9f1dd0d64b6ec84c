"""dlt source for the Salebot.pro constructor API: clients, their messages, variables and
CRM orders, channels and bot blocks.

Salebot has no updated-since filter, no totals, day-granular history windows and a daily
call cap, so this source works per client:

- ``clients`` lists every client each run (500 per call: cheap) and merges on ``id``;
- ``client_details`` re-reads the clients that need it (:mod:`sources.salebot.plan`):
  their history in day windows overlapped by a day (and one more for an API clock off
  ours), their orders (ids per status, CRM state, variables) and their variables; it
  re-checks every open order every run, folds in the pushes the webhook receiver stored,
  records every observed change of an order's status or CRM state, and proves deletions.
  It writes ``messages``, ``orders``, ``client_variables`` and ``order_status_changes``
  (one per-client plan, so that under a budget the urgent work of every kind goes first);
- ``channels`` and ``blocks`` are small snapshots, merged.

What the source remembers per client and order lives in the dataset
(:mod:`sources.salebot.memory`), committed with the data. A request budget
(``max_requests``) stops a run cleanly: work finished so far is loaded, memory moves only
for clients whose work completed, and the next run continues. A key without a permission
loads everything it may read and says which permission is missing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import dlt
from dlt.sources import DltResource

from sources.bookkeeping import Ledger, deletion_rows, table_hints
from sources.clocks import watched
from sources.deletions import LISTING, absent, returned
from sources.http import BudgetExhausted, UnexpectedAnswer, fan_out
from sources.report import SourceReport
from sources.salebot import settings
from sources.salebot.helpers import ActionDenied, ClientRead, ClientTask, SalebotApi, read_client
from sources.salebot.memory import ClientMemory, Memory, OrderMemory
from sources.salebot.plan import Task, history_days, mean_orders, plan_clients, reverify_within
from sources.salebot.rows import (
    Shapes,
    block_rows,
    channel_rows,
    client_row,
    message_row,
    order_row,
    to_int,
    variable_rows,
    webhook_message_row,
)
from sources.salebot.webhook_store import WebhookStore

__all__ = ["DELETION_CASCADES", "RESOURCE_ALIASES", "SourceReport", "mark_webhook_consumed", "salebot_source"]

logger = logging.getLogger("chatfunnel.salebot")

DETAILS = "client_details"
# tables written by `client_details`: `--resources messages` etc. select it
RESOURCE_ALIASES = {table: DETAILS for table in ("messages", "orders", "client_variables", "order_status_changes")}
# (child table, child column, parent table): what hangs off a deleted client is marked with it
# what a full refresh keeps (pipelines.history): only a run that observed them made these rows
KEPT_ON_REFRESH: tuple[dict[str, object], ...] = (
    {"table": "order_status_changes", "key": ("order_id", "change_seq"), "entity": "order_id", "parent": "orders",
     "noun": "changes", "order_by": "change_seq", "sequence": "change_seq",
     "transitions": (("old_status", "new_status"), ("old_status_name", "new_status_name"),
                     ("old_state_id", "new_state_id"))},
    {"table": "orders", "key": ("id",), "entity": "id", "parent": "orders", "noun": "first sightings",
     "columns": ("first_seen_at", "created_after"), "carry": "sources.salebot.memory:carry_first_sightings"},
)
DELETION_CASCADES: tuple[tuple[str, str, str], ...] = (
    ("messages", "client_id", "clients"),
    ("orders", "client_id", "clients"),
    ("client_variables", "client_id", "clients"),
)


def _ts() -> dict[str, Any]:
    # a fresh dict per column: dlt writes the column name into the hint it is given
    return {"data_type": "timestamp", "timezone": True}


def _text() -> dict[str, Any]:
    return {"data_type": "text"}


def _bigint() -> dict[str, Any]:
    return {"data_type": "bigint"}


CLIENT_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "bigint", "nullable": False},
    "platform_id": _text(),
    "client_type": _bigint(),
    "name": _text(),
    "avatar": _text(),
    "message_id": _bigint(),
    "project_id": _bigint(),
    "created_at": _ts(),
    "updated_at": _ts(),
    "custom_answer": _text(),
    "tag": _text(),
    "group": _text(),
    "operator_start_dialog": _text(),
    "deleted_at": _ts(),
}
MESSAGE_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "bigint", "nullable": False},
    "client_id": _bigint(),
    "created_at": _ts(),
    "received_at": _ts(),
    "text": _text(),
    "client_replica": {"data_type": "bool"},
    "answered": {"data_type": "bool"},
    "delivered": {"data_type": "bool"},
    "error_message": _text(),
    "message_id": _bigint(),
    "manager_id": _bigint(),
    "manager_email": _text(),
    "message_from_outside": _bigint(),
    "attachments": {"data_type": "json"},
    "origin": _text(),
    "deleted_at": _ts(),
}
ORDER_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "bigint", "nullable": False},
    "client_id": _bigint(),
    "status": _bigint(),
    "status_name": _text(),
    "state_id": _bigint(),
    "variables": {"data_type": "json"},
    "first_seen_at": _ts(),
    "created_after": _ts(),
    "deleted_at": _ts(),
}
VARIABLE_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "text", "nullable": False},  # "<client_id>:<name>"
    "client_id": {"data_type": "bigint", "nullable": False},
    "name": {"data_type": "text", "nullable": False},
    "value": _text(),
    "deleted_at": _ts(),
    # a client whose every variable is gone sends one row with this set: dlt deletes the
    # client's rows (merge key `client_id`) and stores none
    "no_variables": {"data_type": "bool", "hard_delete": True},
}
CHANGE_COLUMNS: dict[str, Any] = {
    "order_id": {"data_type": "bigint", "nullable": False},
    "change_seq": {"data_type": "bigint", "nullable": False},
    "client_id": _bigint(),
    "old_status": _bigint(),
    "new_status": _bigint(),
    "old_status_name": _text(),
    "new_status_name": _text(),
    "old_state_id": _bigint(),
    "new_state_id": _bigint(),
    "changed_at": _ts(),
    "observed_at": _ts(),
}


# the columns chatfunnel declares per table: its own layout, never fields the API started to send
DECLARED_COLUMNS: dict[str, dict[str, Any]] = {
    "clients": CLIENT_COLUMNS, "messages": MESSAGE_COLUMNS, "orders": ORDER_COLUMNS,
    "client_variables": VARIABLE_COLUMNS, "order_status_changes": CHANGE_COLUMNS,
}


def _hints(table: str) -> Any:
    if table == "client_variables":
        return dlt.mark.make_hints(
            table_name=table,
            primary_key="id",
            merge_key="client_id",
            write_disposition="merge",
            columns=cast(Any, {k: dict(v) for k, v in VARIABLE_COLUMNS.items()}),
        )
    keys: dict[str, tuple[dict[str, Any], str | tuple[str, ...]]] = {
        "messages": (MESSAGE_COLUMNS, "id"),
        "orders": (ORDER_COLUMNS, "id"),
        "order_status_changes": (CHANGE_COLUMNS, ("order_id", "change_seq")),
    }
    columns, key = keys[table]
    return table_hints(table, columns, key)


class _Listing:
    """The client list, read once per run and shared by every resource that needs it."""

    def __init__(self, api: SalebotApi, report: SourceReport, shapes: Shapes) -> None:
        self._api = api
        self._report = report
        self._shapes = shapes
        self._clients: dict[int, dict[str, Any]] | None = None
        self.complete = False

    def get(self) -> dict[int, dict[str, Any]]:
        if self._clients is None:
            self._clients = {}
            try:
                for page in self._api.iter_client_pages():
                    for item in page:
                        row = client_row(item, self._shapes)
                        if row is not None:
                            self._clients[row["id"]] = row  # seen twice (the list moved): once
                self.complete = True
            except UnexpectedAnswer as exc:
                self._report.incomplete.add("clients")
                self._report.warn(f"clients: the client list could not be read whole, no client was marked deleted "
                                  f"and the next run reads it again: {exc}")
            except BudgetExhausted:
                self._report.spent("clients")
                logger.warning(
                    "Salebot request budget spent while listing clients: %d listed so far", len(self._clients)
                )
        return self._clients


class _Rows:
    """Rows of the tables `client_details` writes, yielded in batches with each table's hints."""

    def __init__(self, batch: int = 2000) -> None:
        self.batch = batch
        self.tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.deleted: dict[tuple[str, str | None], list[int]] = defaultdict(list)

    def add(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        self.tables[table].extend(rows)

    def gone(self, table: str, entity_id: int, proof: str | None) -> None:
        self.deleted[(table, proof)].append(entity_id)

    def full(self) -> bool:
        return any(len(rows) >= self.batch for rows in self.tables.values())

    def flush(self) -> Iterator[Any]:
        for table, rows in self.tables.items():
            if rows:
                yield dlt.mark.with_hints(rows, _hints(table), create_table_variant=True)
        self.tables = defaultdict(list)
        for (table, proof), ids in self.deleted.items():
            marked = deletion_rows(table, [str(i) for i in ids], proof)
            if marked is not None:
                yield marked
        self.deleted = defaultdict(list)


def _store(path: str | None) -> WebhookStore | None:
    return WebhookStore(path) if path and Path(path).exists() else None


def _push_client(push: Mapping[str, Any]) -> int | None:
    client = push.get("payload", {}).get("client") if isinstance(push.get("payload"), dict) else None
    return to_int(client.get("id")) if isinstance(client, dict) else None


def _sweep_runs(sweep_runs: int | None, sweep_days: int | None) -> int:
    """`sweep_runs`, or the older name `sweep_days` (it always counted runs), or the default."""
    for value in (sweep_runs, sweep_days):
        if value is not None:
            return max(0, int(value))
    return settings.DEFAULT_SWEEP_RUNS


class _Published:
    """Warnings and facts a resource may revise later in the run: each call replaces what it
    said before, so resources that finish at different times never repeat each other."""

    def __init__(self, report: SourceReport) -> None:
        self.report = report
        self._said: list[str] = []

    def say(self, messages: Sequence[str]) -> None:
        for old in self._said:
            if old in self.report.warnings:
                self.report.warnings.remove(old)
        self._said = [m for m in messages if m not in self.report.warnings]
        for message in self._said:
            self.report.warn(message)


@dlt.source(name="salebot", max_table_nesting=0)
def salebot_source(
    *,
    api_key: str = dlt.secrets.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    max_requests: int | None = None,
    concurrency: int = settings.DEFAULT_CONCURRENCY,
    requests_per_minute: float = settings.DEFAULT_REQUESTS_PER_MINUTE,
    sweep_runs: int | None = None,
    sweep_days: int | None = None,
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
        sweep_runs: every known client is re-read in full at least once per this many
            runs (as far as the budget allows) even when nothing says it changed (0: no sweep).
        sweep_days: the former name of ``sweep_runs`` (it counted runs too); still accepted.
        history_limit: ``limit`` of ``get_history`` (the documented maximum, 2000).
        order_variables: names for ``get_order_vars``; None asks for all of them.
        webhook_store: the receiver's SQLite inbox; pushes in it are loaded into ``messages``.
        since, until: backfill window for message history (UTC); memory does not move.
        report: filled in while the run goes (requests, budget, unfinished resources,
            warnings, facts such as ``reverify_within_runs`` and ``missing_permissions``).
    """
    report = report if report is not None else SourceReport()
    workers = max(1, int(concurrency or 1))
    sweep = _sweep_runs(sweep_runs, sweep_days)
    api = SalebotApi(
        base_url,
        api_key,
        requests_per_minute=requests_per_minute,
        max_requests=max_requests,
        concurrency=workers,
    )
    report.client = api.client
    listing_shapes = Shapes()
    listing = _Listing(api, report, listing_shapes)
    backfill = since is not None or until is not None
    permissions_said = _Published(report)

    def note_permissions() -> None:
        permissions_said.say(api.permissions.warnings())
        report.facts["missing_permissions"] = api.permissions.missing()

    @dlt.resource(name="clients", primary_key="id", write_disposition="merge", columns=CLIENT_COLUMNS)
    def clients() -> Iterator[list[dict[str, Any]]]:
        """Every client; the list is also what `client_details` plans its work from."""
        rows = list(listing.get().values())
        for i in range(0, len(rows), 1000):
            yield rows[i : i + 1000]
        for message in listing_shapes.warnings():
            report.warn(message)

    @dlt.resource(name="channels", primary_key=["messenger", "id"], write_disposition="merge")
    def channels() -> Iterator[list[dict[str, Any]]]:
        """Connected messengers (``connected_channels``), one row per bot."""
        shapes = Shapes()
        try:
            yield channel_rows(api.channels(), shapes)
        except BudgetExhausted:
            report.spent("channels")
        except ActionDenied:
            note_permissions()
        for message in shapes.warnings():
            report.warn(message)

    @dlt.resource(name="blocks", primary_key="id", write_disposition="merge")
    def blocks() -> Iterator[list[dict[str, Any]]]:
        """Blocks of the bot scheme (``get_messages``); a message's ``message_id`` points here."""
        shapes = Shapes()
        try:
            yield block_rows(api.blocks(), shapes)
        except BudgetExhausted:
            report.spent("blocks")
        except ActionDenied:
            note_permissions()
        for message in shapes.warnings():
            report.warn(message)

    @dlt.resource(name=DETAILS, write_disposition="merge")
    def client_details() -> Iterator[Any]:
        """History, orders and variables of the clients the plan names, webhook pushes, order
        status changes and deletions. State: only the ledger's epoch and run counter, and
        ``webhook_through`` (the last push, by store sequence, this resource has taken)."""
        state = dlt.current.resource_state()
        shapes = Shapes()
        memory = Memory(Ledger(DETAILS, dict(state) if backfill else state))
        if not backfill:
            _migrate_old_state(memory)
        store = None if backfill else _store(webhook_store)
        through_seq = int(state.get("webhook_through", 0))
        pushes: list[dict[str, Any]] = []
        if store is not None:
            # dlt loads any pending package before it extracts again, so pushes up to the
            # stored sequence are in the destination now
            store.mark_consumed(through_seq)
            pushes = list(store.read_after(through_seq))
            for push in pushes:
                if (cid := _push_client(push)) is not None:
                    memory.flag(cid)
        listed = listing.get()
        if not listing.complete:
            report.incomplete.add(DETAILS)
        rows = _Rows()
        now = dt.datetime.now(dt.UTC)
        today = now.date()
        if not backfill:
            kept = _reconcile_listing(listed, listing.complete, memory, rows, lambda cid: _client_exists(api, cid))
            if kept:
                report.incomplete.add("clients")
                report.warn(f"clients: the client list left out {len(kept)} client(s) that still exist (first: "
                            f"{kept[0]}); none was marked deleted and the next run reads the list again")
        plan = plan_clients(listed, memory, sweep_runs=sweep, budget=max_requests, backfill=backfill)
        report.planned[DETAILS] = plan.counts()
        history_read: set[int] = set()
        done: Counter[str] = Counter()

        def task_of(task: Task) -> ClientTask:
            cid = task.client_id
            known = memory.client(cid)
            start, stop = history_days(
                known.through if known is not None else None, listed[cid].get("created_at"), today,
                since=since, until=until,
            )
            orders = memory.orders_of(cid)
            return ClientTask(
                cid,
                task.scope,
                start,
                stop,
                open_orders=frozenset(o for o, m in orders.items() if m.status == settings.OPEN_STATUS),
                known={o: (m.status, m.state_id) for o, m in orders.items()},
            )

        def work(task: ClientTask) -> ClientRead:
            return read_client(api, task, history_limit, order_variables)

        tasks = {t.client_id: t for t in plan.tasks}
        try:
            for client_task, read in fan_out((task_of(t) for t in plan.tasks), work, workers, api.client.workers):
                reason = tasks[client_task.client_id].reason
                for problem in read.problems:
                    report.incomplete.add(DETAILS)
                    report.warn(f"{DETAILS}: client {read.client_id} could not be read whole, nothing of it was "
                                f"marked deleted and the next run reads it again: {problem}")
                if backfill:
                    if read.messages is not None:
                        rows.add("messages", _messages(read, shapes))
                else:
                    _absorb(
                        client_task, read, listed=listed, memory=memory, rows=rows, shapes=shapes, now=now, today=today
                    )
                    if read.messages is not None:
                        history_read.add(read.client_id)
                done[reason] += 1
                if rows.full():
                    yield from rows.flush()
        except BudgetExhausted:
            report.spent(DETAILS)
            logger.warning(
                "Salebot request budget spent: %d of %d planned clients read; the rest next run",
                sum(done.values()),
                len(plan.tasks),
            )
        if store is not None:
            # a push whose client's history was just read is in that history (it was stored
            # before the read began); the others land now and are replaced when polled
            late = [
                row
                for p in pushes
                if _push_client(p) not in history_read
                and (row := webhook_message_row(p.get("payload"), p.get("received_at", 0.0), shapes)) is not None
            ]
            rows.add("messages", late)
            if pushes:
                state["webhook_through"] = pushes[-1]["seq"]
        yield from rows.flush()
        if not backfill:
            ledger_rows = memory.rows()
            if ledger_rows is not None:
                yield ledger_rows
            verified = sum(1 for cid in listed if (c := memory.client(cid)) is not None and c.verified_run is not None)
            report.facts.update(
                {
                    "clients": len(listed),
                    "sweep_runs": sweep,
                    "sweep_quota": plan.sweep_quota,
                    "reverified_clients": sum(n for r, n in done.items() if r != "open_orders"),
                    "open_order_checks": done.get("open_orders", 0),
                    "reverify_within_runs": reverify_within(
                        verified, sweep, max_requests, orders_per_client=mean_orders(memory)
                    ),
                }
            )
        note_permissions()
        for message in shapes.warnings():
            report.warn(message)

    return watched((clients, channels, blocks, client_details), api.client.clock)


def _messages(read: ClientRead, shapes: Shapes) -> list[dict[str, Any]]:
    return [row for m in read.messages or () if (row := message_row(m, read.client_id, shapes)) is not None]


def _client_exists(api: SalebotApi, cid: int) -> bool:
    """Whether a client the list left out still answers (its history of today reads): what
    cannot be asked (budget, an answer of unexpected shape) counts as still there."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        return api.history(cid, today, today) is not None
    except (BudgetExhausted, UnexpectedAnswer, ActionDenied):
        return True


def _reconcile_listing(
    listed: Mapping[int, Any], complete: bool, memory: Memory, rows: _Rows, exists: Callable[[int], bool]
) -> list[int]:
    """Clients a complete listing no longer has are gone once ``exists`` denies them too (the
    list has no count, so one cut short looks whole); tombstoned ones it has again are back.
    Returns the clients the list left out that still exist."""
    known = [str(c) for c, m in memory.clients.items() if not m.deleted]
    kept = []
    for cid in absent(known, {str(c) for c in listed}, complete):
        if exists(int(cid)):
            kept.append(int(cid))
        else:
            _client_gone(int(cid), LISTING, memory, rows)
    marked = {str(c) for c, m in memory.clients.items() if m.deleted}
    for cid in returned((str(c) for c in listed), marked):
        rows.gone("clients", int(cid), None)
        memory.put_client(int(cid), ClientMemory(), verified=False)
    return kept


def _client_gone(cid: int, proof: str, memory: Memory, rows: _Rows) -> None:
    rows.gone("clients", cid, proof)
    known = memory.client(cid) or ClientMemory()
    memory.put_client(cid, replace(known, deleted=True, flagged=False), verified=False)
    for oid, order in memory.orders_of(cid).items():
        memory.put_order(oid, replace(order, deleted=True))


def _absorb(
    task: ClientTask,
    read: ClientRead,
    *,
    listed: Mapping[int, Mapping[str, Any]],
    memory: Memory,
    rows: _Rows,
    shapes: Shapes,
    now: dt.datetime,
    today: dt.date,
) -> None:
    """Turn one client's read into rows, change records, deletions and memory."""
    cid = read.client_id
    if read.gone:
        _client_gone(cid, settings.CLIENT_NOT_FOUND, memory, rows)
        return
    known = memory.client(cid) or ClientMemory()
    if read.messages is not None:
        rows.add("messages", _messages(read, shapes))
    if read.orders is not None:
        _absorb_orders(read, known, memory=memory, rows=rows, shapes=shapes, now=now)
    if read.variables_read:
        variables = variable_rows(cid, read.variables, shapes)
        rows.add(
            "client_variables", variables or [{"id": f"{cid}:", "client_id": cid, "name": "", "no_variables": True}]
        )
    if read.problems:  # a part came back in an unexpected shape: read the client again next run
        memory.put_client(cid, replace(known, flagged=True), verified=False)
        return
    if task.scope == "orders":
        memory.put_client(cid, replace(known, orders_run=memory.run), verified=False)
        return
    updated = listed[cid].get("updated_at")
    memory.put_client(
        cid,
        replace(
            known,
            seen=int(updated.timestamp()) if isinstance(updated, dt.datetime) else None,
            through=today if read.messages is not None else known.through,
            orders_run=memory.run if read.orders is not None else known.orders_run,
            flagged=False,
            deleted=False,
        ),
        verified=True,
    )


def _absorb_orders(
    read: ClientRead, client: ClientMemory, *, memory: Memory, rows: _Rows, shapes: Shapes, now: dt.datetime
) -> None:
    cid = read.client_id
    known = memory.orders_of(cid)
    # an order not there at the client's last full read was created after it
    created_after = client.verified_at if client.verified_run is not None and not client.deleted else None
    for oid, seen in (read.orders or {}).items():
        old = memory.orders.get(oid)
        if seen.unchanged:
            continue
        if seen.gone:
            if oid in known:
                rows.gone("orders", oid, "order_not_found")
                memory.put_order(oid, replace(known[oid], deleted=True))
            continue
        if old is not None and old.deleted:
            rows.gone("orders", oid, None)  # it is back
        state_id = seen.state_id if seen.state_read else (old.state_id if old is not None else None)
        first_seen = old.first_seen_at if old is not None and old.first_seen_at else now
        after = old.created_after if old is not None else created_after
        row = order_row(oid, cid, status=seen.status, state_id=state_id, variables=seen.variables, shapes=shapes)
        row.update(first_seen_at=first_seen, created_after=after)
        rows.add("orders", [row])
        changes = old.changes if old is not None else 0
        if old is None or old.status != seen.status or old.state_id != state_id:
            changes = 0 if old is None else old.changes + 1
            rows.add(
                "order_status_changes",
                [
                    {
                        "order_id": oid,
                        "change_seq": changes,
                        "client_id": cid,
                        "old_status": None if old is None else old.status,
                        "new_status": seen.status,
                        "old_status_name": None
                        if old is None or old.status is None
                        else settings.ORDER_STATUSES.get(old.status),
                        "new_status_name": settings.ORDER_STATUSES.get(seen.status),
                        "old_state_id": None if old is None else old.state_id,
                        "new_state_id": state_id,
                        "changed_at": None,  # the API gives no time of the change
                        "observed_at": now,
                    }
                ],
            )
        memory.put_order(oid, OrderMemory(cid, seen.status, state_id, changes, first_seen, after))
    for missing in absent(map(str, known), {str(o) for o in read.listed_orders}, read.orders_complete):
        rows.gone("orders", int(missing), LISTING)
        memory.put_order(int(missing), replace(known[int(missing)], deleted=True))


def _migrate_old_state(memory: Memory) -> None:
    """Earlier versions kept per-client memory in dlt state (resources `messages` and
    `orders`): carry it into the ledger once and drop it, so the state shrinks and no
    client is read again only because the memory moved."""
    resources = dlt.current.source_state().get("resources", {})
    old = resources.get("messages", {}).get("clients")
    if isinstance(old, dict) and all(c.verified_run is None for c in memory.clients.values()):
        for key, value in old.items():
            cid = to_int(key)
            if cid is None or not isinstance(value, dict):
                continue
            through = value.get("through")
            try:
                day = dt.date.fromisoformat(through) if isinstance(through, str) else None
            except ValueError:
                day = None
            seen = value.get("seen")
            memory.put_client(
                cid,
                ClientMemory(seen=int(seen) if isinstance(seen, (int, float)) else None, through=day),
                verified=True,
            )
    for name in ("messages", "orders"):
        if isinstance(resources.get(name), dict) and "clients" in resources[name]:
            resources.pop(name)


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
    through = int(sources_state.get("resources", {}).get(DETAILS, {}).get("webhook_through", 0))
    return store.mark_consumed(through) if through else 0
