"""Coverage on the dashboard: while a backfill is still loading an account's older history,
a banner at the top of its page says from when its figures are whole, and every chart over
days or weeks hides and shades the periods before that (their counts are partial, not zero).
The decisions are `pipelines.operations.coverage`'s; a warehouse without the `coverage`
report shows nothing of it."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.config.accounts import Account
from pipelines.config.report_settings import DEFAULT_TIMEZONE, reports_timezone
from pipelines.errors import UsageError
from pipelines.operations import coverage as decide
from pipelines.operations.dashboard import charts
from pipelines.operations.dashboard.markup import text
from pipelines.operations.dashboard.reading import AccountPage, ReportReader
from pipelines.operations.dashboard.sections import Block
from pipelines.operations.status.times import iso_utc, local_time

TIME_CHARTS = {"daily_activity": 1, "salebot_daily_activity": 1, "manager_response_times": 7, "time_to_pay": 7,
               "order_timing": 7, "salebot_time_to_pay": 7}
"""The charts over time, by block id, and the days of their period (a day, an ISO week). The
tunnel trend is not among them: its points are the nightly snapshots of Leeloo's counters,
which no backfill loads."""


@dataclass(frozen=True)
class AccountCoverage:
    """An account's coverage and the zone its reports count days in."""

    coverage: decide.Coverage | None
    zone: ZoneInfo

    @property
    def under_way(self) -> bool:
        return decide.backfill_under_way(self.coverage)

    def first_whole(self, period_days: int) -> date | None:
        """The first whole day (or week) of the account's charts; None while none is."""
        assert self.coverage is not None
        if period_days == 7:
            return decide.first_whole_week(self.coverage, self.zone)
        return decide.first_whole_day(self.coverage, self.zone)


def account_zone(account: AccountPage) -> ZoneInfo:
    """The account's reports timezone (what its days are); UTC when the setting is no zone."""
    name = None if account.is_default else account.dataset[len(account.spec.name) + 1:]
    try:
        return ZoneInfo(reports_timezone(Account(account.spec.name, name)))
    except (UsageError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def read_coverage(reader: ReportReader, account: AccountPage) -> AccountCoverage:
    """The account's `coverage` report; none when the warehouse has no such report or it cannot be read."""
    rows = None
    with contextlib.suppress(Exception):
        rows = reader.table(account.reports, decide.REPORT)
    return AccountCoverage(decide.coverage_from_rows(rows, account.spec.complete_since), account_zone(account))


def marked(blocks: list[Block], covered: AccountCoverage) -> list[Block]:
    """The blocks with every chart over time marked where it is not whole yet."""
    if not covered.under_way:
        return blocks
    out = []
    for block in blocks:
        period = TIME_CHARTS.get(block.chart_id)
        if block.chart is None or period is None:
            out.append(block)
            continue
        first = covered.first_whole(period)
        words = covered.coverage.since_words if covered.coverage else decide.DEFAULT_SINCE_WORDS
        chart = charts.mark_not_covered(block.chart, first, period, decide.not_covered_label(first, words))
        out.append(dataclasses.replace(block, chart=chart))
    return out


def banner_html(covered: AccountCoverage, css: str = "banner coverage") -> str:
    """The banner over an account's page while its backfill is under way (with `css`, the
    overview's note beside its figures); nothing else."""
    if covered.coverage is None or not covered.under_way:
        return ""
    return f'<div class="{css}" role="status">{text(decide.banner_text(covered.coverage, covered.zone))}</div>'


def coverage_summary(covered: AccountCoverage) -> dict[str, Any] | None:
    """The account's coverage in the page's summary (and what `chatfunnel report` prints)."""
    coverage = covered.coverage
    if coverage is None:
        return None
    first = decide.first_whole_day(coverage, covered.zone)
    return {"complete": coverage.complete, "complete_since": iso_utc(coverage.complete_since),
            "first_whole_day": first.isoformat() if first else None,
            "line": decide.coverage_line(coverage, covered.zone, lambda when: local_time(when, covered.zone),
                                         now=datetime.now(UTC)),
            "banner": decide.banner_text(coverage, covered.zone) if covered.under_way else None}
