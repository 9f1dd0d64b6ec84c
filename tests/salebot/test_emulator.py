"""The Salebot emulator answers in the document's shapes, pages completely, and obeys its knobs."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators.salebot import SalebotEmulator

# key sets of the document's examples (salebot-api.ru.md)
DOC_CLIENT_KEYS = {
    "id",
    "platform_id",
    "client_type",
    "name",
    "avatar",
    "message_id",
    "project_id",
    "created_at",
    "updated_at",
    "custom_answer",
    "tag",
    "group",
    "operator_start_dialog",
}
DOC_HISTORY_KEYS = {
    "id",
    "answered",
    "client_replica",
    "message_id",
    "message_from_outside",
    "created_at",
    "text",
    "attachments",
    "delivered",
    "error_message",
    "manager_id",
    "manager_email",
}
DOC_WEBHOOK_KEYS = {
    "id",
    "client",
    "message",
    "attachments",
    "message_id",
    "project_id",
    "is_input",
    "delivered",
    "error_message",
}
DOC_WEBHOOK_CLIENT_KEYS = {"id", "recepient", "client_type", "name", "avatar", "created_at", "tag", "group"}


@pytest.fixture
def emu() -> Iterator[tuple[SalebotEmulator, str]]:
    e = SalebotEmulator(seed=5, scale=120)
    with e.serve() as url:
        yield e, f"{url}/api/{e.api_key}"


def test_shapes_match_the_document(emu: tuple[SalebotEmulator, str]) -> None:
    e, api = emu
    body = requests.get(f"{api}/get_clients", params={"limit": 3}).json()
    assert body["status"] == "success" and set(body["clients"][0]) == DOC_CLIENT_KEYS
    client = body["clients"][0]
    assert isinstance(client["created_at"], int) and client["created_at"] > 1_500_000_000
    hist = requests.get(f"{api}/get_history", params={"client_id": client["id"]}).json()
    assert hist["status"] == "success" and set(hist["result"][0]) == DOC_HISTORY_KEYS
    order = e.truth()["orders"][0]
    ids = requests.get(
        f"{api}/get_orders", params={"client_id": order["client_id"], "order_status": order["status"]}
    ).json()
    assert ids == {"status": "success", "order_id": ids["order_id"]} and order["id"] in ids["order_id"]
    state = requests.get(
        f"{api}/get_order_state", params={"client_id": order["client_id"], "order_id": order["id"]}
    ).json()
    assert state == {"status": "success", "state_id": order["state_id"]}
    vars_ = requests.post(
        f"{api}/get_order_vars",
        json={"client_id": order["client_id"], "order_id": order["id"], "variables": ["budget"]},
    ).json()
    assert vars_ == {"status": "success", "result": {"budget": order["variables"]["budget"]}}
    assert requests.get(f"{api}/get_orders", params={"client_id": 1, "order_status": 0}).json() == {
        "status": "client_not_found"
    }
    channels = requests.get(f"{api}/connected_channels").json()
    assert channels["project_id"] == e.project_id and channels["telegram"][0]["group_id"]
    assert all(isinstance(channels[k], list) for k in channels if k != "project_id")
    current = requests.get(f"{api}/get_current_order_id", params={"client_id": order["client_id"]}).json()
    assert current["status"] == "success" and "order_id" in current
    assert requests.get(f"{api}/get_messages").json()["messages"][0]["id"] == 390
    assert isinstance(requests.get(f"{api}/get_variables", params={"client_id": client["id"]}).json(), dict)


@pytest.mark.parametrize("knobs", [{}, {"page_cap": 7}, {"page_cap": 13, "short_pages": True}, {"sort": "random"}])
def test_offset_paging_covers_every_client_once(emu: tuple[SalebotEmulator, str], knobs: dict[str, Any]) -> None:
    e, api = emu
    e.knobs.update(knobs)
    seen: list[int] = []
    offset = 0
    while True:
        page = requests.get(f"{api}/get_clients", params={"offset": offset, "limit": 20}).json()["clients"]
        if not page:
            break
        seen += [c["id"] for c in page]
        offset += len(page)
    assert sorted(seen) == sorted(c["id"] for c in e.truth()["clients"])
    assert len(seen) == len(set(seen))


def test_history_windows_are_days_in_project_time(emu: tuple[SalebotEmulator, str]) -> None:
    e, api = emu
    truth = e.truth()
    cid = max(truth["clients"], key=lambda c: sum(m["client_id"] == c["id"] for m in truth["messages"]))["id"]
    msgs = sorted((m for m in truth["messages"] if m["client_id"] == cid), key=lambda m: m["created_at"])
    msk = dt.timezone(dt.timedelta(hours=3))
    day = dt.datetime.fromtimestamp(msgs[0]["created_at"], msk).date()
    q = {"client_id": cid, "start_date": day.strftime("%d.%m.%Y"), "stop_date": day.strftime("%d.%m.%Y")}
    got = requests.get(f"{api}/get_history", params=q).json()["result"]
    expected = [m["id"] for m in msgs if dt.datetime.fromtimestamp(m["created_at"], msk).date() == day]
    assert [m["id"] for m in got] == expected and expected
    # limit keeps the newest, oldest first
    got = requests.get(f"{api}/get_history", params={"client_id": cid, "limit": 2}).json()["result"]
    assert [m["id"] for m in got] == [m["id"] for m in msgs[-2:]]
    # both dates or neither; the documented format only
    assert requests.get(f"{api}/get_history", params={"client_id": cid, "start_date": "01.01.2024"}).status_code == 400
    bad = {"client_id": cid, "start_date": "2024-01-01", "stop_date": "2024-01-02"}
    assert requests.get(f"{api}/get_history", params=bad).status_code == 400


def test_wrong_key_is_refused_and_not_counted_under_its_value(emu: tuple[SalebotEmulator, str]) -> None:
    e, api = emu
    r = requests.get(api.replace(e.api_key, "wrong-key-123") + "/get_clients")
    assert r.status_code == 401 and r.json()["status"] == "error"
    assert "wrong-key-123" not in json.dumps(e.request_counts())


def test_knobs_rate_limit_errors_and_drift(emu: tuple[SalebotEmulator, str]) -> None:
    e, api = emu
    e.knobs.update({"rate_limit_per_min": 2})
    codes = [requests.get(f"{api}/get_messages").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    e.knobs.update({"rate_limit_per_min": None, "error_rate": 1.0})
    assert requests.get(f"{api}/get_messages").status_code in (500, 502, 503)
    e.knobs.update({"error_rate": 0.0, "bad_status_rate": 1.0})
    r = requests.get(f"{api}/get_messages")
    assert r.status_code == 200 and r.json()["status"] == "error"
    e.knobs.update({"bad_status_rate": 0.0, "drift": True})
    assert isinstance(requests.get(f"{api}/get_clients").json()["clients"][0]["created_at"], str)
    assert requests.post(f"{api.rsplit('/api/', 1)[0]}/__admin/knobs", json={"nope": 1}).status_code == 400


def test_simulate_changes_truth_and_pushes_every_new_message() -> None:
    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        e = SalebotEmulator(seed=9)
        with e.serve() as url:
            requests.post(f"{url}/__admin/webhook", json={"url": f"http://127.0.0.1:{hook.server_address[1]}/hook"})
            before = e.truth()
            out = requests.post(
                f"{url}/__admin/simulate",
                json={"active_clients": 3, "new_clients": 2, "new_orders": 2, "status_changes": 2},
            ).json()
            after = e.truth()
    finally:
        hook.shutdown()
    assert len(after["clients"]) == len(before["clients"]) + 2
    assert len(after["orders"]) == len(before["orders"]) + 2
    new_ids = set(out["messages"])
    assert new_ids and new_ids == {m["id"] for m in after["messages"]} - {m["id"] for m in before["messages"]}
    assert {p["id"] for p in received} == new_ids
    assert set(received[0]) == DOC_WEBHOOK_KEYS and set(received[0]["client"]) == DOC_WEBHOOK_CLIENT_KEYS
    assert all(d["status"] == 200 for d in e.webhook_deliveries)
    changed = {o["id"]: o for o in after["orders"] if o["id"] in out["status_changes"]}
    old = {o["id"]: o for o in before["orders"]}
    assert all(changed[i]["state_id"] != old[i]["state_id"] for i in changed)
    touched = {o["client_id"] for o in changed.values()}
    old_clients = {c["id"]: c for c in before["clients"]}
    assert all(c["updated_at"] > old_clients[c["id"]]["updated_at"] for c in after["clients"] if c["id"] in touched)


def test_data_is_deterministic_from_seed_and_anchor() -> None:
    anchor = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    a, b = SalebotEmulator(seed=4, scale=30, anchor=anchor), SalebotEmulator(seed=4, scale=30, anchor=anchor)
    assert a.truth() == b.truth()
    assert len(a.truth()["clients"]) == 30
    assert SalebotEmulator(seed=5, scale=30, anchor=anchor).truth() != a.truth()
    assert max(m["created_at"] for m in a.truth()["messages"]) <= anchor.timestamp()
    statuses = {o["status"] for o in a.truth()["orders"]}
    assert statuses == {0, 1, 2}
    assert len({c["client_type"] for c in a.truth()["clients"]}) >= 3
