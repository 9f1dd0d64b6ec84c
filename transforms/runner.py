"""Build, drop and combine the reports datasets of a source (see transforms/README.md).

- ``build_reports`` (re)creates every model of ``transforms/<source>/`` in the reports dataset
  (``<raw dataset>_reports``), in dependency order and in one transaction, then runs the data
  tests declared in the yml beside the models; a failing one raises ``DataTestError``, unless its
  severity is warn (orphans, no_future: see ``transforms.datatests.WARNING_KINDS``), which
  becomes a warning of the result.
- ``drop_reports`` drops those models and the views of other datasets that read them, so
  that dlt can drop the raw tables for a full refresh.
- ``build_account_views`` (re)creates ``<source>_accounts``: one view per report, the union
  over accounts with a leading ``account`` column.

On Postgres every one of them first takes a transaction-scoped advisory lock per dataset it
writes, so two machines rebuilding one dataset at once take turns instead of failing.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from transforms.accounts import AccountViewsResult, accounts_dataset, build_account_views
from transforms.datatests import examples_sql, model_tests_sql
from transforms.descriptions import comment_statements
from transforms.engine import (
    SQL_ENGINES,
    SqlEngine,
    bound_lock_waits,
    catalog_columns,
    current_comments,
    dependent_views,
    dialect,
    engine_name,
    ensure_schema,
    existing_objects,
    lock_datasets,
    plain,
    qualified,
    query,
    query_dicts,
    relation_shapes,
    sql_engine,
)
from transforms.models import (
    IDENT,
    TRANSFORMS_DIR,
    DataTest,
    Model,
    TransformError,
    load_models,
    model_body,
    render,
    render_text,
)
from transforms.sources_yml import comment_raw

__all__ = [
    "TRANSFORMS_DIR",
    "AccountViewsResult",
    "BuildResult",
    "DataTestError",
    "DropResult",
    "TestResult",
    "TransformError",
    "accounts_dataset",
    "build_account_views",
    "build_reports",
    "drop_reports",
    "format_summary",
    "load_models",
    "prepare_reports",
    "render",
    "summary_rows",
]

logger = logging.getLogger(__name__)

# A timestamp later than now + this is a "future timestamp" (allows for clock skew).
FUTURE_TOLERANCE = "1 hour"
PROBE = "_chatfunnel_shape_probe"


@dataclass
class TestResult:
    model: str
    test: str
    severity: str
    failures: int
    message: str
    kind: str = ""  # unique | not_null | share | no_future | orphans
    ref_model: str | None = None  # orphans, relationships: the model the values must match

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
    rebuilt_in_place: list[str] = field(default_factory=list)  # Postgres: same shape, rows replaced
    tests: list[TestResult] = field(default_factory=list)
    # what the build itself warns of (no raw tables yet, no SQL engine); `warnings` adds the data tests'
    build_warnings: list[str] = field(default_factory=list)
    # raw tables or columns dlt has not created yet (an account without tags has no people__tags),
    # read as empty / NULL: expected, so logged at INFO, not warned about
    padded: list[str] = field(default_factory=list)
    # raw tables and columns that `_sources.yml` does not describe (they get no comment)
    undescribed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # of `warnings`, how many its caller states as expected (a run whose backfill is under way:
    # `pipelines.run.report_warnings`); the summary counts them apart
    expected: int = 0

    @property
    def warnings(self) -> list[str]:
        """Every warning of the build: its own, then one per data test that warns (`warning_lines`).
        The build does not log them: its caller says them (a run: `pipelines.run.report_warnings`)."""
        return [*self.build_warnings, *warning_lines(self.tests)]

    @property
    def failed_tests(self) -> list[TestResult]:
        return [t for t in self.tests if t.severity == "error" and not t.passed]

    def __str__(self) -> str:
        passed = sum(t.passed for t in self.tests)
        expected = f", {self.expected} expected while the backfill runs" if self.expected else ""
        return (
            f"{self.source}: built {len(self.models)} models in {self.destination} dataset "
            f"{self.reports_dataset} ({self.seconds:.1f}s); data tests {passed}/{len(self.tests)} "
            f"passed; {len(self.warnings) - self.expected} warning(s){expected}"
        )


@dataclass
class DropResult:
    reports_dataset: str
    dropped: list[str] = field(default_factory=list)  # qualified names, in drop order


class DataTestError(TransformError):
    """One or more data tests failed after a build. ``failures`` holds the TestResults."""

    def __init__(self, message: str, failures: list[TestResult], result: BuildResult):
        super().__init__(message)
        self.failures = failures
        self.result = result


# ---------------------------------------------------------------- data tests


def future_tolerance(zone: str) -> str:
    """How far ahead of now no_future allows: the clock-skew allowance, plus, for a zone east
    of UTC, its offset (a local date starts that much before the UTC one)."""
    offset = datetime.now(ZoneInfo(zone)).utcoffset() or timedelta(0)
    hours = max(0, math.ceil(offset.total_seconds() / 3600))
    return FUTURE_TOLERANCE if hours == 0 else f"{hours + 1} hours"


def _describe_failure(test: DataTest, count: int, examples: list[tuple]) -> str:
    shown = ", ".join(
        "(" + ", ".join(repr(plain(v)) for v in row) + ")" if len(row) > 1 else repr(plain(row[0]))
        for row in examples
    )
    what = {
        "unique": "value(s) occur more than once",
        "not_null": "row(s) have NULL",
        "share": "row(s) outside [0, 1]",
        "zero": "row(s) where it is not 0",
        "no_future": f"row(s) later than now + {FUTURE_TOLERANCE}",
        "orphans": f"value(s) with no match in {test.ref_model}.{test.ref_column}",
        "relationships": f"value(s) with no match in {test.ref_model}.{test.ref_column}",
    }[test.kind]
    return f"{count} {what}" + (f" (e.g. {shown})" if shown else "")


def _run_tests(client: Any, models: list[Model], dialect_name: str, raw: str, reports: str, *,
               zone: str = "UTC") -> list[TestResult]:
    """Every data test of every model: one query per model counts the failures of all its
    tests (``model_tests_sql``); a failed test's examples are read by a query of their own,
    so a build whose tests pass sends one query per tested model."""
    names = [m.name for m in models]
    ahead = future_tolerance(zone)
    results = []
    for model in models:
        if not model.tests:
            continue
        counts = query(client, _counts_sql(model, names, ahead, dialect_name=dialect_name, raw=raw, reports=reports,
                                            zone=zone))[0]
        for test, failures in zip(model.tests, counts, strict=True):
            count = int(failures)
            examples = (query(client, render_text(examples_sql(model.name, test, ahead), dialect_name, raw,
                                                  reports, names, zone=zone))
                        if count else [])
            message = "ok" if not count else _describe_failure(test, count, examples)
            results.append(TestResult(model.name, test.text, test.severity, count, message, test.kind, test.ref_model))
    return results


def _counts_sql(model: Model, names: list[str], ahead: str, *, dialect_name: str, raw: str, reports: str,
                zone: str) -> str:
    """The one query that counts the failures of every data test of `model`, rendered."""
    return render_text(model_tests_sql(model.name, model.tests, ahead), dialect_name, raw, reports, names, zone=zone)


def prepare_reports(source: str, dialect_name: str, raw_dataset: str, reports_dataset: str | None = None, *,
                    reports_timezone: str = "UTC") -> None:
    """Parse the models of `source` and render their data tests' queries, which no data
    decides, into the caches `build_reports` reads (`transforms.models`): a run does this
    while the API is read, so that its reports step starts at the SQL. Raises what
    `load_models` raises; the build raises it again."""
    models = load_models(source)
    names = [m.name for m in models]
    ahead = future_tolerance(reports_timezone)
    reports = reports_dataset or f"{raw_dataset}_reports"
    for model in models:
        if model.tests:
            _counts_sql(model, names, ahead, dialect_name=dialect_name, raw=raw_dataset, reports=reports,
                        zone=reports_timezone)


def warning_lines(tests: list[TestResult]) -> list[str]:
    """The failed tests of severity warn, as warnings: one each, except the times later than
    now, said in one line (they have one cause: the API's clock, or its time zone)."""
    warned = [t for t in tests if t.failures and t.severity == "warn"]
    lines = [f"{t.model}: {t.test}: {t.message}" for t in warned if t.kind != "no_future"]
    future = [t for t in warned if t.kind == "no_future"]
    if future:
        counts = ", ".join(f"{t.model} {t.failures}" for t in future)
        lines.append(f"rows with times later than now + {FUTURE_TOLERANCE} (is the API's clock ahead of this "
                     f"machine's, or its times in another zone labelled UTC?): {counts}")
    return lines


# ---------------------------------------------------------------- building


def _same_shape(client: Any, schema: str, name: str, body: str) -> bool:
    """Whether ``body`` yields exactly the columns (names, types, order) ``schema.name`` has.

    Probed with a throw-away view inside the build's transaction: creating a view plans the
    query without running it.
    """
    probe = qualified(schema, PROBE)
    client.execute_sql(f"create view {probe} as {body}")
    try:
        shapes = relation_shapes(client, [schema], [PROBE, name])
    finally:
        client.execute_sql(f"drop view {probe}")
    return shapes.get((schema.lower(), PROBE)) == shapes.get((schema.lower(), name))


def _build_model(
    client: Any, model: Model, body: str, *, engine: SqlEngine, reports_dataset: str,
    existing: dict[str, str], result: BuildResult,
) -> None:
    target = qualified(reports_dataset, model.name)
    kind = existing.get(model.name)
    if engine.shared and kind == model.materialized and _same_shape(
        client, reports_dataset, model.name, body
    ):
        # Same shape: replace the rows or the definition in place, so that views of other
        # datasets built on this one (the cross-account views) stay valid.
        if kind == "table":
            client.execute_sql(f"truncate table {target}")
            client.execute_sql(f"insert into {target} {body}")
        else:
            client.execute_sql(f"create or replace view {target} as {body}")
        result.rebuilt_in_place.append(model.name)
        return
    if kind:
        readers = set(dependent_views(client, engine, reports_dataset)) if engine.cascade else set()
        client.execute_sql(f"drop {kind} if exists {target}{engine.cascade}")
        if engine.cascade:  # dependents are gone too; they come later in the order
            existing.clear()
            existing.update(existing_objects(client, reports_dataset))
            gone = readers - set(dependent_views(client, engine, reports_dataset))
            result.build_warnings.extend(dropped_reader_warnings(model, kind, sorted(gone), result.source))
    client.execute_sql(f"create {model.materialized} {target} as {body}")


def dropped_reader_warnings(model: Model, kind: str, gone: list[tuple[str, str]], source: str) -> list[str]:
    """What a rebuild that had to drop `model` (its shape or kind changed) took with it in other
    schemas: the cross-account views come back at the end of the run, a view of anyone else's
    does not, so each is named."""
    change = f"is now a {model.materialized}" if kind != model.materialized else "changed its columns"
    return [
        f"the view {schema}.{view} depended on {model.name}, which {change}: rebuilding {model.name} "
        "dropped that view; create it again"
        for schema, view in gone if schema != accounts_dataset(source)
    ]


def _describe(client: Any, models: list[Model], reports_dataset: str, engine: SqlEngine) -> None:
    """`comment on` every model and its described columns (the yml; `transforms.descriptions`)
    where the comment is not already that text (a model rebuilt in place keeps its own), in
    as few statements as dlt's `execute_many` sends: a DuckDB rebuild writes some 340."""
    built = catalog_columns(client, reports_dataset)
    current = current_comments(client, engine, reports_dataset)
    statements: list[str] = []
    for model in models:
        present = built.get(model.name, set())
        columns = {c: text for c, text in model.columns.items() if text and c.lower() in present}
        statements += comment_statements(model.materialized, reports_dataset, model.name, model.description,
                                         columns, current=current)
    if statements:
        client.execute_many(statements)


def _prepare(client: Any, models: list[Model], result: BuildResult, engine: SqlEngine) -> dict[str, set[str]]:
    """Lock and create the reports dataset, describe the raw tables, analyze those the models
    read (a shared server); returns the raw tables' columns."""
    raw_dataset, reports_dataset = result.raw_dataset, result.reports_dataset
    bound_lock_waits(client, engine)
    if engine.shared:
        # before anything else, `create schema if not exists` included: it races on
        # pg_namespace's unique index when two sessions create the schema at once
        lock_datasets(client, [reports_dataset])
    ensure_schema(client, reports_dataset, engine)
    raw_columns = catalog_columns(client, raw_dataset)
    if not raw_columns:
        result.build_warnings.append(f"raw dataset {raw_dataset} has no tables yet")
    result.undescribed = comment_raw(client, engine, result.source, raw_dataset, raw_columns)
    if engine.shared:
        # fresh loads leave the planner without statistics; the data tests run right away
        for table in sorted({t.lower() for m in models for t in m.raw_refs} & set(raw_columns)):
            client.execute_sql(f"analyze {qualified(raw_dataset, table)}")
    return raw_columns


def _build_models(client: Any, models: list[Model], raw_columns: dict[str, set[str]], result: BuildResult,
                  engine: SqlEngine, *, zone: str) -> None:
    """Create or replace every model in build order, recording each in ``result``."""
    dialect_name, raw_dataset, reports_dataset = result.destination, result.raw_dataset, result.reports_dataset
    names = [m.name for m in models]
    existing = existing_objects(client, reports_dataset)
    for model in models:
        body, padded = model_body(model, dialect_name, raw_dataset, reports_dataset, names=names,
                                   raw_columns=raw_columns, zone=zone)
        result.padded += padded
        try:
            _build_model(
                client, model, body, engine=engine, reports_dataset=reports_dataset,
                existing=existing, result=result,
            )
            if model.materialized == "table" and engine.shared:
                client.execute_sql(f"analyze {qualified(reports_dataset, model.name)}")
        except Exception as exc:
            raise TransformError(
                f"model {model.name} ({model.path.relative_to(model.path.parents[2])}) "
                f"failed to build on {dialect_name}: {str(exc).strip()}"
            ) from exc
        existing[model.name] = model.materialized
        result.models.append(model.name)
        result.materialized[model.name] = model.materialized


def build_reports(pipeline: Any, source: str, reports_dataset: str | None = None, *,
                  transforms_dir: Path | None = None, reports_timezone: str = "UTC") -> BuildResult:
    """(Re)create every model of ``source`` in the reports dataset, describe it and the raw
    tables (``comment on``), then run the data tests.

    ``reports_timezone`` (an IANA name) is what a day and a week are in the reports: models
    write ``reports_timezone()`` where they turn a timestamp into a local date.

    One transaction: readers see the previous reports until the new ones and their test
    results are complete. On Postgres it first takes the reports dataset's advisory lock,
    so concurrent rebuilds of one dataset (two machines, one database) run one after the
    other. Raises TransformError when a model cannot be read or built, DataTestError (a
    subclass) when a data test of severity error fails; orphan counts and times later than
    now are warnings in the result, which the caller says (they are not logged here).
    """
    started = time.monotonic()
    models = load_models(source, transforms_dir)
    raw_dataset = pipeline.dataset_name
    reports_dataset = reports_dataset or f"{raw_dataset}_reports"
    destination = engine_name(pipeline)
    if destination not in SQL_ENGINES:
        # e.g. the filesystem destination (Parquet files): nothing to run SQL on
        skipped = BuildResult(source, destination, raw_dataset, reports_dataset)
        skipped.build_warnings.append(
            f"reports not built: destination {destination} has no SQL engine (use duckdb or postgres)"
        )
        return skipped
    engine = sql_engine(pipeline)
    dialect_name = engine.dialect
    _check_names(raw_dataset, reports_dataset)
    result = BuildResult(source, dialect_name, raw_dataset, reports_dataset)

    with pipeline.sql_client() as client, client.begin_transaction():
        raw_columns = _prepare(client, models, result, engine)
        _build_models(client, models, raw_columns, result, engine, zone=reports_timezone)
        _describe(client, models, reports_dataset, engine)
        result.tests = _run_tests(client, models, dialect_name, raw_dataset, reports_dataset, zone=reports_timezone)

    result.seconds = time.monotonic() - started
    for note in result.padded:
        logger.info(note)
    if result.undescribed:
        logger.info("raw columns without a description in %s/_sources.yml: %s", source, ", ".join(result.undescribed))
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


def _check_names(*datasets: str) -> None:
    for name in datasets:
        if not IDENT.match(name):
            raise TransformError(f"dataset name {name!r} is not a plain identifier")


# ---------------------------------------------------------------- dropping


def drop_reports(pipeline: Any, source: str, reports_dataset: str | None = None) -> DropResult:
    """Drop everything that depends on the raw tables of ``pipeline``'s dataset, so that a
    full refresh (dlt's ``refresh="drop_sources"``) can drop and recreate them.

    That is the views of other datasets that read the reports (the cross-account views,
    rebuilt by the next ``build_account_views``), then the models of ``source`` in reverse
    build order. One transaction, under the reports dataset's advisory lock on Postgres.
    Objects of the reports dataset that are not models of ``source`` are left alone. A
    destination without SQL, or a dataset with no reports yet, drops nothing.
    """
    raw_dataset = pipeline.dataset_name
    reports_dataset = reports_dataset or f"{raw_dataset}_reports"
    result = DropResult(reports_dataset)
    if engine_name(pipeline) not in SQL_ENGINES:
        return result
    engine = sql_engine(pipeline)
    _check_names(raw_dataset, reports_dataset)
    models = load_models(source)
    cascade = engine.cascade
    with pipeline.sql_client() as client, client.begin_transaction():
        bound_lock_waits(client, engine)
        if engine.shared:
            lock_datasets(client, [reports_dataset])
        for schema, view in dependent_views(client, engine, reports_dataset):
            client.execute_sql(f"drop view if exists {qualified(schema, view)}{cascade}")
            result.dropped.append(f"{schema}.{view}")
        existing = existing_objects(client, reports_dataset)
        for model in reversed(models):
            kind = existing.get(model.name)
            if kind:
                client.execute_sql(f"drop {kind} if exists {qualified(reports_dataset, model.name)}{cascade}")
                result.dropped.append(f"{reports_dataset}.{model.name}")
    logger.info("dropped %d report object(s) that read %s", len(result.dropped), raw_dataset)
    return result


# ---------------------------------------------------------------- reading


def summary_rows(pipeline: Any, source: str, reports_dataset: str | None = None) -> list[dict[str, Any]]:
    """The rows of ``transforms/<source>/summary.sql`` (a compact funnel per tunnel for Leeloo).

    Reads the reports dataset built by ``build_reports``; a source without a summary.sql
    returns an empty list.
    """
    path = TRANSFORMS_DIR / source / "summary.sql"
    if not path.exists():
        return []
    dialect_name = dialect(pipeline)
    raw_dataset = pipeline.dataset_name
    reports_dataset = reports_dataset or f"{raw_dataset}_reports"
    names = [m.name for m in load_models(source)]
    sql = render_text(path.read_text(encoding="utf-8"), dialect_name, raw_dataset, reports_dataset, names)
    with pipeline.sql_client() as client:
        return query_dicts(client, sql)


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of summary rows, for the terminal."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [
        ["" if r[c] is None else (f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c])) for c in columns]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)

