"""Warehouses with the hand-made fixture account loaded and the reports built, per engine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from tests.conftest import PG_DSN, _postgres_reachable
from tests.transforms import fixture_data, salebot_fixture
from transforms.runner import BuildResult, build_reports

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def require_postgres() -> str:
    """The same rule as tests/conftest.py's pg_dsn, usable from module-scoped fixtures."""
    problem = _postgres_reachable(PG_DSN)
    if problem:
        message = f"PostgreSQL at {PG_DSN.split('@')[-1]} is not reachable ({problem})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI must have it", pytrace=False)
        pytest.skip(message)
    return PG_DSN


def drop_pg_schemas(prefix: str) -> None:
    import psycopg2

    with psycopg2.connect(PG_DSN) as conn, conn.cursor() as cur:
        cur.execute("select nspname from pg_namespace where nspname like %s", (prefix + "%",))
        for (schema,) in cur.fetchall():
            cur.execute(f'drop schema if exists "{schema}" cascade')


class Warehouse:
    """A dlt pipeline on one engine with a fresh random dataset, and helpers to read it."""

    result: BuildResult  # set by the fixtures that build once for a module

    def __init__(
        self,
        engine: str,
        workdir: Path,
        source: str = "leeloo",
        dataset: str | None = None,
        duckdb_file: str | None = None,
    ):
        self.engine = engine
        self.source = source
        self.dataset = dataset or f"t_{uuid.uuid4().hex[:10]}"
        self.duckdb_file = duckdb_file or str(workdir / f"warehouse_{uuid.uuid4().hex[:10]}.duckdb")
        self._connection: Any = None
        destination: Any
        if engine == "duckdb":
            destination = dlt.destinations.duckdb(self.duckdb_file)
        else:
            destination = dlt.destinations.postgres(require_postgres())
        self.pipeline = dlt.pipeline(
            pipeline_name=f"p_{uuid.uuid4().hex[:10]}",
            destination=destination,
            dataset_name=self.dataset,
            pipelines_dir=str(workdir / "pipelines"),
        )

    def load(self, resources: list[Any]) -> None:
        info = self.pipeline.run(resources)
        info.raise_on_failed_jobs()

    def build(self, **kwargs: Any) -> BuildResult:
        return build_reports(self.pipeline, self.source, **kwargs)

    def rows(
        self, table: str, order_by: str | None = None, where: str | None = None, schema: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows of a model (of the reports dataset, or of ``schema``)."""
        sql = f'select * from "{schema or self.dataset + "_reports"}"."{table}"'
        if where:
            sql += f" where {where}"
        if order_by:
            sql += f" order by {order_by}"
        return self.query(sql)

    def raw_rows(self, table: str, where: str | None = None) -> list[dict[str, Any]]:
        return self.rows(table, where=where, schema=self.dataset)

    def query(self, sql: str) -> list[dict[str, Any]]:
        if self.engine == "duckdb":
            cur = self._duckdb().execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in cur.fetchall()]
        with self.pipeline.sql_client() as client, client.execute_query(sql) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str) -> None:
        if self.engine == "duckdb":
            self._duckdb().execute(sql)
            return
        with self.pipeline.sql_client() as client:
            client.execute_sql(sql)

    def _duckdb(self) -> Any:
        """One connection for the test's reads, kept open: each dlt open of a DuckDB file reads
        its catalog (a few tens of ms), and with this one open dlt's own opens in the process
        join it, as a run's do under its lock (`pipelines.warehouse.kept_open`)."""
        if self._connection is None:
            import duckdb

            from pipelines.warehouse.destinations import duckdb_connect_config

            self._connection = duckdb.connect(self.duckdb_file, config=duckdb_connect_config())
            self._connection.execute("set TimeZone = 'UTC'")  # as dlt's own client reads
        return self._connection

    def mark_deleted(self, table: str, ids: list[Any], key: str = "id") -> None:
        """What the run's reconcile step does for entities a source proved gone: set
        `deleted_at` on their raw rows, which stay."""
        listed = ", ".join(f"'{i}'" for i in ids)
        self.execute(
            f'update "{self.dataset}"."{table}" set deleted_at = current_timestamp '
            f"where cast({key} as text) in ({listed})"
        )

    def rows_in_time_zone(self, table: str, time_zone: str, order_by: str) -> list[tuple]:
        """Read a report over a plain connection whose session time zone is ``time_zone``,
        as a BI tool would (dlt's own client always sets UTC)."""
        sql = f'select * from "{self.dataset}_reports"."{table}" order by {order_by}'
        if self.engine == "duckdb":
            import duckdb

            self._close()  # a BI tool's own connection: read-only, not the test's kept one
            with duckdb.connect(self.duckdb_file, read_only=True) as con:
                con.execute(f"set TimeZone = '{time_zone}'")
                return [tuple(r) for r in con.execute(sql).fetchall()]
        import psycopg2

        with psycopg2.connect(PG_DSN) as conn, conn.cursor() as cur:
            cur.execute(f"set time zone '{time_zone}'")
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def drop(self) -> None:
        self._close()
        if self.engine == "postgres":
            drop_pg_schemas(self.dataset)


def _plain(value: Any) -> Any:
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


@pytest.fixture
def warehouse_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make empty warehouses on an engine inside this test; dropped afterwards."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    made: list[Warehouse] = []

    def make(
        engine: str, source: str = "leeloo", dataset: str | None = None, duckdb_file: str | None = None
    ) -> Warehouse:
        wh = Warehouse(engine, tmp_path, source, dataset, duckdb_file)
        made.append(wh)
        return wh

    yield make
    for wh in made:
        wh.drop()


@pytest.fixture(scope="module", params=ENGINES)
def fixture_warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The hand-made account loaded and built once per engine for a test module."""
    workdir = tmp_path_factory.mktemp(f"wh_{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        wh = Warehouse(request.param, workdir)
        try:
            wh.load(fixture_data.resources())
            wh.result = wh.build()
            yield wh
        finally:
            wh.drop()


@pytest.fixture(scope="module", params=ENGINES)
def salebot_warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The hand-made Salebot project loaded and built once per engine for a test module."""
    workdir = tmp_path_factory.mktemp(f"sb_{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        wh = Warehouse(request.param, workdir, source="salebot")
        try:
            wh.load(salebot_fixture.resources())
            wh.result = wh.build()
            yield wh
        finally:
            wh.drop()
