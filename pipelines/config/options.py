"""What a user asked one run to do, independent of which source runs.

Every run option is declared here once, as a `RunOptions` field whose metadata says how
it appears elsewhere: its command-line flag (`Flag`: help, metavar, parser, which commands
take it), its name in an orchestrator's config (`Configured`), and whether it is an
argument of the source. The command line (`pipelines.cli`), the child process of a
several-accounts run (`pipelines.run.fleet`, as JSON through `pipelines.config.codec`), the Dagster
and Airflow configs (`deploy/`) and `source_overrides` are all rendered from these fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from pipelines.config import codec
from pipelines.config.accounts import Account
from pipelines.config.progress import PROGRESS_MODES
from pipelines.errors import UsageError

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,54}$")  # + `_reports` or `_staging`: Postgres' 63
SELECTING = frozenset({"run", "transform", "status"})  # the commands that pick accounts
RUNNING = frozenset({"run", "transform"})
RUN = frozenset({"run"})


def dataset_name(value: str) -> str:
    """A --dataset: a plain lower-case identifier, so that it is the same schema on every
    destination and never needs quoting (`leeloo.duckdb` is a file, not a dataset)."""
    if not DATASET_NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a dataset name: use lower-case letters, digits and underscores, starting "
            "with a letter, at most 55 characters (e.g. leeloo or leeloo_acme)")
    return value


def parse_when(value: str) -> datetime:
    """An ISO date or datetime, read as UTC when it carries no offset."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not an ISO date or datetime (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return number


def name_list(value: str) -> tuple[str, ...]:
    """`A,B` as its names, blanks dropped."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


@dataclass(frozen=True)
class Flag:
    """How a run option appears on the command line of the commands in `commands`.

    `positional` makes it an optional positional argument; `negated` makes a boolean
    option's flag turn it off (`--no-transform`); `parser_default` is what the parser gives when
    it differs from the field's (the `source` argument defaults to every source);
    `help_for` words the help differently for one command."""

    help: str
    commands: frozenset[str] = RUN
    flag: str | None = None
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    positional: bool = False
    negated: bool = False
    parser_default: str | None = None
    help_for: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Configured:
    """A run option in an orchestrator's config: under `name` (default: the field's) and
    in units of `scale` of the option's (hours for a setting kept in seconds: 3600)."""

    name: str | None = None
    scale: float = 1.0


def option(*, cli: Flag | None = None, config: Configured | None = None,
           source_argument: bool = False) -> dict[str, Any]:
    """A `RunOptions` field's metadata: where it appears besides the run itself."""
    return {"cli": cli, "config": config, "source_argument": source_argument}


@dataclass(frozen=True)
class RunOptions:
    # the field order is the order of the options in each command's --help
    source: str = field(metadata=option(cli=Flag(
        positional=True, parser_default="all", commands=SELECTING,
        help="which source to load (default: all: every configured source)",
        help_for={"transform": "which source to rebuild (default: all: every configured source)",
                  "status": "which source (default: all)"})))
    destination: str = field(default="duckdb", metadata=option(config=Configured(), cli=Flag(
        commands=SELECTING, help="where the data is (default: duckdb, the file chatfunnel.duckdb)",
        help_for={"status": "default: duckdb"})))
    account: str | None = field(default=None, metadata=option(cli=Flag(
        commands=SELECTING, metavar="NAME[,NAME]",
        help="only these accounts; 'default' is the unnamed one (default: every configured account)",
        help_for={"status": "only these accounts"})))
    dataset: str | None = field(default=None, metadata=option(cli=Flag(
        commands=SELECTING, metavar="NAME", parse=dataset_name,
        help="dataset (schema) name for a single account (default: leeloo, leeloo_<account>, ...)",
        help_for={"status": "a dataset name given to `run --dataset`"})))
    wait: float = field(default=0.0, metadata=option(config=Configured(name="wait_seconds"), cli=Flag(
        commands=RUNNING, parse=float, metavar="SECONDS",
        help="if another run of the same pipeline holds the lock, wait this long (default: 0, exit 75)")))
    resources: tuple[str, ...] | None = field(default=None, metadata=option(cli=Flag(
        metavar="A,B", parse=name_list, help="load only these resources (default: all; see README, Tables)")))
    since: datetime | None = field(default=None, metadata=option(
        source_argument=True, config=Configured(), cli=Flag(
            parse=parse_when, metavar="WHEN",
            help="backfill from this UTC date or datetime, leaving the nightly cursors alone")))
    until: datetime | None = field(default=None, metadata=option(
        source_argument=True, config=Configured(), cli=Flag(
            parse=parse_when, metavar="WHEN", help="backfill up to this UTC date or datetime")))
    full_refresh: bool = field(default=False, metadata=option(config=Configured(), cli=Flag(
        help="drop this source's tables, reports and state, then reload everything; keeps what the "
             "API cannot give back (tunnel stats snapshots of earlier days, order status changes)")))
    # with full_refresh: drop what the API cannot give back too
    drop_history: bool = field(default=False, metadata=option(config=Configured(), cli=Flag(
        help="with --full-refresh: drop that history too (it can never be read again; the reports "
             "built on it restart from today)")))
    transform: bool = field(default=True, metadata=option(config=Configured(), cli=Flag(
        flag="--no-transform", negated=True, help="do not rebuild the reports")))
    progress: str = field(default="auto", metadata=option(cli=Flag(
        choices=PROGRESS_MODES,
        help="auto: bars on a terminal, silent under cron; log: also a line a minute off a "
             "terminal; none: nothing (default: auto)")))
    max_requests: int | None = field(default=None, metadata=option(
        source_argument=True, config=Configured(), cli=Flag(
            parse=positive_int, metavar="N",
            help="stop cleanly after N API requests; the next run carries on (default: no limit)")))
    concurrency: int | None = field(default=None, metadata=option(
        source_argument=True, config=Configured(), cli=Flag(
            parse=positive_int, metavar="N",
            help="parallel request chains per account (default: the source's setting, 8 / 4)")))
    parallel_accounts: int | None = field(default=None, metadata=option(cli=Flag(
        parse=positive_int, metavar="N",
        help="accounts loaded at once (default: 4; 1 runs them one after another in this process)")))
    max_runtime: float | None = field(default=None, metadata=option(
        config=Configured(name="max_runtime_hours", scale=3600), cli=Flag(
            parse=float, metavar="SECONDS",
            help="stop cleanly after this long (default: chatfunnel.max_runtime_hours, 6 h)")))
    # source arguments set by code, not by a user
    extra: dict[str, Any] = field(default_factory=dict, metadata=option())

    @property
    def target(self) -> Account:
        return Account(self.source, self.account)

    @property
    def dataset_name(self) -> str:
        return self.dataset or self.target.dataset

    @property
    def backfill(self) -> bool:
        return self.since is not None or self.until is not None

    def for_account(self, account: Account) -> RunOptions:
        return replace(self, source=account.source, account=account.name)

    def source_overrides(self) -> dict[str, Any]:
        """Source arguments the command line sets; unset ones are left to the config."""
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata["source_argument"]}
        return {**{k: v for k, v in given.items() if v is not None}, **self.extra}

    def to_json(self) -> dict[str, Any]:
        """Every option, as JSON data (for a child process)."""
        data: dict[str, Any] = codec.to_json(self)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOptions:
        return codec.from_json(cls, data)


