"""What a new user trips over on the first nights, tried as that user would: through the real
CLI, against the emulator, with the destination misconfigured in the ways people do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.ops.conftest import PYTHON, ROOT, TOKEN, history, subprocess_env


def _run(*args: str) -> list[str]:
    return ["run", "leeloo", "--progress", "none", "--no-transform", *args]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("dsn", "cause"),
    [
        ("postgresql://no_such_role_x:pw@127.0.0.1:5432/test", "no_such_role_x"),
        ("postgresql://postgres:pw@127.0.0.1:5432/no_such_database_x", "no_such_database_x"),
    ],
)
def test_a_misconfigured_postgres_says_the_real_cause_once(emulator, dlt_env, pg_dsn, capsys, monkeypatch,
                                                           dsn, cause) -> None:
    emu = emulator(scale=10)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)
    assert main([*_run("--destination", "postgres")]) == 1
    err = capsys.readouterr().err
    assert err.count(cause) == 1, err  # the driver's own words, once
    assert "extracted data is kept" not in err and "pending" not in err  # nothing was extracted
    assert emu.request_counts()["total"] == 0, "the destination is checked before the API is read"
    assert "Traceback" not in err


def test_a_duckdb_file_in_a_missing_folder_says_so(emulator, dlt_env, capsys, monkeypatch) -> None:
    emu = emulator(scale=10)
    missing = dlt_env / "no" / "such" / "folder" / "warehouse.duckdb"
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(missing))
    assert main(_run()) == 1
    err = capsys.readouterr().err
    assert "could not be used" in err and str(missing.parent) in err
    assert "extracted data is kept" not in err and emu.request_counts()["total"] == 0


@pytest.mark.postgres
def test_status_exits_non_zero_when_the_destination_is_down(emulator, dlt_env, pg_dsn, unique_dataset, capsys,
                                                            monkeypatch) -> None:
    """A monitoring check must fail exactly when the database is gone, not pass."""
    emulator(scale=10)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_dsn)
    assert main(_run("--destination", "postgres", "--dataset", unique_dataset)) == 0
    assert main(["status", "leeloo", "--destination", "postgres", "--dataset", unique_dataset]) == 0
    capsys.readouterr()
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://postgres:pw@127.0.0.1:9/test")
    assert main(["status", "leeloo", "--destination", "postgres", "--dataset", unique_dataset]) == 1
    out = capsys.readouterr().out
    assert "DESTINATION UNREACHABLE" in out and "Connection refused" in out
    assert "last successful run: never" not in out, "a down database must not read as 'never ran'"


def test_in_a_project_folder_dlt_own_tools_open_the_warehouse_chatfunnel_wrote(emulator, dlt_env) -> None:
    """The quick start as written: the project's own `.dlt/config.toml`, no destination
    setting, `chatfunnel run leeloo`; then dlt's `attach` and `dlt pipeline ... info`."""
    emulator(scale=15)
    project = dlt_env / "project"
    (project / ".dlt").mkdir(parents=True)
    (project / ".dlt" / "config.toml").write_text((ROOT / ".dlt" / "config.toml").read_text())
    env = subprocess_env()
    done = subprocess.run([PYTHON, "-m", "pipelines", "run", "leeloo", "--progress", "none"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (project / "chatfunnel.duckdb").exists() and not list(project.glob("chatfunnel_leeloo*.duckdb"))
    probe = ("import dlt; p = dlt.attach('chatfunnel_leeloo'); "
             "print(p.destination_client().config.credentials.database); "
             "print(len(p.dataset().people.select('id').fetchall()))")
    attached = subprocess.run([PYTHON, "-c", probe], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout.split() == [str(project / "chatfunnel.duckdb"), "15"]
    info = subprocess.run([str(Path(PYTHON).parent / "dlt"), "pipeline", "chatfunnel_leeloo", "info"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=120)
    assert info.returncode == 0 and "destination_name: chatfunnel" in info.stdout, info.stdout + info.stderr


def test_status_of_a_source_without_a_key_says_which_key_to_set(emulator, dlt_env, capsys, monkeypatch) -> None:
    emulator(scale=10)  # Leeloo configured; Salebot has no key
    monkeypatch.delenv("SOURCES__SALEBOT__API_KEY", raising=False)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    salebot = out[out.index("salebot ("):]
    assert "not configured: set SOURCES__SALEBOT__API_KEY" in salebot
    assert "never run" not in salebot and "last successful run" not in salebot
    assert "never run; start with `chatfunnel run leeloo`" in out[:out.index("salebot (")]


def test_ctrl_c_exits_130_is_recorded_as_interrupted_and_not_alerted(emulator, duck_target, webhook) -> None:
    emu = emulator(scale=150, latency_ms=20)
    proc = subprocess.Popen([PYTHON, "-m", "pipelines", *_run()], env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while emu.request_counts()["total"] < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err and "report the message" not in err
    from pipelines.operations.runs import read_journal

    assert [r["outcome"] for r in read_journal()] == ["interrupted"]  # recorded at once, locally
    assert webhook.messages == [], "Ctrl-C is not a failure: no alert"
    emu.knobs.latency_ms = 0
    assert main(_run()) == 0  # and the next run simply loads, moving the record into the warehouse
    assert [r["outcome"] for r in history()] == ["success", "interrupted"]


def test_only_leeloo_configured_runs_leeloo_and_names_salebot_only_when_asked(emulator, duck_target, capsys,
                                                                             monkeypatch) -> None:
    emulator(scale=10)
    monkeypatch.delenv("SOURCES__SALEBOT__API_KEY", raising=False)
    assert main(["run", "--progress", "none", "--no-transform"]) == 0
    assert main(["run", "all", "--progress", "none", "--no-transform"]) == 0
    assert main(["transform"]) == 0
    out, err = capsys.readouterr()
    assert "salebot" not in (out + err).lower(), "an unconfigured source is not mentioned unless asked for"
    assert main(["run", "salebot", "--progress", "none"]) == 2
    err = capsys.readouterr().err
    assert "Missing configuration for salebot: api_key" in err and "SOURCES__SALEBOT__API_KEY" in err


def test_a_base_url_with_an_extra_path_gets_a_hint(emulator, duck_target, capsys, monkeypatch) -> None:
    emulator(scale=10)
    monkeypatch.setenv("SOURCES__LEELOO__BASE_URL", os.environ["SOURCES__LEELOO__BASE_URL"] + "/api")
    assert main(_run()) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "SOURCES__LEELOO__BASE_URL" in err and "without /api" in err


def test_since_in_the_future_is_refused(emulator, duck_target, capsys) -> None:
    emu = emulator(scale=10)
    assert main(_run("--since", "2999-01-01")) == 2
    assert "in the future" in capsys.readouterr().err and emu.request_counts()["total"] == 0


def test_off_a_terminal_a_run_prints_its_summary_and_no_progress(emulator, duck_target) -> None:
    """Under cron (stderr not a terminal) dlt's progress stays off by default; the run says
    what it loaded, that the reports were rebuilt and where the BI snapshot went."""
    emulator(scale=20)
    done = subprocess.run([PYTHON, "-m", "pipelines", "run", "leeloo"], env=subprocess_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    assert "leeloo: loaded into duckdb" in done.stdout and "reports: leeloo: built" in done.stdout
    assert "BI snapshot published:" in done.stdout
    assert TOKEN not in done.stdout


def test_the_filesystem_destination_says_where_and_stays_quiet(emulator, dlt_env, capsys, monkeypatch) -> None:
    emulator(scale=15)
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(dlt_env / "lake"))
    monkeypatch.setenv("CHATFUNNEL__LAKE_DUCKDB", str(dlt_env / "lake.duckdb"))
    for _ in range(2):
        assert main(["run", "leeloo", "--destination", "filesystem", "--progress", "none"]) == 0
    out, err = capsys.readouterr()
    assert "object at 0x" not in out and f"warehouse: file://{dlt_env / 'lake'}/leeloo" in out
    assert "reports not built" not in out + err and "reports: leeloo: built" in out
    assert "Falling back" not in err, "dlt's per-table append notice must not flood the log"


def test_demo_is_repeatable(tmp_path: Path, monkeypatch) -> None:
    """A demo run an hour later must not mix a second fake account into the same file."""
    import duckdb

    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("SOURCES__", "DESTINATION__")):
            monkeypatch.delenv(key)
    counts = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "pipelines", "demo", "--scale", "60", "--dir", "demo"],
                              env=subprocess_env(), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        con = duckdb.connect(str(tmp_path / "demo" / "chatfunnel.duckdb"), read_only=True)
        counts.append(con.execute("select count(*), count(distinct tunnel_name) from leeloo.tunnels "
                                  "join leeloo_reports.tunnel_funnel f on f.tunnel_id = tunnels.id").fetchone())
        con.close()
    assert counts[0] == counts[1], counts


def test_a_setting_of_the_wrong_type_is_named_with_where_to_fix_it(emulator, duck_target, capsys,
                                                                   monkeypatch) -> None:
    emu = emulator(scale=10)
    monkeypatch.setenv("SOURCES__LEELOO__SWEEP_RUNS", "weekly")
    assert main(_run()) == 2, "a bad setting is a usage error, like a missing one"
    err = capsys.readouterr().err
    assert "sweep_runs is 'weekly', which is not a valid int" in err and "SOURCES__LEELOO__SWEEP_RUNS" in err, err
    assert "report the message" not in err and emu.request_counts()["total"] == 0


def test_a_destination_without_credentials_fails_before_the_api_is_read(emulator, dlt_env, capsys,
                                                                        monkeypatch) -> None:
    emu = emulator(scale=10)
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    assert main(_run("--destination", "postgres")) == 2
    out, err = capsys.readouterr()
    assert "postgres destination is not configured" in err and "DESTINATION__POSTGRES__CREDENTIALS" in err
    assert "in the preflight step" in out, "opening the destination is the preflight, not the lock"
    assert emu.request_counts()["total"] == 0
