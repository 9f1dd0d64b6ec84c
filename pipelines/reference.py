"""The references in the docs, generated so they cannot drift from the code.

`python -m pipelines.reference` rewrites `docs/cli.md` (every command's `--help`), the
option tables between `<!-- cli:<command> -->` markers in README.md, and the model tables
between `<!-- models:<source> -->` (reports, one line each) and `<!-- models-full:<source> -->`
(every model with its whole description and data tests) markers, and the column tables
between `<!-- columns:<source>:<model> -->` markers, from the models' yml (`transforms.docs`).
`make docs` runs it; a test fails when the committed text differs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from pathlib import Path

from pipelines.cli import build_parser
from transforms.docs import with_column_tables
from transforms.models import Model, load_models

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- cli:(?P<command>[a-z ]+) -->\n)(?P<body>.*?)(<!-- /cli -->)", re.S)
MODELS_BLOCK = re.compile(
    r"(<!-- (?P<kind>models|models-full):(?P<source>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /models -->)", re.S)


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
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
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
        elif not isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
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


def one_row_is(model: Model) -> str:
    """The header's opening clause: up to the first colon or full stop outside parentheses."""
    depth = 0
    text = model.description
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char in ":." and (index + 1 == len(text) or text[index + 1] == " "):
            return text[:index]
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def models_table(source: str) -> str:
    """The source's reports, one line each."""
    rows = ["| report | one row is |", "|---|---|"]
    for model in sorted(load_models(source), key=lambda m: m.name):
        if model.layer == "reports":
            rows.append(f"| `{model.name}` | {_cell(one_row_is(model))} |")
    return "\n".join(rows) + "\n"


def models_catalogue(source: str) -> str:
    """Every model of the source: layer, what one row is (the whole header), its data tests."""
    rows = ["| model | layer | what one row is | data tests |", "|---|---|---|---|"]
    for model in sorted(load_models(source), key=lambda m: (m.layer != "staging", m.name)):
        tests = "; ".join(f"`{t.text}`" for t in model.tests) or "—"
        rows.append(f"| `{model.name}` | {model.layer} ({model.materialized}) | {_cell(model.description)} "
                    f"| {_cell(tests)} |")
    return "\n".join(rows) + "\n"


def with_model_tables(text: str) -> str:
    def block(match: re.Match[str]) -> str:
        render = models_table if match.group("kind") == "models" else models_catalogue
        return match.group(1) + render(match.group("source")) + match.group(5)
    return with_column_tables(MODELS_BLOCK.sub(block, text))


GENERATED_IN: tuple[str, ...] = ("README.md", "docs/reports.md")


def main() -> int:
    (ROOT / "docs" / "cli.md").write_text(cli_markdown(), encoding="utf-8")
    for name in GENERATED_IN:
        path = ROOT / name
        path.write_text(with_model_tables(readme_with_tables(path.read_text(encoding="utf-8"))), encoding="utf-8")
    print("wrote docs/cli.md and the generated tables in " + ", ".join(GENERATED_IN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
