"""The Leeloo.ai emulator: documented shapes, paging, windows, auth, knobs, simulate, stats, determinism."""
from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
import requests

from emulators.base import parse_iso
from emulators.leeloo import LeelooEmulator
from tests.emulators.conftest import ANCHOR, TOKEN

# ---- key sets copied from the documented examples (leeloo-api-v2.ru.md, leeloo-api-v1-accounts.ru.txt)
META_KEYS = {"limit", "offset", "filteredCount", "totalCount"}
PEOPLE_LIST_KEYS = {"id", "name", "email", "phone", "tags", "accounts", "lastMessageTime"}
ACCOUNT_KEYS = {"account_id", "connection_id", "connection_status", "from"}
PERSON_KEYS = {"id", "name", "tags", "profileImage", "gender", "phone", "email", "locale", "accounts",
               "subscribeHistory", "links", "custom_fields", "created_at", "updated_at"}
SUBSCRIBE_KEYS = {"tunnelName", "leadgentoolName", "trafficSource", "tunnelId", "leadgentoolId",
                  "trafficSourceId", "accountId"}
CUSTOM_FIELD_KEYS = {"type", "name", "value"}
INCLUDED_USER_KEYS = {"id", "name", "createdAt", "updatedAt"}
INCLUDED_ORDER_KEYS = {"id", "title", "price", "currency", "status", "updatedAt"}
CHANNEL_KEYS = {"id", "person_id", "name", "from", "botStatus", "lastMessageTime", "createdAt", "utmMarks"}
UTM_KEYS = {"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"}
MESSAGE_KEYS = {"id", "text", "type", "read", "createdAt", "updatedAt"}
MESSAGE_TYPES = {"FRIEND_MESSAGE", "BOT_MESSAGE", "YOUR_MESSAGE", "SYSTEM_MESSAGE"}
ORDER_LIST_KEYS = {"id", "person_id", "title", "price", "currency", "status", "createdAt", "updatedAt"}
ORDER_DETAIL_KEYS = {"id", "createdAt", "updatedAt", "title", "description", "price", "currency", "status",
                     "paymentMethod"}
PAYMENT_METHODS = {"WAYFORPAY", "YANDEX_MONEY", "ASSET_PAYMENT", "MANUAL"}
TUNNEL_KEYS = {"id", "name", "createdAt", "updatedAt"}
LGT_KEYS = {"id", "name", "type"}
LGT_TYPES = {"LINK", "QR", "WIDGET", "POPUP", "FORM", "FB_AD", "DEFAULT"}
STATS_KEYS = {"subscribers", "uniqSubscribers", "orders", "sales", "uniqSales", "visits", "uniqVisits", "shows",
              "uniqShows", "totalSale", "totalExpenses"}
USER_KEYS = {"id", "name", "createdAt", "updatedAt"}
V1_ACCOUNT_KEYS = {"id", "name", "tags", "from", "botStatus", "lastMessageTime", "createdAt"}
V1_DETAIL_KEYS = {"id", "name", "tags", "from", "botStatus", "gender", "phone", "email", "locale",
                  "subscribeHistory", "links", "custom_fields", "createdAt", "updatedAt"}

WIDE = {"filter[last_message][from]": "2000-01-01", "filter[last_message][to]": "2100-01-01"}


def ms(s: str) -> int:
    return parse_iso(s)


def busiest_channel(truth: dict) -> str:
    counts: dict[str, int] = {}
    for m in truth["chat_messages"]:
        counts[m["account_id"]] = counts.get(m["account_id"], 0) + 1
    return max(counts, key=lambda k: (counts[k], k))


# =============================================================== shapes

