"""Chat messages go to dlt as Arrow tables with a fixed schema, so their column types
must not depend on what one batch happens to hold (the pipeline tests load the
emulator's messages end to end; these cover the shapes it does not send)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from sources.leeloo.helpers import MESSAGES_ARROW_SCHEMA, message_row, messages_table


def _message(**fields):
    return {"id": "m1", "createdAt": "2026-01-02T03:04:05.678+03:00", **fields}


def test_a_batch_of_nulls_keeps_the_declared_types() -> None:
    table = messages_table([message_row({"id": "m1"}, "c1"), message_row({"id": "m2"}, "c1")])
    assert table.schema == MESSAGES_ARROW_SCHEMA
    assert table.column("read").type == pa.bool_()
    assert table.column("created_at").type == pa.timestamp("us", tz="UTC")


def test_values_are_coerced_to_the_declared_types() -> None:
    row = message_row(
        _message(read="true", text={"caption": "photo"}, type="NOT_DEFINED",
                 links={"createdBy": {"type": "user", "id": 42}}),
        "c1",
    )
    table = messages_table([row, message_row(_message(id="m2", read=0, text=""), "c1")])
    first, second = table.to_pylist()
    assert first["read"] is True and second["read"] is False
    assert json.loads(first["text"]) == {"caption": "photo"}
    assert second["text"] == "", "an empty message text is text, not a missing value"
    assert first["type"] is None, "placeholders mean no value"
    assert first["links__created_by__id"] == "42"
    assert first["created_at"] == datetime(2026, 1, 2, 0, 4, 5, 678000, tzinfo=UTC)
