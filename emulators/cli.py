"""Command line for the emulators: ``python -m emulators leeloo|salebot ...``.

The product CLI (``chatfunnel emulator leeloo ...``) reuses the same pieces:

    from emulators.cli import add_leeloo_arguments, run_leeloo_from_args
    sub = subparsers.add_parser("leeloo"); add_leeloo_arguments(sub)
    ...; return run_leeloo_from_args(args)

Other emulators plug in through :data:`EMULATORS` (name -> (add_arguments,
run_from_args)); Salebot's pair is imported lazily from ``emulators.salebot.cli``
(``add_salebot_arguments``/``run_salebot_from_args``). :func:`add_knob_arguments`
and :func:`knobs_from_args` give every emulator the same knob flags.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import importlib
import signal
import sys
from collections.abc import Callable

from emulators.base import ODD_PAGE_KINDS, EmulatorServer, Knobs


def add_knob_arguments(parser: argparse.ArgumentParser) -> None:
    """The shared knob flags (see :class:`emulators.base.Knobs`)."""
    g = parser.add_argument_group("knobs (also settable at runtime: POST /__admin/knobs)")
    g.add_argument("--latency-ms", type=float, default=0.0, help="sleep per API request (ms)")
    g.add_argument("--rate-limit", type=int, default=None, metavar="N", help="N requests per sliding minute, then 429")
    g.add_argument("--no-retry-after", action="store_true", help="429 answers without a Retry-After header")
    g.add_argument("--page-cap", type=int, default=None, help="at most this many items per page, whatever limit asks")
    g.add_argument("--short-pages", action="store_true", help="randomly return fewer items than limit")
    g.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered 500/502/503 (HTML)")
    g.add_argument("--bad-status-rate", type=float, default=0.0, help="fraction answered 200 with status 0")
    g.add_argument("--sort", choices=("desc", "asc", "random"), default="desc", help="list order (default desc)")
    g.add_argument("--mutate-rate", type=float, default=0.0, help="per list request: chance a person writes now")
    g.add_argument("--meta-mode", choices=("page", "filter"), default="page", help="meaning of meta counts")
    g.add_argument("--drift", action="store_true", help="field-shape drift (objects for lists, strings for numbers)")
    g.add_argument("--clock-offset-hours", type=float, default=0.0, metavar="H",
                   help="the API's clock is H hours ahead of this machine's (negative: behind)")
    g.add_argument("--clock-zone-label-hours", type=float, default=0.0, metavar="N",
                   help="the API writes the local time of UTC+N labelled Z (e.g. 3: Moscow time with a Z)")
    g.add_argument("--odd-page", choices=ODD_PAGE_KINDS, default=None,
                   help="spoil list pages: envelope key null or missing, list truncated, or a string/number/object")
    g.add_argument("--odd-page-where", default=None, metavar="ROUTE_OR_GLOB",
                   help="only this list route (template, with or without GET) or paths matching this glob")
    g.add_argument("--odd-page-rate", type=float, default=1.0, help="share of the chosen list pages spoiled (seeded)")
    g.add_argument("--odd-page-times", type=int, default=None, metavar="N",
                   help="spoil only the next N chosen pages, then answer well again")


def knobs_from_args(args: argparse.Namespace, cls: type[Knobs] = Knobs) -> Knobs:
    """Knobs from the shared flags; a subclass's own fields come from the argument of
    the same name when the parser has one (``--last-message-time`` -> ``last_message_time``)."""
    k = cls(
        page_cap=args.page_cap,
        short_pages=args.short_pages,
        latency_ms=args.latency_ms,
        rate_limit_per_min=args.rate_limit,
        retry_after=not args.no_retry_after,
        error_rate=args.error_rate,
        bad_status_rate=args.bad_status_rate,
        sort=args.sort,
        mutate_rate=args.mutate_rate,
        meta_mode=args.meta_mode,
        drift=args.drift,
        clock_offset_hours=getattr(args, "clock_offset_hours", 0.0),
        clock_zone_label_hours=getattr(args, "clock_zone_label_hours", 0.0),
        odd_page=args.odd_page,
        odd_page_where=args.odd_page_where,
        odd_page_rate=args.odd_page_rate,
        odd_page_times=args.odd_page_times,
    )
    shared = {f.name for f in dataclasses.fields(Knobs)}
    for f in dataclasses.fields(cls):
        if f.name not in shared and hasattr(args, f.name):
            setattr(k, f.name, getattr(args, f.name))
    k.validate()
    return k


def serve_in_foreground(server: EmulatorServer) -> int:
    """Block until Ctrl-C or SIGTERM, then stop the server cleanly."""

    def _stop(*_: object) -> None:
        server.stop()

    with contextlib.suppress(ValueError):  # not in the main thread
        signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


# ----------------------------------------------------------------------------- leeloo

def add_leeloo_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``leeloo`` (the caller creates the sub-command parser)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.add_argument("--scale", type=int, default=1000, help="number of people (default 1000)")
    parser.add_argument("--token", default="demo-token", help="the accepted X-Leeloo-AuthToken (default demo-token)")
    parser.add_argument("--anchor", default=None,
                        help="ISO datetime (UTC) the generated history ends at (default: now, truncated to the hour)")
    modes = parser.add_argument_group("data modes (fixed for the run)")
    modes.add_argument("--hostile", action="store_true",
                       help="strangers' strings (XSS, NUL, RTL, 70 KB, ...) in names, messages, tunnels, UTM, tags")
    modes.add_argument("--odd-shapes", action="store_true",
                       help="a few records per entity with an object/list where text is promised, text for numbers")
    modes.add_argument("--extra-fields", action="store_true", help="fields the documents do not list")
    add_knob_arguments(parser)
    parser.add_argument("--last-message-time", choices=("any", "inbound"), default="any",
                        help="what moves lastMessageTime: any message (default) or only the subscriber's own")


def run_leeloo_from_args(args: argparse.Namespace) -> int:
    """Build the Leeloo emulator from parsed args and serve in the foreground."""
    import datetime as dt

    from emulators.leeloo import LeelooEmulator, LeelooKnobs

    anchor = None
    if getattr(args, "anchor", None):
        anchor = dt.datetime.fromisoformat(args.anchor.replace("Z", "+00:00"))
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=dt.UTC)
    emu = LeelooEmulator(seed=args.seed, scale=args.scale, token=args.token,
                         knobs=knobs_from_args(args, LeelooKnobs), anchor=anchor,
                         hostile=args.hostile, odd_shapes=args.odd_shapes, extra_fields=args.extra_fields)
    server = EmulatorServer(emu, args.host, args.port)
    url = server.start()
    d = emu.data
    modes = [m for m, on in emu.modes.items() if on] + [f"lastMessageTime: {emu.knobs.last_message_time}"]
    print(f"Leeloo.ai emulator on {url} (seed {args.seed}: {len(d.people)} people, {len(d.channels)} channels, "
          f"{len(d.orders)} orders; history ends {d.anchor.isoformat()}; {', '.join(modes)})", flush=True)
    print(f"  SOURCES__LEELOO__BASE_URL={url}", flush=True)
    print(f"  SOURCES__LEELOO__API_TOKEN={args.token}  (sent as the X-Leeloo-AuthToken header)", flush=True)
    print("  SOURCES__LEELOO__REQUESTS_PER_MINUTE=0  (no client-side rate limit against an emulator)", flush=True)
    print(f"  admin: {url}/__admin/requests | /__admin/knobs | /__admin/truth | POST /__admin/simulate", flush=True)
    return serve_in_foreground(server)


# ----------------------------------------------------------------------------- registry

EMULATORS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "leeloo": (add_leeloo_arguments, run_leeloo_from_args),
}


def register_emulator(name: str, add_arguments, run_from_args) -> None:
    EMULATORS[name] = (add_arguments, run_from_args)


def _load_optional() -> None:
    """Salebot lives in ``emulators.salebot.cli`` (``add_salebot_arguments``, ``run_salebot_from_args``)."""
    if "salebot" in EMULATORS:
        return
    try:
        mod = importlib.import_module("emulators.salebot.cli")
        register_emulator("salebot", mod.add_salebot_arguments, mod.run_salebot_from_args)
    except (ImportError, AttributeError):
        pass


def add_emulator_subcommands(subparsers) -> None:
    """Add one sub-command per emulator to an argparse ``subparsers`` object."""
    _load_optional()
    for name, (add_args, run) in EMULATORS.items():
        sp = subparsers.add_parser(name, help=f"run the {name} API emulator in the foreground")
        add_args(sp)
        sp.set_defaults(_emulator_run=run)


def run_emulator(args: argparse.Namespace) -> int:
    """Serve the chosen emulator; a port that is taken is a usage error, said in one line."""
    try:
        return int(args._emulator_run(args))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"emulator: error: {args.host}:{args.port} is already in use (another program, perhaps an "
              "emulator started earlier, listens there); choose another --port, or --port 0 for any free one",
              file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators", description="Run an API emulator on loopback.")
    sub = parser.add_subparsers(dest="emulator", required=True)
    add_emulator_subcommands(sub)
    return run_emulator(parser.parse_args(argv))
