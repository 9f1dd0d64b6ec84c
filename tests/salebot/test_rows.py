"""Row builders take whatever a stranger typed: random JSON never makes them raise, and a
declared column never gets a value of the wrong type (property-based, with hypothesis)."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators import hostile
from sources.salebot.rows import (
    BLOCK_FIELDS,
    CHANNEL_FIELDS,
    CLIENT_FIELDS,
    MESSAGE_FIELDS,
    Shapes,
    block_rows,
    channel_rows,
    client_row,
    message_row,
    order_row,
    variable_rows,
    webhook_message_row,
)

PYTHON_TYPES = {"text": (str,), "bigint": (int,), "bool": (bool,), "timestamp": (dt.datetime,), "json": (dict, list)}

# JSON as the API could send it: nulls, numbers as strings, huge and non-finite numbers,
# NUL bytes, nested objects where text is expected
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "",
            "\x00",
            "nul\x00byte",
            "12486",
            " 42 ",
            "1e400",
            "nan",
            "2024-01-02T03:04:05Z",
            "true",
            "9999-12-31T23:59:59-05:00",
            "99999999999999999999",
            hostile.LONG_TEXT,
            *hostile.PAYLOADS,
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        *CLIENT_FIELDS,
        *MESSAGE_FIELDS,
        "client_id",
        "origin",
        "Name",
        "_dlt_id",
        "",
        "x_raw",
        "x__v_text",
        "extra_fields",
        "utm",
        "reaction",
    ]
) | st.text(max_size=10)
records = st.dictionaries(keys, json_values, max_size=14) | json_values


def _no_bad_values(value: Any) -> None:
    """Nothing a destination refuses: no NUL, no NaN or infinity, no integer beyond bigint."""
    if isinstance(value, str):
        assert "\x00" not in value
    elif isinstance(value, bool) or value is None or isinstance(value, dt.datetime):
        pass
    elif isinstance(value, int):
        assert -(2**63) <= value <= 2**63 - 1
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            assert isinstance(k, str) and "\x00" not in k
            _no_bad_values(v)
    elif isinstance(value, list):
        for v in value:
            _no_bad_values(v)
    else:
        raise AssertionError(f"unexpected value type {type(value).__name__}")


def _plain(value: Any) -> bool:
    """JSON that needs no repair (no NUL, no non-finite float, no integer beyond bigint)."""
    try:
        _no_bad_values(value)
    except AssertionError:
        return False
    return True


def _well_typed(row: Mapping[str, Any], fields: Mapping[str, str]) -> None:
    for column, kind in fields.items():
        value = row.get(column)
        if value is not None:
            assert isinstance(value, PYTHON_TYPES[kind]), (column, value)
            if kind == "bigint":
                assert not isinstance(value, bool), column
            if isinstance(value, dt.datetime):
                assert value.utcoffset() == dt.timedelta(0), column
    for column, value in row.items():
        if column.endswith("__v_text") and column[: -len("__v_text")] in fields:
            assert isinstance(value, str) and row.get(column[: -len("__v_text")]) is None
    _no_bad_values(dict(row))


@settings(max_examples=300, deadline=None)
@given(records)
def test_client_rows(raw: Any) -> None:
    row = client_row(raw, Shapes())
    if row is not None:
        assert isinstance(row["id"], int)
        _well_typed(row, CLIENT_FIELDS)


@settings(max_examples=300, deadline=None)
@given(records, st.integers(min_value=1, max_value=2**62))
def test_message_rows(raw: Any, client_id: int) -> None:
    row = message_row(raw, client_id, Shapes())
    if row is not None:
        assert isinstance(row["id"], int) and row["client_id"] == client_id and row["origin"] == "history"
        _well_typed(row, MESSAGE_FIELDS)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["id", "client", "message", "is_input", "attachments", "delivered"]), json_values)
    | json_values,
    st.floats(min_value=0, max_value=4e9),
)
def test_webhook_rows(payload: Any, received_at: float) -> None:
    row = webhook_message_row(payload, received_at, Shapes())
    if row is not None:
        assert row["origin"] == "webhook" and isinstance(row["created_at"], dt.datetime)
        _well_typed(row, MESSAGE_FIELDS)


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from([0, 1, 2]), st.none() | st.integers(min_value=0, max_value=10**6))
def test_order_rows(variables: Any, status: int, state_id: int | None) -> None:
    row = order_row(40338, 7, status=status, state_id=state_id, variables=variables, shapes=Shapes())
    assert row["status_name"] in ("active", "success", "failed")
    _well_typed(
        row,
        {
            "id": "bigint",
            "client_id": "bigint",
            "status": "bigint",
            "state_id": "bigint",
            "status_name": "text",
            "variables": "json",
        },
    )
    if not isinstance(variables, dict) and variables is not None:
        assert row["variables"] is None or isinstance(variables, list)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_variable_rows(body: Any) -> None:
    rows = variable_rows(9, body, Shapes())
    for row in rows:
        assert row["client_id"] == 9 and isinstance(row["name"], str)
        assert row["value"] is None or isinstance(row["value"], str)
        assert row["id"] == f"9:{row['name']}"
        _no_bad_values(row)
    if isinstance(body, dict):
        assert len(rows) == len(body)
        for (name, value), row in zip(body.items(), rows, strict=True):
            if "\x00" not in name:
                assert row["name"] == name
            if isinstance(value, str) and "\x00" not in value:
                assert row["value"] == value, "a text value is stored as it came"
            elif isinstance(value, (dict, list)) and _plain(value):
                assert json.loads(row["value"]) == value, "an object is stored as its JSON text"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["project_id", "telegram", "viber", "x"]), json_values) | json_values)
def test_channel_and_block_rows(body: Any) -> None:
    for row in channel_rows(body, Shapes()):
        _well_typed(row, CHANNEL_FIELDS)
        assert isinstance(row["messenger"], str)
    for row in block_rows(body if isinstance(body, list) else [body], Shapes()):
        _well_typed(row, BLOCK_FIELDS)


def test_wrong_shapes_are_kept_losslessly_and_counted() -> None:
    shapes = Shapes()
    row = client_row(
        {
            "id": "5",
            "name": {"first": "Olena", "last": "<b>K</b>"},
            "project_id": "project 1",
            "created_at": "1700000000",
            "tag": "",
            "platform_id": "a\x00b",
            "utm": {"c": "x"},
            "Name": "twin of name",
            "_dlt_id": "mine",
        },
        shapes,
    )
    assert row is not None
    assert json.loads(row["name"]) == {"first": "Olena", "last": "<b>K</b>"}
    assert row["project_id"] is None and row["project_id__v_text"] == "project 1"
    assert row["created_at"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert row["tag"] == "", "an empty text stays empty"
    assert row["platform_id"] == "a\ufffdb"
    assert row["utm"] == {"c": "x"}, "a field the document does not list arrives as a new column"
    assert row["extra_fields"] == {"Name": "twin of name", "_dlt_id": "mine"}, "names dlt would collide on"
    warnings = " ".join(shapes.warnings())
    for where in ("clients.name", "clients.project_id", "clients.platform_id", "clients.utm"):
        assert where in warnings
    assert client_row({"id": {"x": 1}}, shapes) is None and client_row(["no", "object"], shapes) is None
    said = shapes.warnings()
    assert "clients: 2 records without a usable id, skipped" in said
    assert ("clients.extra_fields: 2 fields whose names would collide with a column of ours or dlt's, "
            "kept in it as JSON") in said
