"""`chatfunnel status --json`: one JSON document on stdout for a monitoring check, after a real
run against the Leeloo emulator into DuckDB; its exit code is the text status's."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines import __version__
from pipelines.run.lifecycle import run_account
from pipelines.warehouse.locks import run_lock
from tests.ops.conftest import PYTHON, TOKEN, history, leeloo_options, run_ok, subprocess_env


def _status_json() -> tuple[int, dict[str, Any], str]:
    """(exit code, the parsed document, stdout): stdout must be nothing but the document."""
    done = subprocess.run([PYTHON, "-m", "pipelines", "status", "leeloo", "--json"], capture_output=True,
                          text=True, env=subprocess_env(), timeout=120)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stdout


def _at(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0), text
    return parsed


def test_a_successful_run_and_a_run_in_progress(emulator, duck_target) -> None:
    emu = emulator(scale=20)
    before = datetime.now(UTC)
    run_ok(leeloo_options(transform=False))
    after = datetime.now(UTC)
    served = emu.request_counts()["total"]

    code, doc, _ = _status_json()
    assert code == 0
    assert doc["version"] == __version__ and doc["healthy"] is True
    assert after <= _at(doc["generated_at"]) <= datetime.now(UTC)
    [account] = doc["accounts"]
    assert (account["source"], account["account"], account["destination"], account["dataset"]) == (
        "leeloo", None, "duckdb", "leeloo")
    run = account["last_run"]
    assert run["outcome"] == "success" and run["error"] is None
    assert before <= _at(run["started_at"]) <= _at(run["finished_at"]) <= after
    assert run["requests"] == served > 0
    assert run["rows"] == history()[0]["rows_loaded"] >= 20
    assert account["last_success_at"] == run["finished_at"] == account["freshness"]["as_of"]
    assert account["freshness"]["basis"] == "last_successful_run"
    assert account["healthy"] is True and account["run_in_progress"] is None

    # a run holding the account's lock (this process) is named, and does not make it unhealthy
    with run_lock("chatfunnel_leeloo") as held:
        held.note("extract")
        code, doc, _ = _status_json()
    assert code == 0 and doc["healthy"] is True
    running = doc["accounts"][0]["run_in_progress"]
    assert running["pid"] == os.getpid() and running["step"] == "extract"
    assert before <= _at(running["started_at"]) <= _at(running["since"]) <= datetime.now(UTC)


def test_a_failed_last_run_is_unhealthy_and_exits_1(emulator, duck_target, monkeypatch) -> None:
    emulator(scale=20)
    run_ok(leeloo_options(transform=False))
    ok = history()[0]
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "wrong-token-" + "x" * 8)
    assert run_account(leeloo_options(transform=False)).error is not None

    code, doc, stdout = _status_json()
    assert code == 1, "the exit code of the text status when the last run failed"
    assert doc["healthy"] is False
    [account] = doc["accounts"]
    assert account["healthy"] is False
    run = account["last_run"]
    assert run["outcome"] == "failed" and run["step"] == "extract" and run["rows"] == 0
    assert "refused the credentials" in run["error"]
    assert _at(account["last_success_at"]) == ok["finished_at"]
    assert TOKEN not in stdout and "wrong-token" not in stdout


def test_an_unreachable_destination_is_unhealthy_and_the_journaled_run_is_the_last(emulator, dlt_env,
                                                                                    monkeypatch) -> None:
    emulator(scale=10)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:pg-pass-777@127.0.0.1:9/nowhere")
    before = datetime.now(UTC)
    assert run_account(leeloo_options(destination="postgres", transform=False)).error is not None

    done = subprocess.run([PYTHON, "-m", "pipelines", "status", "leeloo", "--json", "--destination", "postgres"],
                          capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    [account] = doc["accounts"]
    assert doc["healthy"] is False and account["healthy"] is False
    assert account["last_run"]["outcome"] == "failed" and before <= _at(account["last_run"]["finished_at"])
    assert account["last_success_at"] is None and account["freshness"]["age_seconds"] is None
    assert "pg-pass-777" not in done.stdout + done.stderr
