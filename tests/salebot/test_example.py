"""The plain dlt example loads the warehouse `chatfunnel run` loads, not a file of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]


def test_the_plain_dlt_example_loads_the_cli_s_warehouse(emu, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DESTINATION__DUCKDB__CREDENTIALS"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, str(ROOT / "pipelines" / "salebot_pipeline.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    made = sorted(p.name for p in tmp_path.glob("*.duckdb"))
    assert made == ["chatfunnel.duckdb"], "dlt's own default is a file named after the pipeline"
    with duckdb.connect(str(tmp_path / "chatfunnel.duckdb"), read_only=True) as con:
        (clients,) = con.execute("select count(*) from salebot.clients").fetchone()
    assert clients == len(emu.truth()["clients"])
