"""Model files: reading ``transforms/<source>/{staging,reports}/*.sql`` and rendering them.

A model is ONE select statement in PostgreSQL syntax with a header comment (what one row
means, ``materialized:``, ``tests:``). sqlglot parses it, finds what it references —
``raw.<table>`` (the raw dataset) or a bare model name — and the models are ordered by
those references (graphlib). Rendering qualifies the references with the real schemas and
writes the statement in the target dialect, so one SQL source serves DuckDB and Postgres.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import sqlglot
from sqlglot import exp

TRANSFORMS_DIR = Path(__file__).resolve().parent
LAYERS = ("staging", "reports")
AUTHORING_DIALECT = "postgres"
RAW_PLACEHOLDER = "raw"

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEST = re.compile(r"(\w+)\s*\(([^()]*)\)")
# data tests whose failures are warnings (dbt's `severity: warn`): orphans, and times later
# than now (an API whose clock is ahead of ours stamps them; they are loaded as stamped)
WARNING_KINDS = frozenset({"orphans", "no_future"})


ZONE_NAME = "reports_timezone"  # `reports_timezone()` in a model: the account's time zone, as a string


class TransformError(Exception):
    """A model could not be read or built."""


@dataclass
class DataTest:
    kind: str  # unique | not_null | share | no_future | zero | orphans
    columns: list[str]
    text: str  # as written in the header, e.g. "unique(order_id)"
    ref_model: str | None = None  # orphans: the model and column it must match
    ref_column: str | None = None

    @property
    def severity(self) -> str:
        """"warn": reported in the build result, the build stands; "error": the build fails.
        A time later than now is the API's clock, not a broken model: it warns."""
        return "warn" if self.kind in WARNING_KINDS else "error"


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


# ---------------------------------------------------------------- reading model files


def _parse_header(text: str, path: Path) -> tuple[str, str, list[DataTest]]:
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
            tests.extend(_parse_tests(value, path))
            last_key = key
        elif last_key == "materialized":
            continue  # the rest of the reason given for the materialization
        else:
            description.append(body)
    if not description:
        raise TransformError(f"{path}: the header comment must say what one row means")
    return " ".join(description), materialized, tests


def _parse_tests(spec: str, path: Path) -> list[DataTest]:
    tests: list[DataTest] = []
    leftover = _TEST.sub("", spec).replace(";", "").replace(",", "").strip()
    if leftover:
        raise TransformError(f"{path}: cannot read the tests line {spec.strip()!r}")
    for match in _TEST.finditer(spec):
        kind, args = match.group(1).lower(), match.group(2)
        text = f"{kind}({args.strip()})"
        if kind == "orphans":
            column, arrow, target = args.partition("->")
            ref_model, _, ref_column = target.strip().partition(".")
            names = [column.strip(), ref_model.strip(), ref_column.strip()]
            if not arrow or not all(IDENT.match(n) for n in names):
                raise TransformError(f"{path}: write orphans(col -> model.col), not {text}")
            tests.append(DataTest(kind, [names[0]], text, names[1], names[2]))
            continue
        if kind not in ("unique", "not_null", "share", "no_future", "zero"):
            raise TransformError(f"{path}: unknown data test {kind!r} in {text}")
        columns = [c.strip() for c in args.split(",") if c.strip()]
        if not columns or not all(IDENT.match(c) for c in columns):
            raise TransformError(f"{path}: bad column list in {text}")
        tests.append(DataTest(kind, columns, text))
    return tests


def cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def table_refs(tree: exp.Expression) -> Iterable[exp.Table]:
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            yield table


@lru_cache(maxsize=256)
def _statements(text: str) -> list[exp.Expression]:
    """A model file's statements, parsed once per process for the same text: every report
    build and every reader loads the models, and parsing them is most of that cost. The
    trees are shared, so nothing may change them in place (rendering works on a copy)."""
    return [s for s in sqlglot.parse(text, read=AUTHORING_DIALECT) if s is not None]


def load_models(source: str, transforms_dir: Path | None = None) -> list[Model]:
    """All models of a source, in dependency order (a model after everything it reads)."""
    base = (transforms_dir or TRANSFORMS_DIR) / source
    if not base.is_dir():
        raise TransformError(f"no transforms for source {source!r} (expected {base})")
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((base / layer).glob("*.sql")):
            name = path.stem.lower()
            if not IDENT.match(name):
                raise TransformError(f"{path}: a model file name must be a snake_case identifier")
            if name in models:
                raise TransformError(f"{path}: model {name} is defined twice ({models[name].path})")
            text = path.read_text(encoding="utf-8")
            description, materialized, tests = _parse_header(text, path)
            try:
                statements = _statements(text)
            except sqlglot.errors.ParseError as exc:
                raise TransformError(f"{path}: SQL does not parse: {exc}") from exc
            if len(statements) != 1 or not isinstance(statements[0], exp.Query):
                raise TransformError(f"{path}: a model file holds exactly one select statement")
            models[name] = Model(name, path, layer, description, materialized, tests, statements[0])
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
    return ordered


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
) -> str:
    """The statement with raw.<t> and model references qualified, and `reports_timezone()`
    replaced by the account's zone (a string), in the target dialect."""
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
    return tree.sql(dialect=dialect)


def render_text(sql: str, dialect: str, raw_dataset: str, reports_dataset: str, names: Iterable[str], *,
                zone: str = "UTC") -> str:
    return _render_text(sql, dialect, raw_dataset, reports_dataset, tuple(names), zone=zone)


@lru_cache(maxsize=1024)
def _render_text(sql: str, dialect: str, raw_dataset: str, reports_dataset: str, names: tuple[str, ...], *,
                 zone: str) -> str:
    """`render_text` is a pure function of its arguments: the data tests render the same
    statements on every build of a dataset, so each is parsed and written once per process."""
    return render(sqlglot.parse_one(sql, read=AUTHORING_DIALECT), dialect, raw_dataset, reports_dataset, names,
                  zone=zone)
