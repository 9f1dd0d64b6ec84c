"""`chatfunnel demo`: emulated Leeloo and Salebot accounts -> DuckDB -> reports -> summary.

Everything runs on loopback inside this process; nothing needs an account or a network.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

DEMO_TOKEN = "demo-token"


@contextlib.contextmanager
def _emulators(scale: int) -> Iterator[list[str]]:
    """Start every emulator that is available and point the sources at it."""
    from emulators.leeloo import LeelooEmulator

    started: list[str] = []
    with contextlib.ExitStack() as stack:
        leeloo = LeelooEmulator(seed=1, scale=scale, token=DEMO_TOKEN)
        url = stack.enter_context(leeloo.serve())
        os.environ.update(
            SOURCES__LEELOO__BASE_URL=url,
            SOURCES__LEELOO__API_TOKEN=DEMO_TOKEN,
            SOURCES__LEELOO__REQUESTS_PER_MINUTE="0",  # an emulator has no rate limit to respect
        )
        print(f"  Leeloo emulator: {url} ({scale} people)")
        started.append("leeloo")
        try:
            from emulators.salebot import SalebotEmulator
        except ImportError:
            SalebotEmulator = None  # noqa: N806
        if SalebotEmulator is not None:
            salebot = SalebotEmulator(seed=1, scale=max(50, scale // 2), api_key=DEMO_TOKEN)
            url = stack.enter_context(salebot.serve())
            os.environ.update(
                SOURCES__SALEBOT__BASE_URL=url,
                SOURCES__SALEBOT__API_KEY=DEMO_TOKEN,
                SOURCES__SALEBOT__REQUESTS_PER_MINUTE="0",
            )
            print(f"  Salebot emulator: {url}")
            started.append("salebot")
        yield started


def _print_summary(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("  (no tunnels)")
        return
    columns = list(rows[0].keys())
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  " + "  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def run_demo(scale: int = 500, directory: str = ".chatfunnel/demo") -> int:
    from .options import RunOptions
    from .history import run_observed
    from .runner import make_pipeline

    home = Path(directory).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DLT_DATA_DIR"] = str(home / "dlt")
    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = str(home / "chatfunnel.duckdb")
    print(f"chatfunnel demo: working in {home}")
    with _emulators(scale) as sources:
        for source in sources:
            print(f"\n== loading {source} (full load on the first demo run, incremental after)")
            result = run_observed(RunOptions(source=source, progress="none"))
            rows = ", ".join(f"{t}={n}" for t, n in sorted(result.rows.items()) if "__" not in t)
            print(f"  {result.requests} API requests in {result.seconds:.1f}s; rows: {rows or 'none new'}")
            if result.reports is not None:
                print(f"  reports rebuilt in dataset {result.dataset}_reports "
                      f"({len(getattr(result.reports, 'models', []))} models, data tests passed)")
        print("\n== funnel per tunnel (leeloo_reports.tunnel_funnel, latest snapshot)")
        try:
            from transforms.runner import summary_rows

            _print_summary(summary_rows(make_pipeline("leeloo", "duckdb", "leeloo"), "leeloo"))
        except ImportError:
            print("  (reports are not available)")
        dashboard = _dashboard(home)
    print("\n== where things are")
    print(f"  DuckDB warehouse: {home / 'chatfunnel.duckdb'}")
    print(f"    query it: .venv/bin/python -c \"import duckdb; duckdb.connect('{home / 'chatfunnel.duckdb'}', "
          "read_only=True).sql('select * from leeloo_reports.tunnel_funnel').show()\"")
    if dashboard:
        print(f"  dashboard: {dashboard}")
    print(f"  pipeline state: {home / 'dlt'}")
    return 0


def _dashboard(home: Path) -> Path | None:
    try:
        from .dashboard import write_dashboard
    except ImportError:
        return None
    try:
        return write_dashboard(destination="duckdb", out_path=home / "dashboard.html")
    except Exception as exc:  # noqa: BLE001 - the demo still succeeded without a dashboard
        print(f"  (dashboard not written: {exc})")
        return None
