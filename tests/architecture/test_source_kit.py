"""The two sources stand on one kit: the HTTP client, listings with their completeness
verdict, row batches and the rule for values that do not fit live once, under
`sources/kit` and `sources/http`. A source package that defines its own fails here, so a
fix to one mechanism is a fix for every source. Also: no closure nested more than one
level in a source (dlt's decorator pattern: a factory returning a decorated resource)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("leeloo", "salebot")

# names that say a module defines the mechanism itself, whatever it is called around them
OWN_MECHANISM = {
    "HTTP client": re.compile(r"(Http|Api|Rest)(Client|Session|Transport)$|^(Client|Session|Transport)$"),
    "listing": re.compile(r"Listing$|^_?Pager$|Paginator$"),
    "batch": re.compile(r"Batch(es)?$|^_?Rows$|TableRows$"),
    "value rule": re.compile(r"^(Oddities|Shapes)$|^(typed|put|side_text|clean|clean_deep|as_json|as_json_text|"
                             r"to_text|to_int|to_bool|to_utc|unix_or_iso_time|parse_time|number|integer|money|boolean|timestamp)$"),
}
# importing these bypasses the kit's client: a source talks HTTP only through sources.http
RAW_HTTP = ("requests", "httpx", "urllib3", "urllib.request", "http.client", "aiohttp")


def _modules(source: str) -> Iterator[Path]:
    yield from sorted((ROOT / "sources" / source).rglob("*.py"))


def _definitions(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Classes and functions a module defines at its top level."""
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno


def _imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, node.lineno


@pytest.mark.parametrize("source", SOURCES)
def test_a_source_defines_no_mechanism_of_its_own(source: str) -> None:
    offenders = []
    for path in _modules(source):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        for name, line in _definitions(tree):
            offenders += [f"{where}:{line} defines {name} (a {what})"
                          for what, pattern in OWN_MECHANISM.items() if pattern.search(name)]
        for module, line in _imports(tree):
            if module in RAW_HTTP or module.startswith(tuple(m + "." for m in RAW_HTTP)):
                offenders.append(f"{where}:{line} imports {module} (an HTTP client of its own)")
    assert not offenders, "use the kit (sources/kit, sources/http) instead:\n" + "\n".join(offenders)


def test_the_check_catches_a_mechanism_of_its_own() -> None:
    """The patterns would see each mechanism a source used to define for itself."""
    for name in ("Batches", "_Rows", "Listing", "_Listing", "Shapes", "Oddities", "typed", "ApiClient"):
        assert any(pattern.search(name) for pattern in OWN_MECHANISM.values()), name
    for name in ("people_resource", "read_chain", "SalebotApi", "client_row", "plan_clients"):
        assert not any(pattern.search(name) for pattern in OWN_MECHANISM.values()), name


def _nesting(node: ast.AST, depth: int = 0) -> Iterator[tuple[str, int, int]]:
    """(name, line, depth) of every function inside another function, `depth` levels down."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            name = getattr(child, "name", "<lambda>")
            if depth > 0:
                yield name, child.lineno, depth
            yield from _nesting(child, depth + 1)
        else:
            yield from _nesting(child, depth)


@pytest.mark.parametrize("source", ["salebot", "kit"])
def test_no_closure_nested_more_than_one_level(source: str) -> None:
    deep = [f"{path.relative_to(ROOT)}:{line} {name}"
            for path in _modules(source)
            for name, line, depth in _nesting(ast.parse(path.read_text(encoding="utf-8")))
            if depth > 1]
    assert not deep, "closures nested two levels or more:\n" + "\n".join(deep)
