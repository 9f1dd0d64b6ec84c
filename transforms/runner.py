"""Build the reports dataset of a source from the SQL model files under ``transforms/<source>/``.

How it works (see transforms/README.md for the file conventions):

1. every ``staging/*.sql`` and ``reports/*.sql`` file is one model: ONE select statement in
   PostgreSQL syntax with a header comment (what one row means, ``materialized:``, ``tests:``);
2. sqlglot parses each file, finds what it references — ``raw.<table>`` (the raw dataset) or
   a bare model name — and the models are ordered by those references (graphlib);
3. references are rewritten to the real schemas and the statement is written out in the
   target dialect (duckdb or postgres) — one SQL source for both engines;
4. the models are (re)created, in one transaction, as views (or tables) in the reports
   dataset, ``<raw dataset>_reports`` by default;
5. the data tests declared in the headers run; a failing one raises ``DataTestError``
   naming the model and the test.
"""

from __future__ import annotations

import graphlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

logger = logging.getLogger(__name__)

TRANSFORMS_DIR = Path(__file__).resolve().parent
LAYERS = ("staging", "reports")
AUTHORING_DIALECT = "postgres"
RAW_PLACEHOLDER = "raw"
# A timestamp later than now + this is a "future timestamp" (allows for clock skew).
FUTURE_TOLERANCE = "1 hour"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEST = re.compile(r"(\w+)\s*\(([^()]*)\)")


class TransformError(Exception):
    """A model could not be read or built."""


class DataTestError(TransformError):
    """One or more data tests failed after a build. ``failures`` holds the TestResults."""

    def __init__(self, message: str, failures: list[TestResult], result: BuildResult):
        super().__init__(message)
        self.failures = failures
        self.result = result


@dataclass
class DataTest:
    kind: str  # unique | not_null | share | no_future | orphans
    columns: list[str]
    text: str  # as written in the header, e.g. "unique(order_id)"
    ref_model: str | None = None  # orphans: the model and column it must match
    ref_column: str | None = None

    @property
    def severity(self) -> str:
        return "warn" if self.kind == "orphans" else "error"


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


@dataclass
class TestResult:
    model: str
    test: str
    severity: str
    failures: int
    message: str

    @property
    def passed(self) -> bool:
        return self.failures == 0


