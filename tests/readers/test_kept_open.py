"""A run's step keeps the DuckDB file open while it holds the file's lock: the opens inside
join the open database (no catalog read again), and the file is checkpointed once, when
the lock is let go."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.warehouse.locks import warehouse_lock


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "chatfunnel.duckdb"
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(path))
    return path


def _insert(path: Path) -> None:
    connection = duckdb.connect(str(path))
    connection.execute("create table if not exists t (a int)")
    connection.execute("insert into t values (1)")
    connection.close()


def test_the_file_stays_open_while_the_lock_is_held(warehouse: Path) -> None:
    _insert(warehouse)
    wal = warehouse.with_name(warehouse.name + ".wal")
    assert not wal.exists()  # closing the only connection checkpoints the file
    with warehouse_lock("duckdb"):
        _insert(warehouse)
        assert wal.exists()  # still open: the write waits in the log
    assert not wal.exists()
    reader = duckdb.connect(str(warehouse), read_only=True)
    assert reader.execute("select count(*) from t").fetchone() == (2,)
    reader.close()


def test_a_file_not_created_yet_is_not_created_by_the_lock(warehouse: Path) -> None:
    with warehouse_lock("duckdb"):
        assert not warehouse.exists()
    assert not warehouse.exists()


def test_other_destinations_open_no_file(warehouse: Path) -> None:
    _insert(warehouse)
    wal = warehouse.with_name(warehouse.name + ".wal")
    with warehouse_lock("postgres"):
        _insert(warehouse)
        assert not wal.exists()


def test_a_configured_user_agent_is_the_kept_connection_s_too(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt opens the file with the credentials' `custom_user_agent`; DuckDB refuses a second
    open of a file with another configuration than the first."""
    import dlt

    _insert(warehouse)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"custom_user_agent": "chatfunnel-test"}')
    with warehouse_lock("duckdb"):
        pipeline = dlt.pipeline(pipeline_name="kept_open_agent", destination="duckdb", dataset_name="kept",
                                pipelines_dir=str(warehouse.parent / "pipelines"))
        pipeline.run([{"a": 1}], table_name="rows").raise_on_failed_jobs()


def _opens_read_write(path: Path) -> bool:
    """Whether another process can open `path` read-write now."""
    import subprocess
    import sys

    probe = (f"import duckdb\ntry:\n    duckdb.connect({str(path)!r}).close()\n"
             "except duckdb.Error:\n    raise SystemExit(3)")
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def test_publishing_the_snapshot_keeps_the_file_locked_against_other_processes(warehouse: Path) -> None:
    """DuckDB's lock is a POSIX record lock, dropped when the process closes any descriptor
    of the file: a copy read in the process that holds the file would let another process
    open it read-write beside the run."""
    from pipelines.warehouse.publish import publish_snapshot

    _insert(warehouse)
    with warehouse_lock("duckdb"):
        assert not _opens_read_write(warehouse), "the held file is locked against other processes"
        snapshot = publish_snapshot(warehouse)
        assert not _opens_read_write(warehouse), "publishing dropped DuckDB's lock on the working file"
    reader = duckdb.connect(str(snapshot), read_only=True)
    assert reader.execute("select count(*) from t").fetchone() == (1,)
    reader.close()


def test_a_copy_that_fails_names_the_file_and_is_not_taken_for_a_refused_right(tmp_path: Path) -> None:
    """The child's exit status is no errno: read as one, `cat`'s 1 would be EPERM, and the
    run would blame a missing right on a file it can read."""
    from pipelines.warehouse.permissions import denied
    from pipelines.warehouse.publish import _copy_into

    missing = tmp_path / "gone.duckdb"
    with (tmp_path / "copy").open("wb") as out, pytest.raises(OSError) as raised:
        _copy_into(missing, out)
    assert str(missing) in str(raised.value) and not denied(raised.value)
