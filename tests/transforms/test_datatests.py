"""The data tests of a model are counted by one query over it: each failing test is still
reported on its own, with its count and examples, and a build whose tests pass sends one
query per tested model."""

from __future__ import annotations

import textwrap
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.transforms import fixture_data
from tests.transforms.conftest import ENGINES, Warehouse
from transforms.runner import DataTestError, _run_tests, build_reports, load_models

STAGING = "-- one row per tunnel\n-- materialized: table\nselect cast(t.id as text) as id from raw.tunnels t\n"

# every row but the first two breaks at least one test; each row's comment says which
BROKEN_SQL = """
select 'a' as id, 1 as part, cast(0.5 as double precision) as s, 0 as d,
       cast('2000-01-01' as date) as stamped_at, 't1' as tunnel_id, 't1' as lost_tunnel
union all select 'b', 1, 0, 0, cast('2000-01-02' as date), 't2', 't2'
-- unique(id) (a twice), unique(id, part) (a, 1 twice); share(s) 1.5
union all select 'a', 1, 1.5, 0, cast('2000-01-03' as date), 't1', 't1'
-- unique(id) (a three times); zero(d) 3; no_future; relationships x404; orphans gone
union all select 'a', 2, 1, 3, cast('2999-01-01' as date), 'x404', 'gone'
-- share(s) -0.25; zero(d) NULL; relationships x404
union all select 'b', 2, -0.25, null, cast('2000-01-04' as date), 'x404', null
-- not_null(id, part); no key, so no duplicate either
union all select null, null, 0, 0, null, null, null
"""

BROKEN_YML = """
version: 2
models:
  - name: broken
    description: rows that break every kind of data test
    config: {materialized: table}
    tests:
      - unique: [id, part]
    columns:
      - {name: id, description: the key, tests: [unique, not_null]}
      - {name: part, description: a part of the key, tests: [not_null]}
      - {name: s, description: a share, tests: [share]}
      - {name: d, description: a difference, tests: [zero]}
      - {name: stamped_at, description: a date, tests: [no_future]}
      - name: tunnel_id
        description: a tunnel
        tests: [{relationships: {to: stg_t, field: id}}]
      - name: lost_tunnel
        description: a tunnel that may be gone
        tests: [{relationships: {to: stg_t, field: id, severity: warn}}]
"""

# what the build reported when each test was its own query: (test, severity, count, message)
EXPECTED = [
    ("unique(id)", "error", 2, "2 value(s) occur more than once (e.g. ('a', 3), ('b', 2))"),
    ("unique(id, part)", "error", 1, "1 value(s) occur more than once (e.g. ('a', 1, 2))"),
    ("not_null(id, part)", "error", 1, "1 row(s) have NULL (e.g. (None, None))"),
    ("share(s)", "error", 2, "2 row(s) outside [0, 1] (e.g. 1.5, -0.25)"),
    ("no_future(stamped_at)", "warn", 1, "1 row(s) later than now + 1 hour (e.g. datetime.date(2999, 1, 1))"),
    ("zero(d)", "error", 2, "2 row(s) where it is not 0 (e.g. 3, None)"),
    ("relationships(tunnel_id -> stg_t.id)", "error", 2,
     "2 value(s) with no match in stg_t.id (e.g. 'x404', 'x404')"),
    ("orphans(lost_tunnel -> stg_t.id)", "warn", 1, "1 value(s) with no match in stg_t.id (e.g. 'gone')"),
]


