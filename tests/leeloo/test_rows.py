"""Row builders against whatever JSON a stranger's API sends (property-based), and the
shapes the pipeline tests cannot reach through the emulator.

Every builder must never raise and must give each declared column a value of its
declared type (or NULL); a value that does not fit is kept as text in the side column
`<column>__v_text`; no string anywhere in a row holds a NUL.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sources.kit.values import SIDE, Oddities, entity_id
from sources.leeloo import rows
from sources.leeloo.rows import MESSAGES_ARROW_SCHEMA, message_row, messages_table

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", " ", "NOT_DEFINED", "NO_DATA", "nul\x00byte", "12.50", "1,5", "149,99 грн", "n/a",
                     "2026-01-02T03:04:05.678Z", "2026-01-02", "1e400", "true", "0", "x" * 5000]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
ids = st.one_of(st.text(min_size=1, max_size=24), st.integers(), json_values)


def items(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of the documented keys (any JSON in each) and added keys."""
    return st.builds(
        lambda known, extra, identifier: {**extra, **known, **({"id": identifier} if identifier is not None else {})},
        st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys)),
        st.dictionaries(st.text(max_size=12), json_values, max_size=3),
        st.one_of(st.none(), ids),
    )


PYTHON_TYPES = {"text": str, "double": float, "decimal": Decimal, "bigint": int, "bool": bool, "timestamp": datetime,
                "date": date}


