"""What a run shows while it works: dlt's progress collector for `--progress auto|log|none`."""

from __future__ import annotations

import sys
from typing import IO, Any, TextIO, cast

PROGRESS_MODES = ("auto", "log", "none")


def progress_collector(mode: str = "auto", stream: IO[str] | None = None) -> Any:
    """dlt's collector for a mode:

    - `auto` (default): on a terminal, bars (tqdm/enlighten when installed, else dlt's log
      collector every 2 s); off a terminal (cron, CI, Airflow) nothing at all;
    - `log`: on a terminal as `auto`; off a terminal one line per minute on stderr, for long
      first loads written to a log file;
    - `none`: nothing.
    """
    if mode == "none":
        return None
    stream = stream if stream is not None else sys.stderr
    try:
        interactive = bool(stream.isatty())
    except (AttributeError, ValueError):
        interactive = False
    from dlt import progress

    if interactive:
        for name in ("enlighten", "tqdm"):
            try:
                __import__(name)
            except ImportError:
                continue
            return getattr(progress, name)()
        return progress.log(log_period=2.0, logger=cast(TextIO, stream), dump_system_stats=False)
    if mode == "auto":
        return None
    return progress.log(log_period=60.0, logger=cast(TextIO, stream), dump_system_stats=False)
