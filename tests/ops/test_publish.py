"""BI beside the nightly load: a BI tool holds the published DuckDB file open read-only
while the nightly run loads, rebuilds and publishes; it keeps a consistent old snapshot,
a new connection sees the new night, and a failed run publishes nothing."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.run.lifecycle import run_account
from pipelines.warehouse.publish import bi_path_for, publish_snapshot
from tests.ops.conftest import PYTHON, leeloo_options, subprocess_env

SNAPSHOT_SQL = {
    "people": "select count(*) from leeloo.people",
    "orders": "select count(*) from leeloo.orders",
    "report_orders": "select coalesce(sum(orders_created), 0) from leeloo_reports.daily_activity",
    "raw_orders": "select count(*) from leeloo.orders where created_at is not null",
    "runs": "select count(*) from leeloo._chatfunnel_runs",
}

BI_TOOL = textwrap.dedent("""
    import json, sys, time, pathlib, duckdb
    sql = json.loads(sys.argv[2]); go = pathlib.Path(sys.argv[3])
    con = duckdb.connect(sys.argv[1], read_only=True)   # held open like a BI tool's pool
    def snap():
        return {k: con.execute(q).fetchone()[0] for k, q in sql.items()}
    print(json.dumps(snap()), flush=True)
    while not go.exists():
        time.sleep(0.05)
    print(json.dumps(snap()), flush=True)
    con.close()
""")


def _snapshot(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {k: con.execute(q).fetchone()[0] for k, q in SNAPSHOT_SQL.items()}
    finally:
        con.close()


def test_bi_reader_holds_the_file_open_while_the_nightly_run_completes(emulator, duck_target, tmp_path) -> None:
    emu = emulator(scale=60)
    working = duck_target.warehouse.duckdb_path
    bi = bi_path_for(working)
    assert bi == working.with_name("warehouse_bi.duckdb")

    assert main(["run", "leeloo", "--progress", "none"]) == 0  # night 1: load, reports, record, publish
    first = _snapshot(bi)
    assert first["people"] == 60 and first["runs"] == 1
    assert first["report_orders"] == first["raw_orders"] > 0

    go = tmp_path / "go"
    tool = subprocess.Popen([PYTHON, "-c", BI_TOOL, str(bi), json.dumps(SNAPSHOT_SQL), str(go)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        held_before = json.loads(tool.stdout.readline())
        assert held_before == first

        emu.simulate(active_people=5, new_people=7, new_orders=6, status_changes=2)
        result = run_account(leeloo_options())  # night 2, while the BI tool holds the file
        assert result.error is None and result.published is not None
        assert result.rows.get("people", 0) >= 7

        go.touch()
        held_after = json.loads(tool.stdout.readline())
        assert tool.wait(timeout=30) == 0, tool.stderr.read()
    finally:
        go.touch()
        if tool.poll() is None:
            tool.kill()
    # the held connection still reads the old, consistent snapshot
    assert held_after == first
    # a new connection sees the new night, consistent too, with its run recorded
    second = _snapshot(bi)
    assert second["people"] == 67 and second["orders"] == first["orders"] + 6
    assert second["report_orders"] == second["raw_orders"]
    assert second["runs"] == 2
    assert second == _snapshot(working)


def test_failed_run_publishes_nothing(emulator, duck_target, monkeypatch) -> None:
    emulator(scale=20)
    assert run_account(leeloo_options(transform=False)).published is not None
    bi = bi_path_for(duck_target.warehouse.duckdb_path)
    inode = bi.stat().st_ino
    monkeypatch.setenv("SOURCES__LEELOO__API_TOKEN", "wrong-token-pppppppp")
    assert run_account(leeloo_options(transform=False)).error is not None
    assert bi.stat().st_ino == inode, "a failed run replaced the BI snapshot"
    assert not list(bi.parent.glob(f".{bi.name}.*.tmp")), "temporary snapshot left behind"


def test_bi_path_is_configurable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CHATFUNNEL__BI_PATH", raising=False)
    assert bi_path_for(tmp_path / "chatfunnel.duckdb") == tmp_path / "chatfunnel_bi.duckdb"
    monkeypatch.setenv("CHATFUNNEL__BI_PATH", str(tmp_path / "bi" / "dash.duckdb"))
    assert bi_path_for(tmp_path / "chatfunnel.duckdb") == tmp_path / "bi" / "dash.duckdb"
    same = tmp_path / "x.duckdb"
    duckdb.connect(str(same)).close()
    with pytest.raises(ValueError):
        publish_snapshot(same, same)
