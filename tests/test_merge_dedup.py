"""A Postgres merge skips dlt's deduplication only where the staged rows are proven unique
(`pipelines.warehouse.staged_rows`): keys once across the load files, and each staging table
holding exactly those files' rows. A source that sends a key twice, and a COPY replayed after
the process died with it committed, both leave the merge deduplicating as before, and the
table ends with each key once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.config.accounts import Account
from pipelines.run.reconcile import remove_replayed_rows
from pipelines.warehouse import staged_rows
from pipelines.warehouse.account_pipeline import loader_file_format, make_pipeline
from pipelines.warehouse.staged_rows import StagedTable, mark_deduplicated, proven_unique, worth_proving

REPO = Path(__file__).resolve().parent.parent


def _parquet(path: Path, rows: list[dict[str, Any]]) -> str:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def test_staged_rows_are_proven_unique_only_when_keys_and_counts_both_say_so(tmp_path: Path) -> None:
    one = _parquet(tmp_path / "one.parquet", [{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    two = _parquet(tmp_path / "two.parquet", [{"id": "c", "v": 3}])
    again = _parquet(tmp_path / "again.parquet", [{"id": "b", "v": 4}])
    twice = _parquet(tmp_path / "twice.parquet", [{"id": "d", "v": 1}, {"id": "d", "v": 2}])
    table = StagedTable("t", ("id",), (one, two))

    assert proven_unique([table], {"t": 3})
    assert not proven_unique([table], {"t": 6}), "a replayed job leaves more rows staged than its files hold"
    assert not proven_unique([table], {}), "a staging table not counted proves nothing"
    assert not proven_unique([StagedTable("t", ("id",), (one, again))], {"t": 3}), "a key in two files"
    assert not proven_unique([StagedTable("t", ("id",), (twice,))], {"t": 2}), "a key twice in one file"
    assert not proven_unique([StagedTable("t", (), (one,))], {"t": 2}), "no key: nothing to prove"
    csv = tmp_path / "t.csv"
    csv.write_text("id\na\n")
    assert not proven_unique([StagedTable("t", ("id",), (str(csv),))], {"t": 1}), "only Parquet is read"
    assert proven_unique([StagedTable("t", ("id",), ())], {"t": 0}), "a nested table with no rows this load"
    assert not proven_unique([table, StagedTable("n", ("_dlt_id",), ())], {"t": 3, "n": 1}), "every table counts"


def test_compound_keys_are_unique_as_a_whole(tmp_path: Path) -> None:
    pairs = _parquet(tmp_path / "pairs.parquet", [{"m": "tg", "id": 1}, {"m": "vk", "id": 1}, {"m": "tg", "id": 2}])
    same = _parquet(tmp_path / "same.parquet", [{"m": "tg", "id": 1}])
    assert proven_unique([StagedTable("c", ("m", "id"), (pairs,))], {"c": 3})
    assert not proven_unique([StagedTable("c", ("m", "id"), (pairs, same))], {"c": 4})


def test_a_small_chain_is_not_worth_proving(tmp_path: Path) -> None:
    few = _parquet(tmp_path / "few.parquet", [{"id": i} for i in range(staged_rows.WORTH_PROVING - 1)])
    one_more = _parquet(tmp_path / "one.parquet", [{"id": -1}])
    assert not worth_proving([StagedTable("t", ("id",), (few,))])
    assert worth_proving([StagedTable("t", ("id",), (few,)), StagedTable("t__n", ("_dlt_id",), (one_more,))])


def test_marking_sets_dlts_hint_on_the_root_only() -> None:
    chain = [{"name": "root"}, {"name": "root__items"}]
    marked = mark_deduplicated(chain)
    assert marked[0]["x-stage-data-deduplicated"] is True
    assert "x-stage-data-deduplicated" not in marked[1]
    assert "x-stage-data-deduplicated" not in chain[0], "the caller's chain is left as it was"


def _items(ids: list[int], version: str) -> Any:
    rows = [{"id": i, "name": f"{version}{i}", "tags": [f"{version}-t{i}-{k}" for k in range(2)]} for i in ids]
    return dlt.resource(rows, name="items", primary_key="id", write_disposition="merge")


def _extract(pipeline: dlt.Pipeline, resource: Any) -> None:
    pipeline.extract(resource, loader_file_format=loader_file_format("postgres"))
    pipeline.normalize()


def _merge_sql(pipeline: dlt.Pipeline, load_id: str) -> str:
    package = pipeline.get_load_package_info(load_id)
    jobs = [j for j in package.jobs["completed_jobs"] if j.job_file_info.table_name == "items"
            and j.file_path.endswith(".sql")]
    assert len(jobs) == 1, [j.file_path for j in package.jobs["completed_jobs"]]
    return Path(jobs[0].file_path).read_text()


def _table(pipeline: dlt.Pipeline) -> tuple[list[tuple[int, str]], list[tuple[str]]]:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name
        items = client.execute_sql(f"select id, name from {table('items')} order by id, name") or []
        tags = client.execute_sql(f"select value from {table('items__tags')} order by value") or []
    return [tuple(row) for row in items], [tuple(row) for row in tags]


def _make(destination: str, dataset: str) -> dlt.Pipeline:
    return make_pipeline(Account("leeloo", "dedup"), destination, dataset)


@pytest.fixture
def target(dlt_env: Path, pg_dsn: str, unique_dataset: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(destination, dataset) of a fresh Postgres pipeline; its merge SQL files are kept to be
    read back; chains of a few rows are proven (the replay test's child reads its own value)."""
    monkeypatch.setattr(staged_rows, "WORTH_PROVING", 0)
    monkeypatch.setenv("LOAD__DELETE_COMPLETED_JOBS", "false")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    return "postgres", unique_dataset


