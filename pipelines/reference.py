"""The CLI reference in the docs, generated from the parser so it cannot drift.

`python -m pipelines.reference` rewrites `docs/cli.md` (every command's `--help`) and the
option tables between `<!-- cli:<command> -->` markers in README.md; `make docs` runs it,
and a test fails when the committed text differs from what the parser says.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from pathlib import Path

from .cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- cli:(?P<command>[a-z ]+) -->\n)(?P<body>.*?)(<!-- /cli -->)", re.S)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_parser(path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for part in path.split():
        parser = _subparsers(parser)[part]
    return parser


def help_text(path: str = "") -> str:
    parser = command_parser(path) if path else build_parser()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        os.environ["COLUMNS"] = "100"
        parser.print_help()
    return out.getvalue().rstrip() + "\n"


_DOCUMENTED_DEFAULT = re.compile(r"\(default:?\s*(?P<text>[^)]*)\)")


def _default(action: argparse.Action) -> str:
    """What the option is when not given: the help's own words, else the parser's value."""
    documented = _DOCUMENTED_DEFAULT.search(action.help or "")
    if documented:
        return documented.group("text").strip()
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if action.default in (None, argparse.SUPPRESS):
        return "—"
    return f"`{action.default}`"


def options_table(path: str) -> str:
    """A markdown table of the command's options: flag, meaning, default."""
    rows = ["| option | meaning | default |", "|---|---|---|"]
    for action in command_parser(path)._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or "-h" in action.option_strings:
            continue
        flag = ", ".join(action.option_strings)
        if action.choices:
            flag += " " + "\\|".join(str(c) for c in action.choices)
        elif action.metavar:
            flag += f" {action.metavar}"
        elif not isinstance(action, argparse._StoreTrueAction):
            flag += f" {action.dest.upper()}"
        meaning = (action.help or "").replace("|", "\\|")
        meaning = _DOCUMENTED_DEFAULT.sub("", meaning).strip()
        rows.append(f"| `{flag}` | {meaning} | {_default(action)} |")
    return "\n".join(rows) + "\n"


def commands() -> list[str]:
    paths = []
    for name, parser in _subparsers(build_parser()).items():
        paths.append(name)
        paths.extend(f"{name} {sub}" for sub in _subparsers(parser))
    return paths


def cli_markdown() -> str:
    parts = ["# The `chatfunnel` command line\n",
             "Generated from the parser by `make docs`; a test keeps it current.\n",
             "```text\n$ chatfunnel --help\n" + help_text() + "```\n"]
    for path in commands():
        parts.append(f"## `chatfunnel {path}`\n\n```text\n$ chatfunnel {path} --help\n{help_text(path)}```\n")
    return "\n".join(parts)


def readme_with_tables(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + options_table(m.group("command")) + m.group(4), text)


def main() -> int:
    (ROOT / "docs" / "cli.md").write_text(cli_markdown(), encoding="utf-8")
    readme = ROOT / "README.md"
    readme.write_text(readme_with_tables(readme.read_text(encoding="utf-8")), encoding="utf-8")
    print("wrote docs/cli.md and the option tables in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
