"""The API key travels in every URL path; it must end up nowhere a run leaves behind."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.salebot import SalebotEmulator
from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions
from pipelines.run.lifecycle import run_account
from pipelines.warehouse.account_pipeline import make_pipeline
from tests.salebot.conftest import API_KEY, Warehouse

ROOT = Path(__file__).resolve().parents[2]


def _files_containing(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(str(path.relative_to(root)))
    return hits


def test_wrong_key_exits_non_zero_with_a_clear_message_and_no_trace(emu: SalebotEmulator, dlt_env: Path) -> None:
    wrong = "sbk_wrong_" + API_KEY[-12:]
    env = dict(os.environ)
    env.update(
        SOURCES__SALEBOT__API_KEY=wrong,
        DESTINATION__DUCKDB__CREDENTIALS=str(dlt_env / "w.duckdb"),
        PYTHONPATH=str(ROOT),
        RUNTIME__LOG_LEVEL="DEBUG",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines", "-v", "run", "salebot", "--no-transform"],
        cwd=dlt_env,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "refused the credentials" in out and "SOURCES__SALEBOT__API_KEY" in out, out[-2000:]
    assert "Traceback" not in out
    assert wrong not in out
    assert emu.request_counts()["by_status"].get("401", 0) >= 1  # it really asked, with the wrong key
    assert _files_containing(dlt_env, wrong) == []


def test_wrong_key_error_and_logs_are_redacted_in_process(
    emu: SalebotEmulator, dlt_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "sbk_wrong_" + API_KEY[-10:]
    monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", wrong)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(dlt_env / "w.duckdb"))
    caplog.set_level(logging.DEBUG)
    outcome = run_account(RunOptions(source="salebot", transform=False, progress="none"), publish=False, alert=False)
    assert outcome.error is not None and outcome.exit_code != 0
    assert "refused the credentials" in str(outcome.error)
    assert wrong not in str(outcome.error) and wrong not in repr(outcome.error)
    assert "/api/***/get_clients" in caplog.text and wrong not in caplog.text
    assert _files_containing(dlt_env, wrong) == []


def test_a_successful_run_leaves_the_key_nowhere(
    emu: SalebotEmulator, dlt_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(dlt_env / "w.duckdb"))
    caplog.set_level(logging.DEBUG)
    outcome = run_account(RunOptions(source="salebot", transform=False, progress="log"), publish=False, alert=False)
    assert outcome.error is None, outcome.error
    assert outcome.rows.get("messages", 0) == len(emu.truth()["messages"])
    assert API_KEY not in caplog.text
    assert "/api/***/get_clients" in caplog.text  # urllib3 logged every URL, redacted
    assert _files_containing(dlt_env, API_KEY) == []
    p = make_pipeline(Account("salebot"), "duckdb", "salebot")
    assert API_KEY not in json.dumps(p.state, default=str)
    assert p.last_trace is not None and API_KEY not in str(p.last_trace)


def test_the_key_is_in_no_table_of_the_warehouse(emu: SalebotEmulator, warehouse: Warehouse) -> None:
    """Every row of every table the run wrote (dlt's own included, state decompressed),
    on DuckDB and on Postgres."""
    from dlt.common.versioned_state import decompress_state

    warehouse.run(max_requests=120)  # a budget-stopped run writes state for unfinished work too
    warehouse.run()
    p = warehouse.pipeline()
    dumped = []
    with p.sql_client() as c:
        tables = [t for t in p.default_schema.tables if not t.startswith("_dlt_pipeline_state")] + [
            "_dlt_pipeline_state"
        ]
        for table in tables:
            with c.execute_query(f"select * from {c.make_qualified_table_name(table)}") as cur:
                rows = cur.fetchall()
            dumped.append(repr(rows))
            if table == "_dlt_pipeline_state":
                states = [
                    decompress_state(r[3]) for r in rows
                ]  # columns: version, engine_version, pipeline_name, state, ...
                assert states and all("salebot" in json.dumps(s) for s in states)
                dumped.append(json.dumps(states, default=str))
    text = "\n".join(dumped)
    assert str(emu.clients[min(emu.clients)]["id"]) in text  # the dump really holds the data
    assert API_KEY not in text
