"""`chatfunnel`, the command line. Also `python -m pipelines`.

Parsing and printing only: what a run does is `pipelines.run.lifecycle`, several accounts
side by side `pipelines.run.fleet`, the status `pipelines.operations.status`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pipelines import __version__
from pipelines.config.accounts import Account
from pipelines.config.options import Flag, RunOptions, declared, positive_int
from pipelines.config.registry import SOURCES
from pipelines.errors import (
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    ChatfunnelError,
    ConfigurationMissing,
    UsageError,
)
from pipelines.warehouse.destinations import DESTINATIONS
from pipelines.warehouse.destinations import destination as described
from pipelines.warehouse.permissions import check_settings_readable, explain_denied

if TYPE_CHECKING:
    from pipelines.run.fleet import AfterAll

EXIT_CODES = f"""exit codes:
  {EXIT_OK}    success (also when a request budget stopped a run early: it continues next run)
  {EXIT_FAILED}    a run failed; stderr says what failed and what to do (a file it cannot read or write is named)
  {EXIT_USAGE}    bad usage or configuration (a missing token, an unknown setting or resource, a secret in
       .dlt/config.toml, an unreadable .dlt/secrets.toml, a Postgres grant the role lacks, --since in the
       future); what it concerns was not run
  {EXIT_BLOCKED}   a reader outside chatfunnel held what the run needed (a program holding the DuckDB file;
       a Postgres session holding the reports past the lock deadline); the message names it
  {EXIT_LOCKED}   another run of the same pipeline holds the lock; nothing was done (try later, or --wait)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C, SIGTERM) or stopped at --max-runtime; the next run finishes the rest"""

SOURCE_CHOICES = (*SOURCES, "all")
# the choices of the run options whose values are registered elsewhere
REGISTERED_CHOICES: dict[str, tuple[str, ...]] = {"source": SOURCE_CHOICES, "destination": DESTINATIONS}
# commands that read chatfunnel's configuration: it is checked before they do anything
CHECKED_COMMANDS = frozenset({"run", "transform", "status", "report", "webhook"})


def version() -> str:
    """The running code's version (the installed package's metadata may be older)."""
    return __version__


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def _describe(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), 96)


def add_run_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Every run option `command` takes, as `RunOptions` declares it, in its order."""
    for spec in declared():
        flag: Flag | None = spec.metadata["cli"]
        if flag is not None and command in flag.commands:
            _add_option(parser, spec, flag, command)


