"""Configuration is checked before any request: a misspelt key fails loudly, a secret in the
wrong file is named, and `chatfunnel config check` shows what each setting resolved to.

dlt ignores a key no configspec asks for, so `SOURCES__LEELOO__MAX_REQUEST=5` (one letter
short) used to load without a budget. Every key under chatfunnel's own sections --
`[chatfunnel]`, `[alerts]`, `[sources.leeloo]`, `[sources.salebot]` and each
`[sources.<source>.accounts.<name>]`, in `.dlt/config.toml`, `.dlt/secrets.toml` or the
environment (`CHATFUNNEL__*`, `ALERTS__*`, `SOURCES__LEELOO__*`, `SOURCES__SALEBOT__*`) --
must be a field of a configspec the code reads there: a source function's, the webhook
inbox's, the operations and alerts settings. A sub-table of `[sources.<source>]` other than
`accounts` is left alone: dlt reads its own sections there (`[sources.leeloo.schema]`,
`[sources.leeloo.data_writer]`, `[sources.leeloo.extract]`, a resource's
`[sources.leeloo.people]`); a test records every key dlt looks up during a real run and
finds each of them known.

A secret (a field whose hint is secret, a destination's `credentials`, the alerts hook)
in `.dlt/config.toml` is refused the same way: dlt never reads secrets from that file.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dlt.common.configuration.container import Container
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException, ValueNotSecretException
from dlt.common.configuration.providers import ConfigProvider
from dlt.common.configuration.resolve import resolve_single_provider_value
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.configuration.specs.base_configuration import is_secret_hint
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from pipelines.config.accounts import Account
from pipelines.config.registry import SOURCES, SourceSpec
from pipelines.config.settings import AlertsConfiguration, OperationsConfiguration
from pipelines.errors import InvalidConfiguration

CONFIG_TOML = "config.toml"
SECRETS_TOML = "secrets.toml"
ENVIRONMENT = "Environment Variables"  # dlt's name for its environment provider
# settings that are not source arguments but are read beside them: the run's own report object
NOT_SETTINGS = frozenset({"report"})
# secrets outside chatfunnel's sections that dlt refuses in config.toml: (section path, key)
OTHER_SECRETS = (("runtime",), "slack_incoming_hook")


@dataclass(frozen=True)
class Problem:
    """One key that is wrong where it is: `text` names it, where it is, and what to do."""

    key: str
    where: str
    text: str


@dataclass(frozen=True)
class Setting:
    """A resolved setting, for `chatfunnel config check`: its value as shown, and where it came from."""

    key: str
    shown: str
    origin: str


@dataclass(frozen=True)
class SettingsBlock:
    """The settings of one section: a source's account, `[chatfunnel]` or `[alerts]`."""

    title: str
    settings: tuple[Setting, ...]


# ---------------------------------------------------------------- known keys, from the code


def spec_fields(spec: type[BaseConfiguration]) -> dict[str, bool]:
    """{field: is it a secret} of a configspec, as dlt resolves it."""
    return {k: is_secret_hint(h) for k, h in spec.get_resolvable_fields().items() if k not in NOT_SETTINGS}


def extra_specs() -> dict[str, tuple[type[BaseConfiguration], ...]]:
    """Configspecs read under a source's sections besides its source function's: the
    reports' settings under every source, the webhook receiver's inbox under `[sources.salebot]`."""
    from pipelines.config.report_settings import ReportSettings
    from pipelines.webhook.config import SOURCE as WEBHOOK_SOURCE
    from pipelines.webhook.config import WebhookInboxConfiguration

    extra: dict[str, tuple[type[BaseConfiguration], ...]] = {name: (ReportSettings,) for name in SOURCES}
    extra[WEBHOOK_SOURCE] = (*extra.get(WEBHOOK_SOURCE, ()), WebhookInboxConfiguration)
    return extra


