"""Several accounts side by side: one run per account, a bounded number at a time.

Each account has its own API rate limit and budget, so N accounts load in about the time
of one. One account runs in this process; several run as child processes of the same
command (`chatfunnel run <source> --account NAME`), the same per-account code path an
orchestrator runs, so a stuck or crashing account cannot take the others with it and each
gets a CPU of its own. On DuckDB the children extract side by side and take turns at the
file (see `lifecycle`). One account that fails does not stop the others. After all of them:
the cross-account views (`<source>_accounts`) and, on DuckDB, one BI snapshot.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pipelines import errors as error_types
from pipelines.config import codec
from pipelines.config.accounts import Account
from pipelines.config.options import RunOptions
from pipelines.errors import ChatfunnelError, ReportsFailed, SessionBlocked
from pipelines.operations.diagnosis import short
from pipelines.run.lifecycle import RunOutcome, run_account
from pipelines.warehouse.destinations import destination as described
from pipelines.warehouse.permissions import GrantMissing, check_postgres_grants

DEFAULT_PARALLEL_ACCOUNTS = 4
CHILD_GRACE_SECONDS = 20.0


def outcome_to_json(outcome: RunOutcome) -> dict[str, Any]:
    """Every field of the outcome, as JSON data (`codec`): for a parent process or an orchestrator."""
    data: dict[str, Any] = codec.to_json(outcome)
    return data


def outcome_from_json(data: dict[str, Any]) -> RunOutcome:
    return codec.from_json(RunOutcome, data)


def die_with_parent() -> None:
    """Called in a child: it gets SIGTERM when its parent dies, even by SIGKILL (Linux; no
    orphan runs go on loading after the command that started them is gone)."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_command(options_file: Path, outcome_file: Path) -> list[str]:
    """The command of a child process: its options travel in a file, every one of them."""
    return [sys.executable, "-m", "pipelines", "run", "--options-file", str(options_file),
            "--outcome-file", str(outcome_file)]


def child_options(options: RunOptions, account: Account) -> RunOptions:
    """What a child runs: one account, with no progress bars (its output is relayed)."""
    return replace(options.for_account(account), progress="none")


def write_options(path: Path, options: RunOptions) -> None:
    path.write_text(json.dumps(options.to_json()), encoding="utf-8")


