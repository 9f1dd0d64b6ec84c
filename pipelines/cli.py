"""`chatfunnel` command line. Also `python -m pipelines`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Sequence

from .options import RunOptions

if TYPE_CHECKING:
    from .runner import RunResult

DESTINATIONS = ("duckdb", "postgres", "filesystem")
SOURCE_CHOICES = ("leeloo", "salebot", "all")


def parse_when(value: str) -> datetime:
    """An ISO date or datetime, read as UTC when it carries no offset."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not an ISO date or datetime (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _sources(which: str) -> list[str]:
    return ["leeloo", "salebot"] if which == "all" else [which]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatfunnel",
        description="Load Leeloo.ai and Salebot.pro sales funnels into a SQL warehouse and build funnel reports.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (never secrets)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="incremental load, then rebuild the reports")
    run.add_argument("source", nargs="?", default="all", choices=SOURCE_CHOICES)
    run.add_argument("--destination", default="duckdb", choices=DESTINATIONS)
    run.add_argument("--dataset", help="dataset/schema name (default: the source name)")
    run.add_argument("--resources", help="comma-separated resources to load (default: all)")
    run.add_argument("--since", type=parse_when, help="backfill from this UTC date/datetime")
    run.add_argument("--until", type=parse_when, help="backfill up to this UTC date/datetime")
    run.add_argument("--full-refresh", action="store_true", help="drop this source's tables and state, reload")
    run.add_argument("--no-transform", action="store_true", help="do not rebuild the reports")
    run.add_argument("--progress", default="log", choices=("log", "none"))
    run.add_argument("--max-requests", type=int, help="stop cleanly after this many API requests")
    run.add_argument("--concurrency", type=int, help="parallel request chains (default 8)")
    run.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                     help="if another run of the same pipeline is going, wait this long (default: exit at once)")
    run.set_defaults(handler=cmd_run)

    transform = sub.add_parser("transform", help="rebuild the reports only")
    transform.add_argument("source", nargs="?", default="all", choices=SOURCE_CHOICES)
    transform.add_argument("--destination", default="duckdb", choices=DESTINATIONS)
    transform.add_argument("--dataset")
    transform.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                           help="if a run is loading this pipeline, wait this long (default: exit at once)")
    transform.set_defaults(handler=cmd_transform)

    from .dashboard import add_report_arguments, report_from_args

    report = sub.add_parser("report", help="write the self-contained HTML funnel dashboard")
    add_report_arguments(report)
    report.set_defaults(handler=report_from_args)

    status = sub.add_parser("status", help="last runs, rows per table, cursors")
    status.add_argument("--destination", default="duckdb", choices=DESTINATIONS)
    status.set_defaults(handler=cmd_status)

    demo = sub.add_parser("demo", help="emulators -> DuckDB -> reports, with a funnel summary")
    demo.add_argument("--scale", type=int, default=500, help="people in the emulated Leeloo account")
    demo.add_argument("--dir", default=".chatfunnel/demo", help="where the demo writes its files")
    demo.set_defaults(handler=cmd_demo)

    emulator = sub.add_parser("emulator", help="run an API emulator in the foreground")
    from emulators.cli import add_emulator_subcommands

    emulator_sub = emulator.add_subparsers(dest="emulator", required=True)
    add_emulator_subcommands(emulator_sub)
    emulator.set_defaults(handler=lambda args: args._emulator_run(args))

    try:
        from .webhook import add_webhook_arguments, serve_webhook_from_args

        webhook = sub.add_parser("webhook", help="Salebot webhook receiver")
        webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
        serve = webhook_sub.add_parser("serve", help="accept Salebot message pushes")
        add_webhook_arguments(serve)
        serve.set_defaults(handler=serve_webhook_from_args)
    except ImportError:
        pass
    return parser


def _options(args: argparse.Namespace, source: str) -> RunOptions:
    return RunOptions(
        source=source,
        destination=args.destination,
        dataset=args.dataset,
        resources=[r.strip() for r in args.resources.split(",") if r.strip()] if args.resources else None,
        since=args.since,
        until=args.until,
        full_refresh=args.full_refresh,
        transform=not args.no_transform,
        progress=args.progress,
        max_requests=args.max_requests,
        concurrency=args.concurrency,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from .history import run_observed

    if args.since and args.until and args.since >= args.until:
        raise SystemExit("chatfunnel: --since must be before --until")
    if args.dataset and args.source == "all":
        raise SystemExit("chatfunnel: --dataset needs a single source (leeloo or salebot)")
    from .runner import ChatfunnelError

    sources = _sources(args.source)
    failures: list[ChatfunnelError] = []
    for source in sources:
        try:
            result = run_observed(_options(args, source), wait=args.wait)
        except ChatfunnelError as exc:
            if len(sources) == 1:
                raise
            # one source failing must not cost the other its nightly load
            print(f"chatfunnel: error: {exc}", file=sys.stderr)
            failures.append(exc)
            continue
        print(format_result(result))
        if result.budget_exhausted:
            print(
                f"  stopped at the request budget; {', '.join(result.incomplete)} will continue "
                f"on the next run"
            )
    return max((exc.exit_code for exc in failures), default=0)


def format_result(result: RunResult) -> str:
    rows = ", ".join(f"{t}={n}" for t, n in sorted(result.rows.items())) or "no new rows"
    state = "complete" if result.complete else f"incomplete: {', '.join(result.incomplete)}"
    return (
        f"{result.source}: loaded into {result.destination} dataset '{result.dataset}' in "
        f"{result.seconds:.1f}s, {result.requests} API requests, {state}\n"
        f"  rows: {rows}\n  warehouse: {result.location}"
    )


def cmd_transform(args: argparse.Namespace) -> int:
    from .history import publish_after_transform
    from .lock import lock_names, run_locks
    from .runner import ChatfunnelError, make_pipeline, pipeline_name, transform

    for source in _sources(args.source):
        dataset = args.dataset or source
        with run_locks(lock_names(pipeline_name(source, dataset, args.destination), args.destination),
                       wait=args.wait):
            pipeline = make_pipeline(source, args.destination, dataset)
            if not pipeline.default_schema_name:
                raise ChatfunnelError(
                    f"Nothing has been loaded for {source} into {args.destination} yet; run "
                    f"`chatfunnel run {source}` first."
                )
            if args.destination == "filesystem":
                from .publish import lake_reports_for_pipeline

                result = lake_reports_for_pipeline(pipeline, source)
            else:
                result = transform(pipeline, source)
            published = publish_after_transform(args.destination)
        print(f"{source}: reports rebuilt" + (f" ({result})" if result is not None else ""))
        if published:
            print(f"  BI snapshot: {published}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .history import print_status

    return print_status(args.destination)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(scale=args.scale, directory=args.dir)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        logging.getLogger("dlt").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    from .runner import ChatfunnelError

    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args) or 0
    except ChatfunnelError as exc:
        print(f"chatfunnel: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("chatfunnel: interrupted; nothing half-loaded is committed, run again to continue.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
