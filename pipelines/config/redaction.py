"""Secrets out of every message chatfunnel prints, records or posts — where they stand.

A secret is masked where it stands, not as a substring of every line: a Postgres password
`postgres` must not turn "The postgres destination" into "The *** destination". So:
- credentials inside URLs (`scheme://user:password@host`) lose their password, whatever it is;
- Salebot's key in `/api/<key>/` paths and `?token=`-style query values are masked;
- the configured secrets themselves (API tokens and keys of every account, the alert hook,
  the destination's password) are masked wherever their exact text appears, but only when
  they are long enough not to be an ordinary word.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import dlt

MASK = "***"
MIN_EXACT_LENGTH = 12

_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I)
_SALEBOT_PATH = re.compile(r"(/api/)([A-Za-z0-9_-]{8,})(?=/|$|\s)")
_SECRET_QUERY = re.compile(r"([?&](?:token|api_key|key|access_token|password|secret)=)[^&\s]+", re.I)
_SECRET_ENV = re.compile(r"(TOKEN|API_KEY|SECRET|PASSWORD|HOOK|CREDENTIALS)$", re.I)
_DLT_SECRETS = ("runtime.slack_incoming_hook", "destination.postgres.credentials")


def configured_secrets() -> list[str]:
    """Exact texts to mask: secret-looking settings from the environment and dlt's secrets.

    Account secrets under `[sources.<source>.accounts.<name>]` come from the same places.
    """
    values: set[str] = set()
    for key, value in os.environ.items():
        if _SECRET_ENV.search(key) and value and "DUCKDB" not in key.upper():
            values.add(value)
    for key in _DLT_SECRETS:
        stored: object
        try:
            stored = dlt.secrets.get(key)
        except Exception:  # noqa: BLE001 - a provider that cannot answer holds no secret
            stored = None
        if isinstance(stored, str):
            values.add(stored)
    from pipelines.config.registry import SOURCES  # late: the registry imports the sources

    for spec in SOURCES.values():
        for account in _safe_accounts(spec):
            for key in (*spec.secret_keys, "webhook_secret"):
                secret = _account_secret(account, key)
                if secret:
                    values.add(secret)
    exact = set()
    for value in values:
        match = _URL_USERINFO.search(value)
        # a DSN: its password is masked wherever a URL carries it, and a long one everywhere
        secret = match.group("pw") if match else value
        if len(secret) >= MIN_EXACT_LENGTH:
            exact.add(secret)
    return sorted(exact, key=len, reverse=True)


def _safe_accounts(spec: object) -> Iterable[object]:
    try:
        return spec.accounts()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a broken config must not stop redaction
        return []


def _account_secret(account: object, key: str) -> str | None:
    from pipelines.config.accounts import Account, account_value

    return account_value(account, key) if isinstance(account, Account) else None


def scrub(text: object, secrets: Iterable[str] | None = None) -> str:
    """`text` with every credential masked where it stands."""
    if text is None:
        return ""
    out = str(text)
    for value in configured_secrets() if secrets is None else secrets:
        out = out.replace(value, MASK)
    out = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", out)
    out = _SALEBOT_PATH.sub(lambda m: m.group(1) + MASK, out)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, out)
