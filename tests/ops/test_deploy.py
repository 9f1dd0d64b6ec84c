"""The scheduling examples: a cron line and a GitHub Actions workflow that run `chatfunnel
run all` quietly, keep secrets out of the files and avoid overlaps. (The Airflow DAG and the
Dagster definitions are tested in tests/deploy.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipelines.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRET_LIKE = re.compile(r"(token|api_key|password)\s*[:=]\s*['\"]?[A-Za-z0-9]{12,}", re.I)


def _parser():
    """The real CLI parser (with `report` added as docs/operations.md wires it, if not yet)."""
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "report" not in sub.choices:
        from pipelines.operations.dashboard import add_report_arguments

        add_report_arguments(sub.add_parser("report"))
    return parser


def _cli_ok(command: str) -> None:
    """The chatfunnel arguments of a command line must parse with the real CLI parser."""
    match = re.search(r"chatfunnel\s+((?:run|status|report|transform)\b.*)", command)
    assert match, command
    args = match.group(1).split(">>")[0].split("||")[0].split()
    args = [a.strip('"') for a in args]
    args = ["postgres" if a.startswith("$") else a for a in args]
    _parser().parse_args(args)


def test_cron_line() -> None:
    text = (DEPLOY / "cron" / "chatfunnel.cron").read_text()
    jobs = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    run = next(j for j in jobs if "chatfunnel run all" in j)
    fields = run.split(None, 5)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), fields
    assert "--progress none" in run and ">>" in run and run.rstrip().endswith("2>&1")
    assert "flock" not in run  # the run's own lock makes a wrapper unnecessary
    assert not SECRET_LIKE.search(text)
    for job in jobs:
        _cli_ok(job)


def test_github_actions_workflow() -> None:
    text = (DEPLOY / "github-actions" / "chatfunnel-nightly.yml").read_text()
    flow = yaml.safe_load(text)
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert len(on["schedule"][0]["cron"].split()) == 5 and "workflow_dispatch" in on
    assert flow["concurrency"]["cancel-in-progress"] is False
    job = flow["jobs"]["load"]
    for name in ("SOURCES__LEELOO__API_TOKEN", "SOURCES__SALEBOT__API_KEY", "DESTINATION__POSTGRES__CREDENTIALS"):
        assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", job["env"][name]), name
    commands = [s["run"] for s in job["steps"] if "run" in s and "chatfunnel" in s["run"]]
    assert any("chatfunnel run all" in c and "--progress none" in c for c in commands)
    for command in commands:
        _cli_ok(command)
    assert not SECRET_LIKE.search(text)


def test_the_cron_line_makes_its_log_folder(tmp_path: Path) -> None:
    """Run the documented line as cron's shell would, in a copy of /srv/chatfunnel: the log
    folder does not exist beforehand, and chatfunnel's own message lands in the log."""
    import os
    import subprocess
    import sys

    text = (DEPLOY / "cron" / "chatfunnel.cron").read_text()
    run = next(j for j in text.splitlines() if "chatfunnel run all" in j and not j.lstrip().startswith("#"))
    command = run.split(None, 5)[5].replace("/srv/chatfunnel", str(tmp_path))
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "chatfunnel").symlink_to(Path(sys.executable).with_name("chatfunnel"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    done = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    log = re.search(r">>\s*(\S+)", command).group(1)  # type: ignore[union-attr]
    written = (tmp_path / log).read_text()
    assert done.returncode == 2 and "No source is configured" in written, (done.stderr, written)


NIGHTLY = DEPLOY / "systemd" / "chatfunnel-nightly.service"
TIMER = DEPLOY / "systemd" / "chatfunnel-nightly.timer"


def _unit_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_the_systemd_nightly_units_run_the_nightly_command() -> None:
    import shlex

    from pipelines.cli import cmd_run

    service, timer = _unit_values(NIGHTLY), _unit_values(TIMER)
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == "chatfunnel"
    args = build_parser().parse_args(command[1:])
    assert args.handler is cmd_run and args.source == "all" and args.progress == "none"
    assert service["Type"] == "oneshot" and service["WorkingDirectory"] == "/srv/chatfunnel"
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) > 15  # the stop grace fits
    assert timer["Unit"] == NIGHTLY.name and timer["Persistent"] == "true"
    assert timer["OnCalendar"] == "*-*-* 03:17:00 UTC"  # the time the cron line and the workflow use
    assert not SECRET_LIKE.search(NIGHTLY.read_text())


def test_systemd_accepts_the_nightly_units(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    import pytest

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    chatfunnel = Path(sys.executable).with_name("chatfunnel")
    service = tmp_path / NIGHTLY.name
    service.write_text(NIGHTLY.read_text().replace("/srv/chatfunnel/.venv/bin/chatfunnel", str(chatfunnel)))
    shutil.copy(TIMER, tmp_path / TIMER.name)
    verified = subprocess.run(["systemd-analyze", "verify", str(service), str(tmp_path / TIMER.name)],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