def read_options(path: str) -> RunOptions:
    return RunOptions.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def child_environment() -> dict[str, str]:
    """The parent's environment, with this very checkout first on the import path: a child
    runs the code its parent runs, whatever else is installed."""
    root = str(Path(__file__).resolve().parents[2])
    paths = [root, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


class Children:
    """The running child processes, so that a signal to the parent reaches them all."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.lock = threading.Lock()
        self.stopping = False

    def start(self, command: list[str]) -> subprocess.Popen[str]:
        with self.lock:
            if self.stopping:
                raise KeyboardInterrupt
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env=child_environment())
            self.procs.append(proc)
            return proc

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)


def _relay(stream: IO[str], label: str, out: IO[str]) -> None:
    for line in stream:
        out.write(f"[{label}] {line}")
        out.flush()


def _run_child(children: Children, options: RunOptions, account: Account) -> RunOutcome:
    with tempfile.TemporaryDirectory(prefix="chatfunnel-") as tmp:
        outcome_file, options_file = Path(tmp) / "outcome.json", Path(tmp) / "options.json"
        write_options(options_file, child_options(options, account))
        proc = children.start(child_command(options_file, outcome_file))
        assert proc.stdout is not None
        _relay(proc.stdout, account.label, sys.stderr)
        code = proc.wait()
        if outcome_file.exists():
            return outcome_from_json(json.loads(outcome_file.read_text(encoding="utf-8")))
    failed = RunOutcome(account=account, destination=options.destination, dataset=account.dataset,
                        pipeline_name="", started_at=datetime.now().astimezone())
    failed.error = ChatfunnelError(
        f"The {account.label} run ended without a result (exit code {code}); its output is above. The next run "
        "recovers what it left.", step=None)
    return failed


def run_accounts(options: RunOptions, accounts: Sequence[Account], parallel: int,
                 on_outcome: Callable[[RunOutcome], None]) -> list[RunOutcome]:
    """Run every account; in child processes, `parallel` at a time, when there are several."""
    if len(accounts) == 1 or parallel <= 1:
        outcomes = []
        for account in accounts:
            outcome = run_account(options.for_account(account), publish=False)
            on_outcome(outcome)
            outcomes.append(outcome)
            if isinstance(outcome.error, error_types.Interrupted):
                break
        return outcomes
    children = Children()
    previous = signal.getsignal(signal.SIGTERM)

    def forward(signum: int, frame: object) -> None:
        children.stop()

    signal.signal(signal.SIGTERM, forward)
    results: list[RunOutcome] = []
    try:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="chatfunnel-account") as pool:
            futures = [pool.submit(_run_child, children, options, account) for account in accounts]
            try:
                for future in futures:
                    outcome = future.result()
                    on_outcome(outcome)
                    results.append(outcome)
            except KeyboardInterrupt:
                children.stop()
                raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return results


def write_outcome(path: str, outcome: RunOutcome) -> None:
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(outcome_to_json(outcome), default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class AfterAll:
    """What the step after every account did: lines for the summary, and what failed
    (typed, for the caller's exit code or its orchestrator's task state)."""

    lines: list[str] = field(default_factory=list)
    failures: list[ChatfunnelError] = field(default_factory=list)


def after_all_accounts(destination: str, outcomes: Sequence[RunOutcome], *, publish: bool) -> AfterAll:
    """After every account of a command: the cross-account views, then one BI snapshot.

    Never raises (the accounts' own loads are done and stay so); a failure is in
    `failures`, typed, for the caller's exit code or its orchestrator's task state.
    """
    from pipelines.config.registry import SOURCES
    from pipelines.run.lifecycle import publish_snapshot_or_raise
    from pipelines.warehouse.locks import warehouse_lock

    done = AfterAll()
    if described(destination).lake:
        return done
    with warehouse_lock(destination):
        for spec in SOURCES.values():
            accounts = spec.accounts()
            if not any(a.name for a in accounts):
                continue
            try:
                built = build_account_views(spec.name, accounts, destination)
            except (GrantMissing, SessionBlocked) as exc:  # named (a grant, a blocking reader); own reports intact
                done.failures.append(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - the accounts' own reports are fine
                error = ReportsFailed(f"The {spec.name} cross-account views were not rebuilt: {short(exc, 300)}. "
                                      "Each account's own reports are intact.", step="reports")
                done.failures.append(error)
                continue
            done.lines.append(f"{spec.name}: cross-account views rebuilt in {spec.name}_accounts ({built} views)")
        if publish and described(destination).publishes_snapshot and (not outcomes or any(o.ok for o in outcomes)):
            try:
                done.lines.append(f"BI snapshot published: {publish_snapshot_or_raise()}")
            except ChatfunnelError as exc:
                done.failures.append(exc)
    return done


def build_account_views(source: str, accounts: Sequence[Account], destination: str) -> int:
    """`<source>_accounts`: one view per report, the union over the accounts' reports."""
    from pipelines.run.lifecycle import bounded_lock_waits
    from pipelines.warehouse.account_pipeline import make_pipeline
    from transforms.runner import accounts_dataset
    from transforms.runner import build_account_views as build_views

    pipeline = make_pipeline(accounts[0], destination)
    target = accounts_dataset(source)
    if described(destination).shared_server:
        with pipeline.sql_client() as client:
            check_postgres_grants(client, [target], step="reports",
                                  consequence="The cross-account views were not rebuilt; each account's own "
                                              "reports are intact.", load=False)
    pairs = [(a.name or "default", f"{a.dataset}_reports") for a in accounts]
    built = bounded_lock_waits(pipeline, lambda: build_views(pipeline, source, pairs),
                               schemas=[target], what=f"rebuilding the {source} cross-account views",
                               step="reports")
    return len(built.views)
