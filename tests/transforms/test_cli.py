"""`chatfunnel transform` exits non-zero, naming the model and the test, when a data test fails,
and logs the warnings of those that warn."""

from __future__ import annotations

from pathlib import Path

from pipelines import cli
from pipelines.config.accounts import Account
from pipelines.warehouse.account_pipeline import make_pipeline
from tests.transforms import fixture_data


def test_transform_command_fails_on_a_planted_duplicate(dlt_env: Path, duckdb_path: Path, monkeypatch, capsys,
                                                        caplog) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "configured-but-unused")  # makes the account known
    pipeline = make_pipeline(Account("leeloo"), "duckdb", "leeloo")
    pipeline.run(fixture_data.resources()).raise_on_failed_jobs()

    assert cli.main(["transform", "leeloo"]) == 0
    assert "leeloo: reports rebuilt" in capsys.readouterr().out
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]  # the order of an unknown person
    assert any(w.startswith("reports: stg_orders: orphans(person_id -> stg_people.person_id): 1") for w in warned)

    duplicate = dict(fixture_data.ORDERS[2], title="planted duplicate")
    pipeline.run(
        fixture_data.resources({"orders": ([duplicate, fixture_data.ORDERS[2]], "id")}, write_disposition="append")
    ).raise_on_failed_jobs()
    assert cli.main(["transform", "leeloo"]) != 0
    err = capsys.readouterr().err
    assert "stg_orders: unique(order_id) failed" in err and "'o3'" in err
    assert "Traceback" not in err
