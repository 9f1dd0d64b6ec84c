"""Rows marked with their table: hints with the first rows of each table only, and dlt
still loading every later batch with those hints (the behaviour `sources.marks` relies on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import dlt
from dlt.extract import extractors

from sources.bookkeeping import table_hints
from sources.marks import TableMarks, table_of

THINGS = {"id": {"data_type": "bigint", "nullable": False}, "name": {"data_type": "text"}}
OTHERS = {"key": {"data_type": "text", "nullable": False}, "n": {"data_type": "bigint"}}


def _things(batches: list[list[dict[str, Any]]], n: int = 0) -> Any:
    @dlt.resource(name="mixed")
    def mixed() -> Iterator[Any]:
        mark = TableMarks()
        for number, rows in enumerate(batches):
            yield mark(rows, table_hints("things", THINGS))
            yield mark([{"key": f"k{number}", "n": n}], table_hints("others", OTHERS, "key"))

    return mixed()


def test_hints_go_with_the_first_rows_of_each_table_only() -> None:
    mark = TableMarks()
    first = mark([{"id": 1}], table_hints("things", THINGS))
    again = mark([{"id": 2}], table_hints("things", THINGS))
    other = mark([{"key": "a"}], table_hints("others", OTHERS, "key"))
    assert [table_of(item.meta) for item in (first, again, other)] == ["things", "things", "others"]
    assert type(first.meta).__name__ == "HintsMeta" and type(other.meta).__name__ == "HintsMeta"
    assert type(again.meta).__name__ == "TableNameMeta", "the variant is on the resource: its name is enough"
    assert TableMarks()([{"id": 3}], table_hints("things", THINGS)).meta.hints, "a new run gives the hints again"
    assert table_of(None) is None


def test_later_batches_load_with_the_hints_of_the_first(dlt_env: Path, monkeypatch: Any) -> None:
    """Batch 2 repeats a row of batch 1 and a second run changes rows of both tables: with
    the variants' primary keys and merge, each id and key is one row holding its newest values.
    dlt computes a table's schema again only after another table's first hints (which reset
    its cache): three times in all for eight batches, not once per batch."""
    computed: list[str] = []
    compute = extractors.Extractor._compute_and_update_tables

    def counting(self: Any, resource: Any, table: str, items: Any, meta: Any) -> Any:
        computed.append(table)
        return compute(self, resource, table, items, meta)

    monkeypatch.setattr(extractors.Extractor, "_compute_and_update_tables", counting)
    batches = [[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], [{"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
               [{"id": 4, "name": "d"}], [{"id": 5, "name": "e"}]]
    pipeline = dlt.pipeline("marks_test", destination=dlt.destinations.duckdb(str(dlt_env / "m.duckdb")),
                            dataset_name="marks")
    pipeline.run(_things(batches))
    assert [t for t in computed if not t.startswith("_dlt")] == ["things", "others", "things"]

    pipeline.run(_things([[{"id": 3, "name": "C"}], [{"id": 1, "name": "A"}]], n=9))
    with pipeline.sql_client() as client:
        things = client.execute_sql("select id, name from things order by id")
        others = client.execute_sql("select key, n from others order by key")
    assert [tuple(r) for r in things] == [(1, "A"), (2, "b"), (3, "C"), (4, "d"), (5, "e")]
    assert [tuple(r) for r in others] == [("k0", 9), ("k1", 9), ("k2", 0), ("k3", 0)]
    table = pipeline.default_schema.get_table("things")
    assert table["write_disposition"] == "merge" and table["columns"]["id"].get("primary_key") is True
