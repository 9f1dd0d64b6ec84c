"""The Airflow DAG: one mapped task per configured account, a pool, a final task after all.

Airflow is not a dependency of chatfunnel (it pins half of PyPI), so a real Airflow lives
in its own virtualenv, made by `deploy/airflow/dev-venv.sh 3` (and `2` for 2.x): about
35 s for Airflow 3 and 90 s for 2.10, plus a minute for chatfunnel beside it. The tests
talk to it through `tests/deploy/airflow_probe.py` in a subprocess. Without such a
virtualenv the DAG is still compiled and checked here; CI must have Airflow 3 and fails
without it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY, WRONG_TOKEN, LeelooAccounts, in_ci
from tests.leeloo.truth import assert_matches_truth
from tests.warehouse import Warehouse

DAG_FILE = DEPLOY / "airflow" / "chatfunnel_dag.py"
PROBE = Path(__file__).with_name("airflow_probe.py")
VENVS = DEPLOY.parent / ".chatfunnel" / "venvs"
SECRET_LIKE = re.compile(r"(token|api_key|password)\s*[:=]\s*['\"]?[A-Za-z0-9]{12,}", re.I)


def airflow_python(major: int) -> Path | None:
    configured = os.environ.get(f"CHATFUNNEL_AIRFLOW{major}_PYTHON")
    path = Path(configured) if configured else VENVS / f"airflow{major}" / "bin" / "python"
    return path if path.exists() else None


def need_airflow(major: int) -> Path:
    python = airflow_python(major)
    if python is not None:
        return python
    message = f"no Airflow {major} virtualenv: run `bash deploy/airflow/dev-venv.sh {major}`"
    if in_ci() and major == 3:
        pytest.fail(message + " in .ci/run", pytrace=False)
    pytest.skip(message)


def probe(python: Path, command: str, tmp_path: Path, extra_env: dict[str, str] | None = None,
          timeout: float = 120) -> tuple[dict[str, Any], str]:
    home = tmp_path / "airflow_home"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
    if command == "run":
        migrate = subprocess.run([str(python.parent / "airflow"), "db", "migrate"], check=False, env=env,
                                 capture_output=True, text=True, timeout=timeout)
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    done = subprocess.run([str(python), str(PROBE), command, str(DAG_FILE.parent)], check=False, env=env,
                          capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, output[-4000:]
    return json.loads(lines[-1].removeprefix("PROBE ")), output


def test_dag_file_compiles_imports_airflow_only_and_holds_no_secret() -> None:
    """Parsing the DAG must stay cheap and work on the scheduler without chatfunnel's
    packages: chatfunnel is imported inside the tasks only; both Airflow 3's Task SDK and
    2.x's modules are tried."""
    text = DAG_FILE.read_text()
    tree = ast.parse(compile(text, str(DAG_FILE), "exec", ast.PyCF_ONLY_AST))
    top_level = {alias.name.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.Import | ast.ImportFrom) and node.col_offset == 0
                 for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert top_level <= {"__future__", "logging", "os", "datetime", "typing", "airflow"}, top_level
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {"airflow.sdk", "airflow.decorators", "airflow.hooks.base"} <= modules
    assert not SECRET_LIKE.search(text)
    assert "max_active_runs=1" in text and "catchup=False" in text


@pytest.mark.parametrize("major", [3, 2])
def test_real_airflow_parses_the_dag(major: int, tmp_path: Path) -> None:
    python = need_airflow(major)
    facts, _output = probe(python, "parse", tmp_path)
    assert facts["airflow"].startswith(f"{major}.")
    assert facts["import_errors"] == {}
    assert facts["dag_id"] == "chatfunnel_nightly"
    assert facts["max_active_runs"] == 1 and facts["catchup"] is False
    assert "17 3 * * *" in facts["schedule"]
    tasks = facts["tasks"]
    load = tasks["load_account"]
    assert load["mapped"] and load["pool"] == "chatfunnel" and load["max_active_tis_per_dagrun"] == 4
    assert load["upstream"] == ["accounts"]
    views = tasks["cross_account_views"]
    assert views["upstream"] == ["load_account"] and views["trigger_rule"] == "all_done"
    verdict = tasks["every_account_loaded"]
    assert verdict["upstream"] == ["accounts", "dashboard", "load_account"] and verdict["trigger_rule"] == "all_done"
    leaves = {task for task in tasks if not any(task in other["upstream"] for other in tasks.values())}
    assert leaves == {"every_account_loaded"}  # the only leaf: its state is the DAG run's


@pytest.mark.slow
@pytest.mark.parametrize("major", [3, 2])
def test_real_airflow_runs_every_account_and_a_failed_one_alone(
        major: int, tmp_path: Path, dlt_env: Path, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch,
        leeloo_accounts: LeelooAccounts) -> None:
    """`dag.test()` on a real Airflow: the mapped task runs each account through chatfunnel's
    run, the broken account fails its own task with chatfunnel's message and no retry,
    the final tasks still build the cross-account views and the dashboard from the two that
    loaded, and the DAG run fails naming the broken account."""
    python = need_airflow(major)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    emulators = leeloo_accounts({"acme": 31, "broken": 33, "globex": 32}, wrong_token="broken")
    facts, output = probe(python, "run", tmp_path, timeout=300, extra_env={
        "CHATFUNNEL_HOME": str(dlt_env), "CHATFUNNEL_DESTINATION": "duckdb",
        "CHATFUNNEL_DASHBOARD": str(tmp_path / "dashboard.html")})

    loads = {ti["label"]: ti["state"] for ti in facts["task_instances"] if ti["task_id"] == "load_account"}
    assert loads == {"leeloo/acme": "success", "leeloo/globex": "success", "leeloo/broken": "failed"}
    states = {ti["task_id"]: ti["state"] for ti in facts["task_instances"] if ti["map_index"] < 0}
    assert states["accounts"] == "success" and states["cross_account_views"] == "success"
    assert states["dashboard"] == "success" and (tmp_path / "dashboard.html").stat().st_size > 0
    # the night as a whole failed, and says which account did
    assert states["every_account_loaded"] == "failed" and facts["state"] == "failed"
    assert "1 of 3 account(s) did not load tonight: leeloo/broken" in output

    for name in ("acme", "globex"):
        assert_matches_truth(Warehouse("duckdb", f"leeloo_{name}", duckdb_path=duckdb_path), emulators[name].truth())
    accounts = Warehouse("duckdb", "leeloo_accounts", duckdb_path=duckdb_path)
    assert {a for (a,) in accounts.query("select distinct account from {ds}.tunnel_funnel")} == {"acme", "globex"}

    assert "The leeloo/broken API refused the credentials" in output
    assert "AirflowFailException" in output  # a wrong token is not retried in 20 minutes
    assert WRONG_TOKEN not in output and "leeloo-acme-token" not in output
