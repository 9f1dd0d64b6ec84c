"""Salebot.pro API emulator (see :mod:`emulators.salebot.emulator`)."""

from emulators.salebot.emulator import DEFAULT_API_KEY, ORDER_STATUSES, SalebotEmulator, SalebotKnobs

__all__ = ["DEFAULT_API_KEY", "ORDER_STATUSES", "SalebotEmulator", "SalebotKnobs"]
