"""Kill a real `chatfunnel run` at a chosen point, change the API, rerun, compare with the truth.

The points are found from the outside, as an operator's kill would land: the run's own
step (it keeps it in its lock file, which is what the next run reads too) and, inside the
load step, dlt's load package folders (jobs new, started, completed; merge follow-ups).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def after(first: str, then: str) -> Callable[[str], bool]:
    """A point reached when the run's step is `then` after it was `first`: newest history
    first, `after("reports", "extract")` is the start of the second window."""
    seen: list[str] = []

    def reached(name: str) -> bool:
        step = lock_step(name)
        if step == first:
            seen.append(step)
        return bool(seen) and step == then

    return reached


# points that need a fresh condition per run (they remember what they saw)
BETWEEN_STEPS: dict[str, Callable[[], Callable[[str], bool]]] = {"next-window": lambda: after("reports", "extract")}


@dataclass
class Kill:
    point: str
    landed: str  # where it really landed (the lock's step when the signal went)
    delay: float


def run_and_kill(args: list[str], pipeline_name: str, point: str, *, delay: float, timeout: float = 120,
                 rng: random.Random | None = None) -> Kill | None:
    """Start `chatfunnel <args>`, SIGKILL it `delay` s after `point` is reached.

    Returns None when the run finished before the point was seen (then it completed)."""
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", *args], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    condition = POINTS[point] if point in POINTS else BETWEEN_STEPS[point]()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if condition(pipeline_name):
                time.sleep(delay)
                landed = lock_step(pipeline_name)
                if landed is None or proc.poll() is not None:
                    # the lock is emptied on release: the run finished its work before the signal
                    proc.wait(timeout=timeout)
                    return None
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                return Kill(point, landed, delay)
            time.sleep(0.002)
        if proc.poll() is None:
            raise AssertionError(f"the run never reached {point} within {timeout}s")
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