def declared() -> Iterator[dataclasses.Field[Any]]:
    """Every run option, in declaration order."""
    yield from dataclasses.fields(RunOptions)


# ---------------------------------------------------------------- orchestrator config


@dataclass(frozen=True)
class ConfigSetting:
    """One run option as an orchestrator's config setting: a JSON-friendly type (text for
    a time, the list of names for a tuple) and its default."""

    name: str
    option: str
    kind: Any
    default: Any
    scale: float


def config_settings() -> list[ConfigSetting]:
    """The run options an orchestrator's config carries, for Dagster's resource fields and
    Airflow's params. Source, account and dataset come from the orchestrator's own partition
    or mapped task; progress is always `none` there."""
    hints = typing.get_type_hints(RunOptions)
    settings = []
    for spec in declared():
        configured: Configured | None = spec.metadata["config"]
        if configured is None:
            continue
        hint = hints[spec.name]
        kind = hint if configured.scale == 1 else float | None
        kind = _config_kind(kind)
        default: Any = spec.default
        if default is not None and configured.scale != 1:
            default = default / configured.scale
        settings.append(ConfigSetting(configured.name or spec.name, spec.name, kind, default, configured.scale))
    return settings


def _config_kind(hint: Any) -> Any:
    """What an orchestrator can hold for `hint`: ISO text for a time."""
    args = typing.get_args(hint)
    if hint is datetime or datetime in args:
        return str | None if type(None) in args else str
    return hint


def options_from_config(config: Mapping[str, Any], source: str, account: str | None,
                        **fixed: Any) -> RunOptions:
    """One account's `RunOptions` from an orchestrator's config (names of `config_settings`)."""
    hints = typing.get_type_hints(RunOptions)
    settings = config_settings()
    unknown = sorted(set(config) - {setting.name for setting in settings})
    if unknown:
        raise UsageError(f"Unknown run option(s) in the orchestrator's config: {', '.join(unknown)}; "
                         f"known: {', '.join(setting.name for setting in settings)}.")
    values: dict[str, Any] = {}
    for setting in settings:
        value = config.get(setting.name, setting.default)
        if value is not None and setting.scale != 1:
            value = value * setting.scale
        flag: Flag | None = RunOptions.__dataclass_fields__[setting.option].metadata["cli"]
        if isinstance(value, str) and flag is not None and flag.parse is not None:
            values[setting.option] = _parse_setting(flag.parse, setting.name, value)
        else:
            values[setting.option] = codec.decode(hints[setting.option], value)
    return RunOptions(source=source, account=account, progress="none", **{**values, **fixed})


def _parse_setting(parse: Callable[[str], Any], name: str, value: str) -> Any:
    """A config text as the command line reads it (a time is UTC unless it says otherwise)."""
    try:
        return parse(value)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise UsageError(f"The orchestrator's run option {name}: {exc}") from None
