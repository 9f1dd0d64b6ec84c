"""`chatfunnel report`: one self-contained HTML dashboard of every account's funnel.

The page opens offline (plotly.js is inlined once, nothing is fetched, nothing links out)
and treats every string as a stranger's (see `markup`). It shows:

- an accounts overview: one row per account of every source (freshness, people, paid
  revenue per currency, the last run's outcome) and, where the cross-account dataset
  `<source>_accounts` exists, the accounts side by side;
- a page per account (`#account-<dataset>`): freshness and headline tiles, then the
  sections its source lists in `pipelines.config.registry` (for Leeloo: the funnel of every
  tunnel, ROMI per tunnel, the trend over days with days lacking a snapshot shown as gaps,
  daily activity, the source and UTM funnels with paid revenue per currency, manager
  response times), and its last runs with their whole error text.

On DuckDB it reads the published BI snapshot when there is one (so it never contends with
a running load for the working file), else the working file.
"""

from __future__ import annotations

from pipelines.operations.dashboard.command import (
    DEFAULT_OUT,
    add_report_arguments,
    charts_with_data,
    figures_in,
    readers_for,
    render_dashboard,
    report_from_args,
    report_target,
    summary_in,
    write_dashboard,
)
from pipelines.operations.dashboard.reading import AccountPage, ReportReader, discover_accounts

__all__ = [
    "DEFAULT_OUT",
    "AccountPage",
    "ReportReader",
    "add_report_arguments",
    "charts_with_data",
    "discover_accounts",
    "figures_in",
    "readers_for",
    "render_dashboard",
    "report_from_args",
    "report_target",
    "summary_in",
    "write_dashboard",
]
