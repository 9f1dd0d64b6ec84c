"""Per-account settings of the reports: what a day and a week are (`reports_timezone`).

Set in `[sources.<source>]` for every account, or in `[sources.<source>.accounts.<name>]`
for one (`SOURCES__LEELOO__REPORTS_TIMEZONE`, `SOURCES__LEELOO__ACCOUNTS__ACME__REPORTS_TIMEZONE`).
An IANA zone name (`Europe/Moscow`, `Asia/Vladivostok`); the default is UTC. Raw tables stay
UTC `timestamptz` whatever the setting: it decides only how the reports bucket time.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt
from dlt.common.configuration import configspec
from dlt.common.configuration.specs import BaseConfiguration

from pipelines.config.accounts import Account
from pipelines.errors import UsageError

KEY = "reports_timezone"
DEFAULT_TIMEZONE = "UTC"


@configspec
class ReportSettings(BaseConfiguration):
    """The settings of the reports, read under every source's (and account's) section; the
    configuration check knows their keys from here."""

    reports_timezone: str = DEFAULT_TIMEZONE
    """What a day and a week are in the reports: an IANA zone name."""


def _configured(path: str) -> str | None:
    value: Any
    try:
        value = dlt.config.get(path)
    except Exception:  # noqa: BLE001 - a provider that cannot answer is "not set"
        value = None
    return None if value in (None, "") else str(value).strip()


def valid_zone(name: str) -> bool:
    """Whether `name` is a time zone both engines and Python know by that name."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def reports_timezone(account: Account) -> str:
    """The account's zone (its own setting, else the source's, else UTC); a name that is not
    a time zone is a usage error naming the setting and where to fix it."""
    for path in dict.fromkeys((f"{account.config_path}.{KEY}", f"sources.{account.source}.{KEY}")):
        value = _configured(path)
        if value is None:
            continue
        if not valid_zone(value):
            raise UsageError(f"{path} = {value!r} is not a time zone name (e.g. \"Europe/Moscow\", "
                             f"\"America/Sao_Paulo\", \"UTC\"); fix it in .dlt/config.toml or the environment.",
                             step="config")
        return value
    return DEFAULT_TIMEZONE
