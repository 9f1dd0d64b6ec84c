"""Leeloo.ai API emulator (read endpoints of API v2 and v1 accounts).

    from emulators.leeloo import LeelooEmulator
    emu = LeelooEmulator(seed=1, scale=200, token="test-token")
    with emu.serve() as base_url:
        ...
"""
from emulators.base import Knobs
from emulators.leeloo.knobs import LeelooKnobs
from emulators.leeloo.server import LeelooEmulator

__all__ = ["Knobs", "LeelooEmulator", "LeelooKnobs"]
