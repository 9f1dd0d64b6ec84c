"""Model files: reading ``transforms/<source>/{staging,reports}/*.sql`` and rendering them.

A source's models are its own and those of ``transforms/shared/``: a model every source
builds alike (the coverage of the history loaded) is written once there, with its yml.

A model is ONE select statement in PostgreSQL syntax, described (what one row means, its
columns, materialization and data tests) in the yml beside it (``transforms.properties``).
sqlglot parses it, expands its macros (``transforms.macros``), finds what it references —
``raw.<table>`` (the raw dataset) or a bare model name — and the models are ordered by
those references (graphlib). Rendering qualifies the references with the real schemas and
writes the statement in the target dialect, so one SQL source serves DuckDB and Postgres.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from transforms.datatests import IDENT, DataTest, DataTestSpecError, parse_header_tests
from transforms.macros import MacroError, expand
from transforms.properties import ModelProperties, PropertiesError, read_layer

TRANSFORMS_DIR = Path(__file__).resolve().parent
LAYERS = ("staging", "reports")
SHARED = "shared"  # the models (and raw-table descriptions) every source has, written once
AUTHORING_DIALECT = "postgres"
RAW_PLACEHOLDER = "raw"

ZONE_NAME = "reports_timezone"  # `reports_timezone()` in a model: the account's time zone, as a string


class TransformError(Exception):
    """A model could not be read or built."""


@dataclass
class Model:
    name: str
    path: Path
    layer: str
    description: str
    materialized: str
    tests: list[DataTest]
    ast: exp.Expression
    raw_refs: set[str] = field(default_factory=set)
    model_refs: set[str] = field(default_factory=set)
    columns: dict[str, str] = field(default_factory=dict)  # column -> description (markdown)


# ---------------------------------------------------------------- reading model files


def _parse_header(text: str, path: Path) -> tuple[str, str, list[DataTest]]:
    """(description, materialization, tests) of a model without a yml entry: its leading
    ``--`` lines (what one row is; ``materialized: view|table``; ``tests: ...``)."""
    description: list[str] = []
    materialized = "view"
    tests: list[DataTest] = []
    last_key = "description"
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        body = stripped[2:].strip()
        key, _, value = body.partition(":")
        key = key.strip().lower()
        if key == "materialized" and value.strip():
            materialized = value.strip().split()[0].lower()
            if materialized not in ("view", "table"):
                raise TransformError(f"{path}: materialized must be view or table, not {materialized!r}")
            last_key = key
        elif key == "tests":
            try:
                tests.extend(parse_header_tests(value, path))
            except DataTestSpecError as exc:
                raise TransformError(str(exc)) from exc
            last_key = key
        elif last_key == "materialized":
            continue  # the rest of the reason given for the materialization
        else:
            description.append(body)
    return " ".join(description), materialized, tests


def _read_model(path: Path, layer: str, described: dict[str, ModelProperties]) -> Model:
    """One model file, its description, materialization and tests from the layer's yml (or,
    for a model the yml does not list, from its header), macros expanded."""
    name = path.stem.lower()
    if not IDENT.match(name):
        raise TransformError(f"{path}: a model file name must be a snake_case identifier")
    text = path.read_text(encoding="utf-8")
    description, materialized, tests = _parse_header(text, path)
    columns: dict[str, str] = {}
    if name in described:
        if tests or materialized != "view":
            raise TransformError(f"{path}: {name} is described in the yml; its tests and materialization go there")
        entry = described[name]
        description, materialized, tests, columns = entry.description, entry.materialized, entry.tests, entry.columns
    if not description:
        raise TransformError(f"{path}: say what one row means (the model's description in the layer's yml)")
    return Model(name, path, layer, description, materialized, tests, _parsed(text, path), columns=columns)


@lru_cache(maxsize=256)
def _parsed(text: str, path: Path) -> exp.Query:
    """A model file's one select, parsed and its macros expanded once per process for the same
    text: every report build and every reader loads the models, and parsing is most of that
    cost. The tree is shared, so nothing may change it in place (rendering works on a copy)."""
    try:
        statements = [s for s in sqlglot.parse(text, read=AUTHORING_DIALECT) if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise TransformError(f"{path}: SQL does not parse: {exc}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise TransformError(f"{path}: a model file holds exactly one select statement")
    try:
        expand(statements[0], path)
    except MacroError as exc:
        raise TransformError(str(exc)) from exc
    return statements[0]


def cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def table_refs(tree: exp.Expression) -> Iterable[exp.Table]:
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            yield table


def _read_layers(base: Path, models: dict[str, Model]) -> dict[str, Model]:
    """``models`` with those of ``base``'s layers added; a name defined twice is an error."""
    for layer in LAYERS:
        try:
            described = read_layer(base / layer)
        except PropertiesError as exc:
            raise TransformError(str(exc)) from exc
        for path in sorted((base / layer).glob("*.sql")):
            model = _read_model(path, layer, described)
            if model.name in models:
                raise TransformError(f"{path}: model {model.name} is defined twice ({models[model.name].path})")
            models[model.name] = model
        unknown = sorted(set(described) - {p.stem.lower() for p in (base / layer).glob("*.sql")})
        if unknown:
            raise TransformError(f"{base / layer}: the yml describes models without a file: {', '.join(unknown)}")
    return models


