"""Compare a loaded `leeloo` dataset with the emulator's ground truth, table by table.

Rows of entities that exist must match the truth exactly (live rows: `deleted_at` NULL);
entities the emulator deleted must be exactly the rows marked `deleted_at` (of what was
ever loaded: a row never loaded cannot be marked).
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.warehouse import Warehouse

PLACEHOLDER = "NOT_DEFINED"
DELETABLE = ("people", "communication_channels", "chat_messages", "orders", "tunnels", "leadgentools", "users",
             "tags", "connections", "template_categories", "templates")


def _text(value: Any) -> str | None:
    """A value where the warehouse keeps text, as the documented rule stores it: an object
    or list as its JSON text (keys as sent, no spaces, NUL as U+FFFD inside it too), a
    number as its digits, a NUL as U+FFFD, "" as ""."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        value = json.dumps(_no_nul(value), ensure_ascii=False, separators=(",", ":"))
    return (value if isinstance(value, str) else str(value)).replace("\x00", "\ufffd")


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _none(value: Any) -> Any:
    """Text where the API writes a placeholder for "unknown"."""
    return None if value == PLACEHOLDER else _text(value)


def _num(value: Any) -> float | None:
    """A number; text that is none is kept beside the column, which holds NULL."""
    try:
        return None if value is None or isinstance(value, bool) else float(str(value).replace(",", "."))
    except ValueError:
        return None


def _money(value: Any) -> Decimal | None:
    """An amount as the API wrote it (a float's shortest text); None for what is not one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).replace(",", "."))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def expected_rows(truth: dict[str, Any]) -> dict[str, Counter]:
    """What each table must hold, derived from the API's own shapes (not from our code)."""
    people = truth["people"]
    fields = lambda p: p["custom_fields"].items() if isinstance(p.get("custom_fields"), dict) else (  # noqa: E731
        (f.get("name"), f.get("value")) for f in p.get("custom_fields") or [])
    return {
        "people": Counter(
            (p["id"], _text(p.get("name")), _none(p.get("email")), _none(p.get("phone"))) for p in people),
        "people__tags": Counter((p["id"], _text(t)) for p in people for t in p.get("tags") or []),
        "people__accounts": Counter((p["id"], a["account_id"]) for p in people for a in p.get("accounts") or []),
        "people__subscribe_history": Counter(
            (p["id"], h.get("tunnelId"), h.get("leadgentoolId"), h.get("trafficSourceId"), h.get("accountId"))
            for p in people for h in p.get("subscribeHistory") or []
        ),
        "people__custom_fields": Counter((p["id"], name, _none(value)) for p in people for name, value in fields(p)),
        "communication_channels": Counter(
            (c["id"], c["person_id"], _text(c.get("name")), c["from"],
             _none((c.get("utmMarks") or {}).get("utm_source")))
            for c in truth["communication_channels"]
        ),
        "chat_messages": Counter(
            (m["id"], m["account_id"], m["type"], ((m.get("links") or {}).get("createdBy") or {}).get("id"))
            for m in truth["chat_messages"]
        ),
        "orders": Counter(
            (o["id"], o["person_id"], _text(o.get("title")), o["status"], o["currency"], _money(o["price"]),
             o.get("paymentMethod"))
            for o in truth["orders"]
        ),
        "tunnels": Counter((t["id"], _text(t["name"])) for t in truth["tunnels"]),
        "leadgentools": Counter((t["id"], t["tunnel_id"], t["type"]) for t in truth["leadgentools"]),
        "tunnel_stats": Counter(
            (s["tunnel_id"], _int(s["visits"]), _int(s["subscribers"]), _int(s["sales"]), _money(s["totalSale"]))
            for s in truth["tunnel_stats"]
        ),
        "users": Counter((u["id"], _text(u["name"])) for u in truth["users"]),
        "tags": Counter((t["id"], _text(t["name"])) for t in truth["tags"]),
        "connections": Counter(c["id"] for c in truth["connections"]),
        "template_categories": Counter(c["id"] for c in truth["template_categories"]),
        "templates": Counter((t["id"], t["category_id"], _text(t["message_name"])) for t in truth["templates"]),
    }


