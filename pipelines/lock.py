"""Overlap guard: two `chatfunnel run` of the same pipeline never run at once.

`run_lock(name)` takes an OS file lock (`fcntl.flock`, exclusive) on
`<dlt data dir>/locks/<name>.lock`. The lock belongs to the open file, so the kernel
releases it when the process ends however it ends (kill -9, OOM, reboot): there is no
stale lock to clean up and cron needs no `flock(1)` wrapper. The second run waits up to
`wait` seconds, then raises `RunLocked` (a `ChatfunnelError`, exit code 75 = EX_TEMPFAIL)
naming the pid, host and start time of the run that holds the lock. It has done nothing
by then, so nothing can be half-written by the two of them.

Use one name per pipeline (`chatfunnel_leeloo`) and, for DuckDB, one per warehouse file
(`lock_name_for_file(path)`): DuckDB allows one writer per file, so a Leeloo run and a
Salebot run into the same file must take turns too. `run_locks(names)` takes several in a
fixed (sorted) order so two runs can never deadlock.

flock works on local disks; on NFS/SMB it may not be honoured — keep `DLT_DATA_DIR` local.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no overlap guard
    fcntl = None  # type: ignore[assignment]

from .runner import ChatfunnelError

POLL_SECONDS = 0.2


class RunLocked(ChatfunnelError):
    """Another run holds the lock. Nothing was done by this one."""

    exit_code = 75  # EX_TEMPFAIL: try again later


def lock_dir() -> Path:
    try:
        from dlt.common.runtime.run_context import active

        base = Path(active().data_dir)
    except Exception:  # noqa: BLE001
        base = Path(os.environ.get("DLT_DATA_DIR") or Path.home() / ".dlt")
    return base / "locks"


def lock_name_for_file(path: str | os.PathLike[str]) -> str:
    """A lock name for a file-based warehouse (e.g. the DuckDB file): same file, same name."""
    resolved = str(Path(path).expanduser().resolve())
    return f"file_{Path(resolved).name}_{hashlib.sha1(resolved.encode()).hexdigest()[:10]}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "chatfunnel"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    parts = [f"pid {info.get('pid')}" if info.get("pid") else "another process"]
    if info.get("host"):
        parts.append(f"on {info['host']}")
    if info.get("started_at"):
        parts.append(f"since {info['started_at']}")
    if info.get("command"):
        parts.append(f"({info['command']})")
    return " ".join(parts)


@contextmanager
def run_lock(name: str, wait: float = 0) -> Iterator[Path]:
    """Hold the exclusive lock `name` for the duration of the block.

    Waits up to `wait` seconds (0 = do not wait) for a run holding it to finish, then
    raises `RunLocked`. Yields the lock file's path.
    """
    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_safe(name)}.lock"
    if fcntl is None:  # pragma: no cover
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(0.0, wait)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    waited = f"waited {wait:g}s; " if wait else ""
                    raise RunLocked(
                        f"Another chatfunnel run of {name} is still in progress ({_holder(path)}); "
                        f"{waited}this run did nothing and exits so the two cannot overlap. "
                        f"The next scheduled run will pick up where that one ends; to queue behind "
                        f"it instead, pass --wait SECONDS."
                    ) from None
                time.sleep(POLL_SECONDS)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": ("chatfunnel " + " ".join(sys.argv[1:3])) if sys.argv[1:] else None,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def run_locks(names: Iterable[str], wait: float = 0) -> Iterator[list[Path]]:
    """Several locks, taken in sorted order (no deadlock), released in reverse; one deadline."""
    deadline = time.monotonic() + max(0.0, wait)
    with ExitStack() as stack:
        paths = []
        for name in sorted(set(names)):
            remaining = max(0.0, deadline - time.monotonic())
            paths.append(stack.enter_context(run_lock(name, wait=remaining)))
        yield paths


def lock_names(pipeline_name: str, destination: str) -> list[str]:
    """The locks a run or a report rebuild of one pipeline takes: the pipeline's, and on
    DuckDB the warehouse file's (one writer per file)."""
    names = [pipeline_name]
    if destination == "duckdb":
        from .runner import duckdb_file

        names.append(lock_name_for_file(duckdb_file()))
    return names


def transform_lock_names(pipeline: object, destination: str) -> list[str]:
    """`lock_names` for `chatfunnel transform` (which has the pipeline at hand)."""
    return lock_names(getattr(pipeline, "pipeline_name"), destination)