def _resolve_references(models: dict[str, Model], source: str) -> None:
    """Fill each model's raw and model references; refuse anything else."""
    for model in models.values():
        ctes = cte_names(model.ast)
        for table in table_refs(model.ast):
            name, db = table.name.lower(), table.db.lower()
            if table.catalog:
                raise TransformError(f"{model.path}: unexpected reference {table.sql()}")
            if db == RAW_PLACEHOLDER:
                model.raw_refs.add(table.name)
            elif db:
                raise TransformError(
                    f"{model.path}: {table.sql()} — refer to raw tables as raw.<table> and to "
                    "models by their bare name"
                )
            elif name in ctes:
                continue
            elif name in models:
                if name == model.name:
                    raise TransformError(f"{model.path}: a model cannot read itself")
                model.model_refs.add(name)
            else:
                raise TransformError(
                    f"{model.path}: {table.name!r} is neither a model of {source} nor a CTE "
                    "(raw tables are written raw.<table>)"
                )
        for test in model.tests:
            if test.ref_model and test.ref_model not in models:
                raise TransformError(f"{model.path}: {test.text} refers to unknown model {test.ref_model}")


def load_models(source: str, transforms_dir: Path | None = None) -> list[Model]:
    """All models of a source, in dependency order (a model after everything it reads).

    Parsed once per process while the files stay as they are (a process that builds many
    times, a fleet or a test suite, paid ~0.2 CPU s a build): callers only read the models
    (the runner renders a copy of each tree)."""
    root = transforms_dir or TRANSFORMS_DIR
    base = root / source
    if not base.is_dir() or source == SHARED:
        raise TransformError(f"no transforms for source {source!r} (expected {base})")
    return list(_models_of(source, root, _files_stamp(base, root / SHARED)))


def _files_stamp(*folders: Path) -> tuple[tuple[str, int, int], ...]:
    """Every model and yml file under ``folders`` with its size and change time."""
    stamp = []
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            if path.suffix in (".sql", ".yml") and path.is_file():
                st = path.stat()
                stamp.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(stamp)


