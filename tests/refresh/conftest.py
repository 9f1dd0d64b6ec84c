"""Full-refresh tests run the real CLI against the emulators (fixtures shared with tests/leeloo
and tests/salebot)."""

from tests.leeloo.conftest import duck_target, emulator, pg_target, target  # noqa: F401 - fixtures
from tests.salebot.conftest import emu  # noqa: F401 - fixtures
