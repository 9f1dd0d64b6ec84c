"""No function of the shipped code is over 60 lines (its `def` to its last line, nested
functions included): a longer one does several jobs, and each job deserves a name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("pipelines", "sources", "transforms", "emulators", "bench", "deploy")
MAX_LINES = 60


def _function_lengths(source: str) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length) of every function and method in `source`."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                found.append((name, child.lineno, (child.end_lineno or child.lineno) - child.lineno + 1))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def _offenders() -> list[str]:
    offenders = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name, line, length in _function_lengths(path.read_text(encoding="utf-8")):
                if length > MAX_LINES:
                    offenders.append(f"{path.relative_to(ROOT)}:{line} {name} is {length} lines")
    return offenders


def test_every_folder_checked_has_python_files() -> None:
    for folder in FOLDERS:
        assert any((ROOT / folder).rglob("*.py")), f"{folder}/ has no Python files: the size check reads nothing"


def test_no_function_is_over_60_lines() -> None:
    offenders = _offenders()
    assert not offenders, f"functions over {MAX_LINES} lines (split them into named steps):\n" + "\n".join(offenders)


def test_the_check_finds_a_long_function_nested_in_a_class() -> None:
    body = "\n".join(f"            x{i} = {i}" for i in range(MAX_LINES))
    source = f"class Outer:\n    def method(self):\n        async def inner():\n{body}\n        return 1\n"
    lengths = {name: length for name, _, length in _function_lengths(source)}
    assert lengths["Outer.method.inner"] == MAX_LINES + 1
    assert lengths["Outer.method"] == MAX_LINES + 3
