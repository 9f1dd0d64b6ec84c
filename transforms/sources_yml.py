"""What each raw table and column of a source means: ``transforms/<source>/_sources.yml``,
over ``transforms/shared/_sources.yml`` (the tables and columns every source's dataset has).

Declared once per source in dbt's ``sources:`` form (a table's description, its columns'),
plus what every table shares: dlt's bookkeeping columns (``_dlt_*``), the ``deleted_at``
of deletable tables, and the ``<column>__v_text`` column dlt adds beside a column when a
value sent does not fit its type. ``comment_raw`` puts them on the raw tables after each
load (DuckDB and Postgres; Parquet files carry no comments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from transforms.descriptions import comment_statements
from transforms.engine import SqlEngine, current_comments, existing_objects, literal, query
from transforms.models import SHARED
from transforms.properties import load_yml

VARIANT = re.compile(r"^(?P<column>\w+?)__v_(?P<type>\w+)$")
# dlt's own tables in every dataset: its load and schema bookkeeping, not the API's data
DLT_TABLES = frozenset({"_dlt_loads", "_dlt_version", "_dlt_pipeline_state"})


@dataclass
class RawTable:
    description: str
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class RawDescriptions:
    tables: dict[str, RawTable]
    shared: dict[str, str]  # columns every table may have (_dlt_id, deleted_at, ...)
    variant: str  # the description of a `<column>__v_text` column; `{column}` is replaced

    def column(self, table: str, column: str) -> str:
        """The description of a raw column; '' when none is declared."""
        entry = self.tables.get(table)
        if entry and column in entry.columns:
            return entry.columns[column]
        if column in self.shared:
            return self.shared[column]
        variant = VARIANT.match(column)
        if variant:
            return self.variant.format(column=variant.group("column"))
        return ""


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _read(path: Path) -> RawDescriptions:
    """The descriptions one ``_sources.yml`` declares (none when it does not exist)."""
    if not path.exists():
        return RawDescriptions({}, {}, "")
    document = load_yml(path.read_text(encoding="utf-8")) or {}
    (declared,) = document.get("sources") or [{}]
    tables = {
        str(t["name"]): RawTable(_text(t.get("description")),
                                 {str(c["name"]): _text(c.get("description")) for c in t.get("columns") or []})
        for t in declared.get("tables") or []
    }
    shared = {str(c["name"]): _text(c.get("description")) for c in declared.get("shared_columns") or []}
    return RawDescriptions(tables, shared, _text(declared.get("variant_columns")))


@cache
def raw_descriptions(source: str, transforms_dir: Path | None = None) -> RawDescriptions:
    """The declared descriptions of ``source``'s raw tables: its own ``_sources.yml`` over
    ``shared/_sources.yml`` (what every dataset has: chatfunnel's bookkeeping tables, dlt's columns)."""
    root = transforms_dir or Path(__file__).resolve().parent
    common, own = _read(root / SHARED / "_sources.yml"), _read(root / source / "_sources.yml")
    if not own.tables and not own.shared and not own.variant:
        return own  # a source that declares nothing (a model set in a test) gets no comments
    return RawDescriptions({**common.tables, **own.tables}, {**common.shared, **own.shared},
                           own.variant or common.variant)


def _commentable(client: Any, engine: SqlEngine, raw_dataset: str, tables: set[str]) -> set[str]:
    """The tables this session may comment on: on a shared server (Postgres) only the owner
    may (a table some other role made, e.g. by hand, would fail the whole build's transaction)."""
    if not engine.shared:
        return tables
    owned = query(client, "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                          f"where n.nspname = {literal(raw_dataset)} and pg_has_role(c.relowner, 'USAGE')")
    return tables & {str(name) for (name,) in owned}


def comment_raw(client: Any, engine: SqlEngine, source: str, raw_dataset: str,
                raw_columns: dict[str, set[str]]) -> list[str]:
    """`comment on` every raw table the dataset has and each of its declared columns; returns
    the tables and columns without a description (``table`` or ``table.column``)."""
    described = raw_descriptions(source)
    kinds = existing_objects(client, raw_dataset)  # the lake's raw relations are views
    current = current_comments(client, engine, raw_dataset)
    missing: list[str] = []
    statements: list[str] = []
    for table in sorted(_commentable(client, engine, raw_dataset, set(raw_columns) - DLT_TABLES)):
        entry = described.tables.get(table)
        if entry is None:
            missing.append(table)
            continue
        columns = {}
        for column in sorted(raw_columns[table]):
            text = described.column(table, column)
            if text:
                columns[column] = text
            else:
                missing.append(f"{table}.{column}")
        kind = kinds.get(table, "table")
        statements += comment_statements(kind, raw_dataset, table, entry.description, columns, current=current)
    if statements:
        client.execute_many(statements)
    return missing
