"""Upgrading loses nothing, Salebot: clients and orders an older release loaded, deleted
before the upgrade, are proved gone within the sweep period by today's version (its memory
is completed from the warehouse), on DuckDB and Postgres."""

from __future__ import annotations

from pathlib import Path

import dlt
import pytest

from pipelines.cli import main
from pipelines.config.accounts import Account
from pipelines.warehouse.account_pipeline import pipeline_name
from tests.salebot.conftest import Warehouse, assert_equals_truth
from tests.upgrade import older

pytestmark = pytest.mark.slow

SWEEP_RUNS = 1


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli_warehouse(request: pytest.FixtureRequest, dlt_env: Path, duckdb_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """The dataset and pipeline `chatfunnel run salebot --destination X --dataset Y` uses."""
    if request.param == "duckdb":
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
        destination, dataset = dlt.destinations.duckdb(str(duckdb_path)), "salebot"
    else:
        dsn, dataset = request.getfixturevalue("pg_dsn"), request.getfixturevalue("unique_dataset")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)
        destination = dlt.destinations.postgres(dsn)
    return Warehouse(request.param, destination, dataset, pipeline_name(Account("salebot"), request.param, dataset))


def cli_args(wh: Warehouse) -> list[str]:
    return ["run", "salebot", "--destination", wh.kind, "--dataset", wh.dataset, "--no-transform",
            "--progress", "none"]


@pytest.mark.parametrize("release", sorted(older.RELEASES))
def test_an_older_salebot_warehouse_upgrades_to_the_truth(release: str, emu, cli_warehouse: Warehouse,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys) -> None:
    folder = older.extract(older.RELEASES[release], tmp_path / "releases")
    assert all(Path(f).is_relative_to(folder) for f in older.imported_from(folder)), "the old code must run"
    monkeypatch.setenv("SOURCES__SALEBOT__SWEEP_RUNS", str(SWEEP_RUNS))
    first = older.run(folder, *cli_args(cli_warehouse))
    assert first.returncode == 0, first.stdout + first.stderr
    assert cli_warehouse.ids("orders"), "the old release loaded orders"
    emu.simulate(active_clients=5, new_clients=2, new_orders=3, status_changes=3, delete_clients=3, delete_orders=3)

    outputs = []
    for _ in range(SWEEP_RUNS + 1):
        code = main(cli_args(cli_warehouse))
        out = capsys.readouterr()
        assert code == 0, out.out + out.err
        outputs.append(out.out + out.err)
    assert_equals_truth(cli_warehouse, emu)
    assert "started to send" not in "\n".join(outputs), "the API sent nothing new: no column is the API's"
