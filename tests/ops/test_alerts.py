"""Alerts to a Slack-compatible incoming webhook (a local receiver): sent on failure naming
source and step, on success only when asked, never carrying a secret, never failing a run."""

from __future__ import annotations

import logging

from pipelines.config.redaction import scrub
from pipelines.errors import SourceRefused
from pipelines.operations.alerts import notify
from pipelines.run.lifecycle import run_account
from tests.ops.conftest import HOOK_SECRET, TOKEN, leeloo_options, run_ok


def test_failed_run_posts_an_alert_naming_source_and_step(emulator, duck_target, webhook, monkeypatch) -> None:
    emulator(scale=10)
    bad_token = "wrong-token-" + "z" * 10
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", bad_token)
    outcome = run_account(leeloo_options(transform=False))
    assert isinstance(outcome.error, SourceRefused) and outcome.error.step == "extract"
    assert len(webhook.messages) == 1
    message = webhook.messages[0]
    assert message["mrkdwn"] is True
    text = message["text"]
    assert "leeloo run FAILED" in text
    assert "in the extract step" in text
    assert "refused the credentials" in text and "SOURCES__LEELOO__API_TOKEN" in text
    assert bad_token not in text and TOKEN not in text and HOOK_SECRET not in text


def test_success_is_quiet_unless_asked(emulator, duck_target, webhook, monkeypatch) -> None:
    emulator(scale=10)
    run_ok(leeloo_options(transform=False))
    assert webhook.messages == []
    monkeypatch.setenv("ALERTS__ON_SUCCESS", "true")
    run_ok(leeloo_options(transform=False))
    assert len(webhook.messages) == 1
    text = webhook.messages[0]["text"]
    assert "leeloo run succeeded" in text and "rows loaded" in text
    assert TOKEN not in text


def test_no_hook_configured_sends_nothing(monkeypatch) -> None:
    monkeypatch.delenv("RUNTIME__SLACK_INCOMING_HOOK", raising=False)
    assert notify("failed", "x", label="leeloo") is False


def test_unreachable_or_refusing_hook_never_hides_the_run_error(emulator, duck_target, webhook, monkeypatch,
                                                               caplog) -> None:
    emulator(scale=10)
    webhook.status = 404
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "wrong-token-qqqqqqqq")
    with caplog.at_level(logging.WARNING):
        outcome = run_account(leeloo_options(transform=False))
    assert isinstance(outcome.error, SourceRefused) and "refused the credentials" in str(outcome.error)
    assert len(webhook.messages) == 1  # it was tried
    assert "could not post the leeloo alert" in caplog.text and "HTTP 404" in caplog.text
    assert HOOK_SECRET not in caplog.text
    monkeypatch.setenv("RUNTIME__SLACK_INCOMING_HOOK", "http://127.0.0.1:9/nothing-listens")
    assert notify("failed", "x", label="leeloo") is False


def test_an_interrupted_run_is_not_alerted(emulator, duck_target, webhook, monkeypatch) -> None:
    """Ctrl-C is a person stopping the run, not a failure: no alert, outcome interrupted."""
    from pipelines.run import lifecycle

    emulator(scale=10)

    def interrupt(self, pipeline):  # the user presses Ctrl-C while the source extracts
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle._Run, "extract", interrupt)
    outcome = run_account(leeloo_options(transform=False))
    assert outcome.outcome == "interrupted" and outcome.exit_code == 130
    assert webhook.messages == []


def test_scrub_masks_configured_and_embedded_secrets(monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", "sb-key-0123456789abcdef")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:pg-secret-99@db:5432/x")
    text = scrub(
        "GET https://chatter.salebot.pro/api/sb-key-0123456789abcdef/get_clients failed; "
        "dsn postgresql://loader:pg-secret-99@db:5432/x; other postgresql://u:p4ss@h/db; "
        "/api/abcdefgh1234567890/get_history ?token=tok123&x=1"
    )
    for secret in ("sb-key-0123456789abcdef", "pg-secret-99", "p4ss", "abcdefgh1234567890", "tok123"):
        assert secret not in text
    assert "get_clients" in text and "x=1" in text


def test_a_short_password_is_masked_where_it_stands_not_everywhere(monkeypatch) -> None:
    """A Postgres password `postgres` must not turn every 'postgres' of a message into ***."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://postgres:postgres@db:5432/x")
    text = scrub("The postgres destination at postgresql://postgres:postgres@db:5432/x refused the connection")
    assert text == "The postgres destination at postgresql://postgres:***@db:5432/x refused the connection"
