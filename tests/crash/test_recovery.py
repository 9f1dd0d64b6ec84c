"""Recovery from states a kill leaves at the exact instants dlt warns about, built by hand so
each is tested every time (the kill tests hit them only sometimes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.config.accounts import Account
from pipelines.warehouse.account_pipeline import make_pipeline
from tests.leeloo.truth import assert_matches_truth


def _args() -> list[str]:
    return ["run", "leeloo", "--progress", "none", "--no-transform"]


def test_a_kill_between_normalize_commit_and_cleanup_is_recovered(emulator, duck_target, capsys) -> None:
    """Killed after dlt committed the normalized package but before it deleted the extracted
    one: the remnant (here half deleted) is removed and the package loads."""
    emu = emulator(scale=40)
    pipeline = make_pipeline(Account("leeloo"))
    from pipelines.config.registry import SOURCES
    from tests.ops.conftest import leeloo_options

    pipeline.extract(SOURCES["leeloo"].build(leeloo_options()).source)
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted"
    [load_id] = [p.name for p in extracted.iterdir()]
    copy = extracted.parent / "copy"
    shutil.copytree(extracted / load_id, copy)
    pipeline.normalize()
    shutil.copytree(copy, extracted / load_id)  # the extracted package is back ...
    shutil.rmtree(extracted / load_id / "new_jobs")  # ... half deleted, as a kill mid-cleanup leaves it
    assert load_id in pipeline.list_extracted_load_packages() and load_id in pipeline.list_normalized_load_packages()
    emu.simulate(new_people=3)
    assert main(_args()) == 0, capsys.readouterr().err
    assert "finished an interrupted load" in capsys.readouterr().out
    assert_matches_truth(duck_target.warehouse, emu.truth())


@pytest.mark.postgres
def test_a_package_that_can_never_load_is_dropped_and_its_data_read_again(emulator, pg_target, capsys) -> None:
    """A terminal job failure (here a table whose type the warehouse refuses) must not block
    the account every night: dlt aborts the package, restores the state it started from,
    and the run reads that data again."""
    target = pg_target  # DuckDB cannot add a CHECK constraint to a table: the refusal is Postgres'
    emu = emulator(scale=30)
    args = [*_args(), *target.cli_args()]
    assert main(args) == 0
    pipeline = make_pipeline(Account("leeloo"), "postgres", target.dataset)
    with pipeline.sql_client() as client:  # the warehouse will refuse the next load of orders
        client.execute_sql(f"alter table {client.make_qualified_table_name('orders')} "
                           "add constraint price_cap check (price < 0) not valid")
    emu.simulate(new_orders=5)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "refused the data" in err and "load" in err
    with pipeline.sql_client() as client:
        client.execute_sql(f"alter table {client.make_qualified_table_name('orders')} drop constraint price_cap")
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert not pipeline.has_pending_data
    assert_matches_truth(target.warehouse, emu.truth())
    assert "then loaded what is new" in out or "orders=" in out


def test_rows_a_replayed_job_wrote_twice_are_removed_when_the_load_is_finished(emulator, duck_target,
                                                                               capsys) -> None:
    """The state a kill between a job's commit and dlt's record of it leaves: the job runs
    again on resume and a root table with nested tables holds both copies. Built by hand:
    copies of the people rows (same `_dlt_id`) and a pending package to finish."""
    emu = emulator(scale=30)
    assert main(_args()) == 0
    pipeline = make_pipeline(Account("leeloo"))
    with pipeline.sql_client() as client:
        people = client.make_qualified_table_name("people")
        client.execute_sql(f"insert into {people} select * from {people}")
    from pipelines.config.registry import SOURCES
    from tests.ops.conftest import leeloo_options

    emu.simulate(new_people=2)
    pipeline.extract(SOURCES["leeloo"].build(leeloo_options()).source)
    pipeline.normalize()  # the package is left pending, as a killed load leaves it
    assert main(_args()) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    # the package's own merge replaced the copies of the people it carried; the rest are removed here
    assert "rows a replayed load job had written twice (people=" in out, out
    assert_matches_truth(duck_target.warehouse, emu.truth())


def test_a_run_killed_while_recording_does_not_block_later_records(emulator, duck_target, capsys) -> None:
    """The history's own small pipeline gets a left-over package when a run dies recording:
    the next record settles it first instead of being swallowed by it."""
    from tests.ops.conftest import history

    emulator(scale=10)
    assert main(_args()) == 0
    runs_pipeline = make_pipeline(Account("leeloo"))
    import dlt

    runs = dlt.pipeline(pipeline_name=f"{runs_pipeline.pipeline_name}_runs", destination=runs_pipeline.destination,
                        dataset_name="leeloo")
    runs.extract(dlt.resource([{"run_id": "left-over", "source": "leeloo", "outcome": "success"}],
                              name="_chatfunnel_runs", write_disposition="merge", primary_key="run_id"),
                 schema=dlt.Schema("chatfunnel_runs"))
    runs.normalize()
    assert runs.has_pending_data
    assert main(_args()) == 0
    ids = [r["run_id"] for r in history()]
    assert len(ids) == 3 and "left-over" in ids, ids
