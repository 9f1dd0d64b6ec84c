"""Leeloo API client, paging that survives a moving list, and row normalisation."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pendulum
import pyarrow as pa

from sources.http import ApiClient, RateLimiter, RequestBudget

from . import settings

logger = logging.getLogger("chatfunnel.leeloo")


def _is_app_error(body: Any) -> bool:
    """A 200 whose envelope says status != 1 is an error the server may cure on retry."""
    return isinstance(body, dict) and "status" in body and str(body["status"]) != "1"


def make_client(
    api_token: str,
    base_url: str,
    *,
    requests_per_minute: float | None,
    max_requests: int | None,
    concurrency: int,
) -> ApiClient:
    return ApiClient(
        base_url,
        headers={settings.AUTH_HEADER: api_token, "Accept": "application/json"},
        secrets=(api_token,),
        rate_limiter=RateLimiter(requests_per_minute),
        budget=RequestBudget(max_requests),
        max_connections=max(concurrency, 1),
        is_app_error=_is_app_error,
    )


# --- time -----------------------------------------------------------------------------


def to_utc(value: Any) -> datetime | None:
    """Parse an API timestamp to an aware UTC datetime; placeholders and junk become None."""
    if value is None or value == "" or value in settings.PLACEHOLDERS:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = pendulum.parse(text, strict=False)  # type: ignore[assignment]
        except Exception:  # noqa: BLE001 - an unparseable timestamp is missing data, not a crash
            logger.warning("unparseable timestamp %r stored as NULL", text[:40])
            return None
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, datetime.min.time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def api_time(value: datetime) -> str:
    """The form the window filter takes: UTC, millisecond precision, as the docs' examples."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_initial_date(value: str | date | datetime) -> datetime:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time())
    parsed = to_utc(value)
    if parsed is None:
        raise ValueError(f"initial_date {value!r} is not a date")
    return parsed


# --- shapes ---------------------------------------------------------------------------


def to_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).replace(",", ".").strip())
    except ValueError:
        return None


def to_int(value: Any) -> int | None:
    number = to_number(value)
    return None if number is None else int(number)


def _plain_text(value: Any) -> str | None:
    """Free text as sent ("" stays ""); an object where text was expected is kept as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None


def _text(value: Any) -> str | None:
    """Text, with placeholders ("NOT_DEFINED", "NO_DATA", "") as NULL: that is what they mean."""
    if value is None or value == "" or value in settings.PLACEHOLDERS:
        return None
    return value if isinstance(value, str) else str(value)


def custom_fields_rows(value: Any) -> list[dict[str, Any]]:
    """v2 sends a list of {type, name, value}; v1 (and drifting accounts) an object {name: value}."""
    if isinstance(value, dict):
        return [{"type": None, "name": k, "value": _text(v)} for k, v in value.items()]
    rows = []
    for field_ in value or []:
        if isinstance(field_, dict):
            rows.append(
                {
                    "type": _text(field_.get("type")),
                    "name": _text(field_.get("name")),
                    "value": _text(field_.get("value")),
                }
            )
    return rows


def _links(links: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(links, dict):
        return []
    return [
        {"type": item.get("type"), "id": item.get("id")}
        for item in links.get(key) or []
        if isinstance(item, dict)
    ]


def person_row(listed: Mapping[str, Any], detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """One warehouse row from the list item and, where fetched, the person's detail."""
    merged: dict[str, Any] = {**listed, **(detail or {})}
    tags = merged.get("tags") or []
    return {
        "id": merged["id"],
        "name": _text(merged.get("name")),
        "email": _text(merged.get("email")),
        "phone": _text(merged.get("phone")),
        "profile_image": _text(merged.get("profileImage")),
        "gender": _text(merged.get("gender")),
        "locale": _text(merged.get("locale")),
        "last_message_time": to_utc(listed.get("lastMessageTime") or merged.get("lastMessageTime")),
        "created_at": to_utc(merged.get("created_at") or merged.get("createdAt")),
        "updated_at": to_utc(merged.get("updated_at") or merged.get("updatedAt")),
        "tags": [_text(t) for t in (tags.values() if isinstance(tags, dict) else tags)],
        "accounts": [
            {
                "account_id": a.get("account_id"),
                "connection_id": a.get("connection_id"),
                "connection_status": _text(a.get("connection_status")),
                "from": _text(a.get("from")),
            }
            for a in merged.get("accounts") or []
            if isinstance(a, dict)
        ],
        "subscribe_history": [
            {
                "tunnel_name": _text(h.get("tunnelName")),
                "leadgentool_name": _text(h.get("leadgentoolName")),
                "traffic_source": _text(h.get("trafficSource")),
                "tunnel_id": _text(h.get("tunnelId")),
                "leadgentool_id": _text(h.get("leadgentoolId")),
                "traffic_source_id": _text(h.get("trafficSourceId")),
                "account_id": _text(h.get("accountId")),
            }
            for h in merged.get("subscribeHistory") or []
            if isinstance(h, dict)
        ],
        "custom_fields": custom_fields_rows(merged.get("custom_fields")),
        "links": {
            "contacted_users": _links(merged.get("links"), "contactedUsers"),
            "orders": _links(merged.get("links"), "orders"),
        },
    }


UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


def channel_row(channel: Mapping[str, Any]) -> dict[str, Any]:
    utm = channel.get("utmMarks") if isinstance(channel.get("utmMarks"), dict) else {}
    row = {
        "id": channel["id"],
        "person_id": _text(channel.get("person_id")),
        "name": _text(channel.get("name")),
        "from": _text(channel.get("from")),
        "bot_status": _text(channel.get("botStatus")),
        "last_message_time": to_utc(channel.get("lastMessageTime")),
        "created_at": to_utc(channel.get("createdAt")),
        "utm_marks": {k: _text(utm.get(k)) for k in UTM_KEYS},
    }
    row["utm_marks"].update({k: _text(v) for k, v in utm.items() if k not in UTM_KEYS})
    return row


MESSAGES_ARROW_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),  # the primary key, as dlt declares it
    ("account_id", pa.string()),
    ("text", pa.string()),
    ("type", pa.string()),
    ("read", pa.bool_()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")),
    ("links__created_by__type", pa.string()),
    ("links__created_by__id", pa.string()),
])


def message_row(message: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """One chat message, flat and typed to `MESSAGES_ARROW_SCHEMA`."""
    links = message.get("links") if isinstance(message.get("links"), dict) else {}
    created_by = links.get("createdBy") if isinstance(links.get("createdBy"), dict) else {}
    return {
        "id": message["id"],
        "account_id": account_id,
        "text": _plain_text(message.get("text")),
        "type": _text(message.get("type")),
        "read": to_bool(message.get("read")),
        "created_at": to_utc(message.get("createdAt")),
        "updated_at": to_utc(message.get("updatedAt")),
        "links__created_by__type": _text(created_by.get("type")),
        "links__created_by__id": _text(created_by.get("id")),
    }


def messages_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Messages are most of a load's rows, and flat: as an Arrow table they skip dlt's
    row-by-row JSON normalizer, which was the larger part of normalizing a full load."""
    return pa.Table.from_pylist(rows, schema=MESSAGES_ARROW_SCHEMA)


def order_row(order: Mapping[str, Any], detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    merged = {**order, **(detail or {})}
    return {
        "id": merged["id"],
        "person_id": _text(order.get("person_id") or merged.get("person_id")),
        "title": _text(merged.get("title")),
        "description": _text(merged.get("description")),
        "price": to_number(merged.get("price")),
        "currency": _text(merged.get("currency")),
        "status": _text(merged.get("status")),
        "payment_method": _text(merged.get("paymentMethod")),
        "created_at": to_utc(merged.get("createdAt")),
        "updated_at": to_utc(merged.get("updatedAt")),
    }


STAT_COUNTERS = {
    "subscribers": "subscribers",
    "uniqSubscribers": "uniq_subscribers",
    "orders": "orders",
    "sales": "sales",
    "uniqSales": "uniq_sales",
    "visits": "visits",
    "uniqVisits": "uniq_visits",
    "shows": "shows",
    "uniqShows": "uniq_shows",
}


def stats_row(tunnel_id: str, data: Any, taken_at: datetime) -> dict[str, Any]:
    """Tunnel stats carry no date: the snapshot date is the UTC day they were read."""
    stats = data[0] if isinstance(data, list) and data else data if isinstance(data, dict) else {}
    row: dict[str, Any] = {
        "tunnel_id": tunnel_id,
        "snapshot_date": taken_at.date(),
        "snapshot_at": taken_at,
    }
    for api_name, column in STAT_COUNTERS.items():
        row[column] = to_int(stats.get(api_name))
    row["total_sale"] = to_number(stats.get("totalSale"))
    row["total_expenses"] = to_number(stats.get("totalExpenses"))
    return row


# --- paging ---------------------------------------------------------------------------


def envelope_items(body: Any, key: str | None = None) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if key and isinstance(data, dict):
        data = data.get(key)
    if isinstance(data, dict):
        data = [data]
    return [item for item in data or [] if isinstance(item, dict)]


def _meta_total(body: Any) -> int | None:
    """The documents contradict themselves on which count is the total; trust neither alone."""
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        return None
    counts = [to_int(meta.get(k)) for k in ("totalCount", "filteredCount")]
    counts = [c for c in counts if c is not None]
    return max(counts) if counts else None


ANCHORS = 3  # ids re-read at the head of each page; a gap is only possible if all of them moved


@dataclass
class Listing:
    """Pages of one list endpoint, deduplicated, with a verdict on whether it is gap-free."""

    client: ApiClient
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    page_size: int = settings.PAGE_SIZE
    max_rewinds: int = 50
    complete: bool = False
    rewinds: int = 0

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of new items.

        Offsets shift when an item leaves the list while we page (a person who writes
        leaves the last-message window), and then everything after it moves to a lower
        offset. So each page is requested starting at the last few items already taken
        (the anchors): finding one proves nothing was skipped; finding none means the
        list moved, and the pager steps back until it finds one again. Paging stops on an
        empty page or when the offset reaches the larger of the two meta counts, never
        on a short page. `complete` is True only when no gap is possible.
        """
        seen: set[str] = set()
        start = 0
        anchors: list[str] = []
        verified = True
        probing = False
        stalls = 0
        last_len = self.page_size
        self.complete = False
        while True:
            body = self.client.get_json(
                self.path, {**self.params, "limit": self.page_size, "offset": start}
            )
            items = envelope_items(body)
            ids = [item.get("id") for item in items]
            position = -1
            if anchors:
                found = [a for a in anchors if a in ids]
                if found:
                    position = ids.index(found[-1])
                elif start > 0 and self.rewinds < self.max_rewinds:
                    self.rewinds += 1
                    start = max(0, start - max(1, last_len - len(anchors)))
                    continue
                elif items:
                    verified = False
                    logger.warning("%s: the list moved too much to prove no gap", self.path)
            if probing and items:
                verified = False  # stepped past the anchors without one to check
            probing = False
            if not items:
                self.complete = verified
                return
            last_len = len(items)
            new = items[position + 1 :]
            fresh = [item for item in new if item.get("id") not in seen]
            seen.update(ids)
            if fresh:
                yield fresh
            end = start + len(items)
            total = _meta_total(body)
            if total is not None and end >= total:
                self.complete = verified
                return
            if new:
                anchors = ids[-ANCHORS:]
                start, stalls = end - len(anchors), 0
            elif stalls < 2:
                stalls += 1  # only anchors came back: a short page, or the end of the list
            else:
                anchors, start, stalls, probing = [], end, 0, True


def iter_messages(
    client: ApiClient,
    channel_id: str,
    loaded_until: datetime | None,
    page_size: int,
    newest: datetime | None = None,
) -> list[dict[str, Any]]:
    """Read a channel's messages, newest first, back to what is already loaded.

    Stops early only when the order proves itself: the first message is at least as new
    as the channel's last-message time (the head really is the newest) and every
    message read so far has a non-increasing createdAt. Otherwise the whole chain is
    read, because "older" pages may then still hold new messages.
    """
    path = settings.CHANNEL_MESSAGES.format(id=channel_id)
    messages: dict[str, dict[str, Any]] = {}
    offset = 0
    in_order = True
    previous: datetime | None = None
    while True:
        body = client.get_json(path, {"limit": page_size, "offset": offset})
        items = envelope_items(body)
        if not items:
            break
        for item in items:
            created = to_utc(item.get("createdAt"))
            if created is None or (previous is not None and created > previous):
                in_order = False
            elif not messages:  # the head of the chain
                in_order = newest is not None and created >= newest - timedelta(seconds=1)
            previous = created or previous
            messages.setdefault(item["id"], item)
        offset += len(items)
        if in_order and loaded_until is not None and previous is not None and previous < loaded_until:
            break
        total = _meta_total(body)
        if total is not None and offset >= total:
            break
    return list(messages.values())


def window_bounds(
    cursor: str | None,
    initial_date: datetime,
    overlap: timedelta,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> tuple[datetime, datetime]:
    if since is not None or until is not None:
        return since or initial_date, until or now
    if cursor:
        start = to_utc(cursor) - overlap  # type: ignore[operator]
        return max(start, initial_date), now
    return initial_date, now
