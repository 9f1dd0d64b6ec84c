"""The Leeloo tests' emulator and target fixtures (DuckDB and Postgres) and the Salebot
tests' emulator, shared here."""

from tests.leeloo.conftest import duck_target, emulator, target  # noqa: F401
from tests.salebot.conftest import emu  # noqa: F401
