"""The DuckDB file held open for as long as a run holds its lock.

A step opens the warehouse several times (dlt's load, its state, the deletions, the
layout, the reports, the run record: ~18 opens a run): each first open of a DuckDB file
reads its catalog, and each last close checkpoints its write-ahead log to disk. One
connection kept open for the length of `locks.warehouse_lock` makes every other open in
the process join the database already open (DuckDB shares one instance per file within a
process), and the file is checkpointed once, when the lock is let go. Nothing changes
for other processes: they open the file only under its lock, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger("chatfunnel.locks")


@contextmanager
def kept_open(path: Path, config: dict[str, Any] | None = None) -> Iterator[None]:
    """`path` open for the block when it is a DuckDB file this process can open; otherwise
    nothing is held (a file not created yet, or one the step's own open fails on and names
    in its error). `config`: what the step's opens pass to `duckdb.connect`, the same."""
    if not path.is_file():
        yield
        return
    import duckdb

    try:
        connection = duckdb.connect(str(path), config=config or {})
    except duckdb.Error as exc:
        logger.debug("not keeping %s open: %s", path, exc)
        yield
        return
    try:
        yield
    finally:
        connection.close()
