"""docs/reports.md's column tables, generated from the models' yml so they cannot drift.

Between ``<!-- columns:<source>:<model>[,<model>...] -->`` and ``<!-- /columns -->`` stands
the table of the model's columns (``| column | meaning |``), adjacent columns with the same
description on one row. Several models in one marker share a table: their columns and
descriptions must be the same. ``make docs`` rewrites the tables; a test fails when the
committed text differs.
"""

from __future__ import annotations

import re
from functools import cache

from transforms.models import Model, TransformError, load_models

COLUMNS_BLOCK = re.compile(r"(<!-- columns:(?P<source>[a-z_]+):(?P<models>[a-z_,]+) -->\n)(?P<body>.*?)"
                           r"(<!-- /columns -->)", re.S)


@cache
def _models(source: str) -> dict[str, Model]:
    return {m.name: m for m in load_models(source)}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def column_table(model: Model) -> str:
    """``| column | meaning |`` rows of a model, a run of columns with one description on one row."""
    rows: list[tuple[list[str], str]] = []
    for column, text in model.columns.items():
        if rows and rows[-1][1] == text:
            rows[-1][0].append(column)
        else:
            rows.append(([column], text))
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| {', '.join(f'`{c}`' for c in columns)} | {_cell(text)} |" for columns, text in rows]
    return "\n".join(lines) + "\n"


def _block(match: re.Match[str]) -> str:
    source, names = match.group("source"), match.group("models").split(",")
    models = _models(source)
    unknown = [n for n in names if n not in models]
    if unknown:
        raise TransformError(f"docs name unknown {source} model(s): {', '.join(unknown)}")
    tables = {column_table(models[n]) for n in names}
    if len(tables) != 1:
        raise TransformError(f"{', '.join(names)} share a column table in the docs but their yml columns differ")
    return match.group(1) + tables.pop() + match.group(5)


def with_column_tables(text: str) -> str:
    """``text`` with every column block regenerated from the yml."""
    return COLUMNS_BLOCK.sub(_block, text)


def documented_models(text: str) -> set[tuple[str, str]]:
    """(source, model) of every column block in ``text``."""
    return {(m.group("source"), name) for m in COLUMNS_BLOCK.finditer(text) for name in m.group("models").split(",")}
