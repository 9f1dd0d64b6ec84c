"""The local dlt folder stays bounded: loaded packages beyond the newest few are removed
(through dlt's own load storage: this test fails if dlt moves it)."""

from __future__ import annotations

from pathlib import Path

import dlt

from pipelines.packages import prune_loaded


def test_only_the_newest_loaded_packages_are_kept(dlt_env: Path) -> None:
    pipeline = dlt.pipeline("prune_probe", destination=dlt.destinations.duckdb(str(dlt_env / "w.duckdb")),
                            dataset_name="probe")
    for night in range(5):
        pipeline.run([{"id": night}], table_name="t", write_disposition="merge", primary_key="id")
    loaded = sorted(pipeline.list_completed_load_packages())
    assert len(loaded) == 5
    assert prune_loaded(pipeline, keep=2) == 3
    assert sorted(pipeline.list_completed_load_packages()) == loaded[-2:]
    folders = Path(pipeline.working_dir) / "load" / "loaded"
    assert sorted(p.name for p in folders.iterdir()) == loaded[-2:]
    assert prune_loaded(pipeline, keep=2) == 0
    assert sorted(pipeline.dataset().t.select("id").fetchall()) == [(0,), (1,), (2,), (3,), (4,)]
