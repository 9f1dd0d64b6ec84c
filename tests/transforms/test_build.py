"""How the runner builds: data tests that fail, versions across loads, incremental loads,
dependency order, view/table switches, and the same answers on both engines."""

from __future__ import annotations

import math
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.transforms import fixture_data
from tests.transforms.conftest import ENGINES, Warehouse
from transforms.runner import (
    DataTestError,
    TransformError,
    build_reports,
    load_models,
)

REPORT_KEYS = {
    # report -> the columns that identify a row
    "tunnel_funnel": "tunnel_id, snapshot_date",
    "tunnel_funnel_daily": "tunnel_id, snapshot_date",
    "source_funnel": "tunnel_id, leadgentool_id, traffic_source_id",
    "revenue_by_source": "tunnel_id, leadgentool_id, traffic_source_id, currency",
    "daily_activity": '"date"',
    "utm_funnel": "utm_source, utm_medium, utm_campaign",
    "utm_revenue": "utm_source, utm_medium, utm_campaign, currency",
    "manager_response_times": "manager_id, week_start",
    "cohort_conversion": "cohort_week, weeks_to_first_paid",
    "tunnel_revenue": "tunnel_id, currency",
}


def snapshot(wh: Warehouse) -> dict[str, list[dict[str, Any]]]:
    return {
        name: wh.rows(name, order_by=", ".join(f"{c.strip()} nulls first" for c in key.split(",")))
        for name, key in REPORT_KEYS.items()
    }


def assert_same(a: dict[str, list[dict]], b: dict[str, list[dict]]) -> None:
    assert a.keys() == b.keys()
    for name, rows in a.items():
        assert len(rows) == len(b[name]), name
        for left, right in zip(rows, b[name], strict=True):
            assert left.keys() == right.keys(), name
            for key in left:
                x, y = left[key], right[key]
                if isinstance(x, float) or isinstance(y, float):
                    assert x is not None and y is not None, (name, key, x, y)
                    assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (name, key, x, y)
                else:
                    assert x == y, (name, key, x, y)


# ------------------------------------------------------------------ failing data tests


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicated_key_fails_the_build_naming_model_and_test(warehouse_factory, engine: str) -> None:
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources())
    # plant a second row for order o1 in one load: append keeps both, and two versions of
    # one key in the same load are ambiguous, so staging must not silently pick one
    duplicate = dict(fixture_data.ORDERS[0], title="the same order again")
    wh.load(fixture_data.resources({"orders": ([duplicate, fixture_data.ORDERS[0]], "id")}, write_disposition="append"))
    with pytest.raises(DataTestError) as info:
        wh.build()
    message = str(info.value)
    assert "stg_orders: unique(order_id) failed" in message
    assert "'o1'" in message
    assert [(f.model, f.test) for f in info.value.failures] == [("stg_orders", "unique(order_id)")]


@pytest.mark.parametrize("engine", ENGINES)
def test_future_timestamp_warns_no_future(warehouse_factory, engine: str) -> None:
    """A time later than now is the API's clock: the build stands, and says so once."""
    wh = warehouse_factory(engine)
    future = datetime.now(UTC) + timedelta(days=3)
    orders = [dict(fixture_data.ORDERS[0], id="o_future", created_at=future, updated_at=future)]
    wh.load(fixture_data.resources())
    wh.load(fixture_data.resources({"orders": (orders, "id")}))
    result = wh.build()
    failed = {t.model: t for t in result.tests if t.kind == "no_future" and not t.passed}
    assert set(failed) == {"stg_orders", "daily_activity"}  # the order, and the days up to its date
    assert failed["stg_orders"].failures == 1
    assert failed["daily_activity"].failures >= 2  # the days after today (2 within an hour of midnight)
    assert {t.severity for t in failed.values()} == {"warn"}
    clock_lines = [w for w in result.warnings if "later than now" in w]
    assert len(clock_lines) == 1, result.warnings
    assert "stg_orders 1" in clock_lines[0] and f"daily_activity {failed['daily_activity'].failures}" in clock_lines[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_later_load_of_the_same_key_is_the_version_kept(warehouse_factory, engine: str) -> None:
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources())
    renamed = dict(fixture_data.PEOPLE[1], name="Boris II", email="b@x.io")
    # appended (not merged): raw now holds two versions of p2 from two loads
    wh.load(fixture_data.resources({"people": ([renamed], "id")}, write_disposition="append"))
    result = wh.build()
    assert result.failed_tests == []
    people = wh.rows("stg_people", where="person_id = 'p2'")
    assert [(p["name"], p["email"]) for p in people] == [("Boris II", "b@x.io")]
    # children follow the kept version: p2's single history entry, not two
    assert len(wh.rows("stg_subscribe_history", where="person_id = 'p2'")) == 1


