"""No module branches on a destination's name: each asks the description of its destination
(`pipelines.warehouse.destinations`, and for the report builder's SQL `transforms.engine.SqlEngine`)
what it can do. A comparison with "duckdb", "postgres" or "filesystem" anywhere else is a
capability that the next destination would have to hunt for."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.errors import UsageError
from pipelines.warehouse.destinations import BY_NAME, DUCKDB, LAKE, POSTGRES, destination

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("pipelines", "sources", "transforms", "emulators")  # the product; deploy/ and bench/ drive it
NAMES = frozenset({"duckdb", "postgres", "filesystem"})
DESCRIPTION = {"pipelines/warehouse/destinations.py"}


def _names_in(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Constant) and node.value in NAMES:
        yield node.value
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            yield from _names_in(element)


def name_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, name) of each comparison or `match` case against a destination's name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                found.extend((node.lineno, name) for name in _names_in(operand))
        elif isinstance(node, ast.MatchValue):
            found.extend((node.lineno, name) for name in _names_in(node.value))
    return found


def _modules() -> Iterator[tuple[str, Path]]:
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield str(path.relative_to(ROOT)), path


def test_no_module_compares_a_destination_name() -> None:
    offenders = [
        f"{relative}:{line} compares with {name!r}"
        for relative, path in _modules()
        if relative not in DESCRIPTION
        for line, name in name_comparisons(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "ask pipelines.warehouse.destinations instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "snippet",
    [
        'if destination == "duckdb": pass',
        'ok = "postgres" != kind',
        'lake = name in ("duckdb", "filesystem")',
        'match name:\n    case "postgres":\n        pass',
    ],
)
def test_the_scan_sees_each_way_of_comparing(snippet: str) -> None:
    assert name_comparisons(snippet)


def test_the_scan_leaves_other_uses_of_a_name_alone() -> None:
    assert not name_comparisons('make_pipeline(account, "postgres")\nENGINES = {"duckdb": 1}\nx == "duck"')


def test_every_destination_is_described_once_under_its_name() -> None:
    assert BY_NAME == {"duckdb": DUCKDB, "postgres": POSTGRES, "filesystem": LAKE}
    assert [d.sql for d in (DUCKDB, POSTGRES, LAKE)] == [True, True, False]
    assert [d.file_lock for d in (DUCKDB, POSTGRES, LAKE)] == [True, False, False]
    assert [d.publishes_snapshot for d in (DUCKDB, POSTGRES, LAKE)] == [True, False, False]
    assert [d.shared_server for d in (DUCKDB, POSTGRES, LAKE)] == [False, True, False]
    assert len({d.pipeline_suffix for d in BY_NAME.values()}) == len(BY_NAME)  # never one state for two
    with pytest.raises(UsageError, match="Unknown destination 'bigquery'"):
        destination("bigquery")
