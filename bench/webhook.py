"""`python -m bench.webhook`: the Salebot webhook receiver's pushes per second and latency,
beside the receiver it replaced.

Each receiver runs in its own process on loopback, storing into a fresh SQLite inbox with
``synchronous=FULL`` (every 200 waits for its commit's fsync); the load comes from this
process over raw sockets:

- ``burst``: N pushes opened at once, one connection each (a Salebot broadcast answered by
  thousands of subscribers). Counts what was answered 200 within 60 s (Salebot never
  resends), the wall time, pushes answered per second, p50/p99 latency from sending the
  request to the answer.
- ``keep-alive``: C clients on kept-alive connections pushing M pushes one after another.

and the receiver's CPU time per push. The old receiver (Python's ``http.server``, a thread
per connection, a listen backlog of 5) is the code this package replaced, taken from git.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.harness import process_cpu_seconds, stop_process
from tests.webhook.load import Answer, burst, keep_alive_clients, push_body

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789abcdef"
OLD_PATH = "pipelines/webhook.py"
OLD_STORE = "sources/salebot/webhook_store.py"


@dataclass
class Receiver:
    name: str
    proc: psutil.Popen
    url: str
    log: Path

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc, wait=30)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


def old_receiver_source() -> tuple[str, str, str]:
    """(commit, receiver, store) of the last version before the package replaced it."""
    deleted = _git("log", "-1", "--format=%H", "--diff-filter=D", "--", OLD_PATH).strip()
    commit = f"{deleted}^" if deleted else "HEAD"
    return commit, _git("show", f"{commit}:{OLD_PATH}"), _git("show", f"{commit}:{OLD_STORE}")


def start_old(workdir: Path) -> Receiver:
    commit, receiver, store = old_receiver_source()
    receiver = receiver.replace(
        "from sources.salebot.settings import DEFAULT_WEBHOOK_STORE", 'DEFAULT_WEBHOOK_STORE = "inbox.sqlite"'
    ).replace("from sources.salebot.webhook_store import WebhookStore", "from old_webhook_store import WebhookStore")
    (workdir / "old_webhook.py").write_text(receiver)
    (workdir / "old_webhook_store.py").write_text(store)
    driver = textwrap.dedent(f"""
        import signal, threading
        from old_webhook import WebhookReceiver
        r = WebhookReceiver("inbox.sqlite", {SECRET!r}, port=0)
        r.start()
        print("listening", r.port, flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        done.wait()
        r.stop()
    """)
    log = (workdir / "receiver.log").open("w")
    proc = psutil.Popen([sys.executable, "-c", driver], cwd=workdir, stdout=subprocess.PIPE, stderr=log, text=True,
                        env={**os.environ, "PYTHONPATH": str(workdir)})
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    url = f"http://127.0.0.1:{port}/salebot/webhook/{SECRET}"
    return Receiver(f"old (http.server, {commit[:7]})", proc, url, workdir / "receiver.log")


def start_new(workdir: Path) -> Receiver:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCES__SALEBOT__WEBHOOK_SECRET": SECRET,
           "SOURCES__SALEBOT__WEBHOOK_STORE": str(workdir / "inbox.sqlite"), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    log = (workdir / "receiver.log").open("w")
    proc = psutil.Popen([sys.executable, "-m", "pipelines", "webhook", "serve", "--port", "0"], cwd=workdir,
                        env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := re.search(r"on http://[^:]+:(\d+)/", line):
            url = f"http://127.0.0.1:{match.group(1)}/salebot/webhook/{SECRET}"
            return Receiver("new (uvicorn)", proc, url, workdir / "receiver.log")
    raise RuntimeError(f"the receiver did not start; see {workdir / 'receiver.log'}")


def summarise(answers: list[Answer], wall: float, cpu: float) -> dict[str, Any]:
    ok = sorted(a.seconds for a in answers if a.status == 200)
    pick = lambda q: round(ok[min(len(ok) - 1, int(q * len(ok)))] * 1000, 1) if ok else None  # noqa: E731
    return {
        "answered_200": len(ok),
        "sent": len(answers),
        "wall_s": round(wall, 2),
        "pushes_per_s": round(len(ok) / wall) if wall else None,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "cpu_ms_per_push": round(cpu * 1000 / len(ok), 2) if ok else None,
        "unanswered": dict(Counter(a.error or f"HTTP {a.status}" for a in answers if a.status != 200)),
    }


def measure(receiver: Receiver, pushes: int, clients: int, sustained: int) -> dict[str, dict[str, Any]]:
    results = {}
    seen = 0
    for name, run in (
        ("burst", lambda: burst(receiver.url, [push_body(i, i % 500) for i in range(1, pushes + 1)], timeout=60)),
        ("keep-alive", lambda: keep_alive_clients(
            receiver.url, [push_body(i, i % 500) for i in range(10**6, 10**6 + sustained)], clients, timeout=60)),
    ):
        cpu0, began = receiver.cpu_seconds(), time.perf_counter()
        answers = run()
        wall = time.perf_counter() - began
        results[name] = summarise(answers, wall, receiver.cpu_seconds() - cpu0)
        logged = receiver.tracebacks()
        results[name]["tracebacks_logged"], seen = logged - seen, logged
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=2000, help="pushes opened at once in the burst (default 2000)")
    parser.add_argument("--clients", type=int, default=32, help="kept-alive clients (default 32)")
    parser.add_argument("--sustained", type=int, default=6000, help="pushes over kept-alive clients (default 6000)")
    parser.add_argument("--no-old", action="store_true", help="skip the old receiver (its burst takes 60 s)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    starts = [start_new] if args.no_old else [start_new, start_old]
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for start in starts:
        with tempfile.TemporaryDirectory(prefix="chatfunnel-webhook-bench-") as tmp:
            receiver = start(Path(tmp))
            try:
                figures[receiver.name] = measure(receiver, args.pushes, args.clients, args.sustained)
            finally:
                receiver.stop()
    print(f"webhook receiver on this machine ({os.cpu_count()} cores, load and receiver sharing them), "
          "each 200 after its fsync:")
    header = ("receiver", "load", "200s / sent", "wall s", "pushes/s", "p50 ms", "p99 ms", "CPU ms/push",
              "tracebacks logged", "not answered 200")
    print("  " + " | ".join(header))
    for name, loads in figures.items():
        for load, f in loads.items():
            label = f"{args.pushes} at once" if load == "burst" else f"{args.clients} kept-alive"
            print(f"  {name} | {label} | {f['answered_200']} / {f['sent']} | {f['wall_s']} | {f['pushes_per_s']} | "
                  f"{f['p50_ms']} | {f['p99_ms']} | {f['cpu_ms_per_push']} | {f['tracebacks_logged']} | "
                  f"{', '.join(f'{n} {why}' for why, n in f['unanswered'].items()) or '-'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
