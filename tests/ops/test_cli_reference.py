"""The command line documents itself: docs/cli.md and the README's option tables are
generated from the parser (and this test fails when they drift), every command says its
defaults, examples and exit codes, and `--version` answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import reference
from pipelines.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_docs_cli_md_is_what_the_parser_says() -> None:
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == reference.cli_markdown(), \
        "docs/cli.md is stale: run `make docs`"


def test_readme_option_tables_are_what_the_parser_says() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = list(reference.BLOCK.finditer(text))
    assert {m.group("command") for m in blocks} >= {"run", "status"}, "the README lost its option tables"
    assert reference.readme_with_tables(text) == text, "README option tables are stale: run `make docs`"


@pytest.mark.parametrize("command", ["run", "transform", "status", "report", "demo", "webhook serve"])
def test_every_command_has_a_description_examples_or_defaults_and_exit_codes(command: str) -> None:
    text = reference.help_text(command)
    assert len(text.split("\n\n")[1]) > 40, "a command says what it does"
    if command in ("run", "transform", "status", "report"):
        assert "examples:" in text and "exit codes:" in text and "75" in text and "130" in text
    for action in reference.command_parser(command)._actions:
        if action.option_strings and "-h" not in action.option_strings and action.help != "==SUPPRESS==":
            assert action.help, f"{command} {action.option_strings} has no help"


def test_the_documented_defaults_are_the_parsed_ones() -> None:
    args = build_parser().parse_args(["run"])
    assert (args.source, args.destination, args.progress, args.wait) == ("all", "duckdb", "auto", 0)
    assert args.parallel_accounts is None and args.max_requests is None and not args.full_refresh
    table = reference.options_table("run")
    assert "| `--destination duckdb\\|postgres\\|filesystem` | where the data is | duckdb" in table
    assert "| `--progress auto\\|log\\|none` |" in table and table.rstrip().count("\n") > 10


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("chatfunnel 0.")


@pytest.mark.parametrize("name", reference.GENERATED_IN)
def test_generated_model_tables_are_what_the_model_headers_say(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    assert reference.with_model_tables(text) == text, f"{name}: model tables are stale: run `make docs`"


def test_the_readme_lists_every_report_of_both_sources() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {m.group("source") for m in reference.MODELS_BLOCK.finditer(text)} == {"leeloo", "salebot"}
    for report in ("tunnel_funnel", "order_timing", "tunnel_stats_coverage", "utm_funnel", "channel_funnel"):
        assert f"| `{report}` |" in text


def test_one_row_is_stops_at_the_first_clause_outside_parentheses() -> None:
    from transforms.models import Model

    model = Model("m", ROOT, "reports", "One row per tunnel (a: b. c) and day: the rest. More.", "table", [], None)
    assert reference.one_row_is(model) == "One row per tunnel (a: b. c) and day"


@pytest.mark.parametrize("command", ["run", "report", "emulator leeloo", "webhook serve", "status"])
def test_each_command_parses_its_own_options_from_main_as_from_the_whole_parser(command: str, capsys) -> None:
    """`main` builds the other commands' options only for them; each command's help is the same."""
    with pytest.raises(SystemExit) as done:
        main([*command.split(), "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out == reference.help_text(command)


def test_a_run_starts_without_the_other_commands_packages() -> None:
    """A run's start-up (parser, configuration check) imports neither the dashboard, the
    emulators nor the webhook receiver's server (Starlette, uvicorn)."""
    code = ("import sys\nfrom pipelines.cli import main\ntry:\n    main(['run', 'leeloo', '--help'])\n"
            "except SystemExit:\n    pass\nimport pipelines.operations.configcheck, pipelines.webhook.config\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'plotly', 'emulators')"
            " or m.startswith(('pipelines.webhook.app', 'pipelines.webhook.server',"
            " 'pipelines.operations.dashboard'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
