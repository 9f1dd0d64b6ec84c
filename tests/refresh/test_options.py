"""`--drop-history` travels everywhere a run option does, and is refused where it means nothing."""

from __future__ import annotations

from pathlib import Path

from pipelines.accounts import Account
from pipelines.cli import _options, build_parser
from pipelines.fleet import child_command
from pipelines.lifecycle import refresh_refusal
from pipelines.options import RunOptions


def test_the_parser_and_a_child_process_carry_it() -> None:
    args = build_parser().parse_args(["run", "leeloo", "--full-refresh", "--drop-history"])
    options = _options(args, "leeloo", "acme")
    assert options.full_refresh and options.drop_history
    command = child_command(options, Account("leeloo", "acme"), Path("out.json"))
    assert "--full-refresh" in command and "--drop-history" in command
    plain = child_command(RunOptions(source="leeloo", full_refresh=True), Account("leeloo", "acme"), Path("o"))
    assert "--full-refresh" in plain and "--drop-history" not in plain


def test_help_says_what_each_keeps() -> None:
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    text = " ".join(run.format_help().split())
    assert "keeps what the API cannot give back" in text
    assert "--drop-history with --full-refresh: drop that history too" in text


def test_refusals() -> None:
    assert refresh_refusal(RunOptions(source="leeloo", full_refresh=True), True) is None
    assert "give both" in (refresh_refusal(RunOptions(source="leeloo", drop_history=True), True) or "")
    lake = RunOptions(source="leeloo", destination="filesystem", full_refresh=True)
    assert "--drop-history" in (refresh_refusal(lake, True) or "")
    assert refresh_refusal(RunOptions(source="leeloo", destination="filesystem", full_refresh=True,
                                      drop_history=True), True) is None
