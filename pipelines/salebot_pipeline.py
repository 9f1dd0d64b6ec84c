"""Salebot.pro -> warehouse. Run this file as an example, or use `chatfunnel run salebot`."""

from __future__ import annotations

import dlt
from dlt.sources import DltSource

from sources.salebot import RunReport, mark_webhook_consumed, salebot_source

from .options import RunOptions, select_resources


def build_salebot_source(options: RunOptions) -> DltSource:
    """The configured Salebot source for one run.

    Applies the resource selection, the ``--since/--until`` backfill window and the
    request budget. The returned source carries ``.report`` (a :class:`RunReport`: the
    API client with its request count, ``budget_exhausted``, ``incomplete``).
    """
    report = RunReport()
    source = salebot_source(report=report, **options.source_kwargs())
    source = select_resources(source, options.resources)
    source.report = report
    return source


def after_load(pipeline: dlt.Pipeline) -> int:
    """Call after a successful `pipeline.run`: marks the loaded webhook pushes consumed."""
    return mark_webhook_consumed(pipeline)


if __name__ == "__main__":
    # Needs SOURCES__SALEBOT__API_KEY (and SOURCES__SALEBOT__BASE_URL for the emulator:
    # `chatfunnel emulator salebot` prints both).
    pipeline = dlt.pipeline(
        pipeline_name="chatfunnel_salebot", destination="duckdb", dataset_name="salebot", progress="log"
    )
    source = build_salebot_source(RunOptions(source="salebot"))
    print(pipeline.run(source))
    after_load(pipeline)
    report: RunReport = source.report
    print(f"{report.requests} requests; incomplete: {sorted(report.incomplete) or 'none'}")
