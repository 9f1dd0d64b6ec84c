"""`chatfunnel emulator salebot`: run the Salebot emulator in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys

from emulators.base import EmulatorServer
from emulators.salebot.emulator import DEFAULT_API_KEY, SalebotEmulator


def add_salebot_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `chatfunnel emulator salebot` (the caller adds the sub-command)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8091, help="port (default 8091; 0 picks a free one)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="clients = 60 x scale (default 1)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key the emulator accepts in /api/<key>/...")
    parser.add_argument("--webhook-url", default=None, help="POST every new message (from simulate) here")


def run_salebot_from_args(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C / SIGTERM. Prints where, and with which key, to point the pipeline."""
    emu = SalebotEmulator(seed=args.seed, scale=args.scale, api_key=args.api_key)
    if getattr(args, "webhook_url", None):
        emu.webhook_url = args.webhook_url
    server = EmulatorServer(emu, args.host, args.port)
    url = server.start()
    print(f"Salebot emulator on {url} (seed {args.seed}, {len(emu.clients)} clients)", flush=True)
    print(f"  SOURCES__SALEBOT__BASE_URL={url}", flush=True)
    print("  SOURCES__SALEBOT__API_KEY=<the --api-key value>", flush=True)
    print(f"  admin: {url}/__admin/requests | /__admin/truth | POST /__admin/simulate", flush=True)

    def _stop(*_: object) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog="salebot-emulator")
    add_salebot_arguments(p)
    sys.exit(run_salebot_from_args(p.parse_args()))
