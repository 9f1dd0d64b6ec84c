"""Full and incremental loads of one account: `latency`, `ratelimit`, `large`, `small`.

For each scenario: a full load, then simulated activity (about 1% of people write, plus new
people, new orders and status changes on old orders) and the incremental load. Per load:
wall time, requests made against the fewest the data needs, 429s, rows per second, peak
memory, and the floor max(requests x latency / concurrency, requests / rate limit).
The runs skip the reports (`--no-transform`): these scenarios measure the load itself.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import Emulator, bench_env, rows_loaded, run_cli, start_emulator

PAGE = 100


@dataclass(frozen=True)
class Scenario:
    name: str
    scale: int
    latency_ms: float
    concurrency: int
    rate_limit: int | None  # per minute, on the emulator and the client alike
    activity: float = 0.01


SCENARIOS = {
    "latency": Scenario("latency", scale=5000, latency_ms=30, concurrency=16, rate_limit=None),
    "ratelimit": Scenario("ratelimit", scale=1000, latency_ms=30, concurrency=16, rate_limit=3000),
    "large": Scenario("large", scale=50000, latency_ms=0, concurrency=16, rate_limit=None),
    "small": Scenario("small", scale=500, latency_ms=30, concurrency=16, rate_limit=None),
}


def fewest_requests(truth: dict[str, Any], changed: dict[str, Any] | None) -> int:
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
        window = len(changed["active_people"]) + len(changed["new_people"])
        touched_people = set(changed["active_people"]) | set(changed["new_people"])
        touched_channels = set(changed["touched_channels"]) | set(changed["new_channels"])
        people = pages(window) + len(touched_people)
        channels = pages(window) + len(touched_channels)
        order_details = len(changed["new_orders"]) + len(changed["status_changes"])
    return reference + orders + people + channels + order_details


def measure(s: Scenario, emu: Emulator, workdir: Path, label: str, changed: dict[str, Any] | None) -> dict[str, Any]:
    emu.admin("reset", {})
    env = bench_env(workdir, SOURCES__LEELOO__BASE_URL=emu.url, SOURCES__LEELOO__API_TOKEN=emu.token,
                    SOURCES__LEELOO__REQUESTS_PER_MINUTE=str(s.rate_limit or 0))
    run = run_cli(["run", "leeloo", "--no-transform", "--progress", "none", "--concurrency", str(s.concurrency)],
                  workdir, env, emulators=[emu])
    counts = emu.admin("requests")
    made = counts["total"]
    floor = max(made * s.latency_ms / 1000 / s.concurrency, made / (s.rate_limit / 60) if s.rate_limit else 0)
    return {
        "scenario": s.name, "load": label, "wall_s": round(run.wall_s, 1), "requests": made,
        "fewest_requests": fewest_requests(emu.admin("truth"), changed),
        "requests_429": counts["by_status"].get("429", 0),
        "rows_per_s": round(rows_loaded(run.output) / run.wall_s) if run.wall_s else 0, "peak_mb": run.peak_mb,
        "floor_s": round(floor, 1), "vs_floor": round(run.wall_s / floor, 2) if floor else None,
        "cpu_s": round(run.cpu_s, 1), "others_cores": run.others_cores,
    }


def run_scenario(s: Scenario) -> list[dict[str, Any]]:
    emu = start_emulator(s.scale, latency_ms=s.latency_ms, rate_limit=s.rate_limit)
    try:
        with tempfile.TemporaryDirectory(prefix="chatfunnel-bench-") as tmp:
            workdir = Path(tmp)
            full = measure(s, emu, workdir, "full", None)
            n = max(1, int(s.scale * s.activity / 4))
            changed = emu.admin("simulate", {"active_people": s.activity, "new_people": n, "new_orders": n,
                                             "status_changes": n})
            incremental = measure(s, emu, workdir, "incremental", changed)
            incremental["share_of_full"] = round(incremental["requests"] / full["requests"], 3)
            return [full, incremental]
    finally:
        emu.stop()


COLUMNS = ["scenario", "load", "wall_s", "floor_s", "vs_floor", "requests", "fewest_requests", "requests_429",
           "rows_per_s", "peak_mb", "cpu_s", "share_of_full", "others_cores"]


def print_table(results: list[dict[str, Any]]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in results)) for c in COLUMNS}
    print("  " + "  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for r in results:
        print("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in COLUMNS))