def test_documented_keys_of_every_endpoint(client):
    truth = client.emu.truth()
    body = client.json("/api/v2/people", dict(WIDE, limit=5))
    assert set(body) >= {"status", "data", "meta"} and set(body["meta"]) == META_KEYS
    for p in body["data"]:
        assert set(p) == PEOPLE_LIST_KEYS
        assert all(set(a) == ACCOUNT_KEYS for a in p["accounts"])

    # a person with orders and contacted users, through both detail endpoints
    person = next(p for p in truth["people"] if p["links"]["orders"] and p["links"]["contactedUsers"])
    first_account = person["accounts"][0]["account_id"]
    for path in (f"/api/v2/people/{person['id']}", f"/api/v2/communication-channels/{first_account}/person"):
        d = client.json(path, {"include": "contactedUsers,orders"})
        assert set(d["data"]) == PERSON_KEYS
        assert d["data"]["subscribeHistory"] and all(set(s) == SUBSCRIBE_KEYS for s in d["data"]["subscribeHistory"])
        assert set(d["data"]["links"]) == {"contactedUsers", "orders"}
        assert all(set(x) == {"type", "id"} for x in d["data"]["links"]["orders"])
        assert all(set(c) == CUSTOM_FIELD_KEYS for c in d["data"]["custom_fields"])
        assert d["included"]["users"] and all(set(u) == INCLUDED_USER_KEYS for u in d["included"]["users"])
        assert d["included"]["orders"] and all(set(o) == INCLUDED_ORDER_KEYS for o in d["included"]["orders"])
    # without include: empty included (as in the /person example)
    assert client.json(f"/api/v2/people/{person['id']}")["included"] == {}
    # the Russian page's /communication-channels/{person_id}/{account_id} spelling
    d = client.json(f"/api/v2/communication-channels/{person['id']}/{person['accounts'][0]['account_id']}")
    assert d["data"]["id"] == person["id"]

    chans = client.json("/api/v2/communication-channels", dict(WIDE, limit=100))["data"]
    assert chans and all(set(c) == CHANNEL_KEYS and set(c["utmMarks"]) <= UTM_KEYS for c in chans)
    assert any(c["utmMarks"] for c in chans) and any(not c["utmMarks"] for c in chans)

    msgs = client.json(f"/api/v2/communication-channels/{busiest_channel(truth)}/chat-messages", {"limit": 100})
    assert set(msgs["meta"]) == META_KEYS
    for m in msgs["data"]:
        assert m["type"] in MESSAGE_TYPES
        if m["type"] == "YOUR_MESSAGE":
            assert set(m) == MESSAGE_KEYS | {"links"} and m["links"]["createdBy"]["type"] == "users"
        else:
            assert set(m) == MESSAGE_KEYS
    assert {m["type"] for m in truth["chat_messages"]} == MESSAGE_TYPES

    orders = client.json("/api/v2/orders", {"limit": 10})
    assert all(set(o) == ORDER_LIST_KEYS for o in orders["data"]) and set(orders["meta"]) == META_KEYS
    od = client.json(f"/api/v2/orders/{orders['data'][0]['id']}")["data"]
    assert set(od) == ORDER_DETAIL_KEYS and od["paymentMethod"] in PAYMENT_METHODS

    tunnels = client.json("/api/v2/tunnels")
    assert all(set(t) == TUNNEL_KEYS for t in tunnels["data"]) and set(tunnels["meta"]) == META_KEYS
    td = client.json(f"/api/v2/tunnels/{tunnels['data'][0]['id']}", {"include": "leadgentools"})
    assert set(td["data"]) == TUNNEL_KEYS | {"links"}
    assert [x["id"] for x in td["data"]["links"]["leadgentools"]] == [x["id"] for x in td["linked"]["leadgentools"]]
    assert all(set(lgt) == LGT_KEYS and lgt["type"] in LGT_TYPES for lgt in td["linked"]["leadgentools"])
    for path in ("/api/v2/tunnels/stats", f"/api/v2/tunnels/{tunnels['data'][0]['id']}/stats"):
        st = client.json(path)["data"]
        assert isinstance(st, list) and len(st) == 1 and set(st[0]) == STATS_KEYS

    users = client.json("/api/v2/users")
    assert all(set(u) == USER_KEYS for u in users["data"]) and set(users["meta"]) == META_KEYS
    assert set(client.json(f"/api/v2/users/{users['data'][0]['id']}")["data"]) == USER_KEYS
    tags = client.json("/api/v2/tags")["data"]
    assert 10 <= len(tags) <= 20 and all(set(t) == {"id", "name"} for t in tags)
    conns = client.json("/api/v2/connections")["data"]["connections"]
    assert 3 <= len(conns) <= 6 and all(set(c) == {"id", "type", "name"} for c in conns)
    cats = client.json("/api/v2/categories/templates")["data"]["categories"]
    assert 2 <= len(cats) <= 4 and all(set(c) == {"id", "name"} for c in cats)
    tpls = client.json(f"/api/v2/categories/templates/{cats[0]['id']}")["data"]["templates"]
    assert 1 <= len(tpls) <= 5 and all(set(t) == {"id", "message_name"} for t in tpls)

    v1 = client.json("/api/v1/accounts", {"limit": 5})
    assert all(set(a) == V1_ACCOUNT_KEYS for a in v1["data"])
    v1d = client.json(f"/api/v1/accounts/{v1['data'][0]['id']}", {"include": "contactedUsers,orders"})
    assert set(v1d["data"]) == V1_DETAIL_KEYS and isinstance(v1d["data"]["custom_fields"], dict)
    assert all(set(s) == {"tunnelName", "leadgentoolName", "trafficSource"} for s in v1d["data"]["subscribeHistory"])
    v1m = client.json(f"/api/v1/accounts/{busiest_channel(truth)}/chat-messages", {"limit": 3})
    assert len(v1m["data"]) == 3


