"""What the page says about an account before any chart: its run history, how fresh its
data is, and the headline figures of the accounts overview (people, paid revenue)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipelines.operations.dashboard.reading import AccountPage, ReportReader
from pipelines.operations.runs import as_utc

STALE_HOURS = 36
SUCCESSFUL = ("success", "partial")
RECENT_RUNS = 10


def run_history(reader: ReportReader, account: AccountPage, limit: int = RECENT_RUNS) -> list[dict[str, Any]]:
    """The newest runs, newest first. Columns the history may lack (or gain) are tolerated:
    only `outcome` and one of `finished_at` / `started_at` are needed to show a run."""
    if not reader.has(account.dataset, "_chatfunnel_runs"):
        return []
    columns = reader.columns(account.dataset, "_chatfunnel_runs")
    order = [c for c in ("started_at", "finished_at") if c in columns]
    if "outcome" not in columns or not order:
        return []
    rows = reader.rows(f'select * from "{account.dataset}"."_chatfunnel_runs" '
                       f"order by {order[0]} desc nulls last limit {int(limit)}")
    for row in rows:
        row["started_at"] = as_utc(row.get("started_at"))
        row["finished_at"] = as_utc(row.get("finished_at"))
        row["outcome"] = str(row.get("outcome") or "unknown")
    return rows


@dataclass(frozen=True)
class Freshness:
    runs: list[dict[str, Any]]
    last_success: datetime | None
    last_outcome: str | None
    hours: float | None
    level: str  # ok | stale | bad

    @property
    def last_run_at(self) -> datetime | None:
        return (self.runs[0].get("finished_at") or self.runs[0].get("started_at")) if self.runs else None

    @property
    def age(self) -> str:
        if self.hours is None:
            return ""
        return f"{self.hours:.1f} h ago" if self.hours < 48 else f"{self.hours / 24:.1f} days ago"

    def summary(self) -> dict[str, Any]:
        return {"last_success": self.last_success.isoformat() if self.last_success else None,
                "last_outcome": self.last_outcome, "runs": len(self.runs), "level": self.level,
                "hours_since_success": None if self.hours is None else round(self.hours, 2)}


def freshness(runs: list[dict[str, Any]], now: datetime) -> Freshness:
    """ok: a successful run within STALE_HOURS and the last run did not fail; stale: the last
    success is older; bad: no success at all, or the last run did not succeed."""
    ok = next((r for r in runs if r["outcome"] in SUCCESSFUL and (r.get("finished_at") or r.get("started_at"))), None)
    last = runs[0] if runs else None
    when = (ok.get("finished_at") or ok.get("started_at")) if ok else None
    hours = (now - when).total_seconds() / 3600 if when else None
    level = "bad" if when is None else ("ok" if hours is not None and hours <= STALE_HOURS else "stale")
    if last is not None and last["outcome"] not in SUCCESSFUL:
        level = "bad"
    return Freshness(runs, when, last["outcome"] if last else None, hours, level)


@dataclass
class Headline:
    """The overview's figures for one account."""

    people: int | None = None
    people_word: str = "people"
    revenue: dict[str, float] = field(default_factory=dict)  # currency -> paid revenue
    paid_orders: dict[str, int] = field(default_factory=dict)
    revenue_note: str = ""


def count_rows(reader: ReportReader, schema: str, table: str) -> int | None:
    if not reader.has(schema, table):
        return None
    rows = reader.rows(f'select count(*) as n from "{schema}"."{table}"')
    return int(rows[0]["n"]) if rows else 0


def leeloo_headline(reader: ReportReader, account: AccountPage) -> Headline:
    """People (every person loaded and not deleted) and paid revenue per currency from
    revenue_summary, the total every revenue report reconciles to (each order once)."""
    headline = Headline(people=count_rows(reader, account.reports, "stg_people"))
    if reader.has(account.reports, "revenue_summary"):
        for row in reader.rows(
            f'select currency, paid_orders, revenue from "{account.reports}".revenue_summary '
            "where paid_orders > 0 order by currency"
        ):
            currency = str(row.get("currency") or "?")
            headline.revenue[currency] = float(row.get("revenue") or 0)
            headline.paid_orders[currency] = int(row.get("paid_orders") or 0)
    return headline


def salebot_headline(reader: ReportReader, account: AccountPage) -> Headline:
    return Headline(people=count_rows(reader, account.reports, "stg_clients"), people_word="clients",
                    revenue_note="Salebot orders carry no amount")
