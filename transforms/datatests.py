"""Data tests of a model, as declared in its layer's yml (dbt's style) or in a header line.

In the yml, a column's ``tests:`` lists ``unique``, ``not_null``, ``share``, ``zero``,
``no_future`` or ``relationships: {to: <model>, field: <column>, severity: warn}``; the
model's own ``tests:`` holds what spans several columns, ``unique: [a, b]``. The columns of
one kind are one test, ``not_null(a, b)``, named as a header line writes it.

All the tests of a model are counted by one query over it (``model_tests_sql``): a view
is computed once, not once per test; a test that failed reads a few examples with a query of
its own (``examples_sql``). Both are written in the authoring dialect, over bare model names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEST = re.compile(r"(\w+)\s*\(([^()]*)\)")
COLUMN_KINDS = ("unique", "not_null", "share", "no_future", "zero")
# data tests whose failures are warnings (dbt's `severity: warn`): orphans (a relationship of
# severity warn), and times later than now (an API whose clock is ahead of ours stamps them;
# they are loaded as stamped)
WARNING_KINDS = frozenset({"orphans", "no_future"})


class DataTestSpecError(Exception):
    """A data test that cannot be read."""


@dataclass
class DataTest:
    kind: str  # unique | not_null | share | no_future | zero | orphans | relationships
    columns: list[str]
    text: str  # e.g. "unique(order_id)", "orphans(person_id -> stg_people.person_id)"
    ref_model: str | None = None  # orphans / relationships: the model and column it must match
    ref_column: str | None = None

    @property
    def severity(self) -> str:
        """"warn": reported in the build result, the build stands; "error": the build fails.
        A time later than now is the API's clock, not a broken model: it warns."""
        return "warn" if self.kind in WARNING_KINDS else "error"


def relationship(column: str, to: str, field: str, severity: str = "error") -> DataTest:
    """``column`` must match ``to.field``: an error (``relationships``), or a warning counted in
    the build result (``orphans``, severity warn)."""
    if not all(IDENT.match(n) for n in (column, to, field)):
        raise DataTestSpecError(f"bad relationship {column} -> {to}.{field}")
    if severity not in ("warn", "error"):
        raise DataTestSpecError(f"severity is warn or error, not {severity!r}")
    kind = "orphans" if severity == "warn" else "relationships"
    return DataTest(kind, [column], f"{kind}({column} -> {to}.{field})", to, field)


def plain_test(kind: str, columns: list[str]) -> DataTest:
    if kind not in COLUMN_KINDS:
        raise DataTestSpecError(f"unknown data test {kind!r}")
    if not columns or not all(IDENT.match(c) for c in columns):
        raise DataTestSpecError(f"bad column list in {kind}({', '.join(columns)})")
    return DataTest(kind, columns, f"{kind}({', '.join(columns)})")


def parse_header_tests(spec: str, path: Path) -> list[DataTest]:
    """The tests of a ``-- tests:`` header line, e.g. ``unique(a); orphans(b -> m.c)``."""
    if _TEST.sub("", spec).replace(";", "").replace(",", "").strip():
        raise DataTestSpecError(f"{path}: cannot read the tests line {spec.strip()!r}")
    tests: list[DataTest] = []
    for match in _TEST.finditer(spec):
        kind, args = match.group(1).lower(), match.group(2)
        try:
            if kind == "orphans":
                column, arrow, target = args.partition("->")
                ref_model, _, ref_column = target.strip().partition(".")
                if not arrow:
                    raise DataTestSpecError("write orphans(col -> model.col)")
                tests.append(relationship(column.strip(), ref_model.strip(), ref_column.strip(), "warn"))
            else:
                tests.append(plain_test(kind, [c.strip() for c in args.split(",") if c.strip()]))
        except DataTestSpecError as exc:
            raise DataTestSpecError(f"{path}: {exc} (in {kind}({args.strip()}))") from exc
    return tests


def _column_test(column: str, spec: Any) -> tuple[str, DataTest | None]:
    """(kind, the test when it stands alone) of one entry of a column's ``tests:``."""
    if isinstance(spec, str):
        return spec, None
    if isinstance(spec, dict) and list(spec) == ["relationships"] and isinstance(spec["relationships"], dict):
        args = spec["relationships"]
        unknown = set(args) - {"to", "field", "severity"}
        if unknown or "to" not in args or "field" not in args:
            raise DataTestSpecError(f"relationships of {column} takes to, field and severity: {args}")
        return "relationships", relationship(column, str(args["to"]), str(args["field"]),
                                             str(args.get("severity", "error")))
    raise DataTestSpecError(f"cannot read the test {spec!r} of column {column}")


