"""Salebot fixtures: a live emulator, the env pointing the source at it, and a warehouse
on DuckDB or Postgres (the `warehouse` fixture is parametrised over both)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import pytest

from emulators.salebot import SalebotEmulator
from pipelines.config.options import RunOptions
from pipelines.config.registry import SOURCES
from sources.report import SourceReport as RunReport

API_KEY = "sbk_" + uuid.uuid4().hex  # distinctive, so a leak is greppable
TABLES = (
    "clients",
    "messages",
    "orders",
    "channels",
    "blocks",
    "client_variables",
    "order_status_changes",
    "_chatfunnel_entities",
    "_chatfunnel_deletions",
    "_chatfunnel_coverage",
    "_dlt_pipeline_state",
)


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
    _client: Any = field(default=None, repr=False, compare=False)

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
        with self.reading():
            c = self._client
            names = {t: c.make_qualified_table_name(t) for t in TABLES}
            with c.execute_query(sql.format(**names)) as cur:
                return [tuple(r) for r in cur.fetchall()]

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One pipeline and one connection for every query of the block (a comparison with the
        truth asks ~15; attaching a pipeline and opening a DuckDB file cost ~50 ms each)."""
        if self._client is not None:
            yield
            return
        with self.pipeline().sql_client() as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    def ids(self, table: str) -> list[int]:
        return sorted(int(r[0]) for r in self.query(f"select id from {{{table}}}"))

    def deleted(self) -> dict[str, dict[int, str]]:
        """What the runs proved gone, per table: ``{id: proof}`` from the newest deletion row
        of each entity (a NULL ``deleted_at`` there means it came back)."""
        if "_chatfunnel_deletions" not in self.pipeline().default_schema.tables:
            return {}
        rows = self.query(
            "select table_name, entity_id, deleted_at, proof, observed_at, _dlt_load_id from {_chatfunnel_deletions}"
        )
        newest: dict[tuple[str, str], tuple[Any, ...]] = {}
        for table, entity, deleted_at, proof, observed, load in rows:
            key = (table, entity)
            if key not in newest or (load, observed) > newest[key][:2]:
                newest[key] = (load, observed, deleted_at, proof)
        out: dict[str, dict[int, str]] = {}
        for (table, entity), (_, _, deleted_at, proof) in newest.items():
            if deleted_at is not None:
                out.setdefault(table, {})[int(entity)] = proof
        return out

    def live_ids(self, table: str) -> list[int]:
        """Ids of `table` minus those proven gone, directly or through their client: what the
        run's reconcile step marks with `deleted_at`, derived here from the proofs alone."""
        gone = self.deleted()
        gone_clients = set(gone.get("clients", {}))
        if table == "clients":
            rows = [(i, i) for i in self.ids("clients")]
        else:
            rows = [(int(i), int(c)) for i, c in self.query(f"select id, client_id from {{{table}}}")]
        return sorted(i for i, c in rows if i not in gone.get(table, {}) and c not in gone_clients)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, dlt_env: Path, duckdb_path: Path) -> Warehouse:
    name = "sb_" + uuid.uuid4().hex[:8]
    if request.param == "duckdb":
        return Warehouse("duckdb", dlt.destinations.duckdb(str(duckdb_path)), "salebot", name)
    dsn = request.getfixturevalue("pg_dsn")
    dataset = request.getfixturevalue("unique_dataset")
    return Warehouse("postgres", dlt.destinations.postgres(dsn), dataset, name)


def assert_equals_truth(wh: Warehouse, emu: SalebotEmulator) -> None:
    """Every table holds exactly the emulator's live entities, once, with statuses, states and
    variables current; whatever the API no longer has is proven gone, nothing else is."""
    with wh.reading():
        _equals_truth(wh, emu.truth())


def _equals_truth(wh: Warehouse, truth: dict[str, Any]) -> None:
    for table in ("clients", "messages", "orders"):
        ids = wh.ids(table)
        dupes = [i for i, n in Counter(ids).items() if n > 1]
        assert not dupes, f"{table}: duplicate ids {dupes[:5]}"
        live = wh.live_ids(table)
        expected = sorted(r["id"] for r in truth[table])
        missing, extra = sorted(set(expected) - set(live)), sorted(set(live) - set(expected))
        assert not missing and not extra, f"{table}: missing {missing[:5]}, lingering {extra[:5]}"
    live_orders = set(wh.live_ids("orders"))
    got_orders = {
        int(i): (int(c), int(s), int(st))
        for i, c, s, st in wh.query("select id, client_id, status, state_id from {orders}")
        if int(i) in live_orders
    }
    assert got_orders == {o["id"]: (o["client_id"], o["status"], o["state_id"]) for o in truth["orders"]}
    live_msgs = set(wh.live_ids("messages"))
    got_msgs = {int(i): int(c) for i, c in wh.query("select id, client_id from {messages}") if int(i) in live_msgs}
    assert got_msgs == {m["id"]: m["client_id"] for m in truth["messages"]}
    assert variables_of(wh, truth) == expected_variables(truth)
    n_channels = sum(len(v) for k, v in truth["channels"].items() if isinstance(v, list))
    assert len(wh.query("select id from {channels}")) == n_channels
    assert wh.ids("blocks") == sorted(b["id"] for b in truth["blocks"])


def stored_text(value: Any) -> Any:
    """What the warehouse should hold for an API value in a text column: the string with
    NUL bytes replaced (Postgres cannot store them), anything else as its JSON, parsed
    back here so that key order and spacing do not matter."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    return ("json", _no_nul(value))


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def as_stored(text: str | None, original: Any) -> Any:
    """Read a stored text back into the form `stored_text` gives, using the API value's type."""
    if text is None or isinstance(original, str) or original is None:
        return text
    return ("json", json.loads(text))


def expected_variables(truth: dict[str, Any]) -> dict[tuple[int, str], Any]:
    return {
        (int(cid), _no_nul(name)): stored_text(value)
        for cid, variables in truth["client_variables"].items()
        for name, value in variables.items()
    }


def variables_of(wh: Warehouse, truth: dict[str, Any]) -> dict[tuple[int, str], Any]:
    """The live variables, in the form `expected_variables` gives (the API's values decide
    whether a stored text is read as JSON)."""
    originals = {(int(c), _no_nul(n)): v for c, vs in truth["client_variables"].items() for n, v in vs.items()}
    out = {}
    gone = set(wh.deleted().get("clients", {}))
    for cid, name, value in wh.query("select client_id, name, value from {client_variables}"):
        if int(cid) not in gone:
            out[(int(cid), name)] = as_stored(value, originals.get((int(cid), name), value))
    return out
