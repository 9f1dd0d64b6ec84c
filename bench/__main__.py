"""`make bench`: full and incremental Leeloo loads against the emulator, measured.

The emulator runs in its own process (so it does not share the pipeline's GIL), the
pipeline runs as `chatfunnel run leeloo` in another, exactly as a user would run it.
For each load it prints wall time, requests made, the fewest requests the data needs,
429s received, rows per second, peak memory of the pipeline process, and the floor
max(requests x latency / concurrency, requests / rate limit) beside the achieved time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
PAGE = 100


@dataclass
class Scenario:
    name: str
    scale: int
    latency_ms: float
    concurrency: int
    rate_limit: int | None  # per minute, on the emulator and the client alike
    activity: float = 0.01


def start_emulator(s: Scenario, workdir: Path) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, "-m", "emulators", "leeloo", "--port", "0", "--seed", "11",
            "--scale", str(s.scale), "--token", TOKEN, "--latency-ms", str(s.latency_ms)]
    if s.rate_limit:
        args += ["--rate-limit", str(s.rate_limit)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "emulator on http" in line:
            url = line.split(" on ", 1)[1].split()[0]
            return proc, url
    raise RuntimeError("the emulator did not start")


def admin(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        return requests.get(f"{url}/__admin/{path}", timeout=600).json()
    return requests.post(f"{url}/__admin/{path}", json=body, timeout=600).json()


def run_pipeline(s: Scenario, url: str, workdir: Path) -> tuple[float, int, str]:
    """Run the real CLI in its own process; return wall seconds, peak RSS bytes, output."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DLT_DATA_DIR": str(workdir / "dlt"),
        "DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "bench.duckdb"),
        "SOURCES__LEELOO__BASE_URL": url,
        "SOURCES__LEELOO__API_TOKEN": TOKEN,
        "SOURCES__LEELOO__REQUESTS_PER_MINUTE": str(s.rate_limit or 0),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    cmd = [sys.executable, "-m", "pipelines", "run", "leeloo", "--no-transform",
           "--progress", "none", "--concurrency", str(s.concurrency)]
    started = time.monotonic()
    proc = psutil.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(True)))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.monotonic() - started
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline failed:\n{output}")
    return wall, peak, output


def fewest_requests(truth: dict[str, Any], changed: dict[str, Any] | None, window_people: int,
                    window_channels: int) -> int:
    """Requests the data needs at the largest honoured page size, and nothing re-read."""
    pages = lambda n: max(1, math.ceil(n / PAGE))  # noqa: E731 - an empty list still costs one request
    reference = (pages(len(truth["tunnels"])) + 2 * len(truth["tunnels"]) + pages(len(truth["users"]))
                 + 1 + 1 + 1 + len(truth["template_categories"]))
    orders = pages(len(truth["orders"]))
    messages_per_channel: dict[str, int] = {}
    for m in truth["chat_messages"]:
        messages_per_channel[m["account_id"]] = messages_per_channel.get(m["account_id"], 0) + 1
    if changed is None:
        people = pages(len(truth["people"])) + len(truth["people"])
        channels = pages(len(truth["communication_channels"])) + sum(
            pages(messages_per_channel.get(c["id"], 0)) for c in truth["communication_channels"])
        order_details = len(truth["orders"])
    else:
        touched_people = set(changed["active_people"]) | set(changed["new_people"])
        touched_channels = set(changed["touched_channels"]) | set(changed["new_channels"])
        people = pages(window_people) + len(touched_people)
        channels = pages(window_channels) + len(touched_channels)
        order_details = len(changed["new_orders"]) + len(changed["status_changes"])
    return reference + orders + people + channels + order_details


def measure(s: Scenario, url: str, workdir: Path, label: str, changed: dict[str, Any] | None) -> dict[str, Any]:
    admin(url, "reset", {})
    wall, peak, output = run_pipeline(s, url, workdir)
    counts = admin(url, "requests")
    truth = admin(url, "truth")
    rows = sum(int(part.split("=")[1]) for part in output.split("rows:")[1].split("\n")[0].split(",")
               if "=" in part) if "rows:" in output else 0
    made = counts["total"]
    floor = max(made * s.latency_ms / 1000 / s.concurrency, made / (s.rate_limit / 60) if s.rate_limit else 0)
    window_people = len(changed["active_people"]) + len(changed["new_people"]) if changed else 0
    needed = fewest_requests(truth, changed, window_people, window_people)
    return {
        "scenario": s.name, "load": label, "wall_s": round(wall, 1), "requests": made,
        "fewest_requests": needed, "requests_429": counts["by_status"].get("429", 0),
        "rows_per_s": round(rows / wall) if wall else 0, "peak_mb": round(peak / 2**20),
        "floor_s": round(floor, 1), "vs_floor": round(wall / floor, 2) if floor else None,
    }


def run_scenario(s: Scenario) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="chatfunnel-bench-") as tmp:
        workdir = Path(tmp)
        proc, url = start_emulator(s, workdir)
        try:
            full = measure(s, url, workdir, "full", None)
            changed = admin(url, "simulate", {"active_people": s.activity,
                                              "new_people": max(1, int(s.scale * s.activity / 4)),
                                              "new_orders": max(1, int(s.scale * s.activity / 4)),
                                              "status_changes": max(1, int(s.scale * s.activity / 4))})
            incremental = measure(s, url, workdir, "incremental", changed)
            incremental["share_of_full"] = round(incremental["requests"] / full["requests"], 3)
            return [full, incremental]
        finally:
            proc.terminate()
            proc.wait(10)


def print_table(results: list[dict[str, Any]]) -> None:
    columns = ["scenario", "load", "wall_s", "floor_s", "vs_floor", "requests", "fewest_requests",
               "requests_429", "rows_per_s", "peak_mb", "share_of_full"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in results)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in results:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


SCENARIOS = {
    "latency": Scenario("latency", scale=5000, latency_ms=30, concurrency=16, rate_limit=None),
    "ratelimit": Scenario("ratelimit", scale=1000, latency_ms=30, concurrency=16, rate_limit=3000),
    "large": Scenario("large", scale=50000, latency_ms=0, concurrency=16, rate_limit=None),
    "small": Scenario("small", scale=500, latency_ms=30, concurrency=16, rate_limit=None),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=["latency", "ratelimit"],
                        help=f"any of {', '.join(SCENARIOS)} (default: latency ratelimit)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for name in args.scenarios:
        s = SCENARIOS[name]
        print(f"== {name}: scale {s.scale}, latency {s.latency_ms} ms, concurrency {s.concurrency}, "
              f"rate limit {s.rate_limit or 'none'}/min", flush=True)
        results += run_scenario(s)
    print()
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
