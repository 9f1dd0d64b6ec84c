"""Fixtures for the readers tests: the Leeloo emulator and the DuckDB and Postgres targets."""

from __future__ import annotations

from tests.leeloo.conftest import duck_target, emulator, pg_target  # noqa: F401 - fixtures
