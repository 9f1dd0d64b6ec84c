"""`chatfunnel emulator salebot` / `python -m emulators salebot`: run the Salebot emulator in the foreground."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from emulators.base import EmulatorServer
from emulators.salebot.emulator import ACTIONS, DEFAULT_API_KEY, SalebotEmulator, SalebotKnobs


def add_salebot_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `salebot` (the caller creates the sub-command parser)."""
    from emulators.cli import add_knob_arguments

    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8091, help="port (default 8091; 0 picks a free one)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.add_argument("--scale", type=int, default=60, help="number of clients (default 60)")
    parser.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        help="the key accepted in /api/<key>/... (default: the document's example key)",
    )
    parser.add_argument(
        "--anchor", default=None, help="ISO datetime (UTC) the generated history ends at (default: now)"
    )
    parser.add_argument("--webhook-url", default=None, help="POST every new message (from simulate) here")
    parser.add_argument(
        "--history-tz-hours", type=int, default=3, help="time zone of dd.mm.yyyy history windows (default 3, Moscow)"
    )
    parser.add_argument(
        "--silent-crm",
        action="store_true",
        help="orders, order moves, variables and managers' messages leave updated_at as it was",
    )
    parser.add_argument(
        "--deny",
        action="append",
        default=[],
        choices=ACTIONS,
        metavar="ACTION",
        help="answer ACTION as for a key without its permission (repeatable)",
    )
    parser.add_argument(
        "--denied-status",
        type=int,
        choices=(403, 404),
        default=403,
        help="HTTP status of a denied action (default 403)",
    )
    parser.add_argument(
        "--hostile", action="store_true", help="strangers' strings, odd shapes and undocumented fields in the data"
    )
    add_knob_arguments(parser)


def run_salebot_from_args(args: argparse.Namespace) -> int:
    """Build the Salebot emulator from parsed args and serve until Ctrl-C / SIGTERM."""
    from emulators.cli import knobs_from_args, serve_in_foreground

    anchor = None
    if getattr(args, "anchor", None):
        anchor = dt.datetime.fromisoformat(args.anchor.replace("Z", "+00:00"))
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=dt.UTC)
    knobs = knobs_from_args(args, SalebotKnobs)
    assert isinstance(knobs, SalebotKnobs)
    knobs.update(
        {
            "history_tz_hours": args.history_tz_hours,
            "silent_crm": args.silent_crm,
            "denied_actions": list(args.deny),
            "denied_status": args.denied_status,
            "hostile": args.hostile,
        }
    )
    emu = SalebotEmulator(seed=args.seed, scale=args.scale, api_key=args.api_key, knobs=knobs, anchor=anchor)
    if args.webhook_url:
        emu.webhook_url = args.webhook_url
    server = EmulatorServer(emu, args.host, args.port)
    url = server.start()
    print(
        f"Salebot emulator on {url} (seed {args.seed}: {len(emu.clients)} clients, "
        f"{sum(len(m) for m in emu.messages.values())} messages, {len(emu.orders)} orders)",
        flush=True,
    )
    print(f"  SOURCES__SALEBOT__BASE_URL={url}", flush=True)
    print(f"  SOURCES__SALEBOT__API_KEY={args.api_key}  (the key this emulator accepts)", flush=True)
    print("  SOURCES__SALEBOT__REQUESTS_PER_MINUTE=0   (lifts the loader's own rate limit of 300/min)", flush=True)
    admin = "/__admin/requests | /__admin/knobs | /__admin/truth | POST /__admin/simulate | /__admin/webhook"
    print(f"  admin: {url}{admin}", flush=True)
    return serve_in_foreground(server)


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog="salebot-emulator")
    add_salebot_arguments(p)
    sys.exit(run_salebot_from_args(p.parse_args()))
