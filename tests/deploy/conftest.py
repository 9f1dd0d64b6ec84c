"""Orchestrator tests: the shipped Dagster definitions and Airflow DAG, against emulators."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

import pytest

from emulators.leeloo import LeelooEmulator

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def load_file_module(path: Path, name: str) -> ModuleType:
    """Import a deploy file as its orchestrator does: by path, not as a package module."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


LeelooAccounts = Callable[..., dict[str, LeelooEmulator]]
WRONG_TOKEN = "not-the-right-token-7d3a"


@pytest.fixture
def leeloo_accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[LeelooAccounts]:
    """Start one Leeloo emulator per named account (its own data, its own token) and
    configure the accounts as an agency would: `SOURCES__LEELOO__ACCOUNTS__<NAME>__...`.
    The account named `wrong_token` is configured with a token its emulator refuses."""
    with ExitStack() as stack:

        def start(seeds: dict[str, int], *, scale: int = 20, wrong_token: str | None = None
                  ) -> dict[str, LeelooEmulator]:
            emulators = {}
            for name, seed in seeds.items():
                token = f"leeloo-{name}-token-{seed:04d}"
                emulator = LeelooEmulator(seed=seed, scale=scale, token=token)
                url = stack.enter_context(emulator.serve())
                prefix = f"SOURCES__LEELOO__ACCOUNTS__{name.upper()}__"
                monkeypatch.setenv(prefix + "API_TOKEN", WRONG_TOKEN if name == wrong_token else token)
                monkeypatch.setenv(prefix + "BASE_URL", url)
                monkeypatch.setenv(prefix + "REQUESTS_PER_MINUTE", "0")
                emulators[name] = emulator
            return emulators

        yield start
