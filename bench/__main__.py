"""`make bench`: chatfunnel measured the way a user runs it, each figure beside its target.

Every scenario runs the emulators in processes of their own and `chatfunnel run` in
another (bench/README.md says what each one measures and what it found):

    latency ratelimit large small   full and incremental loads of one account (bench.loads)
    cpu                             a whole latency-bound run against its floor; the client's CPU per request
    accounts                        three accounts side by side against one; accounts per hour
    scale                           50,000 people on DuckDB and Postgres, night after night
    firstreports                    a new account's first reports, newest history first, against a forward load
    webhook                         the Salebot receiver's pushes per second and latency (bench.webhook)
    sweep                           the Leeloo sweep's cost, night by night (bench.leeloo_sweep)

`python -m bench` runs the default set; name scenarios to pick others. `--against DIR`
runs each scenario on another checkout's code too, alternately (old, new, old, new...):
this machine is noisy, so changes are compared in pairs and medians are quoted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import accounts, cpu, first_reports, loads, scale
from bench.harness import REPO, code_tree, use_code

DEFAULT = ("latency", "ratelimit", "cpu", "accounts", "webhook", "sweep")


def _loads(name: str) -> Callable[[argparse.Namespace], dict[str, Any]]:
    def run(args: argparse.Namespace) -> dict[str, Any]:
        results = loads.run_scenario(loads.SCENARIOS[name])
        loads.print_table(results)
        return {"scenario": name, "results": results}
    return run


def _cpu(args: argparse.Namespace) -> dict[str, Any]:
    result = cpu.run(args.repeat)
    cpu.print_summary(result)
    return result


def _accounts(args: argparse.Namespace) -> dict[str, Any]:
    result = accounts.run()
    accounts.print_summary(result)
    return result


def _scale(args: argparse.Namespace) -> dict[str, Any]:
    result = scale.run(nights=args.nights, formats=args.formats)
    scale.print_summary(result)
    return result


def _first_reports(args: argparse.Namespace) -> dict[str, Any]:
    if args.first_week_only or args.newest_first_only:
        result = first_reports.first_week(args.first_reports_scale, whole=args.newest_first_only)
        first_reports.print_first_week(result)
        mode = "newest_first_only" if args.newest_first_only else "first_week_only"
        return {"scenario": "firstreports", mode: result}
    results = first_reports.run_scenario(args.first_reports_scale)
    first_reports.print_table(results)
    return {"scenario": "firstreports", "results": results}


def _external(module: str, *extra: str) -> Callable[[argparse.Namespace], dict[str, Any]]:
    """Another engineer's benchmark, run as its own command; its figures come back as JSON."""
    def run(args: argparse.Namespace) -> dict[str, Any]:
        if not (REPO / "bench" / f"{module}.py").exists():
            print(f"bench.{module} is not in this checkout: skipped")
            return {"scenario": module, "skipped": True}
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "figures.json"
            done = subprocess.run([sys.executable, "-m", f"bench.{module}", *extra, "--json", str(out)], cwd=REPO,
                                  check=False)
            figures = json.loads(out.read_text()) if out.exists() else None
        if done.returncode != 0:
            print(f"bench.{module} failed (exit code {done.returncode}); its output is above")
        return {"scenario": module, "exit_code": done.returncode, "figures": figures}
    return run


SCENARIOS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    **{name: _loads(name) for name in loads.SCENARIOS},
    "cpu": _cpu,
    "accounts": _accounts,
    "scale": _scale,
    "firstreports": _first_reports,
    "webhook": _external("webhook"),
    "sweep": _external("leeloo_sweep"),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("scenarios", nargs="*", default=list(DEFAULT), metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: {' '.join(DEFAULT)})")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--repeat", type=int, default=3, help="cpu: whole runs to take the median of (default 3)")
    parser.add_argument("--first-reports-scale", type=int, default=first_reports.SCALE,
                        help=f"firstreports: people in the account (default {first_reports.SCALE:,})")
    parser.add_argument("--first-week-only", action="store_true",
                        help="firstreports: only the newest-first load, until its BI snapshot holds the last week; "
                             "the whole load taken as its floor (for sizes too big to load whole, e.g. 50,000 people)")
    parser.add_argument("--newest-first-only", action="store_true",
                        help="firstreports: only the newest-first load, whole, with when its BI snapshots held "
                             "the last day and the last week")
    parser.add_argument("--nights", type=int, default=3, help="scale: incremental runs after the full load (default 3)")
    parser.add_argument("--formats", action="store_true",
                        help="scale: also compare Postgres load files (CSV through COPY against INSERT statements)")
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="another checkout: run each scenario on its code too, alternately, to compare in pairs "
                             "(webhook and sweep always run this checkout's)")
    args = parser.parse_args()
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; pick from {', '.join(SCENARIOS)}")
    results: list[dict[str, Any]] = []
    for name in args.scenarios:
        trees = [args.against, code_tree()] if args.against else [code_tree()]
        for tree in trees:
            started = time.monotonic()
            print(f"\n== {name} ({tree})", flush=True)
            with use_code(tree):
                result = SCENARIOS[name](args)
            result["code"] = str(tree)
            result["seconds"] = round(time.monotonic() - started)
            print(f"== {name} took {result['seconds']} s", flush=True)
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
