"""The yml beside the models (dbt's properties files): what each model and column means,
how it is materialized, and its data tests.

``transforms/<source>/<layer>/_<layer>.yml`` lists the layer's models::

    version: 2
    models:
      - name: stg_orders
        description: One row per order ...
        config: {materialized: table}      # optional; view by default
        tests: [{unique: [a, b]}]          # optional; tests over several columns
        columns:
          - name: order_id
            description: the order's id
            tests: [unique, not_null]

It is the one place these are written: the runner reads it, ``comment on`` puts it in the
database, and docs/reports.md's tables are generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from transforms.datatests import DataTest, DataTestSpecError, yml_tests

# libyaml's parser where PyYAML was built with it: the same documents, ~9x less CPU
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yml(text: str) -> Any:
    """A yml document, as ``yaml.safe_load`` reads it."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader, C or Python


class PropertiesError(Exception):
    """A properties file that cannot be read."""


@dataclass
class ModelProperties:
    description: str
    materialized: str
    tests: list[DataTest]
    columns: dict[str, str] = field(default_factory=dict)  # column -> description (markdown)


def _model(entry: dict[str, Any], path: Path) -> tuple[str, ModelProperties]:
    name = str(entry.get("name") or "")
    description = " ".join(str(entry.get("description") or "").split())
    if not name or not description:
        raise PropertiesError(f"{path}: every model has a name and a description (what one row is): {entry}")
    materialized = str((entry.get("config") or {}).get("materialized", "view"))
    if materialized not in ("view", "table"):
        raise PropertiesError(f"{path}: {name}: materialized must be view or table, not {materialized!r}")
    columns = entry.get("columns") or []
    try:
        tests = yml_tests(entry.get("tests") or [], [(str(c["name"]), c.get("tests") or []) for c in columns])
    except (DataTestSpecError, KeyError, TypeError) as exc:
        raise PropertiesError(f"{path}: {name}: {exc}") from exc
    described = {str(c["name"]): " ".join(str(c.get("description") or "").split()) for c in columns}
    return name, ModelProperties(description, materialized, tests, described)


def read_layer(layer_dir: Path) -> dict[str, ModelProperties]:
    """{model name: its properties} from every ``*.yml`` of a layer's folder."""
    found: dict[str, ModelProperties] = {}
    for path in sorted(layer_dir.glob("*.yml")):
        for name, properties in _described(path.read_text(encoding="utf-8"), path):
            if name in found:
                raise PropertiesError(f"{path}: model {name} is described twice")
            found[name] = properties
    return found


@lru_cache(maxsize=64)
def _described(text: str, path: Path) -> tuple[tuple[str, ModelProperties], ...]:
    """One properties file's models, read once per process for the same text: a run reads the
    models beside the extract and again to build them, and every reader loads them too.
    Shared, so nothing may change them in place."""
    document = load_yml(text) or {}
    return tuple(_model(entry, path) for entry in document.get("models") or [])
