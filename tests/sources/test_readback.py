"""Reads back from the warehouse during an extract: a batch takes one guard turn and one
connection for its reads, and a read outside a batch takes its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt

from sources import readback


def _turns() -> tuple[list[str], Any]:
    held: list[str] = []

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        held.append("take")
        yield
        held.append("give back")

    return held, guard


def _reads(seen: dict[str, Any]) -> Any:
    @dlt.resource(name="items")
    def items() -> Iterator[Any]:
        with readback.batch():
            seen["pipeline"] = readback.current_pipeline()
            seen["in_batch"] = [readback.query("select count(*) from items"),
                                readback.query("select count(*) from _dlt_loads"),
                                readback.query("select 1 from no_such_table")]
        with readback.batch():
            seen["empty_batch"] = True
        seen["alone"] = readback.query("select count(*) from _dlt_loads")
        yield [{"v": 1}, {"v": 2}]

    return items()


def test_a_batch_reads_in_one_turn_and_a_lone_read_in_its_own(dlt_env: Path) -> None:
    pipeline = dlt.pipeline("readback_test", destination=dlt.destinations.duckdb(str(dlt_env / "w.duckdb")),
                            dataset_name="readback_test")
    pipeline.run(_reads({}))
    seen: dict[str, Any] = {}
    held, guard = _turns()
    with readback.read_guard(guard):
        pipeline.run(_reads(seen))
    assert seen["pipeline"] is pipeline
    assert seen["in_batch"] == [[(2,)], [(1,)], []], "reads in a batch see the dataset; a missing table reads as none"
    assert seen["alone"] == [(1,)]
    assert held == ["take", "give back"] * 2, "one turn for the batch, none for the empty one, one for the lone read"


def _open_files(path: Path) -> list[str]:
    """Descriptors of this process open on the DuckDB file (or its WAL)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if str(fd.readlink()).startswith(str(path)):
                found.append(fd.name)
    return found


def test_turns_under_one_guard_share_the_dataset_and_each_closes_its_connection(
        dlt_env: Path, monkeypatch: Any) -> None:
    path = dlt_env / "w.duckdb"
    pipeline = dlt.pipeline("readback_test", destination=dlt.destinations.duckdb(str(path)),
                            dataset_name="readback_test")
    pipeline.run(_reads({}))
    built = []
    dataset = pipeline.dataset

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return dataset(*args, **kwargs)

    monkeypatch.setattr(pipeline, "dataset", counted)
    held_open: list[list[str]] = []

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        yield
        held_open.append(_open_files(path))

    seen: dict[str, Any] = {}
    with readback.read_guard(guard):
        pipeline.extract(_reads(seen))
    assert seen["in_batch"] == [[(2,)], [(1,)], []] and seen["alone"] == [(1,)]
    assert len(held_open) == 2, "two turns: the batch and the lone read"
    assert held_open == [[], []], "each turn gives the file back: another process may open it between turns"
    assert len(built) == 1, "the turns of one guard reuse one dataset (each new one resolves the configuration)"
