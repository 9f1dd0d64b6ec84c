"""Crash tests run the real CLI against the Leeloo emulator (fixtures shared with tests/leeloo)."""

from tests.leeloo.conftest import duck_target, emulator, pg_target, target  # noqa: F401 - fixtures
