"""What every scenario needs: emulators in their own processes, `chatfunnel run` in another,
and what the machine was doing meanwhile.

A run is measured from outside, the way a user sees it: wall time, peak resident memory of
the whole process tree (a several-accounts run is a parent and its children), CPU seconds
(user + system, the tree's, from `wait4`), the step times dlt's own trace recorded in each
pipeline's folder, and how many cores *other* processes used while it ran (this is a shared
2-core machine: a figure measured beside a test suite is not the same figure).
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
_code = [Path(os.environ.get("CHATFUNNEL_BENCH_CODE") or REPO).resolve()]


def code_tree() -> Path:
    """The source tree `chatfunnel run` is imported from (another checkout: `use_code`)."""
    return _code[-1]


@contextmanager
def use_code(tree: Path) -> Iterator[None]:
    """Runs inside use another checkout's code, to compare two commits in pairs."""
    _code.append(tree.resolve())
    try:
        yield
    finally:
        _code.pop()
PG_DSN = os.environ.get("CHATFUNNEL_BENCH_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/test")
SAMPLE_SECONDS = 0.05


# ---------------------------------------------------------------- emulators


@dataclass
class Emulator:
    """A Leeloo emulator in its own process (so it never shares the pipeline's GIL)."""

    proc: subprocess.Popen[str]
    url: str
    token: str

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        if body is None:
            return requests.get(f"{self.url}/__admin/{path}", timeout=600).json()
        return requests.post(f"{self.url}/__admin/{path}", json=body, timeout=600).json()

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)


def process_cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def stop_process(proc: subprocess.Popen[str] | psutil.Popen, wait: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `wait` seconds."""
    proc.terminate()
    try:
        proc.wait(wait)
    except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
        proc.kill()
        proc.wait(wait)


def start_emulator(scale: int, *, latency_ms: float = 0, rate_limit: int | None = None, token: str = "bench-token",
                   seed: int = 11, extra: Sequence[str] = ()) -> Emulator:
    args = [sys.executable, "-m", "emulators", "leeloo", "--port", "0", "--seed", str(seed), "--scale", str(scale),
            "--token", token, "--latency-ms", str(latency_ms), *extra]
    if rate_limit:
        args += ["--rate-limit", str(rate_limit)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "emulator on http" in line:
            url = line.split(" on ", 1)[1].split()[0]
            # keep draining its output so a chatty emulator never blocks on a full pipe
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return Emulator(proc, url, token)
    raise RuntimeError("the emulator did not start")


@contextmanager
def emulators(*specs: dict[str, Any]) -> Iterator[list[Emulator]]:
    started: list[Emulator] = []
    try:
        for spec in specs:
            started.append(start_emulator(**spec))
        yield started
    finally:
        for emu in started:
            emu.stop()


# ---------------------------------------------------------------- the machine


class MachineLoad:
    """Cores used by everything else while a measurement runs: busy CPU time of the whole
    machine minus our own processes' CPU time, over the wall time."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._busy = _busy_seconds()
        self._steal = _steal_seconds()

    def others_cores(self, own_cpu_seconds: float) -> float:
        wall = time.monotonic() - self._start
        busy = _busy_seconds() - self._busy
        return round(max(0.0, busy - own_cpu_seconds) / wall, 2) if wall else 0.0

    def steal_share(self) -> float:
        wall = time.monotonic() - self._start
        return round((_steal_seconds() - self._steal) / wall / (psutil.cpu_count() or 1), 3) if wall else 0.0


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def _steal_seconds() -> float:
    return float(getattr(psutil.cpu_times(), "steal", 0.0))


# ---------------------------------------------------------------- a chatfunnel run


@dataclass
class StepTime:
    started: float  # unix time
    seconds: float


@dataclass
class CliRun:
    command: list[str]
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the whole process tree
    peak_rss: int  # bytes, the tree's sum at its highest sample
    output: str
    others_cores: float  # other processes on the machine meanwhile
    steal: float  # the hypervisor's share of our cores taken by neighbours
    emulator_cpu_s: float = 0.0
    started_at: float = 0.0
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)  # (unix time, cumulative cpu s)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (unix time, the tree's resident bytes)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds of the run's processes between two unix times (from the samples)."""
        return _interpolate(self.cpu_samples, end) - _interpolate(self.cpu_samples, start)

    def peak_mb_between(self, start: float, end: float) -> int:
        """Peak resident memory of the tree between two unix times (0 when not sampled)."""
        return round(max((rss for t, rss in self.rss_samples if start <= t <= end), default=0) / 2**20)

    @property
    def peak_mb(self) -> int:
        return round(self.peak_rss / 2**20)