def account_keys(spec: SourceSpec) -> dict[str, bool]:
    """Every key an account section of `spec` may hold: {key: is it a secret}."""
    keys = spec_fields(spec.factory.ref.SPEC)
    for extra in extra_specs().get(spec.name, ()):
        keys.update(spec_fields(extra))
    keys.update({k: False for k in spec.account_only if k not in keys})
    return keys


def source_keys(spec: SourceSpec) -> dict[str, bool]:
    """Every key `[sources.<source>]` may hold: an account's (an account inherits them all)."""
    return account_keys(spec)


def known_sections() -> dict[tuple[str, ...], dict[str, bool]]:
    """{section path: its keys} for chatfunnel's sections (accounts apart: `accounts` below a source)."""
    sections: dict[tuple[str, ...], dict[str, bool]] = {
        ("chatfunnel",): spec_fields(OperationsConfiguration),
        ("alerts",): spec_fields(AlertsConfiguration),
    }
    for spec in SOURCES.values():
        sections[("sources", spec.name)] = source_keys(spec)
    return sections


# ---------------------------------------------------------------- where settings are


def providers() -> list[ConfigProvider]:
    """dlt's providers in the order it asks them: environment, secrets.toml, config.toml.
    dlt resolves its own `[runtime]` settings when it first makes them: one that is not of
    its type (`RUNTIME__REQUEST_MAX_ATTEMPTS=abc`) is said here, not as dlt's traceback."""
    try:
        return list(Container()[PluggableRunContext].providers.providers)
    except ConfigValueCannotBeCoercedException as exc:
        kind = getattr(exc.hint, "__name__", str(exc.hint))
        raise InvalidConfiguration(
            f"dlt's setting {exc.field_name} is {exc.field_value!r:.80}, which is not a valid {kind}. Fix "
            f"RUNTIME__{exc.field_name.upper()} or {exc.field_name} under [runtime] in .dlt/config.toml.",
            step="config") from None


def toml_documents() -> list[tuple[str, dict[str, Any]]]:
    """(provider name, its parsed TOML) of each TOML file dlt reads."""
    docs = []
    for provider in providers():
        to_toml = getattr(provider, "to_toml", None)
        if provider.name in (CONFIG_TOML, SECRETS_TOML) and callable(to_toml):
            docs.append((provider.name, tomllib.loads(to_toml())))
    return docs


