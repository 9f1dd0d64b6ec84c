"""Full-refresh tests run the real CLI against the emulators (fixtures shared with tests/leeloo
and tests/salebot)."""

import pytest

from tests.leeloo.conftest import Target, duck_target, emulator, pg_target, target  # noqa: F401 - fixtures
from tests.salebot.conftest import emu  # noqa: F401 - fixtures
from tests.warehouse import Warehouse


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def sb_target(request: pytest.FixtureRequest, dlt_env, duckdb_path, monkeypatch: pytest.MonkeyPatch) -> Target:
    """Where `chatfunnel run salebot` loads: DuckDB or Postgres, through the CLI's settings."""
    if request.param == "duckdb":
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
        return Target("duckdb", "salebot", Warehouse("duckdb", "salebot", duckdb_path=duckdb_path))
    dsn = request.getfixturevalue("pg_dsn")
    dataset = request.getfixturevalue("unique_dataset")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)
    return Target("postgres", dataset, Warehouse("postgres", dataset, pg_dsn=dsn))