def _add_option(parser: argparse.ArgumentParser, spec: dataclasses.Field[Any], flag: Flag, command: str) -> None:
    default = spec.default if flag.parser_default is None else flag.parser_default
    kwargs: dict[str, Any] = {"default": default, "help": flag.help_for.get(command, flag.help)}
    if flag.positional:
        parser.add_argument(spec.name, nargs="?", choices=flag.choices or REGISTERED_CHOICES.get(spec.name), **kwargs)
        return
    names = flag.flag or "--" + spec.name.replace("_", "-")
    if isinstance(spec.default, bool):
        parser.add_argument(names, dest=spec.name, action="store_false" if flag.negated else "store_true", **kwargs)
        return
    if flag.parse is not None:
        kwargs["type"] = flag.parse
    parser.add_argument(names, dest=spec.name, metavar=flag.metavar,
                        choices=flag.choices or REGISTERED_CHOICES.get(spec.name), **kwargs)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, the other commands' own options only as far as
    listing them needs (see `_add_other_commands`)."""
    parser = argparse.ArgumentParser(
        prog="chatfunnel", formatter_class=_formatter,
        description=_describe("Load Leeloo.ai and Salebot.pro chatbot sales funnels into DuckDB, Postgres or Parquet, "
                    "and build SQL funnel reports."),
        epilog="examples:\n  chatfunnel run                      every configured source and account\n"
               "  chatfunnel run leeloo --account acme\n  chatfunnel status\n\n" + EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"chatfunnel {version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more on stderr (never secrets)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_run_command(sub)
    _add_transform_command(sub)
    _add_status_command(sub)
    _add_other_commands(sub, command)
    return parser


def _add_run_command(sub: Any) -> None:
    """`chatfunnel run`: the nightly load and its options."""
    run = sub.add_parser(
        "run", help="incremental load, then rebuild the reports", formatter_class=_formatter,
        description=_describe("Load what changed since the last run, rebuild the reports, record the run, publish the "
                    "BI snapshot (DuckDB) and alert on failure. A run interrupted earlier is finished first."),
        epilog="examples:\n  chatfunnel run\n  chatfunnel run leeloo --destination postgres\n"
               "  chatfunnel run salebot --max-requests 4500          stay under a daily API cap\n"
               "  chatfunnel run leeloo --since 2024-01-01 --until 2024-02-01   backfill a window\n\n" + EXIT_CODES,
    )
    add_run_options(run, "run")
    run.add_argument("--options-file", help=argparse.SUPPRESS)  # a child of a several-accounts run
    run.add_argument("--outcome-file", help=argparse.SUPPRESS)
    run.set_defaults(handler=cmd_run)


def _add_transform_command(sub: Any) -> None:
    """`chatfunnel transform`: the reports only."""
    transform = sub.add_parser(
        "transform", help="rebuild the reports only", formatter_class=_formatter,
        description=_describe("Rebuild and test the SQL reports of what is loaded, then publish the BI "
                              "snapshot (DuckDB)."),
        epilog="examples:\n  chatfunnel transform\n  chatfunnel transform leeloo --destination postgres\n\n"
               + EXIT_CODES,
    )
    add_run_options(transform, "transform")
    transform.set_defaults(handler=cmd_transform)


def _add_status_command(sub: Any) -> None:
    """`chatfunnel status`: what the last runs did."""
    status = sub.add_parser(
        "status", help="last runs, rows per table, cursors, what the next run will do", formatter_class=_formatter,
        description=_describe("Per account: the last (successful) run, an interrupted run or a left-over "
                              "load package, rows per table, cursors and sweep progress. Exits 1 when a last "
                              "run failed or a destination cannot be reached, so a monitoring check can run it."),
        epilog="examples:\n  chatfunnel status\n  chatfunnel status leeloo --destination postgres\n"
               "  chatfunnel status --json\n\n" + EXIT_CODES,
    )
    add_run_options(status, "status")
    status.add_argument("--json", action="store_true",
                        help="one JSON document for a monitoring check (fields: docs/operations.md); same exit codes")
    status.set_defaults(handler=cmd_status)


def _add_other_commands(sub: Any, command: str | None = None) -> None:
    """`report`, `demo`, `emulator` and `webhook`: thin wrappers over their packages. The
    options of `report`, `emulator` and `webhook` are added only when `command` is theirs or
    unknown (None): their packages (plotly, the emulators, starlette and uvicorn) cost a
    `run` ~0.1 CPU s of imports it does not use; the list of commands is the same."""
    report = sub.add_parser("report", help="write the self-contained HTML funnel dashboard",
                            formatter_class=_formatter,
                            description=_describe("Write one HTML file with the funnel dashboard (opens offline)."),
                            epilog="examples:\n  chatfunnel report\n  chatfunnel report --destination postgres "
                                   "--out /var/www/funnel.html\n\n" + EXIT_CODES)
    if command in (None, "report"):
        from pipelines.operations.dashboard import add_report_arguments, report_from_args

        add_report_arguments(report)
        report.set_defaults(handler=report_from_args)

    demo = sub.add_parser("demo", help="emulators -> DuckDB -> reports, with a funnel summary",
                          formatter_class=_formatter,
                          description=_describe("Start the built-in emulators, load them into a fresh DuckDB "
                                                "file, simulate a day of activity, load again, and print a "
                                                "funnel summary."))
    demo.add_argument("--scale", type=positive_int, default=500,
                      help="people in the emulated Leeloo account (default 500)")
    demo.add_argument("--dir", default=".chatfunnel/demo",
                      help="where the demo writes its files (default .chatfunnel/demo)")
    demo.set_defaults(handler=cmd_demo)

    emulator = sub.add_parser("emulator", help="run an API emulator in the foreground", formatter_class=_formatter,
                              description=_describe("Serve an emulated Leeloo.ai or Salebot.pro API on loopback, "
                                                    "to try the pipeline without an account."))
    if command in (None, "emulator"):
        from emulators.cli import add_emulator_subcommands, run_emulator

        emulator_sub = emulator.add_subparsers(dest="emulator", required=True, metavar="API")
        add_emulator_subcommands(emulator_sub)
        emulator.set_defaults(handler=run_emulator)

    webhook = sub.add_parser("webhook", help="the Salebot webhook receiver", formatter_class=_formatter,
                             description=_describe("Receive Salebot's message pushes into a durable inbox."))
    _add_config_command(sub)
    if command in (None, "webhook"):
        _add_webhook_commands(webhook)


def _add_webhook_commands(webhook: argparse.ArgumentParser) -> None:
    from pipelines.webhook import add_webhook_arguments, serve_webhook_from_args

    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True, metavar="COMMAND")
    serve = webhook_sub.add_parser("serve", help="accept Salebot message pushes", formatter_class=_formatter)
    add_webhook_arguments(serve)
    serve.set_defaults(handler=serve_webhook_from_args)


def command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` names (its first word that is not an option), or None: the top
    level's options take no value, so that word is the command."""
    return next((a for a in argv if not a.startswith("-")), None)


# ---------------------------------------------------------------- selection