def _interpolate(samples: list[tuple[float, float]], at: float) -> float:
    if not samples:
        return 0.0
    if at <= samples[0][0]:
        return samples[0][1]
    for (t0, c0), (t1, c1) in itertools.pairwise(samples):
        if t0 <= at <= t1:
            return c0 + (c1 - c0) * ((at - t0) / (t1 - t0) if t1 > t0 else 0)
    return samples[-1][1]


_NO_BYTECODE = "PYTHONDONTWRITEBYTECODE"


@functools.cache
def compiled(tree: Path) -> Path:
    """`tree` with its bytecode written (`__pycache__`, ignored by git), once: a user's
    installed chatfunnel has it from the install, so a measured run must not compile ~110
    modules (0.1-0.2 s of every start) because this machine sets PYTHONDONTWRITEBYTECODE."""
    folders = [str(tree / name) for name in ("pipelines", "sources", "transforms") if (tree / name).is_dir()]
    env = {k: v for k, v in os.environ.items() if k != _NO_BYTECODE}
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return tree


def bench_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a run: its own dlt folder and DuckDB file in `workdir`, and the
    code tree's bytecode compiled beforehand (`compiled`)."""
    return {
        **{k: v for k, v in os.environ.items() if k != _NO_BYTECODE},
        "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(compiled(code_tree())), str(REPO)])),
        "DLT_DATA_DIR": str(workdir / "dlt"),
        "DESTINATION__DUCKDB__CREDENTIALS": str(workdir / "bench.duckdb"),
        "DESTINATION__POSTGRES__CREDENTIALS": PG_DSN,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        **extra,
    }


def run_cli(args: Sequence[str], workdir: Path, env: dict[str, str], *, check: bool = True,
            emulators: Sequence[Emulator] = (), module: str = "pipelines") -> CliRun:
    """`python -m pipelines <args>` in its own process, in `workdir`; measured from outside."""
    command = [sys.executable, "-m", module, *args]
    load = MachineLoad()
    emu_before = sum(e.cpu_seconds() for e in emulators)
    started_at = time.time()
    started = time.monotonic()
    proc = psutil.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""), daemon=True)
    reader.start()
    peak = 0
    samples: list[tuple[float, float]] = [(started_at, 0.0)]
    rss_samples: list[tuple[float, int]] = []
    gone: dict[int, float] = {}  # children seen, by pid: their last CPU reading
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            tree = [proc, *proc.children(recursive=True)]
            rss, cpu = 0, 0.0
            for p in tree:
                with p.oneshot():
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    own = t.user + t.system
                    cpu += own
                    if p.pid != proc.pid:
                        gone[p.pid] = own
            live = {p.pid for p in tree}
            cpu += sum(c for child, c in gone.items() if child not in live)
            peak = max(peak, rss)
            now = time.time()
            samples.append((now, cpu))
            rss_samples.append((now, rss))
        except psutil.Error:
            pass
        time.sleep(SAMPLE_SECONDS)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(30)
    cpu_total = usage.ru_utime + usage.ru_stime  # the kernel's figure: the child and all it reaped
    samples.append((time.time(), cpu_total))
    emu_cpu = sum(e.cpu_seconds() for e in emulators) - emu_before
    run = CliRun(command=list(command), returncode=proc.returncode, wall_s=wall, cpu_s=cpu_total, peak_rss=peak,
                 output="".join(out), others_cores=load.others_cores(cpu_total + emu_cpu), steal=load.steal_share(),
                 emulator_cpu_s=emu_cpu, started_at=started_at, cpu_samples=samples, rss_samples=rss_samples)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` exited {proc.returncode}:\n{run.output[-4000:]}")
    return run


# ---------------------------------------------------------------- what dlt recorded


def trace_steps(dlt_dir: Path) -> dict[str, dict[str, StepTime]]:
    """Per pipeline: the last extract, normalize and load steps of dlt's trace (`trace.pickle`
    in the pipeline's folder: dlt merges separate extract/normalize/load calls into one)."""
    from dlt.pipeline.trace import load_trace

    found: dict[str, dict[str, StepTime]] = {}
    pipelines = dlt_dir / "pipelines"
    if not pipelines.is_dir():
        return found
    for folder in sorted(pipelines.iterdir()):
        if folder.name.endswith("_runs"):
            continue  # the run history's sibling pipeline
        trace = load_trace(str(folder))
        if trace is None:
            continue
        steps: dict[str, StepTime] = {}
        for step in trace.steps:
            if step.step in ("extract", "normalize", "load") and step.finished_at is not None:
                steps[step.step] = StepTime(step.started_at.timestamp(),
                                            (step.finished_at - step.started_at).total_seconds())
        found[folder.name] = steps
    return found


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def rows_loaded(output: str) -> int:
    """Rows the run's summary line reports (`rows: a=1, b=2`), summed over accounts."""
    total = 0
    for line in output.splitlines():
        if "rows:" in line:
            for part in line.split("rows:", 1)[1].split(","):
                if "=" in part:
                    total += int(part.split("=")[1])
    return total
