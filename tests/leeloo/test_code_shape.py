"""The Leeloo source's code keeps the shape of dlt's verified sources: resources are
module-level functions over explicit inputs, not nests of closures over shared locals
(one level, dlt's decorator pattern, is the most), and the resources' steps are short."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "sources" / "leeloo"
RESOURCE_MODULES = ("people", "channels", "chains", "orders", "reference", "lists", "windowed", "run", "__init__")
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def functions(node: ast.AST, depth: int = 0) -> Iterator[tuple[int, ast.AST]]:
    """Every function and lambda under `node` with the number of functions around it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, FUNCTIONS):
            yield depth, child
            yield from functions(child, depth + 1)
        else:
            yield from functions(child, depth)


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def test_no_closure_is_nested_in_another() -> None:
    nested = [f"{path.name}:{fn.lineno}" for path in sorted(SOURCE.glob("*.py"))
              for depth, fn in functions(parsed(path)) if depth >= 2]
    assert nested == []


def test_no_step_of_a_resource_is_over_60_lines() -> None:
    long = [f"{name}.py:{fn.lineno} {getattr(fn, 'name', 'lambda')}" for name in RESOURCE_MODULES
            for _, fn in functions(parsed(SOURCE / f"{name}.py"))
            if (fn.end_lineno or fn.lineno) - fn.lineno + 1 > 60]
    assert long == []


def test_the_shape_checks_see_a_nest_of_closures() -> None:
    nest = ast.parse("def resource():\n    def rows():\n        def detail():\n            pass\n")
    assert [depth for depth, _ in functions(nest)] == [0, 1, 2]