@lru_cache(maxsize=16)
def _models_of(source: str, root: Path, stamp: tuple[tuple[str, int, int], ...]) -> tuple[Model, ...]:
    """The models as `load_models` returns them; ``stamp`` (`_files_stamp`) keys the cache."""
    base = root / source
    models = _read_layers(base, {})
    if (root / SHARED).is_dir():
        models = _read_layers(root / SHARED, models)
    _resolve_references(models, source)
    sorter = graphlib.TopologicalSorter({n: m.model_refs for n, m in models.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise TransformError(f"models of {source} reference each other in a cycle: {exc.args[1]}") from exc
    ordered: list[Model] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(models[n] for n in ready)
        sorter.done(*ready)
    return tuple(ordered)


# ---------------------------------------------------------------- rendering SQL


def _quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def pad_missing(
    model: Model,
    tree: exp.Expression,
    raw_dataset: str,
    raw_columns: dict[str, set[str]],
    warnings: list[str],
) -> None:
    """Replace a raw table (or its absent columns) that dlt has not created yet with NULLs.

    dlt creates a table or column only once data for it arrives (an account without tags has
    no ``people__tags``). The columns a model reads from a raw table are those qualified
    with the table's alias; the missing ones become ``cast(null as text)``.
    """
    for table in list(table_refs(tree)):
        if table.db.lower() != RAW_PLACEHOLDER:
            continue
        alias = table.alias_or_name
        scope = table.parent_select or tree
        wanted = sorted(
            {c.name for c in scope.find_all(exp.Column) if c.table == alias and c.name}
        )
        existing = raw_columns.get(table.name.lower())
        missing = [c for c in wanted if existing is None or c.lower() not in existing]
        if existing is not None and not missing:
            continue
        nulls = [
            exp.alias_(exp.cast(exp.null(), "text"), _quoted(c)) for c in missing
        ]
        if existing is None:
            warnings.append(
                f"{model.name}: raw table {table.name} does not exist yet; read as empty"
            )
            inner = exp.select(*(nulls or [exp.alias_(exp.null(), "_none")])).where(
                exp.false()
            )
        else:
            warnings.append(
                f"{model.name}: raw table {table.name} has no column(s) {', '.join(missing)} yet; "
                "read as NULL"
            )
            source_table = exp.Table(this=_quoted(table.name), db=_quoted(raw_dataset))
            inner = exp.select(exp.Star(), *nulls).from_(source_table)
        table.replace(exp.Subquery(this=inner, alias=exp.TableAlias(this=_quoted(alias))))


def render(
    tree: exp.Expression,
    dialect: str,
    raw_dataset: str,
    reports_dataset: str,
    model_names: Iterable[str],
    *,
    zone: str = "UTC",
    copy: bool = True,
) -> str:
    """The statement with raw.<t> and model references qualified, and `reports_timezone()`
    replaced by the account's zone (a string), in the target dialect. `copy=False` changes
    `tree` in place (a tree made for this one statement)."""
    if copy:
        tree = tree.copy()
    for call in list(tree.find_all(exp.Anonymous)):
        if str(call.this).lower() == ZONE_NAME:
            call.replace(exp.Literal.string(zone))
    names = {n.lower() for n in model_names}
    ctes = cte_names(tree)
    for table in list(table_refs(tree)):
        if table.db.lower() == RAW_PLACEHOLDER:
            table.set("db", _quoted(raw_dataset))
            table.set("this", _quoted(table.name))
        elif not table.db and table.name.lower() in names and table.name.lower() not in ctes:
            table.set("db", _quoted(reports_dataset))
            table.set("this", _quoted(table.name.lower()))
    return tree.sql(dialect=dialect, copy=False)  # the generator's own copy would be a second one


_BODIES: dict[tuple[Any, ...], tuple[exp.Expression, str, tuple[str, ...]]] = {}


def model_body(model: Model, dialect: str, raw_dataset: str, reports_dataset: str, *, names: Iterable[str],
               raw_columns: dict[str, set[str]], zone: str = "UTC") -> tuple[str, list[str]]:
    """The statement that builds `model` (`pad_missing`, then `render`) and the notes on what
    was padded. It depends only on the model, the datasets, the zone and the columns of the
    raw tables the model reads, so it is written once per process for each of those: a
    process that builds many times (the windows of a first load, a test suite) paid ~0.1 s
    of sqlglot a build."""
    tables = sorted({t.lower() for t in model.raw_refs})
    read = tuple((t, frozenset(raw_columns[t]) if t in raw_columns else None) for t in tables)
    key = (model.path, model.name, id(model.ast), dialect, raw_dataset, reports_dataset, tuple(names), zone, read)
    cached = _BODIES.get(key)
    if cached is None or cached[0] is not model.ast:  # the id of a tree that is gone may be reused
        notes: list[str] = []
        tree = model.ast.copy()
        pad_missing(model, tree, raw_dataset, raw_columns, notes)
        body = render(tree, dialect, raw_dataset, reports_dataset, names, zone=zone, copy=False)
        if len(_BODIES) >= 2048:
            _BODIES.clear()
        cached = _BODIES[key] = (model.ast, body, tuple(notes))
    return cached[1], list(cached[2])


def render_text(sql: str, dialect: str, raw_dataset: str, reports_dataset: str, names: Iterable[str], *,
                zone: str = "UTC") -> str:
    return _render_text(sql, dialect, raw_dataset, reports_dataset, tuple(names), zone=zone)


@lru_cache(maxsize=1024)
def _render_text(sql: str, dialect: str, raw_dataset: str, reports_dataset: str, names: tuple[str, ...], *,
                 zone: str) -> str:
    """`render_text` is a pure function of its arguments: the data tests render the same
    statements on every build of a dataset, so each is parsed and written once per process."""
    return render(sqlglot.parse_one(sql, read=AUTHORING_DIALECT), dialect, raw_dataset, reports_dataset, names,
                  zone=zone, copy=False)
