"""Leeloo.ai -> DuckDB with plain dlt: the example to start from, or `chatfunnel run leeloo`.

Run it from the project root: `python pipelines/leeloo_pipeline.py`. It reads the token
and the base URL from `.dlt/secrets.toml` / `.dlt/config.toml` or the environment
(`SOURCES__LEELOO__API_TOKEN`, `SOURCES__LEELOO__BASE_URL`; `chatfunnel emulator leeloo`
prints the values for the emulator), loads into `chatfunnel.duckdb` dataset `leeloo`,
and prints dlt's load info. A first load too big for one window (under a rate limit) reads
the last day first, then older history one window per load, newest first, until it is all
in or the budget is spent. `chatfunnel run` adds the run lock, recovery after a crash, the
reports, the run history, the BI snapshot and alerts around the same source.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dlt

from pipelines.warehouse.destinations import DUCKDB
from sources.leeloo import leeloo_source
from sources.report import SourceReport


def main() -> None:
    # the warehouse `chatfunnel run` loads (`DESTINATION__DUCKDB__CREDENTIALS` names another file)
    pipeline = dlt.pipeline(pipeline_name="chatfunnel_leeloo", destination=DUCKDB.open(), dataset_name="leeloo")
    report = SourceReport()
    print(pipeline.run(leeloo_source(report=report)))
    requests = report.requests
    # a first load read the last day: older history follows, one window per load
    while report.history_continues:
        pending, report = sorted(report.history_pending), SourceReport()
        print(pipeline.run(leeloo_source(history_step=True, report=report).with_resources(*pending)))
        requests += report.requests
    print(f"{requests} API requests; unfinished (continue next run): {sorted(report.incomplete) or 'none'}")


if __name__ == "__main__":
    main()
