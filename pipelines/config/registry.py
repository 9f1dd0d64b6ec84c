"""The sources chatfunnel knows, described once, so that no other module branches on a
source's name: how to build it for an account, where its settings live, which keys are
secret, what to do after a load, and which dashboard sections show it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

import dlt
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.sources import DltSource

from pipelines.config.accounts import Account, account_value, configured_accounts
from pipelines.config.history import KeptTable, kept_tables
from pipelines.config.options import RunOptions
from pipelines.errors import ConfigurationMissing, UsageError
from sources.report import SourceReport


@dataclass(frozen=True)
class BuiltSource:
    """A dlt source ready to run, and the report it fills in while dlt extracts it."""

    source: DltSource
    report: SourceReport
    settings: Mapping[str, Any]


AfterLoad = Callable[[dlt.Pipeline, Mapping[str, Any]], object]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    title: str
    module: str  # the source's package; imported on first use, so one broken source cannot stop the other
    factory_name: str  # its @dlt.source function; the configspec dlt generates from it is the settings spec
    secret_keys: tuple[str, ...]
    # keys an account never inherits from [sources.<name>]: key -> its default for an account
    account_only: Mapping[str, Callable[[Account], Any]] = field(default_factory=dict)
    after_load: AfterLoad | None = None
    report_marker: str = ""  # a report only this source builds: tells whose reports a dataset holds
    dashboard_sections: tuple[str, ...] = ()
    gaps_report: str | None = None  # a report of days without a snapshot, for `chatfunnel status`

    @cached_property
    def package(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def factory(self) -> Any:
        return getattr(self.package, self.factory_name)

    @property
    def resource_aliases(self) -> Mapping[str, str]:
        """Table names that are loaded by another resource (`chat_messages` by channels)."""
        return dict(getattr(self.package, "RESOURCE_ALIASES", {}))

    @property
    def declared_columns(self) -> Mapping[str, Mapping[str, Any]]:
        """Per table, the columns the source declares (its layout, not the API's fields)."""
        return dict(getattr(self.package, "DECLARED_COLUMNS", {}))

    @property
    def complete_since(self) -> str:
        """What the source's "history complete since <date>" holds, in the words after
        "complete": `since` (every entity active since then), or the package's `COMPLETE_SINCE`
        (Salebot: `for the clients created since`)."""
        return str(getattr(self.package, "COMPLETE_SINCE", "since"))

    @property
    def deletion_cascades(self) -> tuple[tuple[str, str, str], ...]:
        """(child table, child column, parent table): what a deletion of the parent also deletes."""
        return tuple(getattr(self.package, "DELETION_CASCADES", ()))

    @property
    def kept_on_refresh(self) -> tuple[KeptTable, ...]:
        """Tables a full refresh keeps: rows no API can give back (`pipelines.config.history`)."""
        return kept_tables(getattr(self.package, "KEPT_ON_REFRESH", ()))

    def secret_env(self, account: Account) -> str:
        return account.env_prefix + self.secret_keys[0].upper()

    def accounts(self) -> list[Account]:
        return configured_accounts(self.name, self.secret_keys)

    def is_configured(self) -> bool:
        return bool(self.accounts())

    def settings(self, account: Account) -> dict[str, Any]:
        """The source's arguments for `account`, resolved by dlt from its sections."""
        spec = self.factory.ref.SPEC
        try:
            resolved = resolve_configuration(spec(), sections=account.sections, accept_partial=True)
        except ConfigFieldMissingException as exc:  # pragma: no cover - accept_partial
            raise self.missing(account, list(exc.fields)) from None
        settings = {k: v for k, v in dict(resolved).items() if k != "report"}
        missing = []
        for key in self.secret_keys:
            value = account_value(account, key)
            if value is None:
                missing.append(key)
            settings[key] = value
        if missing:
            raise self.missing(account, missing)
        if account.name is not None:
            for key, default in self.account_only.items():
                settings[key] = account_value(account, key) or default(account)
        return settings

    def missing(self, account: Account, keys: Sequence[str]) -> ConfigurationMissing:
        env = ", ".join(account.env_prefix + k.upper() for k in keys)
        return ConfigurationMissing(
            f"Missing configuration for {account.label}: {', '.join(keys)}. Set {env} in the "
            f"environment or put it under [{account.config_path}] in .dlt/secrets.toml "
            f"(see README, Configuration).",
            step="config",
        )

    def build(self, options: RunOptions) -> BuiltSource:
        """The configured source for one run of one account."""
        settings = self.settings(options.target)
        settings.update(options.source_overrides())
        report = SourceReport()
        source = self.factory(**settings, report=report)
        return BuiltSource(select_resources(source, options.resources, self.resource_aliases), report, settings)


def select_resources(
    source: DltSource, names: Sequence[str] | None, aliases: Mapping[str, str] | None = None
) -> DltSource:
    """Keep only the named resources; an alias names the resource that loads a table."""
    if not names:
        return source
    wanted = [dict(aliases or {}).get(name, name) for name in names]
    unknown = [name for name in wanted if name not in source.resources]
    if unknown:
        available = sorted(set(source.resources) | set(aliases or {}))
        raise UsageError(
            f"Unknown {source.name} resource(s): {', '.join(unknown)}. Available: {', '.join(available)}.",
            step="config",
        )
    return source.with_resources(*dict.fromkeys(wanted))


def _salebot_after_load(pipeline: dlt.Pipeline, settings: Mapping[str, Any]) -> object:
    from sources.salebot import mark_webhook_consumed

    return mark_webhook_consumed(pipeline, settings.get("webhook_store"))


def _salebot_inbox(account: Account) -> str:
    """A named account's own webhook inbox: never shared with another account."""
    from sources.salebot.settings import DEFAULT_WEBHOOK_STORE

    return DEFAULT_WEBHOOK_STORE.replace("salebot_", f"salebot_{account.name}_")


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            name="leeloo",
            title="Leeloo.ai",
            module="sources.leeloo",
            factory_name="leeloo_source",
            secret_keys=("api_token",),
            report_marker="tunnel_funnel",
            gaps_report="tunnel_stats_coverage",
            dashboard_sections=("tunnel_funnel", "daily_activity", "source_funnel", "utm_funnel",
                                "manager_response_times"),
        ),
        SourceSpec(
            name="salebot",
            title="Salebot.pro",
            module="sources.salebot",
            factory_name="salebot_source",
            secret_keys=("api_key",),
            account_only={"webhook_store": _salebot_inbox},
            after_load=_salebot_after_load,
            report_marker="order_funnel",
            dashboard_sections=("salebot_daily_activity", "salebot_order_funnel", "salebot_channel_funnel"),
        ),
    )
}


def source_spec(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise UsageError(f"Unknown source '{name}'. Use one of: {', '.join(SOURCES)}.") from None
