"""Salebot fixtures: a live emulator, the env pointing the source at it, and a warehouse
on DuckDB or Postgres (the `warehouse` fixture is parametrised over both)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import pytest

from emulators.salebot import SalebotEmulator
from pipelines.options import RunOptions
from pipelines.registry import SOURCES
from sources.report import SourceReport as RunReport

API_KEY = "sbk_" + uuid.uuid4().hex  # distinctive, so a leak is greppable


@pytest.fixture
def emu(dlt_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SalebotEmulator]:
    """A served emulator (seed 11, 60 clients); the environment points the source at it."""
    e = SalebotEmulator(seed=11, api_key=API_KEY)
    with e.serve() as url:
        e.base_url = url  # type: ignore[attr-defined]
        monkeypatch.setenv("SOURCES__SALEBOT__BASE_URL", url)
        monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", API_KEY)
        monkeypatch.setenv("SOURCES__SALEBOT__REQUESTS_PER_MINUTE", "0")
        monkeypatch.setenv("SOURCES__SALEBOT__WEBHOOK_STORE", str(dlt_env / "inbox.sqlite"))
        yield e


@dataclass
class Warehouse:
    """One destination + dataset; `run()` is one nightly `chatfunnel run salebot` (load only)."""

    kind: str
    destination: Any
    dataset: str
    name: str

    def pipeline(self) -> dlt.Pipeline:
        return dlt.pipeline(pipeline_name=self.name, destination=self.destination, dataset_name=self.dataset)

    def run(self, **options: Any) -> RunReport:
        p = self.pipeline()
        spec = SOURCES["salebot"]
        built = spec.build(RunOptions(source="salebot", dataset=self.dataset, **options))
        info = p.run(built.source)
        assert not info.has_failed_jobs
        assert spec.after_load is not None
        spec.after_load(p, built.settings)
        return built.report

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """`sql` may name tables as {messages}, {clients}, ... (qualified for the destination)."""
        with self.pipeline().sql_client() as c:
            names = {t: c.make_qualified_table_name(t) for t in ("clients", "messages", "orders", "channels", "blocks")}
            with c.execute_query(sql.format(**names)) as cur:
                return [tuple(r) for r in cur.fetchall()]

    def ids(self, table: str) -> list[int]:
        return sorted(int(r[0]) for r in self.query(f"select id from {{{table}}}"))


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, dlt_env: Path, duckdb_path: Path) -> Warehouse:
    name = "sb_" + uuid.uuid4().hex[:8]
    if request.param == "duckdb":
        return Warehouse("duckdb", dlt.destinations.duckdb(str(duckdb_path)), "salebot", name)
    dsn = request.getfixturevalue("pg_dsn")
    dataset = request.getfixturevalue("unique_dataset")
    return Warehouse("postgres", dlt.destinations.postgres(dsn), dataset, name)


def assert_equals_truth(wh: Warehouse, emu: SalebotEmulator) -> None:
    """Every table holds exactly the emulator's ids, once, with statuses and states current."""
    truth = emu.truth()
    for table, key in (("clients", "clients"), ("messages", "messages"), ("orders", "orders")):
        ids = wh.ids(table)
        dupes = [i for i, n in Counter(ids).items() if n > 1]
        assert not dupes, f"{table}: duplicate ids {dupes[:5]}"
        expected = sorted(r["id"] for r in truth[key])
        missing, extra = sorted(set(expected) - set(ids)), sorted(set(ids) - set(expected))
        assert not missing and not extra, f"{table}: missing {missing[:5]}, extra {extra[:5]}"
    got_orders = {int(i): (int(c), int(s), int(st)) for i, c, s, st in wh.query("select id, client_id, status, state_id from {orders}")}
    assert got_orders == {o["id"]: (o["client_id"], o["status"], o["state_id"]) for o in truth["orders"]}
    got_msgs = dict((int(i), int(c)) for i, c in wh.query("select id, client_id from {messages}"))
    assert got_msgs == {m["id"]: m["client_id"] for m in truth["messages"]}
    n_channels = sum(len(v) for k, v in truth["channels"].items() if isinstance(v, list))
    assert len(wh.query("select id from {channels}")) == n_channels
    assert wh.ids("blocks") == sorted(b["id"] for b in truth["blocks"])
