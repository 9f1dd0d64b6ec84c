"""The webhook receiver keeps every push it accepted, refuses strangers, and the pushes
land in `messages` exactly once together with polled history."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import requests

from emulators.salebot import SalebotEmulator
from pipelines.options import RunOptions
from pipelines.registry import SOURCES
from pipelines.webhook import WebhookReceiver
from sources.salebot.webhook_store import WebhookStore
from tests.salebot.conftest import Warehouse, assert_equals_truth

SECRET = "hook-secret-42"


def _push(msg_id: int = 1, client_id: int = 7) -> dict:
    return {
        "id": msg_id,
        "client": {"id": client_id, "recepient": "1", "client_type": 1, "name": "A", "avatar": None,
                   "created_at": 1700000000, "tag": None, "group": "bot"},
        "message": "hi", "attachments": [], "message_id": None, "project_id": 1,
        "is_input": 1, "delivered": 1, "error_message": None,
    }


def test_receiver_refuses_without_the_secret_and_bad_bodies_and_survives_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "inbox.sqlite"
    with WebhookReceiver(store, SECRET) as r:
        base = r.base_url + r.path
        assert requests.post(base, json=_push()).status_code == 403
        assert requests.post(base + "/wrong", json=_push()).status_code == 403
        assert requests.post(base + "?token=wrong", json=_push()).status_code == 403
        assert requests.post(r.url_with_path_secret(), data=b"not json").status_code == 400
        assert requests.post(r.url_with_path_secret(), json={"id": 1}).status_code == 400
        assert requests.post(r.url_with_path_secret(), json=[_push()]).status_code == 400
        assert requests.post(r.url_with_path_secret(), json={**_push(), "is_input": 5}).status_code == 400
        assert requests.post(r.url_with_path_secret(), json={**_push(), "id": "abc"}).status_code == 400
        assert requests.post(r.url_with_path_secret(), json=_push(1)).status_code == 200
        assert requests.post(r.url_with_token(), json=_push(2)).status_code == 200
    # a new process on the same inbox sees both, and appends after them
    with WebhookReceiver(store, SECRET) as r2:
        assert requests.post(r2.url_with_path_secret(), json=_push(3)).status_code == 200
    rows = list(WebhookStore(store).read_after(0))
    assert [row["payload"]["id"] for row in rows] == [1, 2, 3]
    assert [row["seq"] for row in rows] == sorted({row["seq"] for row in rows})


def _store_path() -> Path:
    return Path(os.environ["SOURCES__SALEBOT__WEBHOOK_STORE"])


def _origins(wh: Warehouse, ids: set[int]) -> Counter:
    rows = wh.query("select id, origin from {messages}")
    assert len(rows) == len({r[0] for r in rows}), "duplicate message ids"
    return Counter(origin for i, origin in rows if int(i) in ids)


def test_pushes_land_exactly_once_across_a_receiver_restart(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    receiver = WebhookReceiver(_store_path(), SECRET)
    receiver.start()
    emu.webhook_url = receiver.url_with_path_secret()
    first = set(emu.simulate(active_clients=3, new_clients=1)["messages"])
    receiver.stop()  # the receiver restarts between pushes
    with WebhookReceiver(_store_path(), SECRET) as again:
        emu.webhook_url = again.url_with_token()
        second = set(emu.simulate(active_clients=2, new_clients=1)["messages"])
    assert [d["status"] for d in emu.webhook_deliveries] == [200] * len(first | second)
    store = WebhookStore(_store_path())
    assert store.counts() == {"total": len(first | second), "pending": len(first | second)}

    # polled and pushed together: each message once, the polled version wins
    warehouse.run()
    assert_equals_truth(warehouse, emu)
    assert _origins(warehouse, first | second) == Counter({"history": len(first | second)})
    assert store.counts()["pending"] == 0

    # pushes whose client could not be polled (budget spent) land from the inbox...
    with WebhookReceiver(_store_path(), SECRET) as r3:
        emu.webhook_url = r3.url_with_path_secret()
        third = set(emu.simulate(active_clients=2)["messages"])
    report = warehouse.run(max_requests=0)
    assert report.budget_exhausted
    assert _origins(warehouse, third) == Counter({"webhook": len(third)})
    (missing_times,) = warehouse.query("select count(*) from {messages} where created_at is null")[0]
    assert missing_times == 0
    # ...and are replaced by the polled rows on the next run, still once
    warehouse.run()
    assert_equals_truth(warehouse, emu)
    assert _origins(warehouse, first | second | third) == Counter({"history": len(first | second | third)})


def test_pushes_are_consumed_only_after_their_load(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    with WebhookReceiver(_store_path(), SECRET) as r:
        emu.webhook_url = r.url_with_path_secret()
        pushed = set(emu.simulate(active_clients=4)["messages"])
    store = WebhookStore(_store_path())
    p = warehouse.pipeline()
    p.extract(SOURCES["salebot"].build(RunOptions(source="salebot", max_requests=0)).source)
    p.normalize()  # extracted, not loaded: the load "failed"
    assert store.counts()["pending"] == len(pushed)
    assert not pushed & set(warehouse.ids("messages"))
    warehouse.run()  # dlt only loads the pending package on this run
    assert store.counts()["pending"] == 0
    assert _origins(warehouse, pushed) == Counter({"webhook": len(pushed)})
    warehouse.run()  # the pushes named their clients: their history replaces them
    assert_equals_truth(warehouse, emu)
    assert _origins(warehouse, pushed) == Counter({"history": len(pushed)})


def test_payload_ids_are_the_history_ids(emu: SalebotEmulator) -> None:
    """The reading the dedup rests on: the push's `id` is the history's `id`."""
    with WebhookReceiver(_store_path(), SECRET) as r:
        emu.webhook_url = r.url_with_path_secret()
        emu.simulate(active_clients=1)
    row = next(WebhookStore(_store_path()).read_after(0))
    cid = row["payload"]["client"]["id"]
    history = requests.get(f"{emu.base_url}/api/{emu.api_key}/get_history", params={"client_id": cid}).json()["result"]  # type: ignore[attr-defined]
    assert row["payload"]["id"] in {m["id"] for m in history}
    assert json.loads(json.dumps(row["payload"]))["is_input"] in (0, 1)
