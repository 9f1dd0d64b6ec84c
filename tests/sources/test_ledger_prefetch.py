"""Under a read guard the first ledger of an extract reads every selected resource's ledger,
and the raw rows that complete it, in one turn; each resource gets exactly its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt

from sources import readback
from sources.bookkeeping import ALONGSIDE, TABLE, Ledger, Seed, register_alongside, register_seeds, table_hints

SOURCE = "prefetch_test"
HINTS = {name: table_hints(name, {"id": {"data_type": "text"}, "v": {"data_type": "bigint"}})
         for name in ("apples", "pears")}
register_seeds(SOURCE, "apples", Seed("apples"))


def _apples_held() -> list[tuple[Any, ...]]:
    """A read every extract of the stand makes, kept for the extract."""
    return readback.remembered(("apples held",), lambda: readback.query("select count(*) from apples"))


def _fruit(name: str, ledger_name: str | None, values: dict[str, int], seen: dict[str, Any]) -> Any:
    @dlt.resource(name=name)
    def fruit() -> Iterator[Any]:
        if ledger_name is None:  # this run keeps no memory for it
            yield dlt.mark.with_hints([], HINTS[name], create_table_variant=True)
            return
        ledger = Ledger(ledger_name, dlt.current.resource_state())
        seen[name] = ({key: entry.fingerprint for key, entry in ledger.entries.items()}, ledger.seeded)
        rows = [{"id": key, "v": v} for key, v in values.items()]
        for row in rows:
            ledger.put(row["id"], fingerprint=str(row["v"]))
        yield dlt.mark.with_hints(rows, HINTS[name], create_table_variant=True)
        yield ledger.rows()

    return fruit


def _source(seen: dict[str, Any], apples: dict[str, int], pears: dict[str, int],
            pear_ledger: str | None = "pears") -> Any:
    @dlt.source(name=SOURCE)
    def fruit_stand() -> Any:
        return [_fruit("apples", "apples", apples, seen), _fruit("pears", pear_ledger, pears, seen)]

    return fruit_stand()


def _pipeline(dlt_env: Path, name: str) -> dlt.Pipeline:
    destination = dlt.destinations.duckdb(str(dlt_env / f"{name}.duckdb"))
    return dlt.pipeline(name, destination=destination, dataset_name=f"{name}_data")


def _counting() -> tuple[list[int], Any]:
    turns: list[int] = []

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        turns.append(1)
        yield

    return turns, guard


def _drop_entry(pipeline: dlt.Pipeline, entity_id: str) -> None:
    """A restore from a backup taken before this entry was written."""
    with pipeline.sql_client() as client:
        client.execute_sql(f"delete from {client.make_qualified_table_name(TABLE)} where entity_id = %s", entity_id)


def test_an_extract_reads_every_ledger_in_one_turn_and_each_gets_its_own(dlt_env: Path) -> None:
    pipeline = _pipeline(dlt_env, "stand")
    pipeline.run(_source({}, {"a1": 1, "a2": 2}, {"p1": 5}))
    _drop_entry(pipeline, "a2")
    seen: dict[str, Any] = {}
    turns, guard = _counting()
    with readback.read_guard(guard):
        pipeline.extract(_source(seen, {"a1": 1, "a2": 2}, {"p1": 5}))
    assert seen["apples"] == ({"a1": "1", "a2": None}, 1), "a2 is held in the raw table: completed, never verified"
    assert seen["pears"] == ({"p1": "5"}, 0)
    assert len(turns) == 1, f"{len(turns)} turns at the warehouse for two ledgers"


def test_a_ledger_not_named_after_a_selected_resource_reads_its_own(dlt_env: Path) -> None:
    pipeline = _pipeline(dlt_env, "stand")
    pipeline.run(_source({}, {"a1": 1}, {"p1": 5}, pear_ledger="pear_memory"))
    seen: dict[str, Any] = {}
    turns, guard = _counting()
    with readback.read_guard(guard):
        pipeline.extract(_source(seen, {"a1": 1}, {"p1": 6}, pear_ledger="pear_memory"))
    assert seen["apples"] == ({"a1": "1"}, 0)
    assert seen["pears"] == ({"p1": "5"}, 0)
    assert len(turns) == 2, "the selected resources' ledgers in one turn, then pear_memory on its own"


def test_two_pipelines_extracting_under_one_guard_never_read_each_other_s_ledgers(dlt_env: Path) -> None:
    one, two = _pipeline(dlt_env, "one"), _pipeline(dlt_env, "two")
    one.run(_source({}, {"a1": 1}, {"p1": 1}))
    two.run(_source({}, {"b1": 2}, {"q1": 2}))
    seen_one: dict[str, Any] = {}
    seen_two: dict[str, Any] = {}
    _, guard = _counting()
    with readback.read_guard(guard):
        one.extract(_source(seen_one, {}, {}, pear_ledger=None))  # its pears' ledger is read, never taken
        two.extract(_source(seen_two, {}, {}))
    assert seen_one == {"apples": ({"a1": "1"}, 0)}
    assert seen_two == {"apples": ({"b1": "2"}, 0), "pears": ({"q1": "2"}, 0)}


def test_a_read_registered_alongside_rides_the_ledgers_turn(dlt_env: Path, monkeypatch: Any) -> None:
    monkeypatch.setitem(ALONGSIDE, SOURCE, [])
    register_alongside(SOURCE, _apples_held)
    pipeline = _pipeline(dlt_env, "stand")
    pipeline.run(_source({}, {"a1": 1, "a2": 2}, {"p1": 5}))
    seen: dict[str, Any] = {}
    turns, guard = _counting()
    with readback.read_guard(guard):
        pipeline.extract(_source(seen, {"a1": 1}, {"p1": 5}))
        seen["held"] = _apples_held()  # within the same guard: already read
    assert seen["held"] == [(2,)]
    assert len(turns) == 1, "the registered read went in the ledgers' turn and was not read again"
