"""Overlap guard: two `chatfunnel run` of the same pipeline never run at once.

`run_lock(name)` takes an OS file lock (`fcntl.flock`, exclusive) on
`<dlt data dir>/locks/<name>.lock`. The lock belongs to the open file, so the kernel
releases it when the process ends however it ends (kill -9, OOM, reboot): there is no
stale lock to clean up and cron needs no `flock(1)` wrapper. The second run waits up to
`wait` seconds, then raises `RunLocked` (a `ChatfunnelError`, exit code 75 = EX_TEMPFAIL)
naming the pid, host and start time of the run that holds the lock. It has done nothing
by then, so nothing can be half-written by the two of them.

One name per pipeline (`chatfunnel_leeloo`) for the whole run. A DuckDB file allows one
process at a time, so every step that opens the file (`warehouse_lock`) takes the file's
lock too, briefly: two accounts' runs extract side by side and take turns at the file.
`run_locks(names)` takes several in a fixed (sorted) order so two runs can never deadlock.

Readers (`chatfunnel status`, `chatfunnel report`) never take a writer's place: they open a
DuckDB file only under `reader_lock`, a *shared* lock on the same file lock, held for the
milliseconds of their reads and waited for a bounded time (a run's step holds the file
exclusively; a reader that cannot get in within its wait reads the BI snapshot instead).
A run's own lock waits `READER_GRACE_SECONDS` even with `--wait 0`, so a reader that looks
at a lock file at the very moment a run starts (`run_in_progress`) cannot make it exit 75.

flock works on local disks; on NFS/SMB it may not be honoured — keep `DLT_DATA_DIR` local.
Runs on different machines into one Postgres dataset serialise on a Postgres advisory lock
(`destination_lock`), which Postgres releases when the holding connection goes away.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no overlap guard
    fcntl = None  # type: ignore[assignment]

from pipelines.errors import RunLocked
from pipelines.warehouse.destinations import destination as described
from pipelines.warehouse.destinations import destination_of

POLL_SECONDS = 0.2
READER_GRACE_SECONDS = 2.0
"""A lock is waited for at least this long: a reader's probe holds it for microseconds, a
run for minutes, so a run that finds it held this long has found another run."""


def lock_dir() -> Path:
    from dlt.common.runtime.run_context import active

    return Path(active().data_dir) / "locks"


def lock_name_for_file(path: str | os.PathLike[str]) -> str:
    """A lock name for a file-based warehouse (e.g. the DuckDB file): same file, same name."""
    resolved = str(Path(path).expanduser().resolve())
    return f"file_{Path(resolved).name}_{hashlib.sha1(resolved.encode()).hexdigest()[:10]}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "chatfunnel"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8").strip() or "{}")
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


class HeldLock:
    """A lock this process holds. Its file says who holds it and at which step; the file is
    emptied on release, so a holder that was killed leaves its last words behind
    (`previous`), which is how the next run (and `chatfunnel status`) knows of it."""

    def __init__(self, path: Path, fd: int, info: dict[str, Any], previous: dict[str, Any] | None) -> None:
        self.path = path
        self._fd = fd
        self.info = info
        self.previous = previous

    def note(self, step: str, progress: str | None = None) -> None:
        """Record the step the run is at, since when and how far it got, if known (a pwrite;
        cheap enough for every step)."""
        self.info["step"] = step
        self.info["progress"] = progress
        self.info["step_since"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = json.dumps(self.info).encode()
        with suppress(OSError):
            os.pwrite(self._fd, data.ljust(max(len(data), 512)), 0)


def _read(fd: int) -> dict[str, Any] | None:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def _probe(name: str) -> tuple[bool, dict[str, Any] | None]:
    """(held right now, what the lock file says), taking the lock shared for a microsecond:
    a run that starts at that moment waits `READER_GRACE_SECONDS`, so it never notices."""
    path = lock_dir() / f"{_safe(name)}.lock"
    if fcntl is None or not path.exists():
        return False, None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True, _read(fd)
        try:
            return False, _read(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_in_progress(name: str) -> dict[str, Any] | None:
    """What the run holding `name` says of itself (pid, host, command, started_at, step,
    step_since); None when no run holds it."""
    held, info = _probe(name)
    if not held:
        return None
    return info or {}


def killed_holder(name: str) -> dict[str, Any] | None:
    """What a holder of `name` that was killed left in its lock file; None if the last
    holder released it (or it is held right now)."""
    held, info = _probe(name)
    return None if held else info


@contextmanager
def run_lock(name: str, wait: float = 0) -> Iterator[HeldLock]:
    """Hold the exclusive lock `name` for the duration of the block.

    Waits up to `wait` seconds (0 = do not wait) for a run holding it to finish, then
    raises `RunLocked`.
    """
    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_safe(name)}.lock"
    if fcntl is None:  # pragma: no cover
        yield HeldLock(path, -1, {}, None)
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(READER_GRACE_SECONDS, wait)
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
                        f"it instead, pass --wait SECONDS.",
                        step="lock",
                    ) from None
                time.sleep(POLL_SECONDS)
        previous = _read(fd)
        if previous is not None:  # its holder was killed: when it last wrote is when it died
            previous["last_seen_at"] = datetime.fromtimestamp(os.fstat(fd).st_mtime, timezone.utc).isoformat()
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": ("chatfunnel " + " ".join(sys.argv[1:3])) if sys.argv[1:] else None,
        }
        held = HeldLock(path, fd, info, previous)
        with suppress(OSError):
            os.ftruncate(fd, 0)
        held.note("started")
        try:
            yield held
        finally:
            with suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def run_locks(names: Iterable[str], wait: float = 0) -> Iterator[list[HeldLock]]:
    """Several locks, taken in sorted order (no deadlock), released in reverse; one deadline."""
    deadline = time.monotonic() + max(0.0, wait)
    with ExitStack() as stack:
        held = []
        for name in sorted(set(names)):
            remaining = max(0.0, deadline - time.monotonic())
            held.append(stack.enter_context(run_lock(name, wait=remaining)))
        yield held


def warehouse_lock_name(path: str | os.PathLike[str]) -> str:
    """The lock of a file-based warehouse (the DuckDB file): same file, same name."""
    return lock_name_for_file(path)


@contextmanager
def warehouse_lock(destination: str, wait: float = 24 * 3600) -> Iterator[None]:
    """Hold the DuckDB file while a step opens it, and keep it open meanwhile (`kept_open`);
    other destinations need no local lock."""
    if not described(destination).file_lock:
        yield
        return
    from pipelines.warehouse.account_pipeline import duckdb_file
    from pipelines.warehouse.destinations import duckdb_connect_config
    from pipelines.warehouse.kept_open import kept_open

    path = duckdb_file()
    with run_lock(warehouse_lock_name(path), wait=wait), kept_open(path, duckdb_connect_config()):
        yield


@contextmanager
def reader_lock(path: str | os.PathLike[str], wait: float) -> Iterator[bool]:
    """Share the file `path` with other readers, never with a run's step: yields True once
    the shared lock is held (open the file read-only, read, close, all inside the block),
    False if a run's step held the file for all of `wait` seconds (read something else)."""
    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / f"{_safe(warehouse_lock_name(path))}.lock"
    if fcntl is None:  # pragma: no cover
        yield True
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _flock_shared(fd, wait):
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _flock_shared(fd: int, wait: float) -> bool:
    """Take `fd`'s lock shared, polling up to `wait` seconds; whether it was taken."""
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(POLL_SECONDS / 4, max(0.0, deadline - time.monotonic())))


