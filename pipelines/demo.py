"""`chatfunnel demo`: emulated Leeloo and Salebot accounts -> DuckDB -> reports -> summary.

Everything runs on loopback inside this process; nothing needs an account or a network.
The demo is repeatable: it starts from an empty folder and emulators with a fixed history,
loads both sources in full, lets a day of activity happen, and loads again incrementally,
so every demo prints the same kind of story.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

DEMO_TOKEN = "demo-token"


def demo_anchor() -> datetime:
    """The emulated history ends at the start of today (UTC): the same data every run, dated
    so that the day's news the second round adds follows it without a gap."""
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


@contextlib.contextmanager
def _emulators(scale: int) -> Iterator[dict[str, Any]]:
    """Start both emulators and point the sources at them (no client rate limit)."""
    from emulators.leeloo import LeelooEmulator
    from emulators.salebot import SalebotEmulator

    with contextlib.ExitStack() as stack:
        anchor = demo_anchor()
        leeloo = LeelooEmulator(seed=1, scale=scale, token=DEMO_TOKEN, anchor=anchor)
        salebot = SalebotEmulator(seed=1, scale=max(50, scale // 2), api_key=DEMO_TOKEN, anchor=anchor)
        leeloo_url = stack.enter_context(leeloo.serve())
        salebot_url = stack.enter_context(salebot.serve())
        os.environ.update(
            SOURCES__LEELOO__BASE_URL=leeloo_url, SOURCES__LEELOO__API_TOKEN=DEMO_TOKEN,
            SOURCES__LEELOO__REQUESTS_PER_MINUTE="0",  # an emulator has no rate limit to respect
            SOURCES__SALEBOT__BASE_URL=salebot_url, SOURCES__SALEBOT__API_KEY=DEMO_TOKEN,
            SOURCES__SALEBOT__REQUESTS_PER_MINUTE="0",
        )
        print(f"  Leeloo emulator: {leeloo_url} ({scale} people)")
        print(f"  Salebot emulator: {salebot_url} ({max(50, scale // 2)} clients)")
        yield {"leeloo": leeloo, "salebot": salebot}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("  (no rows)")
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  " + "  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))


def _load(round_name: str) -> bool:
    from pipelines.config.options import RunOptions
    from pipelines.run.fleet import after_all_accounts
    from pipelines.run.lifecycle import run_account
    from pipelines.run.summary import format_outcome

    print(f"\n== {round_name}")
    ok = True
    outcomes = []
    for source in ("leeloo", "salebot"):
        outcome = run_account(RunOptions(source=source, progress="none"), publish=False)
        outcomes.append(outcome)
        print(format_outcome(outcome))
        if outcome.error is not None:
            print(f"  error: {outcome.error}")
            ok = False
    after = after_all_accounts("duckdb", outcomes, publish=True)
    for line in after.lines:
        print(f"  {line}")
    for error in after.failures:
        print(f"  error: {error}")
    return ok and not after.failures


def _reconciliation(pipeline: Any) -> str:
    """revenue_summary's paid orders and revenue per currency beside the first-touch split."""
    from transforms.runner import format_summary

    sql = ("select currency, paid_orders, revenue, attributed_orders, unattributed_orders, revenue_difference "
           'from "leeloo_reports".revenue_reconciliation where touch = \'first\' order by currency')
    with pipeline.sql_client() as client, client.execute_query(sql) as cursor:
        names = [d[0] for d in cursor.description]
        rows = [{n: f"{v.normalize():f}" if isinstance(v, Decimal) else v for n, v in zip(names, row, strict=True)}
                for row in cursor.fetchall()]
    return format_summary(rows)


def run_demo(scale: int = 500, directory: str = ".chatfunnel/demo") -> int:
    from pipelines.config.accounts import Account
    from pipelines.warehouse.account_pipeline import make_pipeline
    from transforms.runner import format_summary, summary_rows

    home = Path(directory).resolve()
    if home.exists():
        shutil.rmtree(home)  # a demo starts from nothing, so it is the same every time
    home.mkdir(parents=True)
    os.environ["DLT_DATA_DIR"] = str(home / "dlt")
    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = str(home / "chatfunnel.duckdb")
    print(f"chatfunnel demo: working in {home}")
    with _emulators(scale) as emulators:
        if not _load("first run: the whole history of both accounts"):
            return 1
        changed = emulators["leeloo"].simulate(active_people=0.02, new_people=5, new_orders=5, status_changes=3)
        emulators["salebot"].simulate(active_clients=5, new_clients=3, new_orders=5, status_changes=3)
        print(f"\n   ... a day passes: {len(changed['active_people'])} Leeloo people write, "
              f"{len(changed['new_people'])} new people arrive, {len(changed['new_orders'])} orders are placed")
        if not _load("second run: only what changed"):
            return 1
        print("\n== funnel per tunnel (transforms/leeloo/summary.sql: the newest leeloo_reports.tunnel_funnel "
              "snapshot; people, paid_orders, paid_revenue from tunnel_revenue, where an order counts in every "
              "tunnel its buyer came through: the rows do not add up)")
        print("  " + format_summary(summary_rows(make_pipeline(Account("leeloo")), "leeloo")).replace("\n", "\n  "))
        print("\n== paid revenue, each order once (leeloo_reports.revenue_reconciliation, first touch)")
        print("  " + _reconciliation(make_pipeline(Account("leeloo"))).replace("\n", "\n  "))
        dashboard = _dashboard(home)
    print("\n== where things are")
    print(f"  DuckDB warehouse: {home / 'chatfunnel.duckdb'} (BI snapshot: {home / 'chatfunnel_bi.duckdb'})")
    print(f"    query it: .venv/bin/python -c \"import duckdb; duckdb.connect('{home / 'chatfunnel_bi.duckdb'}', "
          "read_only=True).sql('select * from leeloo_reports.tunnel_funnel').show()\"")
    if dashboard:
        print(f"  dashboard: {dashboard}")
    print(f"  pipeline state: {home / 'dlt'}")
    return 0


def _dashboard(home: Path) -> Path | None:
    from pipelines.operations.dashboard import write_dashboard

    try:
        return write_dashboard(destination="duckdb", out_path=home / "dashboard.html")
    except Exception as exc:  # noqa: BLE001 - the demo still succeeded without a dashboard
        print(f"  (dashboard not written: {exc})")
        return None