# ------------------------------------------------------------------ incremental == fresh


def _split_fixture() -> tuple[dict, dict]:
    """The fixture as a first load and a later incremental load with new and changed rows."""
    first = dict(fixture_data.TABLES)
    first["chat_messages"] = (fixture_data.MESSAGES[:10], "id")
    first["orders"] = (
        [dict(o, status="NEW") if o["id"] == "o5" else o for o in fixture_data.ORDERS if o["id"] != "o6"],
        "id",
    )
    first["tunnel_stats"] = (
        fixture_data.TUNNEL_STATS[:2] + fixture_data.TUNNEL_STATS[3:4],
        ("tunnel_id", "snapshot_date"),
    )
    first["people"] = ([dict(p, subscribe_history=p["subscribe_history"][:1]) for p in fixture_data.PEOPLE], "id")
    later = {
        "chat_messages": (fixture_data.MESSAGES[10:], "id"),
        "orders": ([o for o in fixture_data.ORDERS if o["id"] in ("o5", "o6")], "id"),  # o5 now paid
        "tunnel_stats": (fixture_data.TUNNEL_STATS, ("tunnel_id", "snapshot_date")),
        "people": (fixture_data.PEOPLE, "id"),  # p1's full history replaces the short one
    }
    return first, later


@pytest.mark.parametrize("engine", ENGINES)
def test_build_after_incremental_load_equals_fresh_load(warehouse_factory, engine: str) -> None:
    first, later = _split_fixture()
    incremental = warehouse_factory(engine)
    incremental.load(fixture_data.resources(first))
    before = incremental.build()
    early = snapshot(incremental)
    incremental.load(fixture_data.resources(later))
    incremental.build()
    fresh = warehouse_factory(engine)
    fresh.load(fixture_data.resources())
    fresh.build()
    assert_same(snapshot(incremental), snapshot(fresh))
    # and the first build really was different (the comparison is not vacuous)
    assert early["revenue_by_source"] != snapshot(fresh)["revenue_by_source"]
    assert before.failed_tests == []


# ------------------------------------------------------------------ both engines agree


@pytest.mark.postgres
def test_duckdb_and_postgres_give_the_same_answers(warehouse_factory) -> None:
    pytest.importorskip("psycopg2")
    duck = warehouse_factory("duckdb")
    duck.load(fixture_data.resources())
    duck.build()
    from tests.transforms.conftest import require_postgres

    require_postgres()
    pg = warehouse_factory("postgres")
    pg.load(fixture_data.resources())
    pg.build()
    assert_same(snapshot(duck), snapshot(pg))
    assert len(snapshot(duck)["daily_activity"]) == 21


# ------------------------------------------------------------------ model files and ordering


