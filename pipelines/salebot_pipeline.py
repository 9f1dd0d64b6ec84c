"""Salebot.pro -> DuckDB with plain dlt: the example to start from, or `chatfunnel run salebot`.

Run it from the project root: `python pipelines/salebot_pipeline.py`. It reads the key and
the base URL from `.dlt/secrets.toml` / `.dlt/config.toml` or the environment
(`SOURCES__SALEBOT__API_KEY`, `SOURCES__SALEBOT__BASE_URL`; `chatfunnel emulator salebot`
prints the values for the emulator) and loads into `chatfunnel.duckdb` dataset `salebot`.
After a successful load it marks the webhook pushes that load carried as consumed. A first
load too big for one window reads the newest clients first, then older ones, one load each.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dlt

from pipelines.warehouse.destinations import DUCKDB
from sources.report import SourceReport
from sources.salebot import mark_webhook_consumed, salebot_source


def main() -> None:
    # the warehouse `chatfunnel run` loads (`DESTINATION__DUCKDB__CREDENTIALS` names another file)
    pipeline = dlt.pipeline(pipeline_name="chatfunnel_salebot", destination=DUCKDB.open(), dataset_name="salebot")
    report = SourceReport()
    info = pipeline.run(salebot_source(report=report))
    print(info)
    mark_webhook_consumed(pipeline)
    requests = report.requests
    # a first load too big for one window read the newest clients: older ones follow, one window per load
    while report.history_continues:
        pending, report = sorted(report.history_pending), SourceReport()
        print(pipeline.run(salebot_source(history_step=True, report=report).with_resources(*pending)))
        requests += report.requests
    print(f"{requests} API requests; unfinished (continue next run): {sorted(report.incomplete) or 'none'}")


if __name__ == "__main__":
    main()