def test_ids_are_24_hex_and_missing_values_are_not_defined(client):
    truth = client.emu.truth()
    for key in ("people", "communication_channels", "chat_messages", "orders", "tunnels", "users", "tags"):
        for row in truth[key]:
            assert len(row["id"]) == 24 and int(row["id"], 16) >= 0
    people = truth["people"]
    share = lambda f, v: sum(p[f] == v for p in people) / len(people)  # noqa: E731
    assert 0.1 < share("email", "NOT_DEFINED") < 0.4
    assert 0.2 < share("phone", "NOT_DEFINED") < 0.5
    assert 0.35 < share("profileImage", "NOT_DEFINED") < 0.65


# =============================================================== consistency of the data

def test_data_is_internally_consistent(client):
    t = client.emu.truth()
    anchor_ms = int(ANCHOR.timestamp() * 1000)
    by_channel: dict[str, list[dict]] = {}
    for m in t["chat_messages"]:
        by_channel.setdefault(m["account_id"], []).append(m)
        assert ms(m["createdAt"]) <= anchor_ms
    chan_lmt = {}
    for c in t["communication_channels"]:
        msgs = by_channel.get(c["id"], [])
        times = [ms(m["createdAt"]) for m in msgs]
        assert times == sorted(times)
        expect = max(times) if times else ms(c["createdAt"])
        assert ms(c["lastMessageTime"]) == expect
        assert all(x >= ms(c["createdAt"]) for x in times)
        chan_lmt[c["id"]] = ms(c["lastMessageTime"])
    tunnels = {x["id"] for x in t["tunnels"]}
    lgts = {x["id"]: x["tunnel_id"] for x in t["leadgentools"]}
    sources = {x["id"]: x["leadgentool_id"] for x in t["traffic_sources"]}
    users = {u["id"] for u in t["users"]}
    orders = {o["id"]: o for o in t["orders"]}
    for p in t["people"]:
        accounts = [a["account_id"] for a in p["accounts"]]
        assert ms(p["lastMessageTime"]) == max(chan_lmt[a] for a in accounts)
        assert 1 <= len(p["subscribeHistory"]) <= 3
        for s in p["subscribeHistory"]:
            assert s["tunnelId"] in tunnels and lgts[s["leadgentoolId"]] == s["tunnelId"]
            assert sources[s["trafficSourceId"]] == s["leadgentoolId"] and s["accountId"] in accounts
        assert {u["id"] for u in p["links"]["contactedUsers"]} <= users
        assert all(orders[o["id"]]["person_id"] == p["id"] for o in p["links"]["orders"])
    for m in t["chat_messages"]:
        if m["type"] == "YOUR_MESSAGE":
            assert m["links"]["createdBy"]["id"] in users
    # some conversation crosses midnight UTC
    assert any(a["createdAt"][:10] != b["createdAt"][:10] and ms(b["createdAt"]) - ms(a["createdAt"]) < 3_600_000
               for msgs in by_channel.values() for a, b in itertools.pairwise(msgs))
    share_with_orders = sum(bool(p["links"]["orders"]) for p in t["people"]) / len(t["people"])
    assert 0.25 < share_with_orders < 0.55
    assert all(isinstance(o["price"], (int, float)) for o in t["orders"])


# =============================================================== paging

