"""Which inboxes the receiver serves, and the secret that guards each, resolved by dlt.

The unnamed account reads `[sources.salebot]` (`webhook_secret` in `.dlt/secrets.toml` or
`SOURCES__SALEBOT__WEBHOOK_SECRET`; `webhook_store`; `webhook_retention_days`). A named
account `[sources.salebot.accounts.<name>]` needs its own `webhook_secret` and gets its own
inbox; it inherits only the retention. The secret and the inbox are never inherited: dlt's
section lookup would hand one account another's secret, so those two are read at the
account's exact path and passed to the configspec as explicit values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import dlt
from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.exceptions import ConfigurationException, ValueNotSecretException
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from pipelines.config.accounts import Account, InvalidAccountName, account_value, configured_accounts
from pipelines.errors import ConfigurationMissing, UsageError
from sources.salebot.settings import DEFAULT_WEBHOOK_STORE
from sources.salebot.webhook_store import DEFAULT_RETENTION_DAYS

SOURCE = "salebot"
SECRET_KEY = "webhook_secret"
SECRET_ENV = "SOURCES__SALEBOT__WEBHOOK_SECRET"
MIN_SECRET_LENGTH = 16
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")  # needs no percent-encoding in a path or a query


@configspec
class WebhookInboxConfiguration(BaseConfiguration):
    """One account's webhook inbox."""

    webhook_secret: TSecretStrValue = dlt.secrets.value
    """The shared secret in the Webhook URL: URL-safe characters, at least 16 of them."""
    webhook_store: str = DEFAULT_WEBHOOK_STORE
    """The SQLite inbox the next `chatfunnel run salebot` of this account loads."""
    webhook_retention_days: float = DEFAULT_RETENTION_DAYS
    """Loaded pushes older than this are pruned from the inbox."""


@dataclass(frozen=True)
class Inbox:
    """An account's inbox as the receiver serves it."""

    account: Account
    secret: str = field(repr=False)
    store_path: Path
    retention_days: float

    @property
    def name(self) -> str | None:
        return self.account.name

    @property
    def label(self) -> str:
        return self.account.name or "default"


def configured_inboxes(secret: str | None = None, store: str | None = None) -> list[Inbox]:
    """Every account with a webhook secret, the unnamed one first.

    ``secret`` and ``store`` (from the command line) set the unnamed account's.
    """
    try:
        accounts = configured_accounts(SOURCE, (SECRET_KEY,))
    except InvalidAccountName as exc:
        raise UsageError(str(exc), step="config") from None
    default = Account(SOURCE)
    if secret and default not in accounts:
        accounts.insert(0, default)
    inboxes = [_inbox(a, secret if a == default else None, store if a == default else None) for a in accounts]
    if not inboxes:
        raise ConfigurationMissing(
            f"The webhook receiver needs a shared secret so that only Salebot can push: set {SECRET_ENV} "
            f"(or `webhook_secret` under [sources.salebot] in .dlt/secrets.toml), or `webhook_secret` under "
            f"[sources.salebot.accounts.<name>] for each account. Make one with: "
            f"python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            step="config",
        )
    _check_distinct(inboxes)
    return inboxes


def _inbox(account: Account, secret: str | None, store: str | None) -> Inbox:
    explicit: dict[str, str] = {}
    if secret:
        explicit[SECRET_KEY] = secret
    if store:
        explicit["webhook_store"] = store
    if account.name is not None:
        own = _own_secret(account)
        if not own:  # listed, so it is set, but where secrets do not belong
            raise _not_a_secret(account)
        explicit[SECRET_KEY] = own
        explicit["webhook_store"] = account_value(account, "webhook_store") or _account_store(account)
    try:
        resolved = resolve_configuration(
            WebhookInboxConfiguration(), sections=account.sections, explicit_value=explicit or None
        )
    except ValueNotSecretException:
        raise _not_a_secret(account) from None
    except ConfigurationException as exc:
        raise UsageError(
            f"The webhook settings of {account.label} could not be read ({type(exc).__name__}): check "
            f"webhook_store and webhook_retention_days under [{account.config_path}].",
            step="config",
        ) from None
    value = str(resolved.webhook_secret)
    if len(value) < MIN_SECRET_LENGTH or not _URL_SAFE.fullmatch(value):
        raise UsageError(
            f"The webhook secret of {account.label} must be at least {MIN_SECRET_LENGTH} URL-safe characters "
            f"(letters, digits, '-', '_', '.', '~'). Make one with: "
            f"python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            step="config",
        )
    if resolved.webhook_retention_days < 0:
        raise UsageError(f"webhook_retention_days of {account.label} must be >= 0", step="config")
    return Inbox(account, value, Path(resolved.webhook_store), float(resolved.webhook_retention_days))


def retention_days(account: Account) -> float:
    """The account's ``webhook_retention_days`` (inherited from `[sources.salebot]`), for a
    prune after a load: ``WebhookStore(path).prune(retention_days(account))``."""
    try:
        resolved = resolve_configuration(WebhookInboxConfiguration(), sections=account.sections, accept_partial=True)
    except ConfigurationException:
        return DEFAULT_RETENTION_DAYS
    return float(resolved.webhook_retention_days)


def _not_a_secret(account: Account) -> ConfigurationMissing:
    return ConfigurationMissing(
        f"The webhook secret of {account.label} could not be read. It is a secret: put it in "
        f".dlt/secrets.toml under [{account.config_path}] or in the environment as "
        f"{account.env_prefix}{SECRET_KEY.upper()}, not in config.toml.",
        step="config",
    )


def _own_secret(account: Account) -> str | None:
    """The secret set at exactly this account's path, from secret providers only."""
    try:
        value: object = dlt.secrets.get(f"{account.config_path}.{SECRET_KEY}")
    except ConfigurationException:
        return None
    return str(value) if value else None


def _account_store(account: Account) -> str:
    from pipelines.config.registry import SOURCES  # late: the registry imports every source

    return str(SOURCES[SOURCE].account_only["webhook_store"](account))


def _check_distinct(inboxes: list[Inbox]) -> None:
    """One secret and one inbox per account: shared ones would mix two clients' pushes."""
    seen_secrets: dict[str, str] = {}
    seen_stores: dict[Path, str] = {}
    for inbox in inboxes:
        other = seen_secrets.setdefault(inbox.secret, inbox.account.label)
        if other != inbox.account.label:
            raise UsageError(
                f"{inbox.account.label} and {other} have the same webhook secret; each account needs its own.",
                step="config",
            )
        path = inbox.store_path.resolve()
        other = seen_stores.setdefault(path, inbox.account.label)
        if other != inbox.account.label:
            raise UsageError(
                f"{inbox.account.label} and {other} share the webhook inbox {inbox.store_path}; "
                "each account needs its own.",
                step="config",
            )
