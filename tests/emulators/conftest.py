"""Fixtures for the emulator tests: a shared read-only Leeloo emulator and a fresh one per test."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulators.leeloo import LeelooEmulator, LeelooKnobs

ANCHOR = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
TOKEN = "test-token"
REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def cli_emulator(cwd: Path, *flags: str) -> Iterator[tuple[str, str]]:
    """``python -m emulators leeloo`` in its own process (scale 60, seed 1, the test anchor);
    yields (base URL, banner line)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "emulators", "leeloo", "--port", "0", "--scale", "60",
                             "--token", TOKEN, "--anchor", ANCHOR.isoformat(), *flags],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert " on http" in banner, banner
        yield banner.split(" on ", 1)[1].split()[0], banner
    finally:
        proc.terminate()
        proc.wait(10)


class Client:
    """Tiny helper: GET with the auth header, JSON decoding left to the test."""

    def __init__(self, base_url: str, emu: LeelooEmulator):
        self.base = base_url
        self.emu = emu
        self.s = requests.Session()
        self.s.headers["X-Leeloo-AuthToken"] = TOKEN

    def get(self, path: str, params=None, **kw) -> requests.Response:
        return self.s.get(self.base + path, params=params, timeout=10, **kw)

    def json(self, path: str, params=None) -> dict:
        r = self.get(path, params)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        body = r.json()
        assert body["status"] == 1, body
        return body

    def admin(self, path: str, body: dict) -> dict:
        """POST an admin route (``knobs``, ``simulate``, ``reset``) and return its JSON."""
        r = self.s.post(f"{self.base}/__admin/{path}", json=body, timeout=30)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        return r.json()

    def truth(self) -> dict:
        """The ground truth over HTTP, as a test outside the process would read it."""
        r = self.s.get(f"{self.base}/__admin/truth", timeout=60)
        assert r.status_code == 200
        return r.json()

    def page_all(self, path: str, params=None, limit: int = 100, max_pages: int = 10_000) -> list[dict]:
        """Page until an empty page (never trusting short pages or meta)."""
        out: list[dict] = []
        offset = 0
        for _ in range(max_pages):
            body = self.json(path, dict(params or {}, limit=limit, offset=offset))
            if not body["data"]:
                return out
            out.extend(body["data"])
            offset += len(body["data"])
        raise AssertionError("paging did not end")


@pytest.fixture(scope="module")
def shared_emu() -> Iterator[tuple[LeelooEmulator, str]]:
    emu = LeelooEmulator(seed=1, scale=300, token=TOKEN, anchor=ANCHOR)
    with emu.serve() as url:
        yield emu, url


@pytest.fixture
def client(shared_emu) -> Iterator[Client]:
    """A client on the shared (read-only) emulator; knobs restored after the test."""
    emu, url = shared_emu
    yield Client(url, emu)
    emu.knobs.update(LeelooKnobs().to_dict())
    emu.reset_counts()


@pytest.fixture
def fresh() -> Iterator[Client]:
    """A client on a private emulator the test may mutate (simulate, mutate_rate, regenerate)."""
    emu = LeelooEmulator(seed=3, scale=120, token=TOKEN, anchor=ANCHOR)
    with emu.serve() as url:
        yield Client(url, emu)