def selected_accounts(args: argparse.Namespace) -> list[RunOptions]:
    """One RunOptions per account to run, from the source argument and --account."""
    asked = [args.source] if args.source != "all" else list(SOURCES)
    names = [n.strip() for n in (args.account or "").split(",") if n.strip()]
    chosen: list[RunOptions] = []
    for source in asked:
        spec = SOURCES[source]
        accounts = spec.accounts()
        if names:
            wanted = [a for a in accounts if (a.name or "default") in names]
        else:
            wanted = accounts
        if not accounts and args.source != "all":
            raise spec.missing(Account(source), list(spec.secret_keys))
        chosen.extend(_options(args, a.source, a.name) for a in wanted)
    if names:
        found = {o.account or "default" for o in chosen}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise UsageError(f"No configured account named {', '.join(unknown)} for "
                             f"{' or '.join(asked)}. Configured accounts are listed by `chatfunnel status`.")
    if not chosen:
        raise ConfigurationMissing(
            "No source is configured. Set SOURCES__LEELOO__API_TOKEN and/or SOURCES__SALEBOT__API_KEY, or "
            "put them in .dlt/secrets.toml (see README, Configuration).", step="config")
    if args.dataset and len(chosen) > 1:
        raise UsageError("--dataset names the dataset of a single account; pick one source and --account.")
    return chosen


def _options(args: argparse.Namespace, source: str, account: str | None) -> RunOptions:
    """One account's options: every declared option this command parsed, the rest defaults."""
    given = {spec.name: getattr(args, spec.name) for spec in declared() if hasattr(args, spec.name)}
    return RunOptions(**{**given, "source": source, "account": account})


# ---------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.run.fleet import DEFAULT_PARALLEL_ACCOUNTS, after_all_accounts, run_accounts
    from pipelines.run.lifecycle import RunOutcome
    from pipelines.run.summary import format_outcome

    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until.")
    if args.drop_history and not args.full_refresh:
        raise UsageError("--drop-history drops history only as part of --full-refresh; give both.")
    if args.options_file:
        return _run_as_child(args.options_file, args.outcome_file)
    planned = selected_accounts(args)
    if args.drop_history:
        _say_what_is_lost(planned)
    outcomes: list[RunOutcome] = []

    def show(outcome: RunOutcome) -> None:
        print(format_outcome(outcome), flush=True)
        if outcome.error is not None:
            print(f"chatfunnel: error: {outcome.error}", file=sys.stderr, flush=True)

    by_source: dict[str, list[RunOptions]] = {}
    for options in planned:
        by_source.setdefault(options.source, []).append(options)
    parallel = args.parallel_accounts or DEFAULT_PARALLEL_ACCOUNTS
    for options_list in by_source.values():
        accounts = [o.target for o in options_list]
        outcomes.extend(run_accounts(options_list[0], accounts, parallel, show))
        if any(o.exit_code == EXIT_INTERRUPTED for o in outcomes):
            break
    after = after_all_accounts(planned[0].destination, outcomes, publish=True)
    _print_after(after)
    return _exit_code([*(o.exit_code for o in outcomes), *(e.exit_code for e in after.failures)])


def _run_as_child(options_file: str, outcome_file: str | None) -> int:
    """A child of a several-accounts run: exactly the one account its parent chose, with
    the parent's options (checked there), never publishing; the outcome goes to a file."""
    from pipelines.run.fleet import die_with_parent, read_options, write_outcome
    from pipelines.run.lifecycle import run_account
    from pipelines.run.summary import format_outcome

    die_with_parent()
    outcome = run_account(read_options(options_file), publish=False)
    print(format_outcome(outcome))
    if outcome_file:
        write_outcome(outcome_file, outcome)
    return outcome.exit_code


def _say_what_is_lost(planned: Sequence[RunOptions]) -> None:
    """Before a `--drop-history` run starts: what it drops for good, per source."""
    from pipelines.config.history import what_is_lost
    from pipelines.config.registry import source_spec

    for source in dict.fromkeys(o.source for o in planned):
        kept = source_spec(source).kept_on_refresh
        if kept:
            print(f"{source}: {what_is_lost(kept)}.", flush=True)


def _print_after(after: AfterAll) -> None:
    for line in after.lines:
        print(line)
    for error in after.failures:
        print(f"chatfunnel: error: {error}", file=sys.stderr)


def _exit_code(codes: object) -> int:
    found = sorted(set(codes))  # type: ignore[call-overload]
    if not found or found == [0]:
        return EXIT_OK
    for code in (EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_BLOCKED):
        if code in found:
            return code
    return EXIT_USAGE if set(found) <= {0, EXIT_USAGE} else EXIT_FAILED


