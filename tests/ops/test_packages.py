"""The local dlt folder stays bounded: loaded packages beyond the newest few are removed
(through dlt's own load storage: this test fails if dlt moves it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dlt
import pytest

from pipelines.warehouse.packages import prune_loaded


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


def test_a_package_that_cannot_be_removed_is_left_for_the_next_run(dlt_env: Path) -> None:
    """Pruning follows a committed load: a folder it cannot remove (here a mount point, which
    not even root can delete) is skipped with a warning, never a failed run."""
    pipeline = dlt.pipeline("prune_busy", destination=dlt.destinations.duckdb(str(dlt_env / "w.duckdb")),
                            dataset_name="probe")
    for night in range(4):
        pipeline.run([{"id": night}], table_name="t", write_disposition="merge", primary_key="id")
    loaded = sorted(pipeline.list_completed_load_packages())
    stuck = Path(pipeline.working_dir) / "load" / "loaded" / loaded[0]
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(stuck)], capture_output=True)
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes") and os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)
    try:
        assert prune_loaded(pipeline, keep=1) == 2
        left = sorted(p.name for p in (Path(pipeline.working_dir) / "load" / "loaded").iterdir())
        assert left == [loaded[0], loaded[-1]]
    finally:
        subprocess.run(["umount", str(stuck)], check=True)
    assert prune_loaded(pipeline, keep=1) == 1, "the next run removes it"
