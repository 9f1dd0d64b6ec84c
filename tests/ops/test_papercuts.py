"""What an operator meets first, through the real CLI: a reader that leaves the pipe early,
a --dataset that is a file name, a report of a dataset that does not exist or of an empty
warehouse, a status with nothing configured, a DuckDB file named like the dataset."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipelines.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.ops.conftest import PYTHON, subprocess_env

DATASET_RULE = "use lower-case letters, digits and underscores, starting with a letter, at most 55 characters"


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


@pytest.mark.parametrize(("file_name", "args", "schema"), [
    ("leeloo.duckdb", [], "leeloo"),  # the default dataset
    ("Shop.2026.db", ["--dataset", "shop"], "shop"),  # DuckDB names the catalog up to the first dot, any case
    ("shop_reports.duckdb", ["--dataset", "shop"], "shop_reports"),
])
def test_a_duckdb_file_named_like_a_schema_of_the_run_stops_it_before_any_request(
        emulator, dlt_env: Path, file_name: str, args: list[str], schema: str) -> None:
    """DuckDB calls a file's catalog after its name, and `<schema>.<table>` is then ambiguous: the
    load would fail after the whole extract, and again on every night."""
    emu = emulator(scale=20)
    path = dlt_env / file_name
    done = subprocess.run([PYTHON, "-m", "pipelines", "run", "leeloo", "--progress", "none", *args], cwd=dlt_env,
                          env=subprocess_env(DESTINATION__DUCKDB__CREDENTIALS=str(path)),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert f"The DuckDB file {path} is named like the schema `{schema}` this run writes" in done.stderr
    assert "Rename the file (DESTINATION__DUCKDB__CREDENTIALS, e.g. chatfunnel.duckdb)" in done.stderr
    assert "Traceback" not in done.stderr and "Binder Error" not in done.stderr
    assert emu.request_counts()["total"] == 0
    assert not path.exists()
    fine = subprocess.run([PYTHON, "-m", "pipelines", "run", "leeloo", "--progress", "none", "--no-transform", *args],
                          cwd=dlt_env, env=subprocess_env(DESTINATION__DUCKDB__CREDENTIALS=str(dlt_env / "x.duckdb")),
                          capture_output=True, text=True, timeout=300, check=False)
    assert fine.returncode == EXIT_OK, fine.stderr


def test_a_dataset_name_leaves_room_for_the_schemas_beside_it() -> None:
    """Postgres cuts names at 63 characters: `<dataset>_reports` must not be cut back to the
    dataset's own name (the reports would be built among the raw tables)."""
    import argparse

    from pipelines.config.options import dataset_name

    assert dataset_name("d" * 55) == "d" * 55
    with pytest.raises(argparse.ArgumentTypeError, match=DATASET_RULE):
        dataset_name("d" * 56)