def cmd_transform(args: argparse.Namespace) -> int:
    from pipelines.run.fleet import after_all_accounts
    from pipelines.run.lifecycle import transform_account

    codes = []
    for options in selected_accounts(args):
        result = transform_account(options, publish=False)
        if result.error is not None:
            print(f"chatfunnel: error: {result.error}", file=sys.stderr)
        else:
            print(f"{result.account.label}: reports rebuilt ({result.reports})")
        codes.append(result.exit_code)
    after = after_all_accounts(args.destination, [], publish=True)
    _print_after(after)
    return _exit_code([*codes, *(e.exit_code for e in after.failures)])


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.operations.status import print_status, print_status_json

    sources = list(SOURCES) if args.source == "all" else [args.source]
    names = [n.strip() for n in (args.account or "").split(",") if n.strip()] or None
    refuse_status_of_nothing(args.destination, sources)
    show = print_status_json if args.json else print_status
    return show(args.destination, sources, args.dataset, names)


def refuse_status_of_nothing(destination: str, sources: Sequence[str]) -> None:
    """With no account configured and no DuckDB file here, there is no status to show, and
    opening the file would create an empty `chatfunnel.duckdb`: say how to configure instead."""
    if not described(destination).file_lock or any(SOURCES[s].is_configured() for s in sources):
        return
    from pipelines.warehouse.account_pipeline import duckdb_file

    path = duckdb_file()
    if not path.exists():
        envs = " and/or ".join(SOURCES[s].secret_env(Account(s)) for s in sources)
        raise ConfigurationMissing(
            f"Nothing is configured and nothing has been loaded here (no {path.name} in {path.parent}). Set "
            f"{envs}, or put them in .dlt/secrets.toml (see README, Configuration); `chatfunnel config check` "
            "shows what is set.", step="config")


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(scale=args.scale, directory=args.dir)


def _add_config_command(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="check the configuration and show where each setting comes from",
                            formatter_class=_formatter,
                            description=_describe("Check the configuration as every command does before it "
                                                  "starts, and show what each setting of each account resolved "
                                                  "to and where it came from (default, config.toml, "
                                                  "secrets.toml, environment). Secrets are never shown."))
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = config_sub.add_parser(
        "check", help="unknown keys, misplaced secrets, and every resolved setting", formatter_class=_formatter,
        description=_describe("Print every configured account's settings, [chatfunnel] and [alerts], each "
                              "with its origin; secrets only as 'set (where)'. Exits 2 when a key names no "
                              "setting or a secret is in .dlt/config.toml, as every other command would."),
        epilog="examples:\n  chatfunnel config check\n\n" + EXIT_CODES)
    check.set_defaults(handler=cmd_config_check)


def cmd_config_check(args: argparse.Namespace) -> int:
    """`chatfunnel config check`: the settings, then the problems (exit 2 if any)."""
    from pipelines.operations.configcheck import describe_settings, find_problems, format_settings, problems_message

    problems = find_problems()
    print(format_settings(describe_settings()))
    if problems:
        print(f"chatfunnel: error: {problems_message(problems)}", file=sys.stderr)
        return EXIT_USAGE
    print("\nconfiguration OK")
    return EXIT_OK


def check_before(args: argparse.Namespace) -> None:
    """Refuse a configuration with an unknown key or a misplaced secret before a command
    that reads it makes any request (exit 2)."""
    if args.command in CHECKED_COMMANDS:
        from pipelines.operations.configcheck import check_configuration

        check_configuration()


class _QuietPipe:
    """stdout that goes quiet when its reader leaves (`chatfunnel status | head -1`): the
    command carries on and exits with its own code, without a BrokenPipeError traceback."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # what is still buffered goes nowhere, not to a traceback
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def quiet_broken_pipe() -> None:
    """Install `_QuietPipe` over stdout (once)."""
    if not isinstance(sys.stdout, _QuietPipe):
        sys.stdout = _QuietPipe(sys.stdout)


def _configure_logging(verbose: bool) -> None:
    """Without -v, stderr carries chatfunnel's own words only: each failure in one paragraph.
    dlt's log (job retries with their tracebacks, notices about file formats) is what -v
    is for."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not verbose:
        os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")  # dlt sets its logger's level from this
        logging.getLogger("dlt").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    quiet_broken_pipe()  # before parsing: --help is output too
    given = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_named(given))
    args = parser.parse_args(given)
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        if args.command not in ("emulator", "demo"):
            check_settings_readable()
        check_before(args)
        return handler(args) or EXIT_OK
    except ChatfunnelError as exc:
        print(f"chatfunnel: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a refused file operation, however wrapped, is named; the rest as it was
        refused = explain_denied(exc, step=None)
        if refused is None:
            raise
        print(f"chatfunnel: error: {refused}", file=sys.stderr)
        return refused.exit_code
    except KeyboardInterrupt:
        print("chatfunnel: interrupted; what was loaded is kept and the next run finishes the rest.",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