def _nearest(key: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def _unknown(key: str, where: str, known: Iterable[str], shown: str | None = None) -> Problem:
    name = shown or key
    return Problem(name, where, f"{name} {where} is not a setting{_nearest(name, known)}")


def _secret_in_config(key: str, section: tuple[str, ...]) -> Problem:
    env = "__".join(s.upper() for s in (*section, key))
    where = f"under [{'.'.join(section)}] in .dlt/config.toml"
    return Problem(key, where, f"{key} {where} is a secret: put it in .dlt/secrets.toml (same section) or "
                               f"the environment variable {env}, not in config.toml")


def _table_problems(doc: Mapping[str, Any], section: tuple[str, ...], keys: Mapping[str, bool],
                    file: str) -> Iterator[Problem]:
    """Unknown keys of one table, and secrets in config.toml. Sub-tables are the caller's."""
    where = f"under [{'.'.join(section)}] in .dlt/{file}"
    for key, value in doc.items():
        if isinstance(value, dict):
            continue
        if key not in keys:
            yield _unknown(key, where, keys)
        elif keys[key] and file == CONFIG_TOML:
            yield _secret_in_config(key, section)


def _source_table_problems(doc: Mapping[str, Any], spec: SourceSpec, file: str) -> Iterator[Problem]:
    section = ("sources", spec.name)
    yield from _table_problems(doc, section, source_keys(spec), file)
    accounts = doc.get("accounts")
    if not isinstance(accounts, dict):
        return
    keys = account_keys(spec)
    for name, table in accounts.items():
        if not isinstance(table, dict):
            continue
        account_section = (*section, "accounts", str(name))
        yield from _table_problems(table, account_section, keys, file)
        for sub in (k for k, v in table.items() if isinstance(v, dict)):
            yield _unknown(sub, f"under [{'.'.join(account_section)}] in .dlt/{file}", keys)


def toml_problems(file: str, doc: Mapping[str, Any]) -> list[Problem]:
    """What is wrong in one parsed TOML file (`file` is config.toml or secrets.toml)."""
    found: list[Problem] = []
    for section in (("chatfunnel",), ("alerts",)):
        table = doc.get(section[0])
        if isinstance(table, dict):
            keys = known_sections()[section]
            found.extend(_table_problems(table, section, keys, file))
            where = f"under [{section[0]}] in .dlt/{file}"
            found.extend(_unknown(k, where, keys) for k, v in table.items() if isinstance(v, dict))
    sources = doc.get("sources")
    for spec in SOURCES.values():
        table = sources.get(spec.name) if isinstance(sources, dict) else None
        if isinstance(table, dict):
            found.extend(_source_table_problems(table, spec, file))
    if file == CONFIG_TOML:
        found.extend(_other_secrets(doc))
    return found


def _other_secrets(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Destination credentials and the alerts hook: dlt refuses them in config.toml too."""
    destinations = doc.get("destination")
    if isinstance(destinations, dict):
        for name, table in destinations.items():
            if isinstance(table, dict) and "credentials" in table:
                yield _secret_in_config("credentials", ("destination", str(name)))
    section, key = OTHER_SECRETS
    table = doc.get(section[0])
    if isinstance(table, dict) and key in table:
        yield _secret_in_config(key, section)


def env_known() -> dict[str, dict[str, bool]]:
    """{environment prefix: the keys after it} for chatfunnel's sections."""
    return {"__".join(s.upper() for s in section) + "__": keys for section, keys in known_sections().items()}


def env_problems(environ: Mapping[str, str]) -> list[Problem]:
    """Environment variables under chatfunnel's prefixes that name no setting."""
    found = []
    by_prefix = env_known()
    for name in sorted(environ):
        for prefix, keys in by_prefix.items():
            if name.startswith(prefix):
                problem = _env_problem(name, prefix, keys)
                if problem is not None:
                    found.append(problem)
    return found


def _env_problem(name: str, prefix: str, keys: Mapping[str, bool]) -> Problem | None:
    rest = name[len(prefix):].split("__")
    upper = {k.upper() for k in keys}
    is_source = prefix.startswith("SOURCES__")
    if is_source and len(rest) >= 3 and rest[0] == "ACCOUNTS":
        account_prefix = f"{prefix}ACCOUNTS__{rest[1]}__"
        key = "__".join(rest[2:])
        if key in _account_upper(prefix):
            return None
        return _unknown(key, "(environment)", sorted(account_prefix + k for k in _account_upper(prefix)),
                        shown=name)
    if is_source and len(rest) >= 2:
        return None  # a resource-level section dlt reads, e.g. SOURCES__LEELOO__PEOPLE__...
    if rest[0] in upper and len(rest) == 1:
        return None
    return _unknown(name, "(environment)", sorted(prefix + k for k in upper), shown=name)


def _account_upper(prefix: str) -> set[str]:
    source = prefix.split("__")[1].lower()
    return {k.upper() for k in account_keys(SOURCES[source])}


def find_problems(environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every unknown key and misplaced secret in the environment and the TOML files."""
    found = env_problems(os.environ if environ is None else environ)
    for file, doc in toml_documents():
        found.extend(toml_problems(file, doc))
    return found


def problems_message(problems: list[Problem]) -> str:
    """One paragraph naming every problem and how to see every setting."""
    listed = "; ".join(p.text for p in problems)
    return (f"The configuration has {len(problems)} problem{'s' if len(problems) > 1 else ''}: {listed}. "
            "Nothing was run. `chatfunnel config check` shows every setting and where it comes from.")


def check_configuration(environ: Mapping[str, str] | None = None) -> None:
    """Raise `InvalidConfiguration` (exit 2) naming every problem; called before any request."""
    problems = find_problems(environ)
    if problems:
        raise InvalidConfiguration(problems_message(problems), step="config")


# ---------------------------------------------------------------- what each setting resolved to


def origin_of(key: str, hint: Any, sections: tuple[str, ...], *, exact: bool = False) -> tuple[Any, str]:
    """(raw value, where it came from) of `key` as dlt looks it up under `sections`: the
    first provider that has it, from the most specific section down; (None, "default")."""
    for provider in providers():
        if exact:
            value, _ = provider.get_value(key, hint, None, *sections)
        else:
            try:
                value, _ = resolve_single_provider_value(provider, key, hint, explicit_sections=sections)
            except ValueNotSecretException:
                return None, f"{CONFIG_TOML}, where a secret is refused"
        if value is not None:
            return value, "environment" if provider.name == ENVIRONMENT else provider.name
    return None, "default"


def _shown(value: Any, secret: bool, origin: str) -> str:
    if secret:
        return f"set ({origin})" if value is not None else "not set"
    return "—" if value is None else str(value)


def spec_settings(spec: type[BaseConfiguration], sections: tuple[str, ...],
                  exact: Iterable[str] = ()) -> tuple[Setting, ...]:
    """Each field of `spec` under `sections`: its value (secrets masked) and its origin.
    `exact` keys are read at this section only (an account never inherits them)."""
    fields = spec.get_resolvable_fields()
    defaults = spec()
    exact_keys = set(exact)
    settings = []
    for key, hint in fields.items():
        if key in NOT_SETTINGS:
            continue
        value, origin = origin_of(key, hint, sections, exact=key in exact_keys)
        if origin == "default":
            value = getattr(defaults, key, None)
        settings.append(Setting(key, _shown(value, is_secret_hint(hint), origin), origin))
    return tuple(settings)


def account_block(spec: SourceSpec, account: Account) -> SettingsBlock:
    """One account's settings: its source function's, and the webhook inbox's where it has one."""
    exact = (*spec.secret_keys, *spec.account_only) if account.name else ()
    settings = list(spec_settings(spec.factory.ref.SPEC, account.sections, exact))
    seen = {s.key for s in settings}
    for extra in extra_specs().get(spec.name, ()):
        more = spec_settings(extra, account.sections, (*exact, "webhook_secret") if account.name else ())
        settings.extend(s for s in more if s.key not in seen)
    if account.name:  # a named account's own default of a key it never inherits (its own inbox)
        settings = [Setting(s.key, str(spec.account_only[s.key](account)), s.origin)
                    if s.key in spec.account_only and s.origin == "default" else s for s in settings]
    return SettingsBlock(f"{account.label} [{account.config_path}]", tuple(settings))


def describe_settings() -> list[SettingsBlock]:
    """Every configured account's settings, then `[chatfunnel]` and `[alerts]`."""
    blocks = []
    for spec in SOURCES.values():
        accounts = spec.accounts()
        if not accounts:
            key = spec.secret_keys[0]
            blocks.append(SettingsBlock(
                f"{spec.name}: not configured (set {Account(spec.name).env_prefix}{key.upper()} or {key} "
                f"under [sources.{spec.name}] in .dlt/secrets.toml)", ()))
        blocks.extend(account_block(spec, a) for a in accounts)
    blocks.append(SettingsBlock("[chatfunnel]", spec_settings(OperationsConfiguration, ("chatfunnel",))))
    blocks.append(SettingsBlock("[alerts]", spec_settings(AlertsConfiguration, ("alerts",))))
    return blocks


def format_settings(blocks: list[SettingsBlock]) -> str:
    """The blocks as `chatfunnel config check` prints them: key, value, origin in columns."""
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append("")
        lines.append(block.title)
        width = max((len(s.key) for s in block.settings), default=0)
        for setting in block.settings:
            origin = "" if setting.shown.startswith("set (") or setting.shown == "not set" else f"  ({setting.origin})"
            lines.append(f"  {setting.key.ljust(width)}  {setting.shown}{origin}")
    return "\n".join(lines)