ADVISORY_NAMESPACE = 0x43464E4C  # "CFNL": keeps chatfunnel's advisory locks apart from others'
HOLDER = re.compile(r"^chatfunnel (?P<host>\S+) pid (?P<pid>\d+)$")


def _end_zombie_holder(client: Any, key: int) -> bool:
    """The lock's holder is a session of a chatfunnel run on this very host whose process is
    gone (its connection went silent and it was ended, but the server never heard): end
    that session so the lock is free. A holder on another host is left alone."""
    rows = client.execute_sql(
        "select a.pid, a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.classid = %s and l.objid = %s and l.granted", ADVISORY_NAMESPACE, key)
    for backend, application in rows:
        match = HOLDER.match(application or "")
        if match and match["host"] == socket.gethostname()[:40] and not _alive(int(match["pid"])):
            if not client.execute_sql("select pg_terminate_backend(%s)", backend)[0][0]:
                return False
            for _ in range(50):  # termination is asynchronous: wait for the session to be gone
                if not client.execute_sql("select 1 from pg_stat_activity where pid = %s", backend):
                    return True
                time.sleep(0.1)
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def destination_lock(pipeline: Any, wait: float = 0) -> Iterator[None]:
    """On Postgres: a session advisory lock per pipeline, across machines.

    Held on a connection of its own for the whole run; Postgres drops it when that
    connection ends, however the run ends. Another host's run of the same pipeline waits
    up to `wait` seconds, then raises `RunLocked` naming the holder.
    """
    if not destination_of(pipeline).shared_server:
        yield
        return
    key = int(hashlib.sha1(pipeline.pipeline_name.encode()).hexdigest()[:7], 16)
    holder = f"chatfunnel {socket.gethostname()[:40]} pid {os.getpid()}"
    deadline = time.monotonic() + max(0.0, wait)
    with pipeline.sql_client() as client:  # a connection of its own, with the run's timeouts and keepalives
        client.execute_sql("select set_config('application_name', %s, false)", holder)
        while not client.execute_sql("select pg_try_advisory_lock(%s, %s)", ADVISORY_NAMESPACE, key)[0][0]:
            if _end_zombie_holder(client, key):
                continue
            if time.monotonic() >= deadline:
                rows = client.execute_sql(
                    "select a.application_name, a.backend_start from pg_locks l join pg_stat_activity a "
                    "on a.pid = l.pid where l.locktype = 'advisory' and l.classid = %s and l.objid = %s "
                    "and l.granted", ADVISORY_NAMESPACE, key)
                who = f"{rows[0][0] or 'another client'} since {rows[0][1]:%Y-%m-%d %H:%M:%S} UTC" if rows \
                    else "another host"
                raise RunLocked(
                    f"Another chatfunnel run of {pipeline.pipeline_name} is loading the same Postgres dataset "
                    f"({who}); this run did nothing and exits so the two cannot overlap. Pass --wait SECONDS "
                    "to queue behind it.",
                    step="lock",
                )
            time.sleep(1.0)
        try:
            yield
        finally:
            with suppress(Exception):
                client.execute_sql("select pg_advisory_unlock(%s, %s)", ADVISORY_NAMESPACE, key)