@pytest.mark.parametrize("knobs", [{}, {"page_cap": 7}, {"short_pages": True}, {"page_cap": 13, "short_pages": True}])
def test_paging_covers_every_row_exactly_once(client, knobs):
    client.emu.knobs.update(knobs)
    truth = client.emu.truth()
    cases = [
        ("/api/v2/people", WIDE, {p["id"] for p in truth["people"]}),
        ("/api/v2/communication-channels", WIDE, {c["id"] for c in truth["communication_channels"]}),
        ("/api/v2/communication-channels", {}, {c["id"] for c in truth["communication_channels"]}),
        ("/api/v1/accounts", {}, {c["id"] for c in truth["communication_channels"]}),
        ("/api/v2/orders", {}, {o["id"] for o in truth["orders"]}),
        ("/api/v2/users", {}, {u["id"] for u in truth["users"]}),
        ("/api/v2/tunnels", {}, {x["id"] for x in truth["tunnels"]}),
    ]
    ch = busiest_channel(truth)
    cases.append((f"/api/v2/communication-channels/{ch}/chat-messages", {},
                  {m["id"] for m in truth["chat_messages"] if m["account_id"] == ch}))
    for path, params, expected in cases:
        for limit in (3, 100, 1000):
            ids = [r["id"] for r in client.page_all(path, params, limit=limit)]
            assert len(ids) == len(set(ids)), (path, limit, "duplicates")
            assert set(ids) == expected, (path, limit)


def test_page_size_limits(client):
    body = client.json("/api/v2/people", dict(WIDE, limit=1000))
    assert len(body["data"]) == 100  # server max
    assert body["meta"]["limit"] == 1000
    assert len(client.json("/api/v2/people", WIDE)["data"]) == 20  # default limit
    client.emu.knobs.page_cap = 17
    body = client.json("/api/v2/people", dict(WIDE, limit=50))
    assert len(body["data"]) == 17 and body["meta"]["totalCount"] == 300
    client.emu.knobs.page_cap = None
    client.emu.knobs.short_pages = True
    sizes = [len(client.json("/api/v2/people", dict(WIDE, limit=20, offset=o))["data"]) for o in range(0, 280, 20)]
    assert all(1 <= s <= 20 for s in sizes) and any(s < 20 for s in sizes)  # 14 pages: all full has p = 2**-14
    # past the end: an empty page
    assert client.json("/api/v2/people", dict(WIDE, offset=10_000))["data"] == []


def test_meta_modes(client):
    truth = client.emu.truth()
    lo, hi = sorted(ms(p["lastMessageTime"]) for p in truth["people"])[100], ms("2100-01-01")
    params = {"filter[last_message][from]": dt.datetime.fromtimestamp(lo / 1000, dt.UTC).isoformat(),
              "filter[last_message][to]": "2100-01-01", "limit": 10}
    matching = sum(lo <= ms(p["lastMessageTime"]) <= hi for p in truth["people"])
    meta = client.json("/api/v2/people", params)["meta"]
    assert meta == {"limit": 10, "offset": 0, "filteredCount": 10, "totalCount": matching}
    client.emu.knobs.meta_mode = "filter"
    meta = client.json("/api/v2/people", params)["meta"]
    assert meta == {"limit": 10, "offset": 0, "filteredCount": matching, "totalCount": 300}


# =============================================================== window filter

def _expected(rows, lo, hi):
    return {r["id"] for r in rows if lo <= ms(r["lastMessageTime"]) <= hi}


def test_window_filter_date_only_is_inclusive_whole_days(client):
    truth = client.emu.truth()
    for path, rows in (("/api/v2/people", truth["people"]),
                       ("/api/v2/communication-channels", truth["communication_channels"])):
        for f, t in (("2025-05-20", "2025-05-31"), ("2024-12-31", "2024-12-31"), ("2023-01-01", "2025-06-01")):
            window = {"filter[last_message][from]": f, "filter[last_message][to]": t}
            got = {r["id"] for r in client.page_all(path, window)}
            exp = _expected(rows, ms(f), ms(t) + 86_400_000 - 1)
            assert got == exp, (path, f, t)
        assert _expected(rows, ms("2025-05-01"), ms("2025-06-01")), "the test window should not be empty"


def test_window_filter_datetime_edges_inclusive(client):
    truth = client.emu.truth()
    people = sorted(truth["people"], key=lambda p: ms(p["lastMessageTime"]))
    a, b = people[50]["lastMessageTime"], people[120]["lastMessageTime"]  # exact millisecond edges
    exp = _expected(people, ms(a), ms(b))
    assert people[50]["id"] in exp and people[120]["id"] in exp
    b_offset = (dt.datetime.fromisoformat(b.replace("Z", "+00:00")).astimezone(dt.timezone(dt.timedelta(hours=2)))
                .isoformat(timespec="milliseconds"))  # same instant written with +02:00
    for f, t in ((a, b), (a, b_offset)):
        got = {r["id"] for r in client.page_all("/api/v2/people", {"filter[last_message][from]": f,
                                                                  "filter[last_message][to]": t})}
        assert got == exp
    # without millis: whole seconds
    a_s = a[:19] + "Z"
    got = {r["id"] for r in client.page_all("/api/v2/people", {"filter[last_message][from]": a_s,
                                                              "filter[last_message][to]": b[:19]})}
    assert got == _expected(people, ms(a_s), ms(b[:19] + "Z"))


