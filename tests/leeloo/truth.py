"""Compare a loaded `leeloo` dataset with the emulator's ground truth, table by table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.warehouse import Warehouse

PLACEHOLDER = "NOT_DEFINED"


def _none(value: Any) -> Any:
    return None if value in (PLACEHOLDER, "", None) else value


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def expected_rows(truth: dict[str, Any]) -> dict[str, Counter]:
    """What each table must hold, derived from the API's own shapes (not from our code)."""
    people = truth["people"]
    return {
        "people": Counter((p["id"], _none(p.get("email")), _none(p.get("phone"))) for p in people),
        "people__tags": Counter((p["id"], t) for p in people for t in p.get("tags") or []),
        "people__accounts": Counter((p["id"], a["account_id"]) for p in people for a in p.get("accounts") or []),
        "people__subscribe_history": Counter(
            (p["id"], h.get("tunnelId"), h.get("leadgentoolId"), h.get("trafficSourceId"), h.get("accountId"))
            for p in people for h in p.get("subscribeHistory") or []
        ),
        "communication_channels": Counter(
            (c["id"], c["person_id"], c["from"], (c.get("utmMarks") or {}).get("utm_source"))
            for c in truth["communication_channels"]
        ),
        "chat_messages": Counter(
            (m["id"], m["account_id"], m["type"], ((m.get("links") or {}).get("createdBy") or {}).get("id"))
            for m in truth["chat_messages"]
        ),
        "orders": Counter(
            (o["id"], o["person_id"], o["status"], o["currency"], _num(o["price"]), o.get("paymentMethod"))
            for o in truth["orders"]
        ),
        "tunnels": Counter((t["id"], t["name"]) for t in truth["tunnels"]),
        "leadgentools": Counter((t["id"], t["tunnel_id"], t["type"]) for t in truth["leadgentools"]),
        "tunnel_stats": Counter(
            (s["tunnel_id"], int(s["visits"]), int(s["subscribers"]), int(s["sales"]), _num(s["totalSale"]))
            for s in truth["tunnel_stats"]
        ),
        "users": Counter(u["id"] for u in truth["users"]),
        "tags": Counter(t["id"] for t in truth["tags"]),
        "connections": Counter(c["id"] for c in truth["connections"]),
        "template_categories": Counter(c["id"] for c in truth["template_categories"]),
        "templates": Counter((t["id"], t["category_id"]) for t in truth["templates"]),
    }


LOADED_SQL = {
    "people": "select id, email, phone from {ds}.people",
    "people__tags": "select p.id, c.value from {ds}.people__tags c join {ds}.people p on c._dlt_parent_id = p._dlt_id",
    "people__accounts": "select p.id, c.account_id from {ds}.people__accounts c join {ds}.people p on c._dlt_parent_id = p._dlt_id",
    "people__subscribe_history": (
        "select p.id, c.tunnel_id, c.leadgentool_id, c.traffic_source_id, c.account_id "
        "from {ds}.people__subscribe_history c join {ds}.people p on c._dlt_parent_id = p._dlt_id"
    ),
    "communication_channels": 'select id, person_id, "from", utm_marks__utm_source from {ds}.communication_channels',
    "chat_messages": "select id, account_id, type, links__created_by__id from {ds}.chat_messages",
    "orders": "select id, person_id, status, currency, price, payment_method from {ds}.orders",
    "tunnels": "select id, name from {ds}.tunnels",
    "leadgentools": "select id, tunnel_id, type from {ds}.leadgentools",
    "tunnel_stats": (
        "select tunnel_id, visits, subscribers, sales, total_sale from {ds}.tunnel_stats "
        "where snapshot_date = (select max(snapshot_date) from {ds}.tunnel_stats)"
    ),
    "users": "select id from {ds}.users",
    "tags": "select id from {ds}.tags",
    "connections": "select id from {ds}.connections",
    "template_categories": "select id from {ds}.template_categories",
    "templates": "select id, category_id from {ds}.templates",
}


def loaded_rows(wh: Warehouse) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for table, sql in LOADED_SQL.items():
        rows = wh.query(sql)
        # int, float and Decimal of equal value hash alike, so numbers compare across engines
        out[table] = Counter(r[0] if len(r) == 1 else tuple(r) for r in rows)
    return out


def mismatches(wh: Warehouse, truth: dict[str, Any]) -> dict[str, dict[str, list]]:
    """Per table: rows the API has that the warehouse lacks, and the reverse (incl. duplicates)."""
    expected = expected_rows(truth)
    loaded = loaded_rows(wh)
    problems: dict[str, dict[str, list]] = {}
    for table, want in expected.items():
        got = loaded[table]
        missing = list((want - got).elements())
        extra = list((got - want).elements())
        if missing or extra:
            problems[table] = {"missing": missing[:5], "extra": extra[:5],
                               "n_missing": len(missing), "n_extra": len(extra)}
    return problems


def assert_matches_truth(wh: Warehouse, truth: dict[str, Any]) -> None:
    problems = mismatches(wh, truth)
    assert not problems, f"warehouse differs from the API's ground truth: {problems}"
