"""Crash tests run the real CLI against the Leeloo emulator (fixtures shared with tests/leeloo)."""

from tests.leeloo.conftest import duck_target, emulator, target  # noqa: F401 - fixtures
