"""A run option is declared once, in `RunOptions`, and every rendering carries every one:
the command line, a several-accounts run's child process, an orchestrator's config and the
source's arguments. Each test walks the declaration, so an option added there is checked
by all of them; a rendering that drops one fails here, not only on a night with several
accounts. `RunOutcome` goes to JSON and back by its own fields the same way."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import typing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import REGISTERED_CHOICES, _options, build_parser
from pipelines.config.accounts import Account
from pipelines.config.history import HistoryReport
from pipelines.config.options import Flag, RunOptions, config_settings, declared, options_from_config
from pipelines.errors import SourceRefused, UsageError
from pipelines.run.fleet import (
    child_command,
    child_environment,
    child_options,
    outcome_from_json,
    outcome_to_json,
    read_options,
    write_options,
)
from pipelines.run.lifecycle import Recovery, RunOutcome
from pipelines.run.outcomes import ReportWarnings

HINTS = typing.get_type_hints(RunOptions)
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)


def other_value(spec: dataclasses.Field[Any]) -> Any:
    """A value of the option that is not its default, by its type alone."""
    flag: Flag | None = spec.metadata["cli"]
    choices = (flag.choices if flag else None) or REGISTERED_CHOICES.get(spec.name)
    if choices:
        return next(c for c in choices if c not in (spec.default, "all"))
    hint = HINTS[spec.name]
    kinds = set(typing.get_args(hint)) or {hint}
    if bool in kinds:
        return not spec.default
    if datetime in kinds:
        return WHEN
    if int in kinds:
        return 3
    if float in kinds:
        return 2.5
    if typing.get_origin(hint) is tuple or any(typing.get_origin(k) is tuple for k in kinds):
        return ("people", "orders")
    if dict in kinds or typing.get_origin(hint) is dict:
        return {"page_size": 7}
    return "acme_eu"


def as_argument(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def every_option_changed() -> RunOptions:
    return RunOptions(**{spec.name: other_value(spec) for spec in declared()})


def test_every_option_but_the_code_only_one_is_on_the_command_line() -> None:
    assert {spec.name for spec in declared() if spec.metadata["cli"] is None} == {"extra"}


@pytest.mark.parametrize("spec", [s for s in declared() if s.metadata["cli"] is not None], ids=lambda s: s.name)
def test_each_option_goes_through_the_parser(spec: dataclasses.Field[Any]) -> None:
    flag: Flag = spec.metadata["cli"]
    value = other_value(spec)
    if flag.positional:
        argv = [as_argument(value)]
    elif isinstance(spec.default, bool):
        argv = [flag.flag or "--" + spec.name.replace("_", "-")]
    else:
        argv = [flag.flag or "--" + spec.name.replace("_", "-"), as_argument(value)]
    for command in sorted(flag.commands):
        args = build_parser().parse_args([command, *argv])
        assert getattr(args, spec.name) == value, command
    if "run" in flag.commands and spec.name not in ("source", "account"):  # those two select accounts
        args = build_parser().parse_args(["run", *argv])
        assert getattr(_options(args, "leeloo", "acme"), spec.name) == value


def test_the_parser_defaults_are_the_declared_ones() -> None:
    options = _options(build_parser().parse_args(["run"]), "leeloo", None)
    assert options == RunOptions(source="leeloo")


def test_every_option_reaches_a_child_process(tmp_path: Path) -> None:
    """What the child reads is what the parent had, field for field (only the progress bars
    are the parent's); and the child's command is one the command line accepts."""
    options = every_option_changed()
    sent = child_options(options, Account("salebot", "globex"))
    write_options(tmp_path / "options.json", sent)
    received = read_options(str(tmp_path / "options.json"))
    assert received == sent
    assert dataclasses.replace(received, progress=options.progress, source=options.source,
                               account=options.account) == options
    args = build_parser().parse_args(child_command(tmp_path / "options.json", tmp_path / "outcome.json")[3:])
    assert args.options_file == str(tmp_path / "options.json") and args.outcome_file


def test_a_child_process_runs_with_the_options_of_its_file(tmp_path: Path) -> None:
    """A real child: an unknown resource in its options file is refused as on the command
    line, which proves the option came through the file."""
    options = RunOptions(source="leeloo", resources=("no_such_table",), progress="none", transform=False)
    write_options(tmp_path / "options.json", options)
    env = {**child_environment(), "SOURCES__LEELOO__API_TOKEN": "not-used", "DLT_DATA_DIR": str(tmp_path)}
    done = subprocess.run(child_command(tmp_path / "options.json", tmp_path / "outcome.json"), cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    outcome = outcome_from_json(json.loads((tmp_path / "outcome.json").read_text(encoding="utf-8")))
    assert isinstance(outcome.error, UsageError) and "no_such_table" in str(outcome.error), done.stdout
    assert done.returncode == outcome.exit_code == 2


def test_every_orchestrated_option_is_set_by_an_orchestrator_config() -> None:
    options = every_option_changed()
    config = {}
    for setting in config_settings():
        value = getattr(options, setting.option)
        value = value / setting.scale if setting.scale != 1 else value
        config[setting.name] = value.isoformat() if isinstance(value, datetime) else value
    built = options_from_config(config, "leeloo", "acme")
    for setting in config_settings():
        assert getattr(built, setting.option) == getattr(options, setting.option), setting.name
    assert built.progress == "none"
    assert options_from_config({}, "leeloo", None) == RunOptions(source="leeloo", progress="none")
    with pytest.raises(UsageError, match="max_request"):
        options_from_config({"max_request": 5}, "leeloo", None)


def test_the_orchestrated_options_keep_their_config_names() -> None:
    """Names a deployment's config already uses (a rename would break it)."""
    assert {s.name for s in config_settings()} >= {"destination", "max_requests", "concurrency",
                                                   "max_runtime_hours", "wait_seconds"}
    assert options_from_config({"max_runtime_hours": 1.5}, "leeloo", None).max_runtime == 5400


def test_source_overrides_are_the_declared_source_arguments() -> None:
    options = every_option_changed()
    declared_arguments = {s.name for s in declared() if s.metadata["source_argument"]}
    assert set(options.source_overrides()) == declared_arguments | set(options.extra)
    assert RunOptions(source="leeloo").source_overrides() == {}


def full_outcome() -> RunOutcome:
    """A run outcome with every field set."""
    outcome = RunOutcome(account=Account("leeloo", "acme"), destination="postgres", dataset="leeloo_acme",
                         pipeline_name="leeloo_acme", started_at=WHEN, finished_at=WHEN + timedelta(minutes=3),
                         rows={"people": 5}, requests=12, incomplete=["orders"], warnings=["slow"],
                         new_columns={"people": ["x"]}, facts={"pages": 3},
                         recovery=Recovery(killed={"pid": 7}, finished=["1.2"], aborted=["1.3"],
                                           deduplicated={"people": 2}, state_reset=True, cause="gone"),
                         history=HistoryReport(kept={"stats": 4}, waiting={"stats": 1}, dropped={"o": 2},
                                               nouns={"stats": "snapshots"}),
                         reports="12 models", published=Path("snapshot.duckdb"), location="db", load_id="1.4",
                         recorded="warehouse", run_id="abc",
                         reported=ReportWarnings(["reports: odd"], ["reports: 3 orders refer to people ..."]))
    outcome.error = SourceRefused("The API refused the token.", step="extract")
    return outcome


def test_an_outcome_goes_to_json_and_back_with_every_field() -> None:
    outcome = full_outcome()
    data = json.loads(json.dumps(outcome_to_json(outcome)))
    assert set(data) == {f.name for f in dataclasses.fields(RunOutcome)}
    back = outcome_from_json(data)
    assert isinstance(back.error, SourceRefused) and back.exit_code == outcome.exit_code
    assert outcome_to_json(back) == outcome_to_json(outcome)
    for spec in dataclasses.fields(RunOutcome):
        if spec.name != "error":
            assert getattr(back, spec.name) == getattr(outcome, spec.name), spec.name
    assert back.recovery.describe() == outcome.recovery.describe() and back.outcome == "failed"


def test_an_outcome_without_error_or_end_goes_back_too() -> None:
    outcome = RunOutcome(account=Account("salebot"), destination="duckdb", dataset="salebot",
                         pipeline_name="salebot", started_at=WHEN)
    back = outcome_from_json(json.loads(json.dumps(outcome_to_json(outcome))))
    assert back == outcome and back.ok and back.account.name is None



@dataclasses.dataclass
class Built:
    models: int

    def __str__(self) -> str:
        return f"built {self.models} models"


def test_an_outcome_keeps_what_its_untyped_reports_print() -> None:
    """`reports` holds the reports' build result: the parent prints its summary line, as the child did."""
    outcome = full_outcome()
    outcome.reports = Built(12)
    back = outcome_from_json(json.loads(json.dumps(outcome_to_json(outcome))))
    assert back.reports == "built 12 models"