@dataclass
class BuildResult:
    source: str
    destination: str
    raw_dataset: str
    reports_dataset: str
    models: list[str] = field(default_factory=list)  # in build order
    materialized: dict[str, str] = field(default_factory=dict)
    tests: list[TestResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_tests(self) -> list[TestResult]:
        return [t for t in self.tests if t.severity == "error" and not t.passed]

    def __str__(self) -> str:
        passed = sum(t.passed for t in self.tests)
        return (
            f"{self.source}: built {len(self.models)} models in {self.destination} dataset "
            f"{self.reports_dataset} ({self.seconds:.1f}s); data tests {passed}/{len(self.tests)} "
            f"passed; {len(self.warnings)} warning(s)"
        )


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
            if not arrow or not all(_IDENT.match(n) for n in names):
                raise TransformError(f"{path}: write orphans(col -> model.col), not {text}")
            tests.append(DataTest(kind, [names[0]], text, names[1], names[2]))
            continue
        if kind not in ("unique", "not_null", "share", "no_future"):
            raise TransformError(f"{path}: unknown data test {kind!r} in {text}")
        columns = [c.strip() for c in args.split(",") if c.strip()]
        if not columns or not all(_IDENT.match(c) for c in columns):
            raise TransformError(f"{path}: bad column list in {text}")
        tests.append(DataTest(kind, columns, text))
    return tests


def _cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def _table_refs(tree: exp.Expression) -> Iterable[exp.Table]:
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            yield table


def load_models(source: str, transforms_dir: Path | None = None) -> list[Model]:
    """All models of a source, in dependency order (a model after everything it reads)."""
    base = (transforms_dir or TRANSFORMS_DIR) / source
    if not base.is_dir():
        raise TransformError(f"no transforms for source {source!r} (expected {base})")
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((base / layer).glob("*.sql")):
            name = path.stem.lower()
            if not _IDENT.match(name):
                raise TransformError(f"{path}: a model file name must be a snake_case identifier")
            if name in models:
                raise TransformError(f"{path}: model {name} is defined twice ({models[name].path})")
            text = path.read_text(encoding="utf-8")
            description, materialized, tests = _parse_header(text, path)
            try:
                statements = [s for s in sqlglot.parse(text, read=AUTHORING_DIALECT) if s is not None]
            except sqlglot.errors.ParseError as exc:
                raise TransformError(f"{path}: SQL does not parse: {exc}") from exc
            if len(statements) != 1 or not isinstance(statements[0], exp.Query):
                raise TransformError(f"{path}: a model file holds exactly one select statement")
            models[name] = Model(name, path, layer, description, materialized, tests, statements[0])
    for model in models.values():
        ctes = _cte_names(model.ast)
        for table in _table_refs(model.ast):
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


def _pad_missing(
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
    for table in list(_table_refs(tree)):
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
) -> str:
    """The statement with raw.<t> and model references qualified, in the target dialect."""
    tree = tree.copy()
    names = {n.lower() for n in model_names}
    ctes = _cte_names(tree)
    for table in list(_table_refs(tree)):
        if table.db.lower() == RAW_PLACEHOLDER:
            table.set("db", _quoted(raw_dataset))
            table.set("this", _quoted(table.name))
        elif not table.db and table.name.lower() in names and table.name.lower() not in ctes:
            table.set("db", _quoted(reports_dataset))
            table.set("this", _quoted(table.name.lower()))
    return tree.sql(dialect=dialect)


def _render_text(sql: str, dialect: str, raw_dataset: str, reports_dataset: str, names: Iterable[str]) -> str:
    return render(sqlglot.parse_one(sql, read=AUTHORING_DIALECT), dialect, raw_dataset, reports_dataset, names)


# ---------------------------------------------------------------- data tests


def _test_sql(model: Model, test: DataTest) -> tuple[str, str]:
    """(count query, example query) in the authoring dialect, over the bare model name."""
    m = model.name
    cols = ", ".join(test.columns)
    if test.kind == "unique":
        not_all_null = " or ".join(f"{c} is not null" for c in test.columns)
        dup = f"select {cols}, count(*) as n from {m} where {not_all_null} group by {cols} having count(*) > 1"
        return f"select count(*) from ({dup}) d", f"{dup} order by n desc limit 3"
    if test.kind == "not_null":
        cond = " or ".join(f"{c} is null" for c in test.columns)
    elif test.kind == "share":
        cond = " or ".join(f"({c} < 0 or {c} > 1)" for c in test.columns)
    elif test.kind == "no_future":
        cond = " or ".join(
            f"{c} > current_timestamp + interval '{FUTURE_TOLERANCE}'" for c in test.columns
        )
    elif test.kind == "orphans":
        c = test.columns[0]
        cond = (
            f"{c} is not null and not exists (select 1 from {test.ref_model} r "
            f"where r.{test.ref_column} = x.{c})"
        )
        return (
            f"select count(*) from {m} x where {cond}",
            f"select x.{c} from {m} x where {cond} limit 3",
        )
    else:  # pragma: no cover - rejected when parsing
        raise TransformError(f"unknown test {test.kind}")
    return f"select count(*) from {m} where {cond}", f"select {cols} from {m} where {cond} limit 3"


def _describe_failure(test: DataTest, count: int, examples: list[tuple]) -> str:
    shown = ", ".join(
        "(" + ", ".join(repr(_plain(v)) for v in row) + ")" if len(row) > 1 else repr(_plain(row[0]))
        for row in examples
    )
    what = {
        "unique": "value(s) occur more than once",
        "not_null": "row(s) have NULL",
        "share": "row(s) outside [0, 1]",
        "no_future": f"row(s) later than now + {FUTURE_TOLERANCE}",
        "orphans": f"value(s) with no match in {test.ref_model}.{test.ref_column}",
    }[test.kind]
    return f"{count} {what}" + (f" (e.g. {shown})" if shown else "")


# ---------------------------------------------------------------- running against a pipeline


SQL_ENGINES = {"duckdb": "duckdb", "motherduck": "duckdb", "postgres": "postgres"}


def _dialect(pipeline: Any) -> str:
    name = pipeline.destination.destination_name
    if name not in SQL_ENGINES:
        raise TransformError(
            f"reports are built on duckdb or postgres; destination {name!r} has no SQL engine "
            "to build them (load with --no-transform)"
        )
    return SQL_ENGINES[name]


def _query(client: Any, sql: str) -> list[tuple]:
    with client.execute_query(sql) as cursor:
        return [tuple(r) for r in cursor.fetchall()]


def _query_dicts(client: Any, sql: str) -> list[dict[str, Any]]:
    with client.execute_query(sql) as cursor:
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, (_plain(v) for v in row))) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _catalog_columns(client: Any, schema: str) -> dict[str, set[str]]:
    rows = _query(
        client,
        "select table_name, column_name from information_schema.columns "
        f"where table_schema = {_literal(schema)}",
    )
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table.lower(), set()).add(column.lower())
    return out


def _existing_objects(client: Any, schema: str) -> dict[str, str]:
    rows = _query(
        client,
        "select table_name, table_type from information_schema.tables "
        f"where table_schema = {_literal(schema)}",
    )
    return {name.lower(): ("view" if "VIEW" in kind.upper() else "table") for name, kind in rows}


