"""Where the dashboard reads from and writes to, and the `chatfunnel report` command."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from pipelines.config.options import dataset_name
from pipelines.errors import ChatfunnelError, UsageError
from pipelines.operations.dashboard.page import FIGURES_ID, SUMMARY_ID, render_page
from pipelines.operations.dashboard.reading import AccountPage, ReportReader, discover_accounts

# under .chatfunnel/ (git-ignored): the page is ~5 MB and must never land in a commit
DEFAULT_OUT = ".chatfunnel/dashboard.html"
REPORT_PIPELINE = "chatfunnel_report"


def report_target(destination: str, dataset: str | None = None, *, working_file: bool = False) -> Any:
    """What `chatfunnel report` reads: on DuckDB the published BI snapshot (or the working
    file), for the lake its DuckDB reports file, else a pipeline on the SQL destination."""
    from pipelines.warehouse.destinations import destination as described

    if described(destination).publishes_snapshot:
        from pipelines.warehouse.account_pipeline import duckdb_file
        from pipelines.warehouse.publish import bi_path_for

        working = duckdb_file()
        bi = bi_path_for(working)
        return working if working_file or not bi.exists() else bi
    if described(destination).lake:
        from pipelines.warehouse.lake import lake_duckdb_path

        return lake_duckdb_path()
    import dlt

    from pipelines.warehouse.account_pipeline import make_destination

    # its own pipeline name: reading must not open (or create) a loading pipeline's state
    return dlt.pipeline(pipeline_name=f"{REPORT_PIPELINE}_{destination}", destination=make_destination(destination),
                        dataset_name=dataset or "leeloo")


def readers_for(target: Any = None, dataset: str | None = None, destination: str | None = None) -> list[ReportReader]:
    """The reader of the warehouse to show; `dataset` limits the page to that account."""
    if target is None:
        target = report_target(destination or "duckdb", dataset)
    if not isinstance(target, (str, os.PathLike)) and not dataset:
        return [ReportReader(target, None)]
    return [ReportReader(target, dataset)]


def render_dashboard(
    readers: ReportReader | Sequence[ReportReader],
    *,
    accounts: Sequence[AccountPage] | None = None,
    title: str | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The page's HTML and its summary (what `summary_in(page)` reads back): charts drawn
    {key: data points}, charts without data {key: why}, and one entry per account. A
    chart's key is its id for a source's unnamed account or an account alone of its source,
    else `<dataset>:<id>`."""
    reader = readers if isinstance(readers, ReportReader) else readers[0]
    return render_page(reader, accounts, title=title, now=now)


def write_dashboard(
    target: Any = None,
    out_path: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    destination: str | None = None,
    dataset: str | None = None,
    title: str | None = None,
) -> Path:
    """Write the dashboard to `out_path` and return its path.

    `target` is a dlt pipeline on a SQL destination or the path of a DuckDB file; without
    it, `destination` ("duckdb" by default) is read as `chatfunnel report` reads it.
    `dataset` limits the page to that account's dataset; by default every account is shown.
    """
    page, _ = render_dashboard(readers_for(target, dataset, destination), title=title)
    return _write(page, out_path)


def _write(page: str, out_path: str | os.PathLike[str]) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `chatfunnel report`."""
    parser.add_argument("--destination", default="duckdb", choices=("duckdb", "postgres", "filesystem"),
                        help="where the reports are (filesystem: the lake's DuckDB reports file)")
    parser.add_argument("--dataset", type=dataset_name,
                        help="only this account's raw dataset (default: every account)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"HTML file to write (default {DEFAULT_OUT})")
    parser.add_argument("--working-file", action="store_true",
                        help="DuckDB: read the working file instead of the published BI snapshot")


def report_from_args(args: argparse.Namespace) -> int:
    """`chatfunnel report`: write the dashboard, print where it is and what has no data."""
    dataset = getattr(args, "dataset", None)
    try:
        target = report_target(args.destination, dataset, working_file=getattr(args, "working_file", False))
        readers = readers_for(target, dataset)
    except FileNotFoundError as exc:
        raise ChatfunnelError(
            f"No reports to show ({exc}). Run `chatfunnel run --destination {args.destination}` first."
        ) from None
    if dataset:
        check_dataset(readers[0], dataset)
    page, summary = render_dashboard(readers)
    keep_existing_page(summary, Path(args.out), readers[0].location)
    out = _write(page, args.out)
    print(f"dashboard: {out.resolve()}")
    for account in summary["accounts"]:
        fresh = account["freshness"]
        print(f"  {account['source']}/{account['account']}: last run {fresh['last_outcome'] or 'none recorded'}, "
              f"{len(account['charts'])} charts drawn")
        if account.get("coverage"):
            print(f"    {account['coverage']['line']}")
        if account["empty"]:
            print(f"    no data yet for: {', '.join(account['empty'])}")
    if not summary["accounts"]:
        print("  no account has loaded anything yet: run `chatfunnel run` first")
    return 0


def check_dataset(reader: ReportReader, dataset: str) -> None:
    """Refuse a --dataset the warehouse does not hold (it drew an empty page over the real one)."""
    held = [a.dataset for a in discover_accounts(reader)]
    if dataset not in held:
        listed = ", ".join(held) if held else "none: nothing has been loaded there yet"
        raise UsageError(f"No dataset '{dataset}' in {reader.location}. Datasets with an account's data: {listed}.")


def keep_existing_page(summary: dict[str, Any], out: Path, location: str) -> None:
    """A page without a single chart never replaces one that exists: the warehouse read is
    empty (a new file, the wrong database), not the funnel."""
    if not summary["charts"] and out.exists():
        raise ChatfunnelError(
            f"Nothing to draw from {location}: no account there has loaded any data. {out} was left as it "
            "was. Check --destination and the warehouse settings (`chatfunnel config check`), or run "
            "`chatfunnel run` first."
        )


def _block(page: str, block_id: str) -> Any:
    marker = f'<script type="application/json" id="{block_id}">'
    start = page.index(marker) + len(marker)
    return json.loads(page[start: page.index("</script>", start)])


def summary_in(page: str) -> dict[str, Any]:
    """The summary a written page carries (for tests and monitoring)."""
    summary: dict[str, Any] = _block(page, SUMMARY_ID)
    return summary


def charts_with_data(page: str) -> dict[str, int]:
    """{chart key: data points} of every chart drawn on a written page."""
    charts: dict[str, int] = summary_in(page)["charts"]
    return charts


def figures_in(page: str) -> dict[str, Any]:
    """{figure key: plotly figure} as the page draws them."""
    figures: dict[str, Any] = _block(page, FIGURES_ID)
    return figures
