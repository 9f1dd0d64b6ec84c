"""The operations features through the real `chatfunnel` CLI: run records, alerts and
publishes, status shows it, transform publishes, report writes, --wait queues."""

from __future__ import annotations

import subprocess

from pipelines.cli import main
from tests.ops.conftest import HOOK_SECRET, PYTHON, TOKEN, history, subprocess_env


def test_cli_run_records_alerts_and_status_shows_it(emulator, duck_target, webhook, monkeypatch, capsys) -> None:
    emulator(scale=20)
    assert main(["run", "leeloo", "--progress", "none"]) == 0
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "wrong-token-cli-1234")
    assert main(["run", "leeloo", "--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert "refused the credentials" in err and "Traceback" not in err
    assert [r["outcome"] for r in history()] == ["failed", "success"]
    assert len(webhook.messages) == 1 and "in the extract step" in webhook.messages[0]["text"]
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert "last run: 20" in out and ", failed," in out and "people=20" in out
    for secret in (TOKEN, "wrong-token-cli-1234", HOOK_SECRET):
        assert secret not in out + err + webhook.messages[0]["text"]


def test_cli_report_and_transform_publish(emulator, duck_target, tmp_path, capsys) -> None:
    from pipelines.operations.dashboard import charts_with_data
    from pipelines.warehouse.publish import bi_path_for

    emulator(scale=25)
    assert main(["run", "leeloo", "--progress", "none"]) == 0
    bi = bi_path_for(duck_target.warehouse.duckdb_path)
    inode = bi.stat().st_ino
    assert main(["transform", "leeloo"]) == 0
    assert bi.stat().st_ino != inode, "transform did not publish a new BI snapshot"
    out = tmp_path / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    assert f"dashboard: {out.resolve()}" in capsys.readouterr().out
    charts = charts_with_data(out.read_text(encoding="utf-8"))
    assert charts["tunnel_funnel"] > 0 and charts["daily_activity"] > 0


def test_two_real_cli_runs_overlap_one_exits_75(emulator, duck_target) -> None:
    from tests.ops.test_lock import overlapping

    emu = emulator(scale=40, latency_ms=60)
    command = [PYTHON, "-m", "pipelines", "run", "leeloo", "--progress", "none", "--no-transform"]
    procs = overlapping(command, subprocess_env(), emu)
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in outcomes) == [0, 75], outcomes
    refused = next(err for code, _, err in outcomes if code == 75)
    assert "still in progress" in refused and "Traceback" not in refused
    # with --wait the second one queues instead and both succeed
    emu.knobs.latency_ms = 5
    procs = [subprocess.Popen([*command, "--wait", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=subprocess_env()) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [p.communicate() for p in procs]
    assert [r["outcome"] for r in history()] == ["success"] * 3
