"""Column hints as both sources declare them.

Each call returns a fresh dict: dlt writes the column's name into the hint it is given,
so a hint shared between columns would end up naming only the last of them.
"""

from __future__ import annotations

from typing import Any

from sources.kit.values import MONEY_PRECISION, MONEY_SCALE


def timestamp_column() -> dict[str, Any]:
    """A moment: aware, stored in UTC."""
    return {"data_type": "timestamp", "timezone": True}


def column_of(data_type: str) -> dict[str, Any]:
    return {"data_type": data_type}


def money_column() -> dict[str, Any]:
    """An amount of money: exact, as the API wrote it (`values.money`), never a float."""
    return {"data_type": "decimal", "precision": MONEY_PRECISION, "scale": MONEY_SCALE}


def key_column(data_type: str) -> dict[str, Any]:
    """A column of the primary key: never NULL."""
    return {"data_type": data_type, "nullable": False}
