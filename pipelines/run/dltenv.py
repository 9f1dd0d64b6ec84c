"""The process settings every run relies on: dlt's environment (set once, an environment
variable still wins), a filter for a dlt warning that is no news, and a short GIL switch
interval while a run goes."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

IO_SWITCH_INTERVAL = 0.001
APPEND_WARNING = ("filesystem", "prepare_load_table")  # (module, function) of dlt's lake client that warns


class _AppendFallbackFilter(logging.Filter):
    """dlt's filesystem destination warns, per table and per load, that it appends instead of
    merging: dozens of lines a run for what is simply how a Parquet lake works (the lake
    views pick the newest version of each row). The run says it once, in its summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.module, record.funcName) != APPEND_WARNING


_append_fallback = _AppendFallbackFilter()


def configure_dlt() -> None:
    """dlt settings every chatfunnel run relies on (an environment variable still wins)."""
    # a package with a job that can never load is aborted and the state it started from
    # restored, so the account keeps loading and that data is read again
    os.environ.setdefault("LOAD__AUTO_ABORT_ON_TERMINAL_ERROR", "true")
    # Arrow tables (chat messages) get `_dlt_load_id`/`_dlt_id` like every other table
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    # the local dlt folder stays bounded: a loaded package keeps its metadata, not its data files
    os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
    dlt_logger = logging.getLogger("dlt")
    if _append_fallback not in dlt_logger.filters:
        dlt_logger.addFilter(_append_fallback)


@contextlib.contextmanager
def io_bound_process() -> Iterator[None]:
    """A short GIL switch interval for the run: a fan-out is hundreds of small responses a
    second, each re-taking the GIL several times; at 5 ms (Python's default) a response
    that arrived waits for a thread running Python code (bench/README.md: ~5% faster)."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(min(saved, IO_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(saved)