def no_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(no_nul(k) and no_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return all(no_nul(v) for v in value)
    return True


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """Nested objects as dlt flattens them (`utm_marks__utm_source`); lists stay as they are."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update({f"{key}__{k}": v for k, v in flat(value).items()})
        else:
            out[key] = value
    return out


def check_typed(row: dict[str, Any] | None, item: dict[str, Any], columns: dict[str, Any]) -> None:
    if row is None:
        assert entity_id(item.get("id")) is None, "an item with a usable id must give a row"
        return
    assert no_nul(row), "a NUL reached a row"
    values = flat(row)
    for column, hint in columns.items():
        value = values.get(column)
        if value is None:
            continue
        expected = PYTHON_TYPES[hint["data_type"]]
        assert isinstance(value, expected) and not (expected is int and isinstance(value, bool)), (column, value)
        if isinstance(value, float):
            assert math.isfinite(value), (column, value)
        if isinstance(value, int) and not isinstance(value, bool):
            assert -(2**63) <= value < 2**63, (column, value)
        if isinstance(value, datetime):
            assert value.utcoffset() is not None and value.utcoffset().total_seconds() == 0, (column, value)
            assert type(value) is datetime, "a datetime subclass (pendulum) must not reach dlt"
    for column, value in values.items():
        if column.endswith(SIDE):
            assert isinstance(value, str) and columns.get(column[: -len(SIDE)]) is not None, (column, value)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PERSON_KEYS = ["name", "email", "phone", "tags", "accounts", "lastMessageTime", "profileImage", "gender", "locale",
               "subscribeHistory", "links", "custom_fields", "created_at", "updated_at", "createdAt"]


@FUZZ
@given(items(PERSON_KEYS), items(PERSON_KEYS))
def test_person_rows_never_raise_and_keep_their_types(listed: dict[str, Any], detail: dict[str, Any]) -> None:
    row = rows.person_row(listed, detail, Oddities())
    check_typed(row, {**listed, **detail}, rows.PEOPLE_COLUMNS)
    if row is not None:
        for child in ("tags",):
            assert all(v is None or isinstance(v, str) for v in row[child])
        for child in ("accounts", "subscribe_history", "custom_fields"):
            assert all(isinstance(v, (str, type(None))) for r in row[child] for v in r.values()), row[child]


@FUZZ
@given(items(["person_id", "name", "from", "botStatus", "lastMessageTime", "createdAt", "utmMarks"]))
def test_channel_rows_never_raise_and_keep_their_types(item: dict[str, Any]) -> None:
    row = rows.channel_row(item, Oddities())
    check_typed(row, item, rows.CHANNEL_COLUMNS)
    if row is not None:
        assert all(v is None or isinstance(v, str) for v in row["utm_marks"].values())


@FUZZ
@given(items(["text", "type", "read", "createdAt", "updatedAt", "links"]))
def test_message_rows_never_raise_and_fit_the_arrow_schema(item: dict[str, Any]) -> None:
    row = message_row(item, "c1", Oddities())
    check_typed(row, item, rows.MESSAGE_COLUMNS)
    if row is not None:
        table = messages_table([row, message_row({"id": "m-plain"}, "c1")])  # type: ignore[list-item]
        assert table.schema.names[: len(MESSAGES_ARROW_SCHEMA)] == MESSAGES_ARROW_SCHEMA.names
        assert all(table.schema.field(n).type == pa.string() for n in table.schema.names[len(MESSAGES_ARROW_SCHEMA):])


@FUZZ
@given(items(["person_id", "title", "description", "price", "currency", "status", "paymentMethod", "createdAt",
              "updatedAt"]), items(["title", "description", "price", "paymentMethod", "updatedAt"]))
@example({"id": "0"}, {"0": {"v_text": None}, "note__v_text": 5})  # fields posing as side columns
def test_order_rows_and_their_status_changes_keep_their_types(order: dict[str, Any], detail: dict[str, Any]) -> None:
    row = rows.order_row(order, detail, Oddities())
    check_typed(row, {**order, **detail}, rows.ORDER_COLUMNS)
    if row is not None:
        change = rows.status_change_row(row, "OPENED", datetime.now(UTC))
        check_typed(change, {"id": "x"}, rows.STATUS_CHANGE_COLUMNS)
        again = rows.status_change_row(row, "OPENED", datetime(2030, 1, 1, tzinfo=UTC))
        assert change["change_id"] == again["change_id"], "the same transition seen twice is one row"


@FUZZ
@given(st.one_of(json_values, st.lists(items([*rows.STAT_COUNTERS, "totalSale", "totalExpenses"]), max_size=2)))
def test_stats_rows_never_raise_and_keep_their_types(data: Any) -> None:
    row = rows.stats_row("t1", data, datetime(2026, 1, 2, 3, 4, tzinfo=UTC), Oddities())
    check_typed(row, {"id": "t1"}, rows.STATS_COLUMNS)


@FUZZ
@given(items(["name", "type", "message_name", "createdAt", "updatedAt", "tags", "from", "botStatus",
              "lastMessageTime"]))
def test_reference_rows_never_raise_and_keep_their_types(item: dict[str, Any]) -> None:
    odd = Oddities()
    check_typed(rows.simple_row(item, "tunnels", ("name", "createdAt", "updatedAt"), odd), item, rows.NAMED_COLUMNS)
    check_typed(rows.simple_row(item, "tags", ("name",), odd), item, rows.TAG_COLUMNS)
    check_typed(rows.simple_row(item, "connections", ("type", "name"), odd), item, rows.CONNECTION_COLUMNS)
    check_typed(rows.simple_row(item, "templates", ("message_name",), odd, category_id="k"), item,
                rows.TEMPLATE_COLUMNS)
    check_typed(rows.leadgentool_row(item, "t1", odd), item, rows.LEADGENTOOL_COLUMNS)
    check_typed(rows.v1_account_row(item, odd), item, rows.V1_ACCOUNT_COLUMNS)


def _message(**fields: Any) -> dict[str, Any]:
    return {"id": "m1", "createdAt": "2026-01-02T03:04:05.678+03:00", **fields}


def test_a_batch_of_nulls_keeps_the_declared_types() -> None:
    table = messages_table([message_row({"id": "m1"}, "c1"), message_row({"id": "m2"}, "c1")])  # type: ignore[list-item]
    assert table.schema == MESSAGES_ARROW_SCHEMA
    assert table.column("read").type == pa.bool_()
    assert table.column("created_at").type == pa.timestamp("us", tz="UTC")


def test_values_are_coerced_to_the_declared_types() -> None:
    row = message_row(
        _message(read="true", text={"caption": "photo"}, type="NOT_DEFINED",
                 links={"createdBy": {"type": "user", "id": 42}}),
        "c1",
    )
    table = messages_table([row, message_row(_message(id="m2", read=0, text=""), "c1")])  # type: ignore[list-item]
    first, second = table.to_pylist()
    assert first["read"] is True and second["read"] is False
    assert json.loads(first["text"]) == {"caption": "photo"}
    assert second["text"] == "", "an empty message text is text, not a missing value"
    assert first["type"] is None, "placeholders mean no value"
    assert first["links__created_by__id"] == "42"
    assert first["created_at"] == datetime(2026, 1, 2, 0, 4, 5, 678000, tzinfo=UTC)


def test_odd_values_go_to_side_columns_and_are_counted_once_per_kind() -> None:
    odd = Oddities()
    batch = [message_row(_message(id=f"m{i}", read="maybe", createdAt={"at": i}, text="a\x00b",
                                  deliveryStatus="sent", isForwarded=True), "c1", odd) for i in range(3)]
    table = messages_table(batch)  # type: ignore[arg-type]
    first = table.to_pylist()[0]
    assert first["read"] is None and first["read__v_text"] == "maybe"
    assert first["created_at"] is None and json.loads(first["created_at__v_text"]) == {"at": 0}
    assert first["text"] == "a\ufffdb", "a NUL becomes U+FFFD"
    assert first["delivery_status"] == "sent" and first["is_forwarded"] == "true", "added fields become columns"
    assert odd.warnings() == [
        "chat_messages.created_at: 3 values of the wrong shape (not an ISO time or unix seconds), "
        "kept as text in created_at__v_text",
        "chat_messages.delivery_status: 3 values of a field the API's documents do not list, loaded as a new column",
        "chat_messages.is_forwarded: 3 values of a field the API's documents do not list, loaded as a new column",
        "chat_messages.read: 3 values of the wrong shape (not true/false), kept as text in read__v_text",
        "chat_messages.text: 3 values with NUL characters, replaced by U+FFFD",
    ]


def test_a_person_whose_name_is_an_object_keeps_it_as_json() -> None:
    odd = Oddities()
    row = rows.person_row({"id": "p1", "name": {"first": "Olena"}, "tags": ["vip", {"b": 1}],
                           "email": "", "phone": 380501234567}, None, odd)
    assert row is not None
    assert json.loads(row["name"]) == {"first": "Olena"}
    assert row["tags"] == ["vip", '{"b":1}'], "JSON text as sent: keys in their order, no spaces"
    assert row["email"] == "" and row["phone"] == "380501234567"
    assert odd.warnings() == [
        "people.name: 1 value of the wrong shape (an object or list instead of text), stored as JSON text",
        "people.tags: 1 value of the wrong shape (an object or list instead of text), stored as JSON text",
    ]


def test_a_price_that_is_no_number_is_kept_beside_the_column() -> None:
    row = rows.order_row({"id": "o1", "price": "149,99 грн", "createdAt": "2026-01-02T00:00:00Z"}, {})
    assert row is not None and row["price"] is None and row["price__v_text"] == "149,99 грн"
    assert rows.order_row({"id": "o2", "price": "12,50"}, {})["price"] == Decimal("12.50")  # type: ignore[index]
