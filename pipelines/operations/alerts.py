"""Alerts: a message to a Slack-compatible incoming webhook after a run.

Configured the dlt way: the hook URL is dlt's own secret `runtime.slack_incoming_hook`
(`.dlt/secrets.toml` or `RUNTIME__SLACK_INCOMING_HOOK`); nothing is sent when it is not
set. Failures are always sent; successful and partial runs only with `alerts.on_success =
true` (`ALERTS__ON_SUCCESS=true`); an interrupted run (Ctrl-C, SIGTERM) never: a person
stopped it. The message names the source, the account, the step and what failed, and
never carries a secret. Posting uses dlt's `send_slack_message`; a failure to post is
logged without the hook URL (itself a secret) and never raises.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from pipelines.config import settings
from pipelines.config.redaction import scrub

logger = logging.getLogger("chatfunnel.alerts")

ICONS = {"failed": ":red_circle:", "partial": ":large_yellow_circle:"}


def should_notify(outcome: str) -> bool:
    if outcome == "interrupted":
        return False
    return outcome == "failed" or settings.alerts().on_success


def format_message(outcome: str, message: str, *, label: str, step: str | None,
                   details: Mapping[str, Any] | None = None) -> str:
    head = {
        "failed": f"chatfunnel {label} run FAILED",
        "partial": f"chatfunnel {label} run finished partially (continues next run)",
    }.get(outcome, f"chatfunnel {label} run succeeded")
    if step and outcome == "failed":
        head += f" in the {step} step"
    lines = [f"{ICONS.get(outcome, ':large_green_circle:')} *{head}* on {socket.gethostname()}", message]
    for key, value in (details or {}).items():
        if value in (None, "", {}, []):
            continue
        shown = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) if isinstance(value, dict) else value
        lines.append(f"• {key}: {shown}")
    return scrub("\n".join(str(line) for line in lines))


def notify(outcome: str, message: str, *, label: str, step: str | None = None,
           details: Mapping[str, Any] | None = None) -> bool:
    """Post the run's outcome to the configured incoming webhook. Never raises."""
    if not should_notify(outcome):
        return False
    hook = settings.slack_incoming_hook()
    if not hook:
        return False
    text = format_message(outcome, message, label=label, step=step, details=details)
    try:
        from dlt.common.runtime.slack import send_slack_message

        send_slack_message(hook, text)
        return True
    except Exception as exc:  # noqa: BLE001 - an alert must never fail the run or hide its error
        status = getattr(getattr(exc, "response", None), "status_code", None)
        logger.warning("could not post the %s alert to the incoming webhook (%s)", label,
                       f"HTTP {status}" if status else type(exc).__name__)
        return False
