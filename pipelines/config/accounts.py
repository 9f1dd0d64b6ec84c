"""Which accounts of a source are configured, and the names that follow from an account.

An agency configures one account per client, the dlt way, in `.dlt/secrets.toml`:

    [sources.leeloo.accounts.acme]
    api_token = "..."

or in the environment (`SOURCES__LEELOO__ACCOUNTS__ACME__API_TOKEN`). Any key of
`[sources.leeloo]` may be set per account and is inherited otherwise; the secret (and
the other per-account-only keys a source declares) never is. The single unnamed
`[sources.leeloo] api_token` is the default account: dataset `leeloo`, as it always was.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

import dlt

from pipelines.errors import UsageError

ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# names that would collide with the datasets chatfunnel makes beside an account's own
RESERVED = re.compile(r"^(default|accounts|reports|staging)$|_(accounts|reports|staging)$")


def is_account_name(name: str) -> bool:
    """Whether `name` can be an account's: its datasets cannot collide with chatfunnel's own
    (`<source>_accounts`, dlt's `<dataset>_staging`, `<dataset>_reports`)."""
    return bool(ACCOUNT_NAME.match(name)) and not RESERVED.search(name)


@dataclass(frozen=True, order=True)
class Account:
    """One account of one source. `name` is None for the single unnamed account."""

    source: str
    name: str | None = None

    @property
    def dataset(self) -> str:
        """The raw dataset: `leeloo` for the unnamed account, `leeloo_<name>` otherwise."""
        return self.source if self.name is None else f"{self.source}_{self.name}"

    @property
    def sections(self) -> tuple[str, ...]:
        """Config sections the account's settings resolve under (dlt pops them from the
        end, so a key missing here is inherited from `[sources.<source>]`)."""
        base = ("sources", self.source)
        return base if self.name is None else (*base, "accounts", self.name)

    @property
    def config_path(self) -> str:
        return ".".join(self.sections)

    @property
    def env_prefix(self) -> str:
        return "__".join(s.upper() for s in self.sections) + "__"

    @property
    def label(self) -> str:
        return self.source if self.name is None else f"{self.source}/{self.name}"

    def __str__(self) -> str:
        return self.label


def account_value(account: Account, key: str) -> str | None:
    """`key` set for exactly this account (never inherited), from secrets or config."""
    path = f"{account.config_path}.{key}"
    for accessor in (dlt.secrets, dlt.config):
        value: Any
        try:
            value = accessor.get(path)
        except Exception:  # noqa: BLE001 - a provider that cannot answer is "not set"
            value = None
        if value not in (None, ""):
            return str(value)
    return None


def _toml_account_names(source: str) -> set[str]:
    names: set[str] = set()
    for accessor in (dlt.secrets, dlt.config):
        section: Any
        try:
            section = accessor.get(f"sources.{source}.accounts")
        except Exception:  # noqa: BLE001
            section = None
        if isinstance(section, dict):
            names.update(str(k) for k in section)
    return names


def _env_account_names(source: str) -> set[str]:
    prefix = f"SOURCES__{source.upper()}__ACCOUNTS__"
    names = set()
    for key in os.environ:
        if key.startswith(prefix):
            name, sep, _rest = key[len(prefix):].partition("__")
            if sep and name:
                names.add(name.lower())
    return names


class InvalidAccountName(UsageError):
    """An account name that cannot become part of a dataset name."""


def configured_accounts(source: str, secret_keys: Iterable[str]) -> list[Account]:
    """Every account of `source` that has its secret configured, the unnamed one first.

    An account section without its own secret is not an account (it would inherit the
    unnamed account's token and load someone else's data into its dataset).
    """
    keys = tuple(secret_keys)
    accounts = []
    default = Account(source)
    if all(account_value(default, k) for k in keys):
        accounts.append(default)
    for name in sorted(_toml_account_names(source) | _env_account_names(source)):
        if not is_account_name(name):
            raise InvalidAccountName(
                f"account name {name!r} under [sources.{source}.accounts] must be lower-case letters, "
                "digits and underscores, starting with a letter (it becomes part of a dataset name), and "
                "not 'default', 'accounts', 'reports', 'staging' or end in _accounts, _reports or _staging "
                "(names of the datasets chatfunnel makes beside it)"
            )
        account = Account(source, name)
        if all(account_value(account, k) for k in keys):
            accounts.append(account)
    return accounts


def named_sections_without_secret(source: str, secret_keys: Iterable[str]) -> list[Account]:
    """Account sections that exist but lack their secret: worth a clear message."""
    keys = tuple(secret_keys)
    found = []
    for name in sorted(_toml_account_names(source) | _env_account_names(source)):
        if ACCOUNT_NAME.match(name):
            account = Account(source, name)
            if not all(account_value(account, k) for k in keys):
                found.append(account)
    return found
