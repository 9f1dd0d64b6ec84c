"""The code's shape: no import cycles among the project's own modules, and dependencies that
point one way, as the folders of `pipelines/` show them (the command line -> run ->
operations and webhook -> warehouse -> config -> errors; sources never import pipelines).
Function-level imports count too: a cycle hidden inside a function is still a cycle."""

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
        ("pipelines.errors", "pipelines"),  # the bottom: typed errors know nobody
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


# the layers of `pipelines/`, top down: a layer imports only itself and the layers below it
LAYERS = (
    ("pipelines.cli", "pipelines.demo", "pipelines.reference", "pipelines.__main__"),
    ("pipelines.run",),
    ("pipelines.operations", "pipelines.webhook"),
    ("pipelines.warehouse",),
    ("pipelines.config",),
    ("pipelines.errors",),
)


def _layer(module: str) -> int | None:
    for depth, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer):
            return depth
    return None


def test_every_pipelines_module_sits_in_a_layer() -> None:
    """A new module lands in one of the folders (or is one of the few top-level files)."""
    loose = sorted(m for m in _graph() if m.startswith("pipelines.") and _layer(m) is None
                   and m not in ("pipelines.leeloo_pipeline", "pipelines.salebot_pipeline"))
    assert not loose, f"modules outside the layers of pipelines/: {loose}"


def test_layers_import_only_downwards() -> None:
    upward = sorted(
        f"{name} imports {target}"
        for name, targets in _graph().items()
        for target in targets
        if (here := _layer(name)) is not None and (there := _layer(target)) is not None and there < here
    )
    assert not upward, upward
