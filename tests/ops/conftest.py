"""Fixtures for the operations tests: the Leeloo emulator, a local webhook receiver, helpers."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.leeloo.conftest import TOKEN, Target, duck_target, emulator, target  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
HOOK_SECRET = "T0SECRET/B0SECRET/hooksecretvalue42"


@dataclass
class Receiver:
    """A Slack-compatible incoming webhook on 127.0.0.1 that records what it was sent."""

    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.paths.append(self.path)
            try:
                receiver.messages.append(json.loads(body))
            except ValueError:
                receiver.messages.append({"raw": body.decode("utf-8", "replace")})
            self.send_response(receiver.status)
            self.end_headers()
            self.wfile.write(b"ok" if receiver.status < 400 else b"no_service")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/services/{HOOK_SECRET}"
    monkeypatch.setenv("RUNTIME__SLACK_INCOMING_HOOK", receiver.url)
    yield receiver
    server.shutdown()
    server.server_close()


def leeloo_options(**kwargs: Any) -> Any:
    from pipelines.config.options import RunOptions

    kwargs.setdefault("progress", "none")
    return RunOptions(source="leeloo", **kwargs)


def run_ok(options: Any) -> Any:
    """One run through the lifecycle that must succeed; returns its outcome."""
    from pipelines.run.lifecycle import run_account

    outcome = run_account(options)
    assert outcome.error is None, outcome.error
    return outcome


def history(destination: str = "duckdb", dataset: str | None = None) -> list[dict[str, Any]]:
    from pipelines.config.accounts import Account
    from pipelines.operations.runs import read_history
    from pipelines.warehouse.account_pipeline import make_pipeline

    return read_history(make_pipeline(Account("leeloo"), destination, dataset))


def leeloo_pipeline(destination: str = "duckdb", dataset: str | None = None) -> Any:
    from pipelines.config.accounts import Account
    from pipelines.warehouse.account_pipeline import make_pipeline

    return make_pipeline(Account("leeloo"), destination, dataset)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment (dlt dir, emulator URL, token) for a child process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


PYTHON = sys.executable