def test_people_filters_tags_phone_email(client):
    truth = client.emu.truth()
    tag = next(p["tags"][0] for p in truth["people"] if p["tags"])
    got = {p["id"] for p in client.page_all("/api/v2/people", dict(WIDE, **{"filter[tags]": tag}))}
    assert got == {p["id"] for p in truth["people"] if tag in p["tags"]}
    person = next(p for p in truth["people"] if p["phone"] != "NOT_DEFINED" and p["email"] != "NOT_DEFINED")
    by_phone = client.page_all("/api/v2/people", dict(WIDE, **{"filter[phone]": person["phone"]}))
    assert [p["id"] for p in by_phone] == [person["id"]]
    by_email = client.page_all("/api/v2/people", dict(WIDE, **{"filter[email]": person["email"]}))
    assert person["id"] in {p["id"] for p in by_email}


# =============================================================== errors

def test_auth_and_errors(client):
    url = client.base + "/api/v2/tags"
    for headers in ({}, {"X-Leeloo-AuthToken": "wrong"}):
        r = requests.get(url, headers=headers, timeout=5)
        assert r.status_code == 401 and r.headers["Content-Type"].startswith("application/json")
        assert r.json() == {"status": 0, "error": "Unauthorized"}
    assert requests.get(url, headers={"X-Leeloo-Auth-Token": TOKEN}, timeout=5).json()["status"] == 1
    r = client.get("/api/v2/people")
    assert r.status_code == 400 and r.json()["status"] == 0
    r = client.get("/api/v2/people", {"filter[last_message][from]": "2024-01-01"})
    assert r.status_code == 400
    r = client.get("/api/v2/people",
                   {"filter[last_message][from]": "yesterday", "filter[last_message][to]": "2024-01-01"})
    assert r.status_code == 400
    for path in ("/api/v2/people/000000000000000000000000", "/api/v2/orders/nope",
                 "/api/v2/communication-channels/000000000000000000000000/chat-messages", "/api/v2/tunnels/x/stats"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["status"] == 0, path
    counts = client.emu.request_counts()
    assert counts["by_status"]["401"] == 2 and counts["by_status"]["404"] == 4
    assert counts["by_endpoint"]["GET /api/v2/communication-channels/{id}/chat-messages"] == 1


def test_request_counts_use_templates_and_reset(client):
    truth = client.emu.truth()
    ch = truth["communication_channels"]
    for c in ch[:3]:
        client.json(f"/api/v2/communication-channels/{c['id']}/chat-messages")
    client.json("/api/v2/people", WIDE)
    admin = requests.get(client.base + "/__admin/requests", timeout=5).json()
    assert admin == client.emu.request_counts()
    assert admin["total"] == 4 and admin["by_status"] == {"200": 4}
    assert admin["by_endpoint"] == {"GET /api/v2/communication-channels/{id}/chat-messages": 3, "GET /api/v2/people": 1}
    assert requests.post(client.base + "/__admin/reset", timeout=5).status_code == 200
    assert client.emu.request_counts() == {"total": 0, "by_endpoint": {}, "by_status": {}}


# =============================================================== knobs

def test_rate_limit_with_and_without_retry_after(client):
    client.emu.knobs.rate_limit_per_min = 3
    codes = [client.get("/api/v2/tags").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = client.get("/api/v2/tags")
    assert r.status_code == 429 and r.json()["status"] == 0
    assert int(r.headers["Retry-After"]) >= 1
    client.emu.knobs.retry_after = False
    r = client.get("/api/v2/tags")
    assert r.status_code == 429 and "Retry-After" not in r.headers
    # a bad token is refused before it spends the budget
    assert requests.get(client.base + "/api/v2/tags", timeout=5).status_code == 401
    assert client.emu.request_counts()["by_status"]["429"] == 4


def test_error_rate_gives_5xx_with_html(client):
    client.emu.knobs.error_rate = 1.0
    for _ in range(10):
        r = client.get("/api/v2/tags")
        assert r.status_code in (500, 502, 503)
        assert r.headers["Content-Type"].startswith("text/html") and r.text.lstrip().startswith("<html>")
    client.emu.knobs.error_rate = 0.3
    codes = [client.get("/api/v2/tags").status_code for _ in range(60)]
    assert 5 <= sum(c >= 500 for c in codes) <= 35 and codes.count(200) >= 25


def test_bad_status_rate_gives_200_with_status_0(client):
    client.emu.knobs.bad_status_rate = 1.0
    r = client.get("/api/v2/people", WIDE)
    assert r.status_code == 200 and r.json()["status"] == 0 and "data" not in r.json()


def test_sort_orders(client):
    truth = client.emu.truth()
    ch = busiest_channel(truth)
    paths = [("/api/v2/people", WIDE, "lastMessageTime"), ("/api/v2/communication-channels", WIDE, "lastMessageTime"),
             ("/api/v2/orders", {}, "createdAt"),
             (f"/api/v2/communication-channels/{ch}/chat-messages", {}, "createdAt"),
             ("/api/v1/accounts", {}, "lastMessageTime")]
    seen = {}
    for mode in ("desc", "asc", "random"):
        client.emu.knobs.sort = mode
        for path, params, key in paths:
            rows = client.page_all(path, params, limit=50)
            keys = [ms(r[key]) for r in rows]
            if mode == "desc":
                assert keys == sorted(keys, reverse=True), path
            elif mode == "asc":
                assert keys == sorted(keys), path
            else:
                assert keys != sorted(keys) and keys != sorted(keys, reverse=True), path
                again = client.page_all(path, params, limit=50)
                assert [r["id"] for r in again] == [r["id"] for r in rows], "random order must be stable"
            seen[(mode, path)] = [r["id"] for r in rows]


def test_latency_adds_time(client):
    client.emu.knobs.latency_ms = 120
    t0 = time.perf_counter()
    client.json("/api/v2/tags")
    assert time.perf_counter() - t0 >= 0.12


def test_drift_changes_shapes(client):
    truth = client.emu.truth()
    client.emu.knobs.drift = True
    objects = lists = 0
    for p in truth["people"][:150]:
        cf = client.json(f"/api/v2/people/{p['id']}")["data"]["custom_fields"]
        if isinstance(cf, dict):
            objects += 1
            assert cf == {f["name"]: f["value"] for f in p["custom_fields"]}
        else:
            lists += 1
    assert objects >= 3 and lists > objects
    prices = [o["price"] for o in client.page_all("/api/v2/orders")]
    assert any(isinstance(x, str) for x in prices) and any(isinstance(x, (int, float)) for x in prices)
    assert all(float(x) > 0 for x in prices)
    st = client.json("/api/v2/tunnels/stats")["data"][0]
    assert isinstance(st["totalSale"], str)
    client.emu.knobs.drift = False
    assert all(isinstance(o["price"], (int, float)) for o in client.page_all("/api/v2/orders"))


def test_admin_knobs_roundtrip(client):
    r = requests.post(client.base + "/__admin/knobs", json={"page_cap": 5, "sort": "asc"}, timeout=5)
    assert r.status_code == 200 and r.json()["page_cap"] == 5
    assert requests.get(client.base + "/__admin/knobs", timeout=5).json()["sort"] == "asc"
    assert client.emu.knobs.page_cap == 5
    assert len(client.json("/api/v2/people", WIDE)["data"]) == 5
    r = requests.post(client.base + "/__admin/knobs", json={"sort": "sideways"}, timeout=5)
    assert r.status_code == 400 and client.emu.knobs.sort == "asc"
    assert requests.post(client.base + "/__admin/knobs", json={"nope": 1}, timeout=5).status_code == 400


def test_mutate_rate_moves_people_while_paging(fresh):
    before = {p["id"]: p["lastMessageTime"] for p in fresh.emu.truth()["people"]}
    fresh.emu.knobs.mutate_rate = 1.0
    start = time.time()
    rows = fresh.page_all("/api/v2/people", WIDE, limit=10)
    after = {p["id"]: p["lastMessageTime"] for p in fresh.emu.truth()["people"]}
    changed = [pid for pid in before if before[pid] != after[pid]]
    assert len(changed) >= 5
    assert all(ms(after[pid]) >= int(start * 1000) - 1000 for pid in changed)
    # moving people shift offsets (desc order): paging sees duplicates and/or misses
    ids = [r["id"] for r in rows]
    assert len(ids) != len(set(ids)) or set(ids) != set(before)


# =============================================================== simulate

def test_simulate_adds_people_messages_orders_and_status_changes(fresh):
    emu = fresh.emu
    t0 = emu.truth()
    for path in ("/api/v2/people", "/api/v2/communication-channels", "/api/v1/accounts", "/api/v2/orders"):
        fresh.page_all(path, WIDE)  # warm any server-side caches before the data moves
    now = int(time.time() * 1000)
    out = requests.post(fresh.base + "/__admin/simulate",
                        json={"active_people": 0.05, "new_people": 4, "new_orders": 3, "status_changes": 3},
                        timeout=10).json()
    t1 = emu.truth()
    people1 = {p["id"]: p for p in t1["people"]}
    assert len(out["new_people"]) == 4 and set(out["new_people"]) <= set(people1)
    assert len(t1["people"]) == len(t0["people"]) + 4
    assert len(out["active_people"]) == 6  # 5% of 120
    old_lmt = {p["id"]: p["lastMessageTime"] for p in t0["people"]}
    for pid in out["active_people"] + out["new_people"]:
        assert abs(ms(people1[pid]["lastMessageTime"]) - now) < 60_000
    for pid in out["active_people"]:
        assert people1[pid]["lastMessageTime"] > old_lmt[pid]
    msgs = {m["id"]: m for m in t1["chat_messages"]}
    assert out["new_messages"] and set(out["new_messages"]) <= set(msgs)
    assert all(abs(ms(msgs[m]["createdAt"]) - now) < 60_000 for m in out["new_messages"])
    friend_first = [m for m in out["new_messages"] if msgs[m]["type"] == "FRIEND_MESSAGE"]
    assert len(friend_first) >= len(out["active_people"])
    orders1 = {o["id"]: o for o in t1["orders"]}
    assert len(out["new_orders"]) == 3
    for oid in out["new_orders"]:
        o = orders1[oid]
        assert o["createdAt"] == o["updatedAt"] and abs(ms(o["createdAt"]) - now) < 60_000
        assert {"type": "orders", "id": oid} in people1[o["person_id"]]["links"]["orders"]
    orders0 = {o["id"]: o for o in t0["orders"]}
    assert len(out["status_changes"]) == 3
    for ch in out["status_changes"]:
        o0, o1 = orders0[ch["id"]], orders1[ch["id"]]
        assert o1["status"] == ch["status"] != o0["status"]
        assert abs(ms(o1["updatedAt"]) - now) < 60_000 and ms(o0["createdAt"]) < now - 30 * 86_400_000
    # the API serves it too: a window around now finds exactly the new and active people
    today = dt.datetime.now(dt.UTC)
    window = {"filter[last_message][from]": (today - dt.timedelta(minutes=5)).isoformat(),
              "filter[last_message][to]": (today + dt.timedelta(minutes=5)).isoformat()}
    got = {p["id"] for p in fresh.page_all("/api/v2/people", window)}
    assert got == set(out["new_people"]) | set(out["active_people"])
    # every served list row agrees with the truth after the change (no stale cached rows)
    served_people = {p["id"]: p for p in fresh.page_all("/api/v2/people", WIDE)}
    assert served_people == {p["id"]: {k: p[k] for k in PEOPLE_LIST_KEYS} for p in t1["people"]}
    assert {c["id"]: c for c in fresh.page_all("/api/v2/communication-channels", WIDE)} == \
        {c["id"]: c for c in t1["communication_channels"]}
    v1 = {a["id"]: a["lastMessageTime"] for a in fresh.page_all("/api/v1/accounts")}
    assert v1 == {c["id"]: c["lastMessageTime"] for c in t1["communication_channels"]}
    served_orders = {o["id"]: o for o in fresh.page_all("/api/v2/orders")}
    assert served_orders == {o["id"]: {k: o[k] for k in ORDER_LIST_KEYS} for o in t1["orders"]}
    newest = fresh.json("/api/v2/orders", {"limit": 3})["data"]
    assert {o["id"] for o in newest} == set(out["new_orders"])
    # new people are complete: channels with messages, subscribe history to real tunnels
    tunnels = {t["id"] for t in t1["tunnels"]}
    for pid in out["new_people"]:
        d = fresh.json(f"/api/v2/people/{pid}")["data"]
        assert d["accounts"] and all(s["tunnelId"] in tunnels for s in d["subscribeHistory"])
        acc = d["accounts"][0]["account_id"]
        assert fresh.json(f"/api/v2/communication-channels/{acc}/chat-messages")["data"]


def test_simulate_counts_and_reset_with_data(fresh):
    emu = fresh.emu
    out = emu.simulate(active_people=3)
    assert len(out["active_people"]) == 3 and not out["new_people"]
    base = emu.truth()
    emu.simulate(new_people=2)
    fresh.json("/api/v2/tags")
    assert len(emu.truth()["people"]) == len(base["people"]) + 2
    r = requests.post(fresh.base + "/__admin/reset", json={"data": True}, timeout=10)
    assert r.status_code == 200
    assert emu.request_counts()["total"] == 0
    regenerated = emu.truth()
    assert regenerated == LeelooEmulator(seed=3, scale=120, token=TOKEN, anchor=ANCHOR).truth()
    r = requests.post(fresh.base + "/__admin/simulate", json={"active_people": 1.5}, timeout=5)
    assert r.status_code == 400


# =============================================================== tunnel stats

def _num(x):
    return float(x)


def test_tunnel_stats_consistent_and_derived(fresh):
    fresh.emu.simulate(active_people=0.2, new_people=3, new_orders=5, status_changes=5)
    t = fresh.emu.truth()
    orders_by_person: dict[str, list[dict]] = {}
    for o in t["orders"]:
        orders_by_person.setdefault(o["person_id"], []).append(o)
    served = {}
    for tun in t["tunnels"]:
        st = fresh.json(f"/api/v2/tunnels/{tun['id']}/stats")["data"][0]
        served[tun["id"]] = st
        subs = [(p["id"], s) for p in t["people"] for s in p["subscribeHistory"] if s["tunnelId"] == tun["id"]]
        people = {pid for pid, _ in subs}
        orders = [o for pid in people for o in orders_by_person.get(pid, [])]
        sales = [o for o in orders if o["status"] in ("SUCCESS", "RESOLVED")]
        assert st["subscribers"] == len(subs) and st["uniqSubscribers"] == len(people)
        assert st["orders"] == len(orders) and st["sales"] == len(sales)
        assert st["uniqSales"] == len({o["person_id"] for o in sales})
        rates = {"USD": 1.0, "EUR": 1.08, "UAH": 0.024, "RUB": 0.011}
        assert st["totalSale"] == pytest.approx(sum(o["price"] * rates[o["currency"]] for o in sales), abs=0.02)
        truth_stats = next(x for x in t["tunnel_stats"] if x["tunnel_id"] == tun["id"])
        assert {k: v for k, v in truth_stats.items() if k != "tunnel_id"} == st
    total = fresh.json("/api/v2/tunnels/stats")["data"][0]
    for st in [*served.values(), total]:
        assert st["uniqSubscribers"] <= st["subscribers"] and st["uniqSales"] <= st["sales"] <= st["orders"]
        assert st["uniqShows"] <= st["shows"] and st["uniqVisits"] <= st["visits"]
        assert st["visits"] >= st["shows"] >= st["subscribers"] >= 0
        assert _num(st["totalSale"]) >= 0 and _num(st["totalExpenses"]) >= 0
    assert total["subscribers"] == sum(s["subscribers"] for s in served.values())
    assert total["uniqSubscribers"] == len(t["people"])
    assert total["orders"] == len(t["orders"])
    # counters grow as people subscribe and buy
    before = total["subscribers"]
    fresh.emu.simulate(new_people=5)
    assert fresh.json("/api/v2/tunnels/stats")["data"][0]["subscribers"] >= before + 5


# =============================================================== determinism

def test_same_seed_same_truth_different_seed_differs():
    a = LeelooEmulator(seed=11, scale=80, anchor=ANCHOR).truth()
    b = LeelooEmulator(seed=11, scale=80, anchor=ANCHOR).truth()
    c = LeelooEmulator(seed=12, scale=80, anchor=ANCHOR).truth()
    assert a == b
    assert {p["id"] for p in a["people"]}.isdisjoint({p["id"] for p in c["people"]})
    assert a["chat_messages"] != c["chat_messages"]


def test_scale_sizes_entities():
    emu = LeelooEmulator(seed=5, scale=1000, anchor=ANCHOR)
    t = emu.truth()
    assert len(t["people"]) == 1000
    assert len(t["tunnels"]) == 4 and len(t["users"]) == 3
    assert all(2 <= sum(lgt["tunnel_id"] == x["id"] for lgt in t["leadgentools"]) <= 5 for x in t["tunnels"])
    n_ch = len(t["communication_channels"])
    assert 1000 < n_ch <= 3000
    assert 5 <= len(t["chat_messages"]) / n_ch <= 10
