"""The code's shape: no import cycles among the project's own modules, and dependencies that
point one way (CLI -> lifecycle -> operations -> warehouse/registry/errors; sources never
import pipelines). Function-level imports count too: a cycle hidden inside a function is
still a cycle."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipelines", "sources", "transforms", "emulators")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for imported in targets:
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_no_import_cycles() -> None:
    try:
        graphlib.TopologicalSorter(_graph()).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("sources", "pipelines"),  # a source is a library: it never knows who runs it
        ("transforms", "pipelines"),
        ("emulators", "pipelines"),
        ("emulators", "sources"),  # the emulators know the APIs, not our client
        ("pipelines.errors", "pipelines"),  # the bottom of the operations layer
        ("pipelines.warehouse", "pipelines.lifecycle"),
        ("pipelines.registry", "pipelines.lifecycle"),
        ("pipelines.runs", "pipelines.lifecycle"),
        ("pipelines.lifecycle", "pipelines.cli"),
    ],
)
def test_dependencies_point_one_way(module: str, forbidden: str) -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name == module or name.startswith(module + ".")
        for target in targets
        if (target == forbidden or target.startswith(forbidden + ".")) and not target.startswith(module)
    )
    assert not offenders, offenders