@pytest.mark.postgres
def test_unique_staged_rows_merge_without_dlts_deduplication(target: tuple[str, str]) -> None:
    pipeline = _make(*target)
    _extract(pipeline, _items([1, 2, 3], "a"))
    info = pipeline.load()
    assert "ROW_NUMBER" not in _merge_sql(pipeline, info.loads_ids[-1])
    _extract(pipeline, _items([2, 3, 4], "b"))  # an update: the merge still replaces what it must
    info = pipeline.load()
    assert "ROW_NUMBER" not in _merge_sql(pipeline, info.loads_ids[-1])
    items, tags = _table(pipeline)
    assert items == [(1, "a1"), (2, "b2"), (3, "b3"), (4, "b4")]
    assert tags == sorted([(f"a-t1-{k}",) for k in range(2)] + [(f"b-t{i}-{k}",) for i in (2, 3, 4) for k in range(2)])


@pytest.mark.postgres
def test_a_small_merge_sorts_as_dlt_does(dlt_env: Path, pg_dsn: str, unique_dataset: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAD__DELETE_COMPLETED_JOBS", "false")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    pipeline = _make("postgres", unique_dataset)
    _extract(pipeline, _items([1, 2, 3], "a"))
    info = pipeline.load()
    assert "ROW_NUMBER" in _merge_sql(pipeline, info.loads_ids[-1]), "three rows: not worth a connection"
    assert _table(pipeline)[0] == [(1, "a1"), (2, "a2"), (3, "a3")]


@pytest.mark.postgres
def test_a_key_sent_twice_in_one_load_is_deduplicated(target: tuple[str, str]) -> None:
    pipeline = _make(*target)
    _extract(pipeline, [_items([1, 2], "a"), _items([2], "b").with_name("items")])
    info = pipeline.load()
    assert "ROW_NUMBER" in _merge_sql(pipeline, info.loads_ids[-1])
    items, tags = _table(pipeline)
    assert [i for i, _ in items] == [1, 2], items
    kept = dict(items)[2][0]  # dlt keeps one version of id 2, and that version's nested rows only
    assert tags == sorted([(f"a-t1-{k}",) for k in range(2)] + [(f"{kept}-t2-{k}",) for k in range(2)])


REPLAY = textwrap.dedent("""
    import os, sys
    from pipelines.config.accounts import Account
    from pipelines.warehouse import staged_rows
    from pipelines.warehouse.pgcopy import ParquetCopyJob
    from pipelines.warehouse.account_pipeline import make_pipeline

    copy = ParquetCopyJob.run

    def run_then_die(self):
        copy(self)  # committed: the process dies before dlt records the job done
        if self.load_table_name == "items":
            os._exit(17)

    ParquetCopyJob.run = run_then_die
    staged_rows.WORTH_PROVING = 0
    make_pipeline(Account("leeloo", "dedup"), sys.argv[1], sys.argv[2]).load()
""")


@pytest.mark.postgres
def test_a_job_replayed_after_the_process_died_is_deduplicated(target: tuple[str, str], tmp_path: Path) -> None:
    pipeline = _make(*target)
    _extract(pipeline, _items([1, 2, 3], "a"))
    script = tmp_path / "replay.py"
    script.write_text(REPLAY)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    died = subprocess.run([sys.executable, str(script), *target], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == 17, died.stderr[-2000:]

    resumed = _make(*target)
    info = resumed.load()  # dlt runs the job again: its rows are staged twice
    with resumed.sql_client() as client, client.with_staging_dataset():
        staged = client.execute_sql(f"select count(*) from {client.make_qualified_table_name('items')}") or []
    assert staged[0][0] == 6, "the killed process had committed its rows"
    assert "ROW_NUMBER" in _merge_sql(resumed, info.loads_ids[-1]), "six rows staged for three keys"
    # the root's two copies share a `_dlt_id`, which dlt's merge selects by: a run's recovery
    # removes such twins after finishing an interrupted load, as it did before this change
    assert remove_replayed_rows(resumed) == {"items": 3}
    items, tags = _table(resumed)
    assert items == [(1, "a1"), (2, "a2"), (3, "a3")]
    assert tags == sorted((f"a-t{i}-{k}",) for i in (1, 2, 3) for k in range(2))
