"""`firstreports`: how soon a new account's funnel appears, newest history first.

One emulator account, loaded twice from nothing on the same data: forward in one window
(`SOURCES__LEELOO__BACKFILL_NEWEST_FIRST=false`), then newest first (the default), both
with the reports and the BI snapshot. For the newest-first load: when the first window's
reports were in the BI snapshot (the run's own `history_windows` facts), against the whole
load's wall time, and the requests of the whole newest-first load against the forward one's
(target <= 1.1x). The emulator and the client share one rate limit, so time is requests.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from bench.harness import Emulator, bench_env, run_cli, start_emulator

SCALE, RATE, LATENCY_MS, WINDOW_REQUESTS = 5000, 3000, 30, 3000


def _load(emu: Emulator, workdir: Path, newest_first: bool) -> dict[str, Any]:
    emu.admin("reset", {})
    env = bench_env(workdir, SOURCES__LEELOO__BASE_URL=emu.url, SOURCES__LEELOO__API_TOKEN=emu.token,
                    SOURCES__LEELOO__REQUESTS_PER_MINUTE=str(RATE),
                    SOURCES__LEELOO__BACKFILL_NEWEST_FIRST=str(newest_first).lower(),
                    SOURCES__LEELOO__BACKFILL_WINDOW_REQUESTS=str(WINDOW_REQUESTS))
    run = run_cli(["run", "leeloo", "--progress", "none", "--concurrency", "16"], workdir, env, emulators=[emu])
    with duckdb.connect(str(workdir / "bench.duckdb"), read_only=True) as con:
        facts = con.execute("select facts from leeloo._chatfunnel_runs order by started_at desc limit 1").fetchone()
    found = json.loads(facts[0]) if facts and isinstance(facts[0], str) else dict(facts[0]) if facts else {}
    windows = found.get("history_windows") or []
    return {"load": "newest first" if newest_first else "forward", "wall_s": round(run.wall_s, 1),
            "requests": emu.admin("requests")["total"], "windows": len(windows),
            "first_reports_s": windows[0].get("ready_after_seconds") if windows else None,
            "others_cores": run.others_cores}


def run_scenario(scale: int = SCALE) -> list[dict[str, Any]]:
    emu = start_emulator(scale, latency_ms=LATENCY_MS, rate_limit=RATE)
    try:
        results = []
        for newest_first in (False, True):
            with tempfile.TemporaryDirectory(prefix="chatfunnel-bench-") as tmp:
                results.append(_load(emu, Path(tmp), newest_first))
        forward, newest = results
        newest["requests_vs_forward"] = round(newest["requests"] / forward["requests"], 3)
        if newest["first_reports_s"] is not None:
            newest["first_reports_share"] = round(newest["first_reports_s"] / newest["wall_s"], 3)
        return results
    finally:
        emu.stop()


def print_table(results: list[dict[str, Any]]) -> None:
    columns = ["load", "wall_s", "requests", "windows", "first_reports_s", "first_reports_share",
               "requests_vs_forward", "others_cores"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in results)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for r in results:
        print("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
