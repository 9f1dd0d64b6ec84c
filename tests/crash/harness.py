"""Kill a real `chatfunnel run` at a chosen point, change the API, rerun, compare with the truth.

The points are found from the outside, as an operator's kill would land: the run's own
step (it keeps it in its lock file, which is what the next run reads too) and, inside the
load step, dlt's load package folders (jobs new, started, completed; merge follow-ups).

The run is a process of its own, killed with SIGKILL, but it is forked from a server that
has imported chatfunnel once (multiprocessing's forkserver): importing dlt took 1.4 s of
CPU per kill, 31 times in the kill tests alone. The server imports and opens nothing
else, so each run starts as a fresh `chatfunnel run` would: its own environment, working
directory, connections and signal handlers.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    return out


def lock_step(pipeline_name: str) -> str | None:
    path = Path(os.environ["DLT_DATA_DIR"]) / "locks" / f"{pipeline_name}.lock"
    try:
        text = path.read_text(encoding="utf-8").strip()
        return json.loads(text).get("step") if text else None
    except (OSError, ValueError):
        return None


def load_jobs(pipeline_name: str) -> dict[str, list[str]]:
    """Job files of the package being loaded, by folder (new_jobs, started_jobs, completed_jobs)."""
    base = Path(os.environ["DLT_DATA_DIR"]) / "pipelines" / pipeline_name / "load" / "normalized"
    out: dict[str, list[str]] = {"new_jobs": [], "started_jobs": [], "completed_jobs": []}
    if not base.exists():
        return out
    for package in base.iterdir():
        for folder, names in out.items():
            directory = package / folder
            if directory.is_dir():
                names.extend(p.name for p in directory.iterdir() if not p.name.startswith("."))
    return out


POINTS: dict[str, Callable[[str], bool]] = {
    "extract": lambda name: lock_step(name) == "extract",
    "normalize": lambda name: lock_step(name) == "normalize",
    "load-before-jobs": lambda name: lock_step(name) == "load" and not load_jobs(name)["completed_jobs"],
    "load-between-jobs": lambda name: bool(load_jobs(name)["completed_jobs"]) and bool(load_jobs(name)["new_jobs"]),
    "load-after-jobs": lambda name: bool(load_jobs(name)["completed_jobs"]) and not load_jobs(name)["new_jobs"]
    and not load_jobs(name)["started_jobs"],
    "load-merge-followup": lambda name: any(".sql" in j or "merge" in j for j in load_jobs(name)["started_jobs"]
                                            + load_jobs(name)["new_jobs"]),
    "reconcile": lambda name: lock_step(name) == "reconcile",
    "reports": lambda name: lock_step(name) == "reports",
    "record": lambda name: lock_step(name) == "record",
}


def in_order(*steps: str) -> Callable[[str], bool]:
    """A point reached when the run's step has been each of `steps` in turn and is now the
    last: newest history first, `in_order("reports", "extract")` is the start of the second
    window (the run's first reports are the first window's)."""
    passed: list[str] = []

    def reached(name: str) -> bool:
        step = lock_step(name)
        if step is not None and len(passed) < len(steps) - 1 and step == steps[len(passed)]:
            passed.append(step)
        return len(passed) == len(steps) - 1 and step == steps[-1]

    return reached


# points that need a fresh condition per run (they remember what they saw)
BETWEEN_STEPS: dict[str, Callable[[], Callable[[str], bool]]] = {
    "next-window": lambda: in_order("reports", "extract"),
    "third-window": lambda: in_order("reports", "extract", "reports", "extract"),
}


@dataclass
class Kill:
    point: str
    landed: str  # where it really landed (the lock's step when the signal went)
    delay: float


# where a kill lands in a newest-first first load: inside a window's steps, or as the next starts
WINDOW_POINTS = ("extract", "normalize", "load-between-jobs", "reports", "next-window", "third-window")


def kill_at_random(args: list[str], pipeline_name: str, rng: random.Random) -> Kill | None:
    """`run_and_kill` at a point of `WINDOW_POINTS` and a delay after it, both drawn from `rng`."""
    point = rng.choice(WINDOW_POINTS)
    return run_and_kill(args, pipeline_name, point, delay=rng.uniform(0.0, 0.2))


def kill_a_first_load_again_and_again(args: list[str], pipeline_name: str, frontier: Callable[[], Any],
                                      news: Callable[[], None], *, seed: int, kills: int = 6) -> None:
    """Up to `kills` random kills of a newest-first first load, `news` arriving after each (a
    run that finishes ends the series). Each rerun must carry on: the span held complete
    (`frontier`, None before the first window committed) never shrinks, and the kills fall in
    at least two windows."""
    rng, landed, frontiers = random.Random(seed), [], []
    for _ in range(kills):
        kill = kill_at_random(args, pipeline_name, rng)
        if kill is None:
            break
        landed.append(kill)
        frontiers.append(frontier())
        news()
    known = [f for f in frontiers if f is not None]
    assert known == sorted(known, reverse=True), f"the span held complete shrank: {frontiers} ({landed})"
    assert len(landed) >= 4 and len(set(known)) >= 2, f"kills in fewer than two windows: {frontiers} ({landed})"


_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload(["pipelines.cli"])


def _run_cli(args: list[str], environ: dict[str, str], cwd: str) -> None:
    """`chatfunnel <args>` in the forked process, as the test's own environment sets it."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process ends here
    from pipelines.cli import main

    os._exit(main(args))


def run_and_kill(args: list[str], pipeline_name: str, point: str, *, delay: float, timeout: float = 120) -> Kill | None:
    """Start `chatfunnel <args>`, SIGKILL it `delay` s after `point` is reached.

    Returns None when the run finished before the point was seen (then it completed)."""
    proc = _FORKSERVER.Process(target=_run_cli, args=(args, env(), os.getcwd()), daemon=True)
    proc.start()
    condition = POINTS[point] if point in POINTS else BETWEEN_STEPS[point]()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.is_alive():
            if condition(pipeline_name):
                time.sleep(delay)
                landed = lock_step(pipeline_name)
                if landed is None or not proc.is_alive():
                    # the lock is emptied on release: the run finished its work before the signal
                    proc.join(timeout)
                    return None
                proc.kill()
                proc.join(30)
                return Kill(point, landed, delay)
            time.sleep(0.002)
        if proc.is_alive():
            raise AssertionError(f"the run never reached {point} within {timeout}s")
        return None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(30)
