"""Alerts: a message to a Slack-compatible incoming webhook after a run.

Configured the dlt way:
- the hook URL (a secret): `runtime.slack_incoming_hook` in .dlt/secrets.toml, or the env
  var `RUNTIME__SLACK_INCOMING_HOOK`. Nothing is sent when it is not set.
- `alerts.on_success = true` (env `ALERTS__ON_SUCCESS=true`) to be told about successful
  (and partial) runs as well; failures are always sent.

The message names the source, the step and what failed, and never carries a secret: every
text goes through `scrub`, which masks the configured tokens/keys/passwords, credentials in
URLs and Salebot's key in `/api/<key>/` paths. Posting uses dlt's
`dlt.common.runtime.slack.send_slack_message`; a failure to post is logged (without the
hook URL, which is itself a secret) and never raises.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import Any, Mapping

logger = logging.getLogger("chatfunnel.alerts")

_SECRET_ENV = re.compile(r"(TOKEN|KEY|SECRET|PASSWORD|CREDENTIALS|HOOK|DSN)", re.I)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I)
_SALEBOT_PATH = re.compile(r"(/api/)([A-Za-z0-9_-]{8,})(?=/|$|\s)")
_SECRET_QUERY = re.compile(r"([?&](?:token|api_key|key|access_token|password)=)[^&\s]+", re.I)
_DLT_SECRET_KEYS = (
    "sources.leeloo.api_token",
    "sources.salebot.api_key",
    "runtime.slack_incoming_hook",
    "destination.postgres.credentials",
)
MASK = "***"


def _secret_values() -> list[str]:
    values: set[str] = set()
    for key, value in os.environ.items():
        if "DUCKDB" in key.upper() or key.upper().endswith("BUCKET_URL"):
            continue  # a file path or bucket, not a secret (its credentials are masked below)
        if _SECRET_ENV.search(key) and value and len(value) >= 6:
            values.add(value)
            match = _URL_USERINFO.search(value)
            if match:
                values.add(match.group("pw"))
    try:
        import dlt

        for key in _DLT_SECRET_KEYS:
            try:
                value = dlt.secrets.get(key)
            except Exception:  # noqa: BLE001 - not configured
                value = None
            if isinstance(value, str) and len(value) >= 6:
                values.add(value)
                match = _URL_USERINFO.search(value)
                if match:
                    values.add(match.group("pw"))
    except Exception:  # noqa: BLE001
        pass
    # longest first, so a DSN is masked whole before its password alone
    return sorted(values, key=len, reverse=True)


def scrub(text: str | None) -> str:
    """`text` with every known secret masked (configured values, URL passwords, key paths)."""
    if not text:
        return ""
    out = str(text)
    for value in _secret_values():
        out = out.replace(value, MASK)
    out = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", out)
    out = _SALEBOT_PATH.sub(lambda m: m.group(1) + MASK, out)
    out = _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, out)
    return out


def _config(key: str, secret: bool = False) -> Any:
    env = key.upper().replace(".", "__")
    if os.environ.get(env):
        return os.environ[env]
    try:
        import dlt

        accessor = dlt.secrets if secret else dlt.config
        value = accessor.get(key)
        if value is None and secret:
            value = dlt.config.get(key)
        return value
    except Exception:  # noqa: BLE001
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def hook_url() -> str | None:
    value = _config("runtime.slack_incoming_hook", secret=True)
    return str(value) if value else None


def should_notify(outcome: str) -> bool:
    if outcome == "failed":
        return True
    return _truthy(_config("alerts.on_success"))


def format_message(outcome: str, message: str, *, source: str, details: Mapping[str, Any] | None) -> str:
    details = dict(details or {})
    icon = {"failed": ":red_circle:", "partial": ":large_yellow_circle:"}.get(outcome, ":large_green_circle:")
    head = {
        "failed": f"chatfunnel {source} run FAILED",
        "partial": f"chatfunnel {source} run finished partially (continues next run)",
    }.get(outcome, f"chatfunnel {source} run succeeded")
    step = details.pop("step", None)
    if step:
        head += f" in the {step} step"
    lines = [f"{icon} *{head}* on {details.pop('host', socket.gethostname())}", message]
    for key, value in details.items():
        if value in (None, "", {}, []):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        lines.append(f"• {key}: {value}")
    return scrub("\n".join(str(line) for line in lines))


def notify(outcome: str, message: str, *, source: str, details: Mapping[str, Any] | None = None) -> bool:
    """Post the run's outcome to the configured incoming webhook. Never raises.

    Sent always on `failed`, on `success`/`partial` only with `alerts.on_success = true`.
    Returns whether a message was posted.
    """
    if not should_notify(outcome):
        return False
    hook = hook_url()
    if not hook:
        return False
    text = format_message(outcome, message, source=source, details=details)
    try:
        from dlt.common.runtime.slack import send_slack_message

        send_slack_message(hook, text)
        return True
    except Exception as exc:  # noqa: BLE001 - an alert must never fail the run or hide its error
        status = getattr(getattr(exc, "response", None), "status_code", None)
        reason = f"HTTP {status}" if status else type(exc).__name__
        logger.warning("could not post the %s alert to the incoming webhook (%s)", source, reason)
        return False
