"""What an operator meets first, through the real CLI: a reader that leaves the pipe early,
a --dataset that is a file name, a report of a dataset that does not exist or of an empty
warehouse, a status with nothing configured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipelines.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.ops.conftest import PYTHON, subprocess_env

DATASET_RULE = "use lower-case letters, digits and underscores, starting with a letter, at most 63 characters"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "pipelines", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300, check=False)


def closed_stdout(*args: str, cwd: Path) -> tuple[int, str]:
    """Run the CLI with a stdout whose reader is already gone (`| head -0`): (exit code, stderr)."""
    proc = subprocess.Popen([PYTHON, "-m", "pipelines", *args], cwd=cwd, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read()
    return proc.wait(timeout=300), stderr


def test_a_closed_stdout_ends_every_command_quietly_with_its_own_code(emulator, duck_target, dlt_env) -> None:
    emu = emulator(scale=20)
    for command, expected in ((["run", "leeloo", "--progress", "none", "--no-transform"], EXIT_OK),
                              (["status", "leeloo"], EXIT_OK), (["config", "check"], EXIT_OK),
                              (["report", "--working-file", "--out", str(dlt_env / "page.html")], EXIT_OK),
                              (["run", "leeloo", "--since", "2999-01-01"], EXIT_USAGE), (["run", "--help"], EXIT_OK)):
        code, stderr = closed_stdout(*command, cwd=dlt_env)
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, (command, stderr)
        assert code == expected, (command, stderr)
    # the run was not cut short by its reader leaving: it loaded and recorded a success
    assert emu.request_counts()["total"] > 0
    status = cli("status", "leeloo", cwd=dlt_env)
    assert "last successful run: " in status.stdout and "last successful run: never" not in status.stdout


@pytest.mark.parametrize("command", [["run", "leeloo"], ["transform"], ["status"], ["report"]])
def test_a_dataset_that_is_not_a_dataset_name_is_a_usage_error(command: list[str], tmp_path: Path) -> None:
    done = cli(*command, "--dataset", "leeloo.duckdb", cwd=tmp_path)
    assert done.returncode == EXIT_USAGE
    assert f"argument --dataset: 'leeloo.duckdb' is not a dataset name: {DATASET_RULE}" in done.stderr
    assert "Traceback" not in done.stderr and "InvalidCharError" not in done.stderr
    assert not (tmp_path / "chatfunnel.duckdb").exists()


def test_report_refuses_a_missing_dataset_and_never_replaces_a_page_with_an_empty_one(
        emulator, duck_target, dlt_env) -> None:
    emulator(scale=20)
    assert cli("run", "leeloo", "--progress", "none", cwd=dlt_env).returncode == EXIT_OK
    page = dlt_env / "page.html"
    made = cli("report", "--working-file", "--out", str(page), cwd=dlt_env)
    assert made.returncode == EXIT_OK, made.stderr
    before = page.read_text()
    nope = cli("report", "--working-file", "--dataset", "nope", "--out", str(page), cwd=dlt_env)
    assert nope.returncode == EXIT_USAGE
    assert f"No dataset 'nope' in {duck_target.warehouse.duckdb_path}. Datasets with an account's data: leeloo." \
        in nope.stderr
    assert page.read_text() == before
    # a warehouse with nothing in it (a new file, the wrong path) leaves the page alone
    empty = dlt_env / "empty.duckdb"
    import duckdb

    duckdb.connect(str(empty)).close()
    env_run = subprocess.run([PYTHON, "-m", "pipelines", "report", "--working-file", "--out", str(page)], cwd=dlt_env,
                             env=subprocess_env(DESTINATION__DUCKDB__CREDENTIALS=str(empty)),
                             capture_output=True, text=True, timeout=120, check=False)
    assert env_run.returncode == EXIT_FAILED
    assert f"Nothing to draw from {empty}: no account there has loaded any data. {page} was left as it was." \
        in env_run.stderr
    assert page.read_text() == before


def test_status_with_nothing_configured_says_how_and_creates_no_file(dlt_env: Path) -> None:
    done = cli("status", cwd=dlt_env)
    assert done.returncode == EXIT_USAGE
    assert (f"Nothing is configured and nothing has been loaded here (no chatfunnel.duckdb in {dlt_env.resolve()}). "
            "Set SOURCES__LEELOO__API_TOKEN and/or SOURCES__SALEBOT__API_KEY, or put them in .dlt/secrets.toml"
            ) in done.stderr
    assert not (dlt_env / "chatfunnel.duckdb").exists()
