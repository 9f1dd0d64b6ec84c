"""Leeloo.ai -> warehouse. Run this file as an example, or use `chatfunnel run leeloo`."""

from __future__ import annotations

import dlt
from dlt.sources import DltSource

from sources.leeloo import RESOURCE_ALIASES, RunReport, leeloo_source

from .options import RunOptions, select_resources


def build_leeloo_source(options: RunOptions) -> DltSource:
    """The configured Leeloo source for one run; `.report` fills in while it runs."""
    report = RunReport()
    source = leeloo_source(report=report, **options.source_kwargs())
    source = select_resources(source, options.resources, RESOURCE_ALIASES)
    source.report = report
    return source


if __name__ == "__main__":
    # Needs SOURCES__LEELOO__API_TOKEN (and SOURCES__LEELOO__BASE_URL for an emulator).
    pipeline = dlt.pipeline(
        pipeline_name="chatfunnel_leeloo", destination="duckdb", dataset_name="leeloo", progress="log"
    )
    source = build_leeloo_source(RunOptions(source="leeloo"))
    print(pipeline.run(source))
    print(f"{source.report.requests} requests; incomplete: {sorted(source.report.incomplete) or 'none'}")
