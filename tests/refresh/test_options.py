"""`--drop-history` travels everywhere a run option does, and is refused where it means nothing."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli import _options, build_parser
from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions
from pipelines.run.fleet import child_options, read_options, write_options
from pipelines.run.lifecycle import refresh_refusal


def test_the_parser_and_a_child_process_carry_it(tmp_path: Path) -> None:
    args = build_parser().parse_args(["run", "leeloo", "--full-refresh", "--drop-history"])
    options = _options(args, "leeloo", "acme")
    assert options.full_refresh and options.drop_history
    write_options(tmp_path / "both.json", child_options(options, Account("leeloo", "acme")))
    child = read_options(str(tmp_path / "both.json"))
    assert child.full_refresh and child.drop_history
    write_options(tmp_path / "plain.json", RunOptions(source="leeloo", full_refresh=True))
    plain = read_options(str(tmp_path / "plain.json"))
    assert plain.full_refresh and not plain.drop_history


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
