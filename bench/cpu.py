"""CPU per request: how close a whole latency-bound run gets to requests x latency / concurrency,
and what one request costs the client in CPU (it bounds how many accounts a core carries).

`cpu`: a 1,000-person account, 30 ms latency, concurrency 16, no rate limit; the whole run
the way a user runs it (`chatfunnel run leeloo`: extract, normalize, load, reports, run
record, BI snapshot), a fresh dataset each time, repeated (`--repeat`, the median counts):
this machine is noisy. Beside it, the HTTP client alone: the same emulator, 16 threads
fetching a person's detail, CPU seconds of this process per request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import (
    REPO,
    CliRun,
    Emulator,
    StepTime,
    bench_env,
    code_tree,
    median,
    remove,
    run_cli,
    start_emulator,
    trace_steps,
)

SCALE = 1000
LATENCY_MS = 30.0
CONCURRENCY = 16
TARGET = 1.25


def whole_run(emu: Emulator, workdir: Path) -> dict[str, Any]:
    remove(workdir / "dlt")
    (workdir / "bench.duckdb").unlink(missing_ok=True)
    emu.admin("reset", {})
    env = bench_env(workdir, SOURCES__LEELOO__BASE_URL=emu.url, SOURCES__LEELOO__API_TOKEN=emu.token,
                    SOURCES__LEELOO__REQUESTS_PER_MINUTE="0")
    run = run_cli(["run", "leeloo", "--progress", "none", "--concurrency", str(CONCURRENCY)], workdir, env,
                  emulators=[emu])
    requests_made = emu.admin("requests")["total"]
    return describe(run, requests_made, trace_steps(workdir / "dlt"))


def describe(run: CliRun, requests_made: int, traces: dict[str, dict[str, StepTime]]) -> dict[str, Any]:
    floor = requests_made * LATENCY_MS / 1000 / CONCURRENCY
    steps: dict[str, StepTime] = next(iter(traces.values()), {})
    row: dict[str, Any] = {
        "wall_s": round(run.wall_s, 2), "floor_s": round(floor, 2), "vs_floor": round(run.wall_s / floor, 2),
        "requests": requests_made, "cpu_s": round(run.cpu_s, 2), "peak_mb": run.peak_mb,
        "others_cores": run.others_cores, "emulator_cpu_s": round(run.emulator_cpu_s, 2),
    }
    accounted = 0.0
    for name in ("extract", "normalize", "load"):
        step = steps.get(name)
        if step is None:
            continue
        row[f"{name}_s"] = round(step.seconds, 2)
        accounted += step.seconds
        if name == "extract":
            cpu = run.cpu_between(step.started, step.started + step.seconds)
            row["extract_cpu_ms_per_request"] = round(1000 * cpu / requests_made, 2) if requests_made else None
            row["before_extract_s"] = round(step.started - run.started_at, 2)
    if "load" in steps:
        load = steps["load"]
        row["after_load_s"] = round(run.started_at + run.wall_s - (load.started + load.seconds), 2)
    return row


def client_cpu_per_request(emu: Emulator, total: int = 2000) -> dict[str, Any]:
    """The HTTP client alone, in a process of its own: CPU per request over 16 threads."""
    env = {**os.environ, "PYTHONPATH": f"{code_tree()}{os.pathsep}{REPO}"}
    with tempfile.TemporaryDirectory() as elsewhere:  # not the repo: `-m` puts the working dir first on the path
        done = subprocess.run([sys.executable, "-m", "bench.client_cpu", emu.url, emu.token, str(total),
                               str(CONCURRENCY)], env=env, cwd=elsewhere, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    floor = total * LATENCY_MS / 1000 / CONCURRENCY
    result["vs_floor"] = round(result["wall_s"] / floor, 2)
    return result


def run(repeat: int = 3) -> dict[str, Any]:
    emu = start_emulator(SCALE, latency_ms=LATENCY_MS)
    try:
        with tempfile.TemporaryDirectory(prefix="chatfunnel-bench-cpu-") as tmp:
            runs = [whole_run(emu, Path(tmp)) for _ in range(repeat)]
        client = [client_cpu_per_request(emu) for _ in range(repeat)]
    finally:
        emu.stop()
    summary = {
        "scenario": "cpu", "runs": runs, "client": client,
        "vs_floor_median": median([r["vs_floor"] for r in runs]),
        "wall_s_median": median([r["wall_s"] for r in runs]),
        "client_cpu_ms_per_request_median": median([c["cpu_ms_per_request"] for c in client]),
        "target_vs_floor": TARGET,
    }
    return summary


def print_summary(result: dict[str, Any]) -> None:
    columns = ["wall_s", "floor_s", "vs_floor", "requests", "before_extract_s", "extract_s", "normalize_s",
               "load_s", "after_load_s", "extract_cpu_ms_per_request", "cpu_s", "peak_mb", "others_cores"]
    print("cpu: whole run, 1,000 people, 30 ms, concurrency 16, no rate limit")
    print("  " + "  ".join(columns))
    for r in result["runs"]:
        print("  " + "  ".join(str(r.get(c, "")).ljust(len(c)) for c in columns))
    print(f"  median {result['wall_s_median']} s, {result['vs_floor_median']}x the floor (target <= {TARGET}x)")
    for c in result["client"]:
        print(f"  client alone: {c['requests']} requests, {c['cpu_ms_per_request']} ms CPU per request, "
              f"{c['vs_floor']}x its floor")
    print(f"  client CPU per request, median: {result['client_cpu_ms_per_request_median']} ms")


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    print_summary(result)
    print(json.dumps(result, indent=1))
