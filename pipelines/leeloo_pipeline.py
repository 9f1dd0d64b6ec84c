"""Leeloo.ai -> warehouse. Run this file as an example, or use `chatfunnel run leeloo`."""

from __future__ import annotations

from typing import Any

import dlt

from sources.leeloo import RESOURCE_ALIASES, RunReport, leeloo_source

from .options import RunOptions


def build_leeloo_source(options: RunOptions) -> tuple[Any, RunReport]:
    """The configured source for one run, and the report it fills in while running."""
    report = RunReport()
    kwargs: dict[str, Any] = {"report": report}
    if options.since is not None:
        kwargs["since"] = options.since
    if options.until is not None:
        kwargs["until"] = options.until
    if options.max_requests is not None:
        kwargs["max_requests"] = options.max_requests
    if options.concurrency is not None:
        kwargs["concurrency"] = options.concurrency
    kwargs.update(options.extra)
    source = leeloo_source(**kwargs)
    if options.resources:
        wanted = []
        for name in options.resources:
            name = RESOURCE_ALIASES.get(name, name)
            if name not in source.resources:
                from .runner import ChatfunnelError

                raise ChatfunnelError(
                    f"Unknown Leeloo resource '{name}'. Available: "
                    + ", ".join(sorted(set(source.resources) | set(RESOURCE_ALIASES)))
                )
            wanted.append(name)
        source = source.with_resources(*dict.fromkeys(wanted))
    return source, report


if __name__ == "__main__":
    # Needs SOURCES__LEELOO__API_TOKEN (and SOURCES__LEELOO__BASE_URL for an emulator).
    pipeline = dlt.pipeline(
        pipeline_name="chatfunnel_leeloo", destination="duckdb", dataset_name="leeloo", progress="log"
    )
    source, report = build_leeloo_source(RunOptions(source="leeloo"))
    print(pipeline.run(source))
    print(f"{report.requests} requests; incomplete: {sorted(report.incomplete) or 'none'}")
