"""Webhook fixtures: inboxes, the receiver in a thread of the test process, and the real
`chatfunnel webhook serve` in a subprocess (for signals, `ps`, logs and load)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulators.salebot import SalebotEmulator
from pipelines.config.accounts import Account
from pipelines.webhook import AppSettings, Inbox, Receiver, ServerSettings

SECRET = "whs_" + uuid.uuid4().hex  # distinctive, so a leak is greppable
API_KEY = "sbk_" + uuid.uuid4().hex
ACME_SECRET = "whs_acme_" + uuid.uuid4().hex
GLOBEX_SECRET = "whs_globex_" + uuid.uuid4().hex
FAST = ServerSettings(port=0, header_timeout=2.0, keep_alive=2.0)
_BANNER = re.compile(r"for (\S+) on http://[^:]+:(\d+)/")


def inbox(path: Path, secret: str = SECRET, account: str | None = None, retention_days: float = 30.0) -> Inbox:
    return Inbox(Account("salebot", account), secret, path, retention_days)


@pytest.fixture
def inboxes(tmp_path: Path) -> list[Inbox]:
    """The unnamed account and two named ones, each with its own secret and inbox."""
    return [
        inbox(tmp_path / "default.sqlite"),
        inbox(tmp_path / "acme.sqlite", ACME_SECRET, "acme"),
        inbox(tmp_path / "globex.sqlite", GLOBEX_SECRET, "globex"),
    ]


@pytest.fixture
def receiver(inboxes: list[Inbox]) -> Iterator[Receiver]:
    """The receiver in a thread, with short timeouts (2 s headers, 2 s body)."""
    with Receiver(inboxes, FAST, AppSettings(body_timeout=2.0)) as r:
        yield r


@dataclass
class Served:
    """`chatfunnel webhook serve` running in a subprocess."""

    proc: subprocess.Popen[bytes]
    cwd: Path
    stdout: Path
    stderr: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return next(iter(self.ports.values()))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/salebot/webhook"

    def url(self, secret: str = SECRET, account: str | None = None) -> str:
        return f"{self.base}/{secret}" if account is None else f"{self.base}/{account}/{secret}"

    def log_lines(self) -> list[str]:
        return self.stderr.read_text(encoding="utf-8", errors="replace").splitlines()

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace") + self.stderr.read_text(
            encoding="utf-8", errors="replace"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def serve(cwd: Path, env: dict[str, str], *flags: str, expect: int = 1, timeout: float = 60) -> Served:
    """Start the receiver as a user would and wait until it announced ``expect`` inboxes."""
    cwd.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    out, err = cwd / f"receiver-{tag}.out", cwd / f"receiver-{tag}.log"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "webhook", "serve", "--port", "0", *flags],
            cwd=cwd, env=env, stdout=o, stderr=e,
        )
    served = Served(proc, cwd, out, err)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        served.ports = {m.group(1): int(m.group(2)) for m in _BANNER.finditer(out.read_text())}
        if len(served.ports) >= expect:
            return served
        if proc.poll() is not None:
            raise AssertionError(f"the receiver exited with {proc.returncode}:\n{served.output()[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the receiver did not start:\n{served.output()[-3000:]}")


@pytest.fixture
def salebot(dlt_env: Path, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SalebotEmulator]:
    """A served Salebot emulator (seed 11, 60 clients); `chatfunnel run salebot` in this
    process loads it into ``duckdb_path`` and reads the unnamed account's inbox."""
    emu = SalebotEmulator(seed=11, api_key=API_KEY)
    with emu.serve() as url:
        monkeypatch.setenv("SOURCES__SALEBOT__BASE_URL", url)
        monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", API_KEY)
        monkeypatch.setenv("SOURCES__SALEBOT__REQUESTS_PER_MINUTE", "0")
        monkeypatch.setenv("SOURCES__SALEBOT__WEBHOOK_STORE", str(dlt_env / "inbox.sqlite"))
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
        yield emu


def run_salebot(*flags: str) -> None:
    """`chatfunnel run salebot` (no reports), as the nightly job runs it."""
    from pipelines.cli import main

    assert main(["run", "salebot", "--no-transform", "--progress", "none", *flags]) == 0


def messages_by_origin(duckdb_path: Path, ids: set[int], dataset: str = "salebot") -> dict[int, list[str]]:
    """For each of ``ids``, the origins of its rows in ``messages`` (one row: loaded once)."""
    import duckdb

    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        rows = conn.execute(f"select id, origin from {dataset}.messages").fetchall()
    found: dict[int, list[str]] = {i: [] for i in ids}
    for message_id, origin in rows:
        if int(message_id) in found:
            found[int(message_id)].append(origin)
    return found


def new_messages(emu: SalebotEmulator, **activity: Any) -> list[bytes]:
    """Activity in the emulator, not pushed: the push bodies of the messages it created."""
    created = set(emu.simulate(**activity)["messages"])
    with emu.data_lock:
        return [
            json.dumps(emu.webhook_payload(cid, m), ensure_ascii=False).encode()
            for cid, msgs in emu.messages.items() for m in msgs if m["id"] in created
        ]


@pytest.fixture
def receiver_env(dlt_env: Path) -> dict[str, str]:
    """The environment of a receiver subprocess: the unnamed account's secret and inbox."""
    env = dict(os.environ)
    env["SOURCES__SALEBOT__WEBHOOK_SECRET"] = SECRET
    env["SOURCES__SALEBOT__WEBHOOK_STORE"] = str(dlt_env / "inbox.sqlite")
    return env


@pytest.fixture
def served(dlt_env: Path, receiver_env: dict[str, str]) -> Iterator[Served]:
    """`chatfunnel webhook serve` with its defaults (10 s header and body deadlines)."""
    s = serve(dlt_env, receiver_env)
    yield s
    s.stop()
