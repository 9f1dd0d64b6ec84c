"""The per-entity ledger: read back from the warehouse on the next run, ignored after a
full refresh, and never part of dlt's state."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import dlt
import pytest

from sources.bookkeeping import TABLE, Ledger, table_hints

ITEM_HINTS = table_hints("items", {"id": {"data_type": "text"}, "v": {"data_type": "bigint"}})


def _source(seen: dict[str, Any], values: dict[str, int]) -> Any:
    @dlt.resource(name="items", write_disposition="merge")
    def items() -> Iterator[Any]:
        ledger = Ledger("items", dlt.current.resource_state())
        seen["run"], seen["known"] = ledger.run, {k: e.fingerprint for k, e in ledger.entries.items()}
        changed = [{"id": k, "v": v} for k, v in values.items() if ledger.get(k) is None
                   or ledger.get(k).fingerprint != str(v)]  # type: ignore[union-attr]
        for row in changed:
            ledger.put(row["id"], fingerprint=str(row["v"]))
        yield dlt.mark.with_hints(changed, ITEM_HINTS, create_table_variant=True)
        rows = ledger.rows()
        if rows is not None:
            yield rows

    return items()


@pytest.mark.parametrize("destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_ledger_is_read_back_from_the_warehouse_and_reset_by_a_full_refresh(
    destination: str, dlt_env: Path, request: pytest.FixtureRequest
) -> None:
    if destination == "duckdb":
        dest, dataset = dlt.destinations.duckdb(str(dlt_env / "w.duckdb")), "ledger_test"
    else:
        dest = dlt.destinations.postgres(request.getfixturevalue("pg_dsn"))
        dataset = request.getfixturevalue("unique_dataset")
    pipeline = dlt.pipeline("ledger_test", destination=dest, dataset_name=dataset)
    seen: dict[str, Any] = {}
    pipeline.run(_source(seen, {"a": 1, "b": 2}))
    assert seen == {"run": 1, "known": {}}

    pipeline.run(_source(seen, {"a": 1, "b": 3}))
    assert seen == {"run": 2, "known": {"a": "1", "b": "2"}}, "the second run reads what the first one loaded"
    with pipeline.sql_client() as client:
        rows = client.execute_sql(f"select entity_id, fingerprint from {client.make_qualified_table_name(TABLE)}")
    assert sorted(rows) == [("a", "1"), ("b", "3")]
    state = pipeline.state["sources"][pipeline.default_schema_name]["resources"]["items"]
    assert set(state) == {"ledger_epoch", "ledger_run"}, "per-entity memory must not live in dlt state"

    pipeline.run(_source(seen, {"a": 1, "b": 3}), refresh="drop_sources")
    assert seen == {"run": 1, "known": {}}, "after a full refresh nothing is known"