def write_models(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "demo" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def test_order_comes_from_references_not_names(tmp_path: Path) -> None:
    root = write_models(
        tmp_path,
        {
            "staging/stg_b.sql": "-- one row per tunnel\nselect t.id from raw.tunnels t\n",
            # 'a_total' sorts first but reads 'z_mid', which reads 'stg_b'
            "reports/a_total.sql": "-- one row\nselect count(*) as n from z_mid\n",
            "reports/z_mid.sql": "-- one row per tunnel\nwith x as (select id from stg_b) select id from x\n",
        },
    )
    order = [m.name for m in load_models("demo", root)]
    assert order.index("stg_b") < order.index("z_mid") < order.index("a_total")
    models = {m.name: m for m in load_models("demo", root)}
    assert models["z_mid"].model_refs == {"stg_b"}  # the CTE x is not a model
    assert models["stg_b"].raw_refs == {"tunnels"}


def test_a_shared_model_is_every_source_s_own(tmp_path: Path) -> None:
    """A model of `shared/` is built, tested and described in each source's set, read once."""
    root = write_models(tmp_path, {"reports/r.sql": "-- one row per resource\nselect resource from stg_cover\n"})
    shared = root / "shared" / "staging"
    shared.mkdir(parents=True)
    (shared / "stg_cover.sql").write_text("select c.resource from raw._chatfunnel_coverage c\n")
    (shared / "_staging.yml").write_text(
        "models:\n  - name: stg_cover\n    description: one row per resource\n    columns:\n"
        "      - {name: resource, description: the resource, tests: [unique]}\n")
    (root / "other" / "reports").mkdir(parents=True)
    for source in ("demo", "other"):
        models = {m.name: m for m in load_models(source, root)}
        assert models["stg_cover"].raw_refs == {"_chatfunnel_coverage"}
        assert [t.text for t in models["stg_cover"].tests] == ["unique(resource)"]
    assert load_models("demo", root)[0].name == "stg_cover"  # read before the source's model that reads it
    (root / "demo" / "staging").mkdir(parents=True)
    (root / "demo" / "staging" / "stg_cover.sql").write_text("-- one row\nselect 1 as resource\n")
    with pytest.raises(TransformError, match="stg_cover is defined twice"):
        load_models("demo", root)


@pytest.mark.parametrize(
    "files, error",
    [
        ({"reports/r.sql": "-- one row\nselect * from nowhere\n"}, "'nowhere' is neither a model"),
        ({"reports/r.sql": "-- one row\nselect * from leeloo.people\n"}, "raw.<table>"),
        ({"reports/r.sql": "select 1\n"}, "what one row means"),
        ({"reports/r.sql": "-- one row\nselect 1; select 2\n"}, "exactly one select"),
        ({"reports/r.sql": "-- one row\n-- tests: uniq(id)\nselect 1 as id\n"}, "unknown data test"),
        ({"reports/a.sql": "-- one row\nselect * from b\n", "reports/b.sql": "-- one row\nselect * from a\n"}, "cycle"),
    ],
)
def test_bad_model_files_are_rejected_with_the_file_named(tmp_path: Path, files: dict, error: str) -> None:
    root = write_models(tmp_path, files)
    with pytest.raises(TransformError, match=error) as info:
        load_models("demo", root)
    assert "demo" in str(info.value) or "cycle" in error


@pytest.mark.parametrize("engine", ENGINES)
def test_share_test_and_switching_view_to_table(warehouse_factory, tmp_path: Path, engine: str) -> None:
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources({"tunnels": (fixture_data.TUNNELS, "id")}))
    root = tmp_path / "models"
    write_models(
        root,
        {
            "staging/stg_t.sql": (
                "-- one row per tunnel\n-- tests: unique(id)\nselect cast(t.id as text) as id from raw.tunnels t\n"
            ),
            "reports/r.sql": (
                "-- one row\n-- tests: share(s)\nselect cast(count(*) as double precision) / 2 as s from stg_t\n"
            ),
        },
    )
    # 3 tunnels / 2 = 1.5 is not a share
    with pytest.raises(DataTestError, match=r"r: share\(s\) failed: 1 row\(s\) outside \[0, 1\]"):
        build_reports(wh.pipeline, "demo", transforms_dir=root)
    write_models(
        root,
        {
            "staging/stg_t.sql": (
                "-- one row per tunnel\n-- materialized: table\nselect cast(t.id as text) as id from raw.tunnels t\n"
            ),
            "reports/r.sql": (
                "-- one row\n-- tests: share(s)\nselect cast(count(*) as double precision) / 4 as s from stg_t\n"
            ),
        },
    )
    result = build_reports(wh.pipeline, "demo", transforms_dir=root)
    assert result.materialized == {"stg_t": "table", "r": "view"}
    with (
        wh.pipeline.sql_client() as client,
        client.execute_query(
            "select table_name, table_type from information_schema.tables "
            f"where table_schema = '{wh.dataset}_reports' order by table_name"
        ) as cur,
    ):
        kinds = {name: kind for name, kind in cur.fetchall()}
    assert kinds["stg_t"] == "BASE TABLE" and kinds["r"] == "VIEW"
    assert wh.rows("r")[0]["s"] == pytest.approx(0.75)


