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
        from pipelines.dashboard import add_report_arguments

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
