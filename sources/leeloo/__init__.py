"""Leeloo.ai source: people, channels and their chat messages, orders, tunnels and the
account's reference lists, loaded incrementally.

Cursors are kept in dlt resource state rather than in `dlt.sources.incremental`,
because a cursor here may only move once its whole window is done: a run stopped by
the request budget, or a listing whose offsets shifted beyond repair, keeps the old
cursor while still committing what it did load (see README, "How incremental loading
works").
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.http import ApiError, BudgetExhausted, fan_out
from sources.report import SourceReport

from . import settings
from .helpers import (
    Listing,
    api_time,
    channel_row,
    envelope_items,
    iter_messages,
    make_client,
    message_row,
    messages_table,
    order_row,
    parse_initial_date,
    person_row,
    stats_row,
    to_utc,
    utc_now,
    window_bounds,
)

logger = logging.getLogger("chatfunnel.leeloo")



def _ts() -> dict[str, Any]:
    return {"data_type": "timestamp", "timezone": True}


def _col(data_type: str) -> dict[str, Any]:
    return {"data_type": data_type}


PEOPLE_COLUMNS = {
    "id": _col("text"), "name": _col("text"), "email": _col("text"), "phone": _col("text"), "profile_image": _col("text"),
    "gender": _col("text"), "locale": _col("text"), "last_message_time": _ts(), "created_at": _ts(), "updated_at": _ts(),
}
CHANNEL_COLUMNS = {
    "id": _col("text"), "person_id": _col("text"), "name": _col("text"), "from": _col("text"), "bot_status": _col("text"),
    "last_message_time": _ts(), "created_at": _ts(),
    **{f"utm_marks__{k}": _col("text") for k in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")},
}
MESSAGE_COLUMNS = {
    "id": _col("text"), "account_id": _col("text"), "text": _col("text"), "type": _col("text"), "read": _col("bool"),
    "created_at": _ts(), "updated_at": _ts(), "links__created_by__type": _col("text"), "links__created_by__id": _col("text"),
}
ORDER_COLUMNS = {
    "id": _col("text"), "person_id": _col("text"), "title": _col("text"), "description": _col("text"),
    "price": _col("double"), "currency": _col("text"), "status": _col("text"), "payment_method": _col("text"),
    "created_at": _ts(), "updated_at": _ts(),
}
STATS_COLUMNS = {
    "tunnel_id": _col("text"), "snapshot_date": _col("date"), "snapshot_at": _ts(),
    **{c: _col("bigint") for c in (
        "subscribers", "uniq_subscribers", "orders", "sales", "uniq_sales",
        "visits", "uniq_visits", "shows", "uniq_shows")},
    "total_sale": _col("double"), "total_expenses": _col("double"),
}


def named_columns() -> dict[str, Any]:
    """dlt annotates hint dicts in place, so every resource gets its own copies."""
    return {"id": _col("text"), "name": _col("text"), "created_at": _ts(), "updated_at": _ts()}


def fingerprint(item: Any) -> str:
    """A short digest of a list item: any change the list shows changes it."""
    return hashlib.blake2b(
        json.dumps(item, sort_keys=True, default=str).encode(), digest_size=8
    ).hexdigest()


class Latest:
    """The newest timestamp seen so far: what a window cursor moves to once its window is done."""

    def __init__(self) -> None:
        self.value: datetime | None = None

    def see(self, value: Any) -> None:
        moment = to_utc(value)
        if moment is not None and (self.value is None or moment > self.value):
            self.value = moment


MESSAGES_PER_BATCH = 5000


def give_arrow_tables_dlt_columns() -> None:
    """Chat messages reach dlt as Arrow tables, which by default get neither `_dlt_load_id`
    nor `_dlt_id`; every other table has both, and the staging models and lake reports
    pick the newest version of a row by `_dlt_load_id`. An environment variable of the
    same name still wins."""
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True


def batched(rows: Iterator[dict[str, Any]], size: int = 200) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    try:
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
    except BudgetExhausted:
        if batch:
            yield batch  # rows already counted as loaded in resource state must reach the table
        raise
    if batch:
        yield batch


@dlt.source(name="leeloo", max_table_nesting=2)
def leeloo_source(
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
    report: SourceReport | None = None,
) -> Sequence[DltResource]:
    """Every readable Leeloo entity.

    `since`/`until` load a window (a backfill) without moving the nightly cursors and
    re-read what falls in it even if it looks unchanged. `max_requests` caps the run:
    it then stops cleanly, keeps what it loaded, and the next run carries on.
    """
    report = report if report is not None else SourceReport()
    give_arrow_tables_dlt_columns()
    client = make_client(
        api_token,
        base_url,
        requests_per_minute=requests_per_minute or None,
        max_requests=max_requests,
        concurrency=concurrency,
    )
    report.client = client
    start_of_history = parse_initial_date(initial_date)
    overlap = timedelta(hours=window_overlap_hours)
    now = utc_now()
    backfill = since is not None or until is not None

    def guarded(name: str, work: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """Run a resource body; a spent budget ends it cleanly, marked incomplete."""
        try:
            yield from work()
        except BudgetExhausted:
            report.spent(name)

    def get(path: str, params: dict[str, Any] | None = None) -> Any:
        return client.get_json(path, params)

    def windowed(state: dict[str, Any], path: str) -> tuple[Listing, datetime]:
        start, end = window_bounds(state.get("cursor"), start_of_history, overlap, since, until, now)
        params = {settings.WINDOW_FROM: api_time(start), settings.WINDOW_TO: api_time(end)}
        return Listing(client, path, params, page_size), start

    def advance(state: dict[str, Any], name: str, listing: Listing, newest: Latest) -> None:
        if backfill:
            return
        if not listing.complete or name in report.incomplete:
            report.incomplete.add(name)
            return
        newest.see(state.get("cursor"))  # never move a cursor backwards
        if newest.value is not None:
            state["cursor"] = newest.value.isoformat()

    @dlt.resource(name="people", primary_key="id", write_disposition="merge", columns=PEOPLE_COLUMNS)
    def people() -> Iterator[list[dict[str, Any]]]:
        """People in the last-message window; detail only for those whose list entry changed."""
        state = dlt.current.resource_state()
        known: dict[str, str] = state.setdefault("fingerprints", {})
        listing, _ = windowed(state, settings.PEOPLE)
        newest = Latest()

        def changed() -> Iterator[dict[str, Any]]:
            for page in listing:
                for person in page:
                    newest.see(person.get("lastMessageTime"))
                    if backfill or known.get(person["id"]) != fingerprint(person):
                        yield person

        def detail(person: dict[str, Any]) -> dict[str, Any] | None:
            try:
                body = get(settings.PERSON.format(id=person["id"]), {"include": settings.PERSON_INCLUDE})
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise
            return envelope_items(body)[0] if envelope_items(body) else None

        def rows() -> Iterator[dict[str, Any]]:
            for person, fetched in fan_out(changed(), detail, concurrency, client.workers):
                if fetched is None:
                    continue  # gone between list and detail; the next window decides
                yield person_row(person, fetched)
                known[person["id"]] = fingerprint(person)

        yield from guarded("people", lambda: batched(rows()))
        advance(state, "people", listing, newest)

    @dlt.resource(
        name="communication_channels", primary_key="id", write_disposition="merge",
        columns=CHANNEL_COLUMNS,
    )
    def communication_channels() -> Iterator[Any]:
        """Channels in the window and, for those with news, their chat messages.

        Messages are read here rather than in a transformer so the window cursor can
        wait until every channel's messages are in: a channel left half-read would
        otherwise fall out of the next window.
        """
        state = dlt.current.resource_state()
        loaded: dict[str, str] = state.setdefault("messages_loaded_until", {})
        listing, window_start = windowed(state, settings.CHANNELS)
        newest = Latest()
        channel_rows: list[dict[str, Any]] = []
        message_hints = dlt.mark.make_hints(
            table_name="chat_messages", primary_key="id", write_disposition="merge",
            columns=MESSAGE_COLUMNS,
        )

        def with_news() -> Iterator[dict[str, Any]]:
            for page in listing:
                for channel in page:
                    channel_rows.append(channel_row(channel))
                    newest.see(channel.get("lastMessageTime"))
                    last = to_utc(channel.get("lastMessageTime"))
                    done = to_utc(loaded.get(channel["id"]))
                    if backfill or done is None or (last is not None and last > done):
                        yield channel

        def messages(channel: dict[str, Any]) -> list[dict[str, Any]]:
            done = to_utc(loaded.get(channel["id"]))
            back_to = window_start if backfill else (done - overlap if done else None)
            try:
                found = iter_messages(
                    client, channel["id"], back_to, page_size, to_utc(channel.get("lastMessageTime"))
                )
            except ApiError as exc:
                if exc.status == 404:
                    return []
                raise
            return [message_row(m, channel["id"]) for m in found]

        def work() -> Iterator[Any]:
            buffered: list[dict[str, Any]] = []

            def messages_batch() -> Any:
                table = messages_table(buffered)
                buffered.clear()
                return dlt.mark.with_hints(table, message_hints, create_table_variant=True)

            try:
                for channel, found in fan_out(with_news(), messages, concurrency, client.workers):
                    if channel_rows:
                        yield channel_rows[:]
                        channel_rows.clear()
                    buffered.extend(found)
                    loaded[channel["id"]] = channel.get("lastMessageTime") or ""
                    if len(buffered) >= MESSAGES_PER_BATCH:
                        yield messages_batch()
            except BudgetExhausted:
                if buffered:  # their channels already count as loaded in resource state
                    yield messages_batch()
                raise
            if buffered:
                yield messages_batch()

        yield from guarded("communication_channels", work)
        if channel_rows:  # channels listed after the last message chain, or before a budget stop
            yield channel_rows
        advance(state, "communication_channels", listing, newest)

    @dlt.resource(name="orders", primary_key="id", write_disposition="merge", columns=ORDER_COLUMNS)
    def orders() -> Iterator[list[dict[str, Any]]]:
        """Orders have no date filter: the list is read whole every run (one request per
        page, cheap) and only orders whose list entry changed are fetched in detail and
        loaded, which is what catches a status change on an old order."""
        state = dlt.current.resource_state()
        known: dict[str, str] = state.setdefault("fingerprints", {})
        listing = Listing(client, settings.ORDERS, {}, page_size)

        def changed() -> Iterator[dict[str, Any]]:
            for page in listing:
                for order in page:
                    if known.get(order["id"]) != fingerprint(order):
                        yield order

        def detail(order: dict[str, Any]) -> dict[str, Any] | None:
            if not order_details:
                return {}
            try:
                body = get(settings.ORDER.format(id=order["id"]))
            except ApiError as exc:
                if exc.status == 404:
                    return {}
                raise
            return envelope_items(body)[0] if envelope_items(body) else {}

        def rows() -> Iterator[dict[str, Any]]:
            for order, fetched in fan_out(changed(), detail, concurrency if order_details else 1, client.workers):
                yield order_row(order, fetched)
                known[order["id"]] = fingerprint(order)

        yield from guarded("orders", lambda: batched(rows()))
        if not listing.complete:
            report.incomplete.add("orders")

    @dlt.resource(name="tunnels", primary_key="id", write_disposition="merge", columns=named_columns())
    def tunnels() -> Iterator[list[dict[str, Any]]]:
        def work() -> Iterator[list[dict[str, Any]]]:
            for page in Listing(client, settings.TUNNELS, {}, page_size):
                yield [
                    {"id": t["id"], "name": t.get("name"), "created_at": to_utc(t.get("createdAt")),
                     "updated_at": to_utc(t.get("updatedAt"))}
                    for t in page
                ]
        yield from guarded("tunnels", work)

    @dlt.transformer(
        name="leadgentools", data_from=tunnels, primary_key="id", write_disposition="merge",
        columns={"id": _col("text"), "tunnel_id": _col("text"), "name": _col("text"), "type": _col("text")},
    )
    def leadgentools(page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        def tools(tunnel: dict[str, Any]) -> list[dict[str, Any]]:
            body = get(settings.TUNNEL.format(id=tunnel["id"]), {"include": "leadgentools"})
            linked = (body.get("linked") or {}) if isinstance(body, dict) else {}
            data = body.get("data") if isinstance(body, dict) else {}
            found = linked.get("leadgentools") or (data or {}).get("linked", {}).get("leadgentools") or []
            return [
                {"id": t["id"], "tunnel_id": tunnel["id"], "name": t.get("name"), "type": t.get("type")}
                for t in found if isinstance(t, dict) and t.get("id")
            ]

        def work() -> Iterator[list[dict[str, Any]]]:
            for _, found in fan_out(page, tools, concurrency, client.workers):
                if found:
                    yield found
        yield from guarded("leadgentools", work)

    @dlt.transformer(
        name="tunnel_stats", data_from=tunnels, primary_key=("tunnel_id", "snapshot_date"),
        write_disposition="merge", columns=STATS_COLUMNS,
    )
    def tunnel_stats(page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Stats are counters as of the call; one snapshot per tunnel per UTC day."""
        def snapshot(tunnel: dict[str, Any]) -> dict[str, Any]:
            body = get(settings.TUNNEL_STATS.format(id=tunnel["id"]))
            return stats_row(tunnel["id"], body.get("data") if isinstance(body, dict) else None, utc_now())

        def work() -> Iterator[list[dict[str, Any]]]:
            yield [row for _, row in fan_out(page, snapshot, concurrency, client.workers)]
        yield from guarded("tunnel_stats", work)

    @dlt.resource(name="users", primary_key="id", write_disposition="merge", columns=named_columns())
    def users() -> Iterator[list[dict[str, Any]]]:
        def work() -> Iterator[list[dict[str, Any]]]:
            for page in Listing(client, settings.USERS, {}, page_size):
                yield [
                    {"id": u["id"], "name": u.get("name"), "created_at": to_utc(u.get("createdAt")),
                     "updated_at": to_utc(u.get("updatedAt"))}
                    for u in page
                ]
        yield from guarded("users", work)

    def simple_list(name: str, path: str, key: str | None) -> DltResource:
        @dlt.resource(name=name, primary_key="id", write_disposition="merge")
        def listed() -> Iterator[list[dict[str, Any]]]:
            def work() -> Iterator[list[dict[str, Any]]]:
                yield [dict(item) for item in envelope_items(get(path), key)]
            yield from guarded(name, work)
        return listed

    tags = simple_list("tags", settings.TAGS, None)
    connections = simple_list("connections", settings.CONNECTIONS, "connections")
    template_categories = simple_list("template_categories", settings.TEMPLATE_CATEGORIES, "categories")

    @dlt.transformer(
        name="templates", data_from=template_categories, primary_key="id", write_disposition="merge",
    )
    def templates(categories: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        def work() -> Iterator[list[dict[str, Any]]]:
            for category in categories:
                found = envelope_items(get(settings.TEMPLATES.format(id=category["id"])), "templates")
                if found:
                    yield [{**t, "category_id": category["id"]} for t in found]
        yield from guarded("templates", work)

    @dlt.resource(name="v1_accounts", primary_key="id", write_disposition="merge", selected=False)
    def v1_accounts() -> Iterator[list[dict[str, Any]]]:
        """Legacy v1 accounts list, for tokens on the old API. Off unless selected."""
        def work() -> Iterator[list[dict[str, Any]]]:
            for page in Listing(client, settings.V1_ACCOUN_ts(), {}, page_size):
                yield [
                    {**channel_row({**a, "utmMarks": {}}), "tags": a.get("tags") or []}
                    for a in page
                ]
        yield from guarded("v1_accounts", work)

    return (
        tunnels, leadgentools, tunnel_stats, users, tags, connections, template_categories,
        templates, orders, people, communication_channels, v1_accounts,
    )


RESOURCE_ALIASES = {"chat_messages": "communication_channels"}