def yml_tests(model_tests: list[Any], column_tests: list[tuple[str, list[Any]]]) -> list[DataTest]:
    """The data tests of a model from its yml: per-column kinds gathered into one test per
    kind (columns in their order), a single-column ``unique`` and each relationship alone."""
    tests: list[DataTest] = []
    gathered: dict[str, list[str]] = {}
    for column, specs in column_tests:
        for spec in specs:
            kind, alone = _column_test(column, spec)
            if alone is not None:
                tests.append(alone)
            elif kind == "unique":
                tests.append(plain_test(kind, [column]))
            else:
                gathered.setdefault(kind, []).append(column)
    for spec in model_tests:
        if not (isinstance(spec, dict) and len(spec) == 1 and isinstance(next(iter(spec.values())), list)):
            raise DataTestSpecError(f"a model's test is {{kind: [columns]}}, not {spec!r}")
        kind, columns = next(iter(spec.items()))
        tests.append(plain_test(str(kind), [str(c) for c in columns]))
    tests += [plain_test(kind, columns) for kind, columns in gathered.items()]
    order = {kind: i for i, kind in enumerate((*COLUMN_KINDS, "relationships", "orphans"))}
    return sorted(tests, key=lambda t: order[t.kind])


# ---------------------------------------------------------------- the queries (authoring dialect)

REFERENCE_KINDS = frozenset({"orphans", "relationships"})
# the CTEs of a model's test query, named unlike any model (stg_*, the reports)
TESTED, COUNTED = "_tested_rows", "_row_counts"


def failure_condition(test: DataTest, ahead: str, row: str = "") -> str:
    """What a row of the model that fails ``test`` meets, its columns prefixed by ``row``
    (``"x."``, or nothing); ``ahead`` is how far past now ``no_future`` allows. Not for
    ``unique`` and the relationships, which compare rows with other rows."""
    if test.kind == "not_null":
        parts = [f"{row}{c} is null" for c in test.columns]
    elif test.kind == "share":
        parts = [f"({row}{c} < 0 or {row}{c} > 1)" for c in test.columns]
    elif test.kind == "zero":
        parts = [f"({row}{c} is null or {row}{c} <> 0)" for c in test.columns]
    elif test.kind == "no_future":
        parts = [f"{row}{c} > current_timestamp + interval '{ahead}'" for c in test.columns]
    else:
        raise DataTestSpecError(f"{test.text} compares rows: it has no condition on one row")
    return " or ".join(parts)


def _not_all_null(test: DataTest) -> str:
    return " or ".join(f"{c} is not null" for c in test.columns)


def _orphan_condition(test: DataTest) -> str:
    c = test.columns[0]
    return (f"{c} is not null and not exists (select 1 from {test.ref_model} r "
            f"where r.{test.ref_column} = x.{c})")


def examples_sql(model: str, test: DataTest, ahead: str) -> str:
    """Up to 3 rows that fail ``test``, to show in its message (run only when it failed): the
    duplicated values and their count for ``unique``, the failing columns otherwise."""
    cols = ", ".join(test.columns)
    if test.kind == "unique":
        return (f"select {cols}, count(*) as n from {model} where {_not_all_null(test)} group by {cols} "
                "having count(*) > 1 order by n desc limit 3")
    if test.kind in REFERENCE_KINDS:
        return f"select x.{test.columns[0]} from {model} x where {_orphan_condition(test)} limit 3"
    return f"select {cols} from {model} where {failure_condition(test, ahead)} limit 3"


def _row_counts(tests: list[tuple[int, DataTest]], ahead: str) -> str:
    """The select over the model's rows that counts the failures of its tests that look at
    one row at a time (each a ``count(*) filter``) and of its relationships (a left join of
    the distinct values of the model each must match), column ``f<i>`` for test ``i``."""
    counts, joins = [], []
    for i, test in tests:
        if test.kind in REFERENCE_KINDS:
            joins.append(f" left join (select distinct {test.ref_column} as k from {test.ref_model}) r{i} "
                         f"on r{i}.k = x.{test.columns[0]}")
            cond = f"x.{test.columns[0]} is not null and r{i}.k is null"
        else:
            cond = failure_condition(test, ahead, "x.")
        counts.append(f"count(*) filter (where {cond}) as f{i}")
    return f"select {', '.join(counts)} from {TESTED} x{''.join(joins)}"


def model_tests_sql(model: str, tests: list[DataTest], ahead: str) -> str:
    """One query that counts the failures of every test of ``model``: one row, one column per
    test, in order; the counts are those the examples are read for (duplicated values,
    failing rows, unmatched non-NULL values).

    The model is computed once (a view would be computed again by every separate query): its
    tested columns are a CTE, materialized when more than one part reads it. The tests that
    look at one row, and the relationships, are counted in one pass over it; each ``unique``
    groups it by its columns (hash aggregation: window functions over the rows, the other
    way to do it in one pass, sort them, twice as slow on a million rows)."""
    columns = ", ".join(dict.fromkeys(c for t in tests for c in t.columns))
    by_row = [(i, t) for i, t in enumerate(tests) if t.kind != "unique"]
    items = [
        f"(select count(*) from (select 1 from {TESTED} where {_not_all_null(t)} group by {', '.join(t.columns)} "
        f"having count(*) > 1) d{i}) as f{i}" if t.kind == "unique" else f"{COUNTED}.f{i}"
        for i, t in enumerate(tests)
    ]
    readers = len(tests) - len(by_row) + bool(by_row)
    sql = f"with {TESTED} as {'materialized ' if readers > 1 else ''}(select {columns} from {model})"
    if by_row:
        sql += f", {COUNTED} as ({_row_counts(by_row, ahead)})"
    return f"{sql} select {', '.join(items)}" + (f" from {COUNTED}" if by_row else "")
