"""`firstreports`: how soon a new account's funnel appears, newest history first.

One emulator account, loaded twice from nothing on the same data: forward in one window
(`SOURCES__LEELOO__BACKFILL_NEWEST_FIRST=false`), then newest first (the default), both
with the reports and the BI snapshot. For the newest-first load: when the first window's
reports were in the BI snapshot (the run's own `history_windows` facts), against the whole
load's wall time, and the requests of the whole newest-first load against the forward one's
(target <= 1.1x). The emulator and the client share one rate limit, so time is requests.

`--newest-first-only` skips the forward load (50,000 people: about an hour each at
3,000/min): the newest-first load alone, with when its BI snapshots held the last day and
the last week whole, against its own whole time. `--first-week-only` stops it (SIGTERM, as a
user would) once a snapshot holds the last week, and takes the whole load's time as its
floor, the fewest requests the data needs divided by the rate: the shares it prints are
upper bounds. A snapshot at Leeloo's real 300/min is its requests at that rate plus what it
cost beyond its requests here (extract, load, reports, snapshot).
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psutil

from bench.harness import Emulator, bench_env, run_cli, start_emulator
from bench.loads import fewest_requests

SCALE, RATE, LATENCY_MS, WINDOW_REQUESTS = 5000, 3000, 30, 3000
REAL_RATE = 300  # Leeloo's own limit, requests a minute
WEEK = timedelta(days=7)


def _env(emu: Emulator, workdir: Path, newest_first: bool) -> dict[str, str]:
    return bench_env(workdir, SOURCES__LEELOO__BASE_URL=emu.url, SOURCES__LEELOO__API_TOKEN=emu.token,
                    SOURCES__LEELOO__REQUESTS_PER_MINUTE=str(RATE),
                    SOURCES__LEELOO__BACKFILL_NEWEST_FIRST=str(newest_first).lower(),
                    SOURCES__LEELOO__BACKFILL_WINDOW_REQUESTS=str(WINDOW_REQUESTS))


RUN = ["run", "leeloo", "--progress", "none", "--concurrency", "16"]


def _load(emu: Emulator, workdir: Path, newest_first: bool) -> dict[str, Any]:
    emu.admin("reset", {})
    run = run_cli(RUN, workdir, _env(emu, workdir, newest_first), emulators=[emu])
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


def _complete_since(bi_file: Path) -> datetime | None:
    """The span the BI snapshot holds complete: from its coverage report's latest start."""
    with duckdb.connect(str(bi_file), read_only=True) as con:
        schema = con.execute("select table_schema from information_schema.tables where table_name = 'coverage' "
                             "order by table_schema limit 1").fetchone()
        if schema is None:
            return None
        found = con.execute(f'select max(complete_since) from "{schema[0]}".coverage').fetchone()
    return found[0] if found else None


def _watch_snapshots(workdir: Path, emu: Emulator, seen: dict[str, Any], started: float,
                     ended: threading.Event, *, stop_at_week: bool) -> None:
    """Beside the run: each BI snapshot as it is published. Notes when the first one (the last
    day) and the first holding the last week whole (the week before the first window ended)
    appeared, with the requests made by then, then (`stop_at_week`) stops the run as a user
    would (SIGTERM). Ends with the run (`ended`) in any case."""
    snapshot, published, week_ago = workdir / "bench_bi.duckdb", 0.0, None
    while not ended.is_set():
        if snapshot.exists() and snapshot.stat().st_mtime != published:
            published = snapshot.stat().st_mtime
            at, requests = round(time.monotonic() - started, 1), emu.admin("requests")["total"]
            since = _complete_since(snapshot)
            seen.setdefault("first_reports_s", at)
            seen.setdefault("requests_at_first_reports", requests)
            seen.setdefault("first_complete_since", str(since))
            if week_ago is None and since is not None:  # the week before the first window (the last day) ended
                week_ago = since + timedelta(days=1) - WEEK
            if since is not None and week_ago is not None and since <= week_ago:
                seen.update(week_reports_s=at, requests_at_week_reports=requests, week_complete_since=str(since))
                if stop_at_week:
                    break
                ended.wait()
                return
        time.sleep(0.1)
    else:
        return
    for child in psutil.Process().children():
        if "pipelines" in child.cmdline():
            child.send_signal(signal.SIGTERM)


def first_week(scale: int, *, whole: bool = False) -> dict[str, Any]:
    """The newest-first load of a big account, until a BI snapshot holds the last week, or
    (`whole`) to its end."""
    emu = start_emulator(scale, latency_ms=LATENCY_MS, rate_limit=RATE)
    try:
        floor_requests = fewest_requests(emu.admin("truth"), None)
        emu.admin("reset", {})
        with tempfile.TemporaryDirectory(prefix="chatfunnel-bench-") as tmp:
            workdir = Path(tmp)
            seen: dict[str, Any] = {}
            started, ended = time.monotonic(), threading.Event()
            watcher = threading.Thread(target=_watch_snapshots, args=(workdir, emu, seen, started, ended),
                                       kwargs={"stop_at_week": not whole}, daemon=True)
            watcher.start()
            run = run_cli(RUN, workdir, _env(emu, workdir, True), check=False, emulators=[emu])
            ended.set()
            watcher.join()
            emu_requests = emu.admin("requests")["total"]
    finally:
        emu.stop()
    if "week_reports_s" not in seen:
        raise RuntimeError(f"the run ended (exit {run.returncode}) before a BI snapshot held the last week whole "
                           f"({seen}):\n{run.output[-4000:]}")
    if whole and run.returncode != 0:
        raise RuntimeError(f"the newest-first load failed (exit {run.returncode}):\n{run.output[-4000:]}")
    whole_s = run.wall_s if whole else floor_requests / RATE * 60
    result: dict[str, Any] = {"scale": scale, "load_floor_requests": floor_requests,
                              "load_floor_s": round(floor_requests / RATE * 60), **seen,
                              "others_cores": run.others_cores}
    if whole:
        result.update(load_s=round(run.wall_s, 1), load_requests=emu_requests)
    share = "share" if whole else "share_at_most"
    for span in ("first", "week"):
        at, requests = seen[f"{span}_reports_s"], seen[f"requests_at_{span}_reports"]
        beyond_requests_s = max(0.0, at - requests / RATE * 60)  # extract, load, reports, snapshot
        result[f"{span}_reports_{share}"] = round(at / whole_s, 3)
        result[f"{span}_reports_at_300_per_min_s"] = round(requests / REAL_RATE * 60 + beyond_requests_s)
    return result


def print_first_week(result: dict[str, Any]) -> None:
    for key, value in result.items():
        print(f"  {key}: {value}")


def print_table(results: list[dict[str, Any]]) -> None:
    columns = ["load", "wall_s", "requests", "windows", "first_reports_s", "first_reports_share",
               "requests_vs_forward", "others_cores"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in results)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for r in results:
        print("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
