"""Several accounts on one receiver: each its own secret and inbox, resolved by dlt, and the
inbox the receiver writes is the one that account's `chatfunnel run salebot` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from emulators.salebot import SalebotEmulator
from pipelines.config.accounts import Account
from pipelines.config.registry import SOURCES
from pipelines.errors import ConfigurationMissing, UsageError
from pipelines.webhook import AppSettings, Receiver, configured_inboxes, retention_days
from sources.salebot.webhook_store import WebhookStore
from tests.webhook.conftest import (
    ACME_SECRET,
    API_KEY,
    FAST,
    GLOBEX_SECRET,
    SECRET,
    messages_by_origin,
    new_messages,
    run_salebot,
)


def test_each_account_resolves_its_own_secret_and_inbox_and_inherits_no_secret(
    dlt_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "SOURCES__SALEBOT__WEBHOOK_SECRET": SECRET,
        "SOURCES__SALEBOT__WEBHOOK_STORE": "default.sqlite",
        "SOURCES__SALEBOT__WEBHOOK_RETENTION_DAYS": "7",
        "SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_SECRET": ACME_SECRET,
        "SOURCES__SALEBOT__ACCOUNTS__ACME__API_KEY": API_KEY,
        "SOURCES__SALEBOT__ACCOUNTS__GLOBEX__WEBHOOK_SECRET": GLOBEX_SECRET,
        "SOURCES__SALEBOT__ACCOUNTS__GLOBEX__WEBHOOK_STORE": "globex-own.sqlite",
        "SOURCES__SALEBOT__ACCOUNTS__GLOBEX__WEBHOOK_RETENTION_DAYS": "90",
        "SOURCES__SALEBOT__ACCOUNTS__INITECH__API_KEY": API_KEY,  # no webhook secret of its own
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    inboxes = {i.label: i for i in configured_inboxes()}
    assert set(inboxes) == {"default", "acme", "globex"}  # initech would only inherit: not served
    got = {k: (i.secret, str(i.store_path), i.retention_days) for k, i in inboxes.items()}
    acme_store = SOURCES["salebot"].settings(Account("salebot", "acme"))["webhook_store"]
    assert got == {
        "default": (SECRET, "default.sqlite", 7.0),
        "acme": (ACME_SECRET, acme_store, 7.0),  # the loader's inbox for acme; retention inherited
        "globex": (GLOBEX_SECRET, "globex-own.sqlite", 90.0),
    }
    assert acme_store != "default.sqlite"
    assert retention_days(Account("salebot", "initech")) == 7.0  # what a prune after initech's load keeps
    assert SECRET not in repr(inboxes)  # an Inbox never prints its secret


def test_the_command_line_secret_is_the_unnamed_accounts_and_shared_secrets_or_inboxes_are_refused(
    dlt_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationMissing):
        configured_inboxes()
    (only,) = configured_inboxes(secret=SECRET, store="flag.sqlite")
    assert (only.name, only.secret, str(only.store_path)) == (None, SECRET, "flag.sqlite")
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_SECRET", SECRET)
    with pytest.raises(UsageError, match="same webhook secret"):
        configured_inboxes(secret=SECRET)
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_SECRET", ACME_SECRET)
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_STORE", "flag.sqlite")
    with pytest.raises(UsageError, match="share the webhook inbox"):
        configured_inboxes(secret=SECRET, store="flag.sqlite")
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_STORE", "acme.sqlite")
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_RETENTION_DAYS", "a month")
    with pytest.raises(UsageError, match="webhook_retention_days") as refused:
        configured_inboxes(secret=SECRET)
    assert ACME_SECRET not in str(refused.value)
    monkeypatch.delenv("SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_RETENTION_DAYS")
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__BAD-NAME__WEBHOOK_SECRET", GLOBEX_SECRET)
    with pytest.raises(UsageError, match="account name"):
        configured_inboxes(secret=SECRET)


def test_a_named_accounts_pushes_land_in_its_own_dataset(
    salebot: SalebotEmulator, duckdb_path: Path, dlt_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SALEBOT__WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__WEBHOOK_SECRET", ACME_SECRET)
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__API_KEY", API_KEY)  # same emulator, its own dataset
    bodies = new_messages(salebot, new_clients=5)
    with Receiver(configured_inboxes(), FAST, AppSettings(body_timeout=2.0)) as r:
        for body in bodies:
            assert requests.post(r.url("acme"), data=body, timeout=10).status_code == 200
        # acme's pushes are refused on the unnamed account's route, whatever the path trick
        unnamed_route = f"{r.base_url}/salebot/webhook/{ACME_SECRET}"
        assert requests.post(unnamed_route, data=bodies[0], timeout=10).status_code == 403
    run_salebot("--account", "acme", "--max-requests", "1")
    ids = {int(json.loads(b)["id"]) for b in bodies}
    assert set(map(tuple, messages_by_origin(duckdb_path, ids, dataset="salebot_acme").values())) == {("webhook",)}
    assert WebhookStore(dlt_env / "inbox.sqlite").counts()["total"] == 0  # nothing went to the unnamed inbox