LIVE = "deleted_at is null"
LOADED_SQL = {
    "people": f"select id, name, email, phone from {{ds}}.people where {LIVE}",
    "people__tags": (
        "select p.id, c.value from {ds}.people__tags c join {ds}.people p on c._dlt_parent_id = p._dlt_id "
        f"where p.{LIVE}"
    ),
    "people__accounts": (
        "select p.id, c.account_id from {ds}.people__accounts c join {ds}.people p on c._dlt_parent_id = p._dlt_id "
        f"where p.{LIVE}"
    ),
    "people__subscribe_history": (
        "select p.id, c.tunnel_id, c.leadgentool_id, c.traffic_source_id, c.account_id "
        f"from {{ds}}.people__subscribe_history c join {{ds}}.people p on c._dlt_parent_id = p._dlt_id where p.{LIVE}"
    ),
    "people__custom_fields": (
        "select p.id, c.name, c.value from {ds}.people__custom_fields c "
        f"join {{ds}}.people p on c._dlt_parent_id = p._dlt_id where p.{LIVE}"
    ),
    "communication_channels": (
        f'select id, person_id, name, "from", utm_marks__utm_source from {{ds}}.communication_channels where {LIVE}'
    ),
    "chat_messages": f"select id, account_id, type, links__created_by__id from {{ds}}.chat_messages where {LIVE}",
    "orders": f"select id, person_id, title, status, currency, price, payment_method from {{ds}}.orders where {LIVE}",
    "tunnels": f"select id, name from {{ds}}.tunnels where {LIVE}",
    "leadgentools": f"select id, tunnel_id, type from {{ds}}.leadgentools where {LIVE}",
    "tunnel_stats": (
        "select s.tunnel_id, s.visits, s.subscribers, s.sales, s.total_sale from {ds}.tunnel_stats s "
        f"join {{ds}}.tunnels t on t.id = s.tunnel_id and t.{LIVE} "
        "where s.snapshot_date = (select max(snapshot_date) from {ds}.tunnel_stats)"
    ),
    "users": f"select id, name from {{ds}}.users where {LIVE}",
    "tags": f"select id, name from {{ds}}.tags where {LIVE}",
    "connections": f"select id from {{ds}}.connections where {LIVE}",
    "template_categories": f"select id from {{ds}}.template_categories where {LIVE}",
    "templates": f"select id, category_id, message_name from {{ds}}.templates where {LIVE}",
}


def loaded_rows(wh: Warehouse) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for table, sql in LOADED_SQL.items():
        rows = wh.query(sql)
        # int, float and Decimal of equal value hash alike, so numbers compare across engines
        out[table] = Counter(r[0] if len(r) == 1 else tuple(r) for r in rows)
    return out


def deletion_mismatches(wh: Warehouse, truth: dict[str, Any]) -> dict[str, dict[str, list]]:
    """Per table: rows marked deleted that exist in the API, and gone rows left unmarked."""
    problems: dict[str, dict[str, list]] = {}
    gone_in_api = truth.get("deleted") or {}
    tables = wh.tables()
    for table in DELETABLE:
        if table not in tables:
            continue
        marked = {str(r[0]) for r in wh.query(f"select id from {{ds}}.{table} where deleted_at is not null")}
        loaded = {str(r[0]) for r in wh.query(f"select id from {{ds}}.{table}")}
        gone = {str(i) for i in gone_in_api.get(table, [])} & loaded
        if marked != gone:
            problems[table] = {"marked_but_exists": sorted(marked - gone)[:5],
                               "gone_but_unmarked": sorted(gone - marked)[:5],
                               "n_marked_but_exists": len(marked - gone), "n_gone_but_unmarked": len(gone - marked)}
    return problems


def mismatches(wh: Warehouse, truth: dict[str, Any], *, sample: int | None = 5) -> dict[str, dict[str, list]]:
    """Per table: rows the API has that the warehouse lacks, and the reverse (incl. duplicates),
    each listed up to `sample` rows (None: all of them) beside its count."""
    expected = expected_rows(truth)
    with wh.reading():
        loaded = loaded_rows(wh)
        deleted = deletion_mismatches(wh, truth)
    problems: dict[str, dict[str, list]] = {}
    for table, want in expected.items():
        got = loaded[table]
        missing = list((want - got).elements())
        extra = list((got - want).elements())
        if missing or extra:
            problems[table] = {"missing": missing[:sample], "extra": extra[:sample],
                               "n_missing": len(missing), "n_extra": len(extra)}
    for table, problem in deleted.items():
        problems[f"{table} (deleted_at)"] = problem
    return problems


def assert_matches_truth(wh: Warehouse, truth: dict[str, Any]) -> None:
    problems = mismatches(wh, truth)
    assert not problems, f"warehouse differs from the API's ground truth: {problems}"