def build_reports(
    pipeline: Any,
    source: str,
    reports_dataset: str | None = None,
    *,
    transforms_dir: Path | None = None,
) -> BuildResult:
    """(Re)create every model of ``source`` in the reports dataset, then run the data tests.

    Raises TransformError when a model cannot be read or built, DataTestError (a subclass)
    when a data test fails; orphan counts are warnings in the result, never failures.
    """
    started = time.monotonic()
    models = load_models(source, transforms_dir)
    raw_dataset = pipeline.dataset_name
    reports_dataset = reports_dataset or f"{raw_dataset}_reports"
    engine = pipeline.destination.destination_name
    if engine not in SQL_ENGINES:
        # e.g. the filesystem destination (Parquet files): nothing to run SQL on
        skipped = BuildResult(source, engine, raw_dataset, reports_dataset)
        skipped.warnings.append(
            f"reports not built: destination {engine} has no SQL engine (use duckdb or postgres)"
        )
        logger.warning(skipped.warnings[0])
        return skipped
    dialect = _dialect(pipeline)
    for name in (raw_dataset, reports_dataset):
        if not _IDENT.match(name):
            raise TransformError(f"dataset name {name!r} is not a plain identifier")
    result = BuildResult(source, dialect, raw_dataset, reports_dataset)
    names = [m.name for m in models]
    cascade = " cascade" if dialect == "postgres" else ""

    with pipeline.sql_client() as client:
        raw_columns = _catalog_columns(client, raw_dataset)
        if not raw_columns:
            result.warnings.append(f"raw dataset {raw_dataset} has no tables yet")
        if dialect == "postgres":
            # fresh loads leave the planner without statistics; the data tests run right away
            referenced = sorted({t.lower() for m in models for t in m.raw_refs} & set(raw_columns))
            for table in referenced:
                client.execute_sql(f'analyze "{raw_dataset}"."{table}"')
        with client.begin_transaction():
            client.execute_sql(f'create schema if not exists "{reports_dataset}"')
            existing = _existing_objects(client, reports_dataset)
            for model in models:
                tree = model.ast.copy()
                _pad_missing(model, tree, raw_dataset, raw_columns, result.warnings)
                body = render(tree, dialect, raw_dataset, reports_dataset, names)
                target = f'"{reports_dataset}"."{model.name}"'
                kind = existing.get(model.name)
                try:
                    if kind:
                        client.execute_sql(f"drop {kind} if exists {target}{cascade}")
                        if cascade:  # dependents are gone too; they come later in the order
                            existing = _existing_objects(client, reports_dataset)
                    client.execute_sql(f"create {model.materialized} {target} as {body}")
                    if model.materialized == "table" and dialect == "postgres":
                        client.execute_sql(f"analyze {target}")  # plan the models that read it
                except Exception as exc:
                    raise TransformError(
                        f"model {model.name} ({model.path.relative_to(model.path.parents[2])}) "
                        f"failed to build on {dialect}: {str(exc).strip()}"
                    ) from exc
                existing[model.name] = model.materialized
                result.models.append(model.name)
                result.materialized[model.name] = model.materialized

        for model in models:
            for test in model.tests:
                count_sql, example_sql = _test_sql(model, test)
                count = _query(
                    client, _render_text(count_sql, dialect, raw_dataset, reports_dataset, names)
                )[0][0]
                examples = (
                    _query(client, _render_text(example_sql, dialect, raw_dataset, reports_dataset, names))
                    if count
                    else []
                )
                message = "ok" if not count else _describe_failure(test, int(count), examples)
                outcome = TestResult(model.name, test.text, test.severity, int(count), message)
                result.tests.append(outcome)
                if count and test.severity == "warn":
                    result.warnings.append(f"{model.name}: {test.text}: {message}")

    result.seconds = time.monotonic() - started
    for warning in result.warnings:
        logger.warning(warning)
    failed = result.failed_tests
    if failed:
        lines = [f"{t.model}: {t.test} failed: {t.message}" for t in failed]
        raise DataTestError(
            f"{len(failed)} data test(s) failed after building {source} reports in "
            f"{reports_dataset}: " + "; ".join(lines),
            failed,
            result,
        )
    logger.info("%s", result)
    return result


def summary_rows(pipeline: Any, source: str, reports_dataset: str | None = None) -> list[dict[str, Any]]:
    """The rows of ``transforms/<source>/summary.sql`` (a compact funnel per tunnel for Leeloo).

    Reads the reports dataset built by ``build_reports``; a source without a summary.sql
    returns an empty list.
    """
    path = TRANSFORMS_DIR / source / "summary.sql"
    if not path.exists():
        return []
    dialect = _dialect(pipeline)
    raw_dataset = pipeline.dataset_name
    reports_dataset = reports_dataset or f"{raw_dataset}_reports"
    names = [m.name for m in load_models(source)]
    sql = _render_text(path.read_text(encoding="utf-8"), dialect, raw_dataset, reports_dataset, names)
    with pipeline.sql_client() as client:
        return _query_dicts(client, sql)


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of summary rows, for the terminal."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [["" if r[c] is None else (f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c])) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
