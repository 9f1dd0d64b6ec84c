"""Leeloo-only knobs: the shared ones plus the reading of ``lastMessageTime``."""
from __future__ import annotations

from dataclasses import dataclass

from emulators.base import Knobs

LAST_MESSAGE_TIME_MODES = ("any", "inbound")


@dataclass
class LeelooKnobs(Knobs):
    """``last_message_time``: which messages move a channel's and a person's
    ``lastMessageTime`` (and so the window filter on it). ``"any"``: every message, the
    emulator's first reading; ``"inbound"``: only the subscriber's own
    (``FRIEND_MESSAGE``), as the v1 document defines the field, so a window on it
    never shows a reply or a broadcast."""

    last_message_time: str = "any"

    def validate(self) -> None:
        super().validate()
        if self.last_message_time not in LAST_MESSAGE_TIME_MODES:
            raise ValueError(f"last_message_time must be one of {LAST_MESSAGE_TIME_MODES}, "
                             f"not {self.last_message_time!r}")
