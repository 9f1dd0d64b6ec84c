"""The Leeloo tests' emulator and target fixtures (DuckDB and Postgres), shared here."""

from tests.leeloo.conftest import emulator, target  # noqa: F401
