"""Several accounts, configured the way an agency does: one `.dlt/secrets.toml` in the
working directory, one emulator instance per account (each its own API and rate limit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.leeloo import LeelooEmulator
from tests.leeloo.conftest import duck_target, target  # noqa: F401 - fixtures


@pytest.fixture
def agency(dlt_env: Path, monkeypatch: pytest.MonkeyPatch,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., dict[str, LeelooEmulator]]]:
    """`agency({"acme": 40, "globex": 30})`: an emulator per account and the secrets.toml
    that configures them; returns the emulators by account name."""
    contexts: list[Any] = []

    def start(accounts: dict[str, int], *, wrong_token_for: str | None = None,
              **knobs: Any) -> dict[str, LeelooEmulator]:
        lines = ["[sources.leeloo]", 'requests_per_minute = 0', ""]
        emulators = {}
        for i, (name, scale) in enumerate(accounts.items()):
            token = f"token-{name}-{'x' * 12}"
            emu = LeelooEmulator(seed=20 + i, scale=scale, token=token)
            for key, value in knobs.items():
                setattr(emu.knobs, key, value)
            context = emu.serve()
            url = context.__enter__()
            contexts.append(context)
            emulators[name] = emu
            configured = "wrong-token-zzzzzzzzzzzz" if name == wrong_token_for else token
            lines += [f"[sources.leeloo.accounts.{name}]", f'api_token = "{configured}"', f'base_url = "{url}"', ""]
        (dlt_env / ".dlt").mkdir(exist_ok=True)
        (dlt_env / ".dlt" / "secrets.toml").write_text("\n".join(lines), encoding="utf-8")
        monkeypatch.delenv("SOURCES__LEELOO__API_TOKEN", raising=False)
        _run_context().reload(str(dlt_env))  # dlt reads .dlt/ of its run dir: this test's folder
        return emulators

    yield start
    for context in reversed(contexts):
        context.__exit__(None, None, None)
    # never leave dlt reading this test's secrets.toml: later tests would see its accounts
    _run_context().reload(str(tmp_path_factory.mktemp("no_settings")))


def _run_context() -> Any:
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    return Container()[PluggableRunContext]
