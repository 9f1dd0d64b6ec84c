"""Pushes the webhook receiver accepted land in `messages` exactly once, together with
polled history, across receiver restarts and failed loads. (The receiver itself:
tests/webhook.)"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import requests

from emulators.salebot import SalebotEmulator
from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions
from pipelines.config.registry import SOURCES
from pipelines.webhook import Inbox, Receiver
from sources.salebot.webhook_store import WebhookStore
from tests.salebot.conftest import Warehouse, assert_equals_truth

SECRET = "hook-secret-0123456789"


def _receiver() -> Receiver:
    """The receiver for the unnamed account's inbox, as `chatfunnel webhook serve` runs it."""
    return Receiver([Inbox(Account("salebot"), SECRET, _store_path(), 30.0)])


def _token_url(r: Receiver) -> str:
    return f"{r.base_url}/salebot/webhook?token={SECRET}"


def _store_path() -> Path:
    return Path(os.environ["SOURCES__SALEBOT__WEBHOOK_STORE"])


def _origins(wh: Warehouse, ids: set[int]) -> Counter:
    rows = wh.query("select id, origin from {messages}")
    assert len(rows) == len({r[0] for r in rows}), "duplicate message ids"
    return Counter(origin for i, origin in rows if int(i) in ids)


def test_pushes_land_exactly_once_across_a_receiver_restart(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    warehouse.run()
    receiver = _receiver()
    receiver.start()
    emu.webhook_url = receiver.url()
    first = set(emu.simulate(active_clients=3, new_clients=1)["messages"])
    receiver.stop()  # the receiver restarts between pushes
    with _receiver() as again:
        emu.webhook_url = _token_url(again)
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
    with _receiver() as r3:
        emu.webhook_url = r3.url()
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
    with _receiver() as r:
        emu.webhook_url = r.url()
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
    with _receiver() as r:
        emu.webhook_url = r.url()
        emu.simulate(active_clients=1)
    row = next(WebhookStore(_store_path()).read_after(0))
    cid = row["payload"]["client"]["id"]
    history = requests.get(f"{emu.base_url}/api/{emu.api_key}/get_history", params={"client_id": cid}).json()["result"]  # type: ignore[attr-defined]
    assert row["payload"]["id"] in {m["id"] for m in history}
    assert json.loads(json.dumps(row["payload"]))["is_input"] in (0, 1)
