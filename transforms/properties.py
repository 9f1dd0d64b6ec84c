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
from pathlib import Path
from typing import Any

import yaml

from transforms.datatests import DataTest, DataTestSpecError, yml_tests


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
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in document.get("models") or []:
            name, properties = _model(entry, path)
            if name in found:
                raise PropertiesError(f"{path}: model {name} is described twice")
            found[name] = properties
    return found
