"""Several accounts side by side: three Leeloo accounts, each with its own emulator process,
its own rate limit on the emulator and the same limit on its client, configured the way an
agency configures them (`[sources.leeloo.accounts.<name>]` in `.dlt/secrets.toml`).

One account alone (`chatfunnel run leeloo --account a1`), then all three at once
(`chatfunnel run leeloo`: one child process per account), both full loads from nothing;
target: three take at most 1.6x the time of one. Then a night's activity on every account
and the incremental run of all three. From the measured CPU seconds, peak memory and the
time each account holds the DuckDB file, `capacity` works out how many accounts of this
size one machine carries per hour at the API's real rate limit.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any

import psutil

from bench.harness import Emulator, bench_env, emulators, remove, run_cli, trace_steps
from pipelines.run.fleet import DEFAULT_PARALLEL_ACCOUNTS

ACCOUNTS = ("a1", "a2", "a3")
SCALE = 500
LATENCY_MS = 30.0
RATE_LIMIT = 3000  # per minute, on each emulator and each client
REAL_RATE_LIMIT = 300  # Leeloo's stated limit per account
CONCURRENCY = 16
TARGET = 1.6


def write_secrets(workdir: Path, emus: dict[str, Emulator]) -> None:
    lines = []
    for name, emu in emus.items():
        lines += [f"[sources.leeloo.accounts.{name}]", f'api_token = "{emu.token}"', f'base_url = "{emu.url}"',
                  f"requests_per_minute = {RATE_LIMIT}", ""]
    (workdir / ".dlt").mkdir(exist_ok=True)
    (workdir / ".dlt" / "secrets.toml").write_text("\n".join(lines), encoding="utf-8")


def fresh(workdir: Path) -> None:
    remove(workdir / "dlt")
    for path in workdir.glob("bench*.duckdb"):
        path.unlink()


def one_run(label: str, args: list[str], workdir: Path, emus: dict[str, Emulator]) -> dict[str, Any]:
    for emu in emus.values():
        emu.admin("reset", {})
    run = run_cli(["run", "leeloo", "--progress", "none", "--concurrency", str(CONCURRENCY), *args], workdir,
                  bench_env(workdir), emulators=list(emus.values()), check=False)
    requests_made = {name: emu.admin("requests")["total"] for name, emu in emus.items()}
    loaded = [name for name in emus if re.search(rf"^leeloo/{name}: loaded into", run.output, re.MULTILINE)]
    failed = {name: " ".join(re.findall(rf"^leeloo/{name}: (failed in the \w+ step)", run.output, re.MULTILINE))
              for name in emus if name not in loaded}
    steps = trace_steps(workdir / "dlt")
    reports = [float(s) for s in re.findall(r"^  reports: leeloo: built \d+ models .*?\(([\d.]+)s\)", run.output,
                                            re.MULTILINE)]
    serial = [round(s["load"].seconds, 2) for s in steps.values() if "load" in s]
    return {
        "run": label, "accounts": len(loaded), "failed": failed, "exit_code": run.returncode,
        "parallel": len(emus) > 1 and "--parallel-accounts" not in args,
        "wall_s": round(run.wall_s, 1),
        "requests": sum(requests_made[n] for n in loaded),
        "floor_s": round(max(requests_made[n] for n in loaded) / (RATE_LIMIT / 60), 1) if loaded else None,
        "cpu_s": round(run.cpu_s, 1), "cpu_s_per_account": round(run.cpu_s / max(1, len(loaded)), 1),
        "peak_mb": run.peak_mb, "load_step_s": serial, "reports_s": reports, "others_cores": run.others_cores,
    }


def run() -> dict[str, Any]:
    specs = [{"scale": SCALE, "latency_ms": LATENCY_MS, "rate_limit": RATE_LIMIT, "token": f"bench-token-{name}",
              "seed": 11 + i} for i, name in enumerate(ACCOUNTS)]
    with emulators(*specs) as started, tempfile.TemporaryDirectory(prefix="chatfunnel-bench-accounts-") as tmp:
        workdir = Path(tmp)
        emus = dict(zip(ACCOUNTS, started, strict=True))
        write_secrets(workdir, emus)
        fresh(workdir)
        alone = one_run("one account, full", ["--account", ACCOUNTS[0]], workdir, {ACCOUNTS[0]: emus[ACCOUNTS[0]]})
        print(f"  {alone}", flush=True)
        fresh(workdir)
        three = one_run("three accounts, full", [], workdir, emus)
        print(f"  {three}", flush=True)
        for emu in emus.values():
            emu.admin("simulate", {"active_people": 0.01, "new_people": max(1, SCALE // 400),
                                   "new_orders": max(1, SCALE // 400), "status_changes": max(1, SCALE // 400)})
        night = one_run("three accounts, a night later", [], workdir, emus)
        print(f"  {night}", flush=True)
        for emu in emus.values():
            emu.admin("simulate", {"active_people": 0.01, "new_people": max(1, SCALE // 400),
                                   "new_orders": max(1, SCALE // 400), "status_changes": max(1, SCALE // 400)})
        # one after another in one process: no account waits for another's hold on the file
        night_serial = one_run("three accounts, a night later, one at a time", ["--parallel-accounts", "1"],
                               workdir, emus)
        print(f"  {night_serial}", flush=True)
    ratio = round(three["wall_s"] / alone["wall_s"], 2) if three["accounts"] == len(ACCOUNTS) else None
    nightly = night if night["accounts"] == len(ACCOUNTS) else night_serial
    return {"scenario": "accounts", "scale": SCALE, "rate_limit": RATE_LIMIT,
            "runs": [alone, three, night, night_serial], "three_vs_one": ratio, "target": TARGET,
            "capacity": capacity(three, nightly)}


def capacity(full: dict[str, Any], night: dict[str, Any], cores: int | None = None,
             memory_mb: int | None = None) -> dict[str, Any]:
    """Accounts of this size one machine carries per hour at the API's real rate limit, from
    the measured figures; each bound is stated so the smallest one is seen to decide.

    - CPU: every account's run costs its CPU seconds (measured, per account);
    - memory: the accounts in flight at once, each its own process at its measured peak;
      at the real rate limit a run lasts requests / (limit / 60) seconds, so that many
      accounts must be in flight to keep the CPU busy;
    - DuckDB: accounts take turns at one file for the load and reports (measured);
    - and what `--parallel-accounts` allows: that many runs of run_s seconds at a time.
    """
    cores = cores or psutil.cpu_count() or 1
    memory_mb = memory_mb or round(psutil.virtual_memory().total / 2**20)
    out: dict[str, Any] = {"cores": cores, "memory_mb": memory_mb, "real_rate_limit": REAL_RATE_LIMIT}
    for label, r in (("full", full), ("night", night)):
        per_account_requests = r["requests"] / max(1, r["accounts"])
        run_s = per_account_requests / (REAL_RATE_LIMIT / 60)
        cpu_bound = cores * 3600 / r["cpu_s_per_account"]
        at_default = DEFAULT_PARALLEL_ACCOUNTS * 3600 / run_s
        in_flight = math.ceil(cpu_bound * run_s / 3600)
        per_process_mb = r["peak_mb"] / max(1, r["accounts"]) if r["parallel"] else r["peak_mb"]
        memory_bound_in_flight = int(memory_mb * 0.8 // per_process_mb)
        memory_bound = memory_bound_in_flight * 3600 / run_s
        serial_s = (sum(r["load_step_s"]) + sum(r["reports_s"])) / max(1, r["accounts"])
        duckdb_bound = 3600 / serial_s if serial_s else math.inf
        out[label] = {
            "requests_per_account": round(per_account_requests), "run_s_at_real_limit": round(run_s),
            "cpu_s_per_account": r["cpu_s_per_account"], "per_hour_cpu_bound": int(cpu_bound),
            "in_flight_needed": in_flight, "per_process_mb": round(per_process_mb),
            "per_hour_memory_bound": int(memory_bound), "duckdb_serial_s": round(serial_s, 2),
            "per_hour_duckdb_bound": int(duckdb_bound),
            "per_hour": int(min(cpu_bound, memory_bound, duckdb_bound)),
            "per_hour_at_default_parallel": int(min(at_default, cpu_bound, duckdb_bound)),
        }
    return out


def print_summary(result: dict[str, Any]) -> None:
    columns = ["run", "accounts", "failed", "wall_s", "floor_s", "requests", "cpu_s", "cpu_s_per_account", "peak_mb",
               "load_step_s", "reports_s", "others_cores"]
    rows = result["runs"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print(f"accounts: {len(ACCOUNTS)} accounts of {result['scale']} people, {LATENCY_MS:g} ms latency, "
          f"{result['rate_limit']} requests/min each")
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
    print(f"  three accounts take {result['three_vs_one']}x the time of one (target <= {result['target']}x)")
    cap = result["capacity"]
    for label in ("full", "night"):
        c = cap[label]
        print(f"  capacity, {label} runs at {cap['real_rate_limit']} requests/min ({c['requests_per_account']} "
              f"requests, {c['run_s_at_real_limit']} s each): {c['per_hour']} accounts/hour on {cap['cores']} cores "
              f"(CPU {c['per_hour_cpu_bound']}, memory {c['per_hour_memory_bound']} with {c['in_flight_needed']} "
              f"in flight at {c['per_process_mb']} MB, DuckDB turns {c['per_hour_duckdb_bound']}); "
              f"{c['per_hour_at_default_parallel']}/hour at the default "
              f"--parallel-accounts {DEFAULT_PARALLEL_ACCOUNTS}")
