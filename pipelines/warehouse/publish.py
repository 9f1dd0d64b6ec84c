"""The BI snapshot: a consistent copy of the DuckDB warehouse for BI tools to read.

DuckDB allows one writer per file, and a BI tool (Metabase, Superset, Evidence) that holds
the file open — even read-only — makes the nightly load fail to open it for writing. So the
pipeline never shares its file: it loads into its *working* DuckDB file
(`DESTINATION__DUCKDB__CREDENTIALS`, `chatfunnel.duckdb`), and only after the load, the
report build and the run record all succeeded, `publish_snapshot` copies that file to a
temporary file beside the *BI* file and renames it over the BI file with `os.replace`
(atomic on POSIX). BI tools open only the BI file, read-only:
- a connection that has the old BI file open keeps reading the old inode: a complete,
  consistent snapshot of the previous night (never half-built reports);
- a connection opened after the rename sees the new night;
- the load never waits for, or fails because of, a reader.
The BI file is `<working stem>_bi.duckdb` beside the working file (`chatfunnel_bi.duckdb`),
or `chatfunnel.bi_path` (`CHATFUNNEL__BI_PATH`). A failed run publishes nothing:
the BI file stays at the last good night. (Windows cannot rename over an open file; there,
schedule the load when the BI tool is closed.)
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger("chatfunnel.publish")

BI_SUFFIX = "_bi"


# ---------------------------------------------------------------- BI snapshot


def bi_path_for(working_path: str | os.PathLike[str]) -> Path:
    """Where BI tools read: `chatfunnel.bi_path`, or `<working stem>_bi<suffix>` beside the
    working file."""
    from pipelines.config.settings import operations

    configured = operations().bi_path
    if configured:
        return Path(configured).expanduser()
    working = Path(working_path)
    suffix = working.suffix or ".duckdb"
    return working.with_name(f"{working.stem}{BI_SUFFIX}{suffix}")


def publish_snapshot(working_path: str | os.PathLike[str], bi_path: str | os.PathLike[str] | None = None) -> Path:
    """Atomically replace the BI file with a consistent copy of the working DuckDB file.

    Must run when no one writes the working file (right after the run, inside the run
    lock). Checkpoints it first so the copy carries everything (no WAL left beside it).
    Returns the BI file's path.
    """
    import duckdb

    working = Path(working_path)
    target = Path(bi_path) if bi_path is not None else bi_path_for(working)
    if not working.exists():
        raise FileNotFoundError(f"no DuckDB file to publish at {working}")
    if target.resolve() == working.resolve():
        raise ValueError("the BI file must not be the working file (set CHATFUNNEL__BI_PATH elsewhere)")
    con = duckdb.connect(str(working))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = working.with_name(working.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RuntimeError(f"{working} still has a write-ahead log after a checkpoint; is another process writing it?")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_into(working, out)
            os.fsync(out.fileno())
        # the copy must open as a database before it replaces anything
        check = duckdb.connect(str(tmp), read_only=True)
        check.execute("select count(*) from information_schema.tables").fetchone()
        check.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        try:  # make the rename itself durable
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("published %s -> %s", working, target)
    return target


def _copy_into(source: Path, out: BinaryIO) -> None:
    """Copy `source` into `out` without a descriptor of `source` in this process.

    The run publishes while it holds the working file open, and DuckDB's lock on it is a
    POSIX record lock: closing *any* descriptor of the file in the process that holds the
    lock releases it. A copy read here would leave the database open with no lock, and a
    BI tool or a `duckdb` shell could then open it read-write beside the run. A child
    process's descriptors do not touch this process's locks."""
    if os.name != "posix":  # Windows locks are per handle: a read here releases nothing
        with source.open("rb") as src:
            shutil.copyfileobj(src, out, length=16 * 1024 * 1024)
        return
    out.flush()
    done = subprocess.run(["cat", "--", str(source)], stdout=out, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:  # cat's exit status is no errno: the message says what failed
        detail = done.stderr.decode(errors="replace").strip() or f"cat exited with {done.returncode}"
        raise OSError(f"could not copy {source}: {detail}")


