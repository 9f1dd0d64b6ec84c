"""The Leeloo and Salebot fixtures, shared: a live emulator, and targets on DuckDB and Postgres."""

from tests.leeloo.conftest import duck_target, emulator, pg_target
from tests.salebot.conftest import emu, warehouse

__all__ = ["duck_target", "emu", "emulator", "pg_target", "warehouse"]
