"""Leeloo.ai source: people, channels and their chat messages, orders and their status
changes, tunnels and the account's reference lists, loaded incrementally.

How it stays equal to the API (see README.md beside this file): windows on the last
message time for people and channels, cursors that move only when their window is done
(kept in dlt resource state rather than `dlt.sources.incremental`, which would advance
with every row seen), per-entity memory in the dataset's ledger table (not in dlt state,
which dlt rewrites whole on every load), a sweep that re-verifies every channel and
person within `sweep_runs` runs whatever the lists say, and deletions proved by complete
listings or a 404.

Modules: `people`, `channels`, `orders`, `reference` hold the resources (module-level
steps over an explicit state object, their decisions plain functions); `windowed`,
`chains` and `lists` what they share and decide; `paging` the pager that proves a
listing complete; `sweep` who is re-verified when; `rows` the row builders and declared
columns; `shapes` how odd values are kept; `run` what the resources of one run share.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.clocks import watched
from sources.report import SourceReport

from . import settings
from .channels import channels_resource
from .client import make_client
from .orders import orders_resource
from .people import people_resource
from .reference import reference_resources
from .rows import (
    CHANNEL_COLUMNS,
    CONNECTION_COLUMNS,
    LEADGENTOOL_COLUMNS,
    MESSAGE_COLUMNS,
    NAMED_COLUMNS,
    ORDER_COLUMNS,
    PEOPLE_COLUMNS,
    STATS_COLUMNS,
    STATUS_CHANGE_COLUMNS,
    TAG_COLUMNS,
    TEMPLATE_COLUMNS,
    V1_ACCOUNT_COLUMNS,
)
from .run import LeelooRun
from .times import parse_initial_date, utc_now

# tables loaded by another resource: `--resources chat_messages` selects the channels
RESOURCE_ALIASES = {"chat_messages": "communication_channels", "order_status_changes": "orders"}

# the columns chatfunnel declares per table: its own layout, never fields the API started to send
DECLARED_COLUMNS: dict[str, dict[str, Any]] = {
    "people": PEOPLE_COLUMNS, "communication_channels": CHANNEL_COLUMNS, "chat_messages": MESSAGE_COLUMNS,
    "orders": ORDER_COLUMNS, "order_status_changes": STATUS_CHANGE_COLUMNS, "tunnels": NAMED_COLUMNS,
    "users": NAMED_COLUMNS, "tags": TAG_COLUMNS, "connections": CONNECTION_COLUMNS,
    "template_categories": TAG_COLUMNS, "templates": TEMPLATE_COLUMNS, "leadgentools": LEADGENTOOL_COLUMNS,
    "tunnel_stats": STATS_COLUMNS, "v1_accounts": V1_ACCOUNT_COLUMNS,
}

# (child table, child column, parent table): a deleted parent takes these rows with it,
# applied in this order (a person's channels first, then those channels' messages)
# what a full refresh keeps (pipelines.config.history): only a run that observed them made these rows
KEPT_ON_REFRESH: tuple[dict[str, object], ...] = (
    {"table": "tunnel_stats", "key": ("tunnel_id", "snapshot_date"), "entity": "tunnel_id", "parent": "tunnels",
     "noun": "snapshots"},
    {"table": "order_status_changes", "key": ("change_id",), "entity": "order_id", "parent": "orders",
     "noun": "changes", "transitions": (("old_status", "new_status"),)},
)
DELETION_CASCADES: tuple[tuple[str, str, str], ...] = (
    ("communication_channels", "person_id", "people"),
    ("chat_messages", "account_id", "communication_channels"),
    ("leadgentools", "tunnel_id", "tunnels"),
    ("templates", "category_id", "template_categories"),
)


def give_arrow_tables_dlt_columns() -> None:
    """Chat messages reach dlt as Arrow tables, which by default get neither `_dlt_load_id`
    nor `_dlt_id`; every other table has both, and the staging models and lake reports
    pick the newest version of a row by `_dlt_load_id`. An environment variable of the
    same name still wins."""
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True


def keep_strings_as_text() -> None:
    """dlt guesses a timestamp type for a new column whose first value looks like one; a
    custom field's value (`"+48..."`, then `"Kyiv"`) or an added field would then take
    its type from whichever row came first. Our builders type every time they know;
    any other string stays text."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")


@dlt.source(name="leeloo", max_table_nesting=2)
def leeloo_source(
    *,
    api_token: str = dlt.secrets.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    initial_date: str = settings.DEFAULT_INITIAL_DATE,
    since: datetime | None = None,
    until: datetime | None = None,
    max_requests: int | None = None,
    requests_per_minute: float | None = settings.REQUESTS_PER_MINUTE,
    concurrency: int = settings.CONCURRENCY,
    page_size: int = settings.PAGE_SIZE,
    window_overlap_hours: float = settings.WINDOW_OVERLAP_HOURS,
    order_details: bool = True,
    sweep_runs: int = settings.SWEEP_RUNS,
    backfill_newest_first: bool = True,
    backfill_window_requests: int = settings.BACKFILL_WINDOW_REQUESTS,
    history_step: bool = False,
    report: SourceReport | None = None,
) -> Sequence[DltResource]:
    """Every readable Leeloo entity.

    `since`/`until` load a window (a backfill) without moving the nightly cursors and
    re-read what falls in it even if it looks unchanged. `max_requests` caps the run:
    it then stops cleanly, keeps what it loaded, and the next run carries on (new
    activity first, the sweep with what is left). `sweep_runs`: every channel's messages
    and every person's detail are re-verified at least once per this many runs (0: never).
    `backfill_newest_first`: a first load lists people and channels of the last day only;
    the run's driver then reads older history in `history_step` runs, one window (of
    about `backfill_window_requests` requests) at a time, newest first.
    """
    report = report if report is not None else SourceReport()
    give_arrow_tables_dlt_columns()
    keep_strings_as_text()
    client = make_client(
        api_token,
        base_url,
        requests_per_minute=requests_per_minute or None,
        max_requests=max_requests,
        concurrency=concurrency,
    )
    report.client = client
    run = LeelooRun(
        client=client,
        report=report,
        concurrency=concurrency,
        page_size=page_size,
        overlap=timedelta(hours=window_overlap_hours),
        start_of_history=parse_initial_date(initial_date),
        now=utc_now(),
        since=since,
        until=until,
        sweep_runs=max(0, int(sweep_runs)),
        order_details=order_details,
        newest_first=bool(backfill_newest_first),
        history_step=bool(history_step),
        window_requests=max(1, int(backfill_window_requests)),
        requests_per_minute=requests_per_minute or None,
    )
    resources = (*reference_resources(run), orders_resource(run), people_resource(run), channels_resource(run))
    return watched(resources, client.clock)
