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

Modules: ``snapshots`` and ``details`` hold the resources; ``client_read`` the calls one
client's read makes, ``clients`` and ``orders`` what that read means; ``plan`` who is read
when; ``inbox`` the webhook pushes; ``rows`` and ``columns`` the row builders and declared
columns; ``memory`` what is remembered per client; ``api`` the API calls. Values, batches,
listings and sweep quotas are the source kit's (:mod:`sources.kit`), shared with the
Leeloo source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial
from operator import itemgetter

import dlt
from dlt.sources import DltResource

from sources.clocks import watched
from sources.kit.listing import SharedListing
from sources.kit.notices import RevisedWarnings
from sources.report import SourceReport
from sources.salebot import settings
from sources.salebot.api import SalebotApi
from sources.salebot.columns import DECLARED_COLUMNS
from sources.salebot.details import DETAILS, DetailOptions, details_resource
from sources.salebot.inbox import open_store
from sources.salebot.rows import client_row, salebot_shapes
from sources.salebot.snapshots import blocks_resource, channels_resource, clients_resource

__all__ = ["DECLARED_COLUMNS", "DELETION_CASCADES", "KEPT_ON_REFRESH", "RESOURCE_ALIASES", "SourceReport",
           "mark_webhook_consumed", "salebot_source"]

# tables written by `client_details`: `--resources messages` etc. select it
RESOURCE_ALIASES = {table: DETAILS for table in ("messages", "orders", "client_variables", "order_status_changes")}
# what a full refresh keeps (pipelines.config.history): only a run that observed them made these rows
KEPT_ON_REFRESH: tuple[dict[str, object], ...] = (
    {"table": "order_status_changes", "key": ("order_id", "change_seq"), "entity": "order_id", "parent": "orders",
     "noun": "changes", "order_by": "change_seq", "sequence": "change_seq",
     "transitions": (("old_status", "new_status"), ("old_status_name", "new_status_name"),
                     ("old_state_id", "new_state_id"))},
    {"table": "orders", "key": ("id",), "entity": "id", "parent": "orders", "noun": "first sightings",
     "columns": ("first_seen_at", "created_after"), "carry": "sources.salebot.memory:carry_first_sightings"},
)
# what "history complete since <date>" holds while a first load reads the newest clients first
# (`status`, the dashboard): every client created since then, each whole; not the older clients' news
COMPLETE_SINCE = "for the clients created since"
# (child table, child column, parent table): what hangs off a deleted client is marked with it
DELETION_CASCADES: tuple[tuple[str, str, str], ...] = (
    ("messages", "client_id", "clients"),
    ("orders", "client_id", "clients"),
    ("client_variables", "client_id", "clients"),
)


def _sweep_runs(sweep_runs: int | None, sweep_days: int | None) -> int:
    """`sweep_runs`, or the older name `sweep_days` (it always counted runs), or the default."""
    for value in (sweep_runs, sweep_days):
        if value is not None:
            return max(0, int(value))
    return settings.DEFAULT_SWEEP_RUNS


def _note_permissions(api: SalebotApi, said: RevisedWarnings, report: SourceReport) -> None:
    """What the key turned out not to be allowed to read, as this run knows it so far."""
    said.say(api.permissions.warnings())
    report.facts["missing_permissions"] = api.permissions.missing()


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
    backfill_newest_first: bool = True,
    backfill_window_requests: int = settings.BACKFILL_WINDOW_REQUESTS,
    history_step: bool = False,
    report: SourceReport | None = None,
) -> Sequence[DltResource]:
    """Salebot project -> dataset ``salebot``.

    Args:
        api_key: the project's API key (a URL path segment, redacted from every message).
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
        backfill_newest_first, backfill_window_requests, history_step: a big first load
            reads its clients newest first (:mod:`sources.salebot.newest`).
        report: filled in while the run goes (requests, budget, unfinished resources,
            warnings, facts such as ``reverify_within_runs`` and ``missing_permissions``).
    """
    report = report if report is not None else SourceReport()
    workers = max(1, int(concurrency or 1))
    api = SalebotApi(base_url, api_key, requests_per_minute=requests_per_minute, max_requests=max_requests,
                     concurrency=workers)
    report.client, shapes = api.client, salebot_shapes()
    listing = SharedListing("clients", "client", pages=api.iter_client_pages, row=partial(client_row, shapes=shapes),
                            key=itemgetter("id"), report=report)
    note_permissions = partial(_note_permissions, api, RevisedWarnings(report), report)
    options = DetailOptions(sweep_runs=_sweep_runs(sweep_runs, sweep_days), max_requests=max_requests,
                            workers=workers, history_limit=history_limit, order_variables=order_variables,
                            webhook_store=webhook_store, since=since, until=until, newest_first=backfill_newest_first,
                            history_step=history_step, window_requests=max(1, int(backfill_window_requests)),
                            requests_per_minute=requests_per_minute or None)
    resources = (
        clients_resource(listing, shapes, report),
        channels_resource(api, report, note_permissions),
        blocks_resource(api, report, note_permissions),
        details_resource(api, listing, report, note_permissions, options),
    )
    return watched(resources, api.client.clock)


def mark_webhook_consumed(pipeline: dlt.Pipeline, store_path: str | None = None) -> int:
    """After a successful load: mark the webhook pushes that load carried as consumed.

    Safe to skip (the source keeps its own cursor in dlt state and marks them at the start
    of the next run); calling it right after ``pipeline.run`` just keeps the inbox tidy.
    """
    path = store_path or dlt.config.get("sources.salebot.webhook_store", str) or settings.DEFAULT_WEBHOOK_STORE
    store = open_store(path)
    if store is None:
        return 0
    sources_state = pipeline.state.get("sources", {}).get("salebot", {})
    through = int(sources_state.get("resources", {}).get(DETAILS, {}).get("webhook_through", 0))
    return store.mark_consumed(through) if through else 0