def test_a_rebuild_that_drops_someone_elses_view_names_it(warehouse_factory, pg_dsn: str, tmp_path: Path) -> None:
    """Postgres drops the views that read a model whose kind changes (a release makes a view a
    table): an analyst's view in a schema of their own goes with it, and the build says so."""
    wh = warehouse_factory("postgres")
    wh.load(fixture_data.resources({"tunnels": (fixture_data.TUNNELS, "id")}))
    root = tmp_path / "models"
    staging = "-- one row per tunnel\n{kind}select cast(t.id as text) as id from raw.tunnels t\n"
    write_models(root, {"staging/stg_t.sql": staging.format(kind="")})
    build_reports(wh.pipeline, "demo", transforms_dir=root)
    mine = f"{wh.dataset}_analyst"
    with wh.pipeline.sql_client() as client:
        client.execute_sql(f'create schema "{mine}"')
        client.execute_sql(f'create view "{mine}".tunnel_ids as select id from "{wh.dataset}_reports".stg_t')
    try:
        write_models(root, {"staging/stg_t.sql": staging.format(kind="-- materialized: table\n")})
        result = build_reports(wh.pipeline, "demo", transforms_dir=root)
        with wh.pipeline.sql_client() as client, client.execute_query(
            f"select count(*) from information_schema.views where table_schema = '{mine}'"
        ) as cur:
            assert cur.fetchall()[0][0] == 0
        assert result.build_warnings == [
            f"the view {mine}.tunnel_ids depended on stg_t, which is now a table: rebuilding stg_t dropped that "
            "view; create it again"
        ]
        assert build_reports(wh.pipeline, "demo", transforms_dir=root).build_warnings == []
    finally:
        with wh.pipeline.sql_client() as client:
            client.execute_sql(f'drop schema if exists "{mine}" cascade')


@pytest.mark.parametrize("engine", ENGINES)
def test_build_before_any_load_gives_empty_reports(warehouse_factory, engine: str) -> None:
    wh = warehouse_factory(engine)
    # only one unrelated table exists: every other raw table is missing
    wh.load(fixture_data.resources({"tags": (fixture_data.TAGS, "id")}))
    result = wh.build()
    assert "source_funnel" in result.models and result.failed_tests == []
    assert any("people does not exist yet" in w for w in result.padded)
    for report in ("tunnel_funnel", "source_funnel", "daily_activity", "manager_response_times"):
        assert wh.rows(report) == [], report
    assert [r["tag_name"] for r in wh.rows("stg_tags", order_by="tag_id")] == ["vip", "lead"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_model_that_fails_to_build_leaves_the_previous_reports(
    warehouse_factory, tmp_path: Path, engine: str
) -> None:
    wh = warehouse_factory(engine)
    wh.load(fixture_data.resources({"tunnels": (fixture_data.TUNNELS, "id")}))
    root = tmp_path / "models"
    write_models(
        root,
        {
            "staging/stg_t.sql": "-- one row per tunnel\nselect cast(t.id as text) as id, t.name from raw.tunnels t\n",
            "reports/r.sql": "-- one row\n-- materialized: table\nselect count(*) as n from stg_t\n",
        },
    )
    build_reports(wh.pipeline, "demo", transforms_dir=root)
    assert wh.rows("r") == [{"n": 3}]
    # the staging model changes shape and the report now fails at build time (a bad cast)
    write_models(
        root,
        {
            "staging/stg_t.sql": "-- one row per tunnel\nselect cast(t.id as text) as tunnel_id from raw.tunnels t\n",
            "reports/r.sql": (
                "-- one row\n-- materialized: table\nselect cast(max(tunnel_id) as integer) as n from stg_t\n"
            ),
        },
    )
    with pytest.raises(TransformError, match=rf"model r \(demo/reports/r.sql\) failed to build on {engine}"):
        build_reports(wh.pipeline, "demo", transforms_dir=root)
    # one transaction: the previous stg_t (with its name column) and r are still there
    assert wh.rows("r") == [{"n": 3}]
    assert set(wh.rows("stg_t")[0]) == {"id", "name"}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_a_model_rendered_in_place_reads_as_one_rendered_from_a_copy(dialect: str) -> None:
    """`render` copies the model's tree unless told the tree is its own; both give the same
    statement, and the shared tree is left as parsed."""
    from transforms.models import load_models, render

    models = load_models("leeloo")
    names = [m.name for m in models]
    for model in models:
        before = model.ast.sql()
        copied = render(model.ast, dialect, "raw", "rep", names, zone="Europe/Moscow")
        assert model.ast.sql() == before, f"{model.name}: rendering changed the shared tree"
        assert render(model.ast.copy(), dialect, "raw", "rep", names, zone="Europe/Moscow", copy=False) == copied
        assert '"raw"' in copied or '"rep"' in copied or not (model.raw_refs or model.model_refs)