def write_models(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "demo" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


class CountingClient:
    """A dlt sql client that records the queries sent through it."""

    def __init__(self, client: Any):
        self.client = client
        self.queries: list[str] = []

    def execute_query(self, sql: str, *args: Any, **kwargs: Any) -> AbstractContextManager[Any]:
        self.queries.append(sql)
        return self.client.execute_query(sql, *args, **kwargs)


def counted_run(wh: Warehouse, source: str, transforms_dir: Path | None = None) -> tuple[list[Any], list[str]]:
    """The data tests of the built reports of ``wh`` run again, and the queries they sent."""
    models = load_models(source, transforms_dir)
    with wh.pipeline.sql_client() as client:
        counting = CountingClient(client)
        results = _run_tests(counting, models, wh.engine, wh.dataset, f"{wh.dataset}_reports")
    return results, counting.queries


@pytest.mark.parametrize("engine", ENGINES)
def test_each_failing_test_of_a_model_keeps_its_count_and_examples(
    warehouse_factory, tmp_path: Path, engine: str
) -> None:
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources({"tunnels": (fixture_data.TUNNELS, "id")}))
    root = write_models(tmp_path / "models", {
        "staging/stg_t.sql": STAGING,
        "reports/broken.sql": "-- rows that break every kind of data test\n" + BROKEN_SQL,
        "reports/_reports.yml": BROKEN_YML,
    })
    with pytest.raises(DataTestError) as info:
        build_reports(wh.pipeline, "demo", transforms_dir=root)
    result = info.value.result
    reported = [(t.test, t.severity, t.failures, t.message) for t in result.tests if t.model == "broken"]
    assert reported == EXPECTED
    errors = [("broken", test, count, text) for test, severity, count, text in EXPECTED if severity == "error"]
    assert [(f.model, f.test, f.failures, f.message) for f in info.value.failures] == errors
    message = str(info.value)
    assert message.startswith(f"{len(errors)} data test(s) failed after building demo reports")
    assert "broken: share(s) failed: 2 row(s) outside [0, 1] (e.g. 1.5, -0.25)" in message
    orphans = "broken: orphans(lost_tunnel -> stg_t.id): 1 value(s) with no match in stg_t.id (e.g. 'gone')"
    clock = [w for w in result.warnings if "later than now" in w]
    assert orphans in result.warnings and len(clock) == 1 and clock[0].endswith(": broken 1")
    # one query counts the 8 tests, and each of them failed and reads its examples
    _, queries = counted_run(wh, "demo", root)
    assert len(queries) == 1 + len(EXPECTED)


@pytest.mark.parametrize("engine", ENGINES)
def test_passing_tests_cost_one_query_per_model(warehouse_factory, tmp_path: Path, engine: str) -> None:
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources({"tunnels": (fixture_data.TUNNELS, "id")}))
    root = write_models(tmp_path / "models", {
        "staging/stg_t.sql": STAGING.replace("-- materialized", "-- tests: unique(id); not_null(id)\n-- materialized"),
        "reports/r.sql": (
            "-- one row per tunnel\n-- tests: unique(id); not_null(id, n); share(s); zero(d); "
            "no_future(stamped_at); orphans(id -> stg_t.id)\n"
            "select id, 1 as n, cast(0.5 as double precision) as s, 0 as d, current_date as stamped_at from stg_t\n"
        ),
        "reports/untested.sql": "-- one row\nselect count(*) as n from r\n",
    })
    result = build_reports(wh.pipeline, "demo", transforms_dir=root)
    assert len(result.tests) == 8 and all(t.passed for t in result.tests)
    results, queries = counted_run(wh, "demo", root)
    assert [(t.model, t.test, t.failures) for t in results] == [(t.model, t.test, 0) for t in result.tests]
    assert len(queries) == 2  # stg_t and r; the model without tests is not read
    assert [q.count(f'"{wh.dataset}_reports"."r"') for q in queries] == [0, 1]


def test_the_fixture_account_sends_one_query_per_tested_model(fixture_warehouse: Warehouse) -> None:
    """The leeloo models over the fixture account, whose one failing test is a warning
    (an order of a person that is not loaded): one query per model, one more for its examples."""
    results, queries = counted_run(fixture_warehouse, "leeloo")
    tested = [m for m in load_models("leeloo") if m.tests]
    failed = [t for t in results if not t.passed]
    assert [(t.model, t.test) for t in failed] == [("stg_orders", "orphans(person_id -> stg_people.person_id)")]
    assert len(results) == sum(len(m.tests) for m in tested) > len(tested)
    assert len(queries) == len(tested) + len(failed)
