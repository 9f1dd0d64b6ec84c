"""The one value rule both sources use (`sources.kit.values`, by kind through
`sources.kit.kinds.typed`): hostile inputs, one expected outcome each, and the lossless
property (a value is in its column or, as text, beside it; never lost) for the rule and
for both sources' row builders."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.kit.kinds import Shapes, typed
from sources.kit.values import (
    NO_PLACEHOLDERS,
    SIDE,
    Oddities,
    boolean,
    clean_deep,
    integer,
    json_value,
    parse_time,
    text,
    timestamp,
)
from sources.leeloo.rows import message_row as leeloo_message_row
from sources.leeloo.rows import order_row as leeloo_order_row
from sources.salebot.rows import CLIENT_FIELDS, MESSAGE_FIELDS, client_row, message_row

NAN, INF = float("nan"), float("inf")
T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)

# (kind, what the API sent, what the column gets, what the side column gets)
CASES: list[tuple[str, Any, Any, str | None]] = [
    ("bigint", 3, 3, None),
    ("bigint", 3.0, 3, None),
    ("bigint", " 42 ", 42, None),
    ("bigint", "+5", 5, None),
    ("bigint", 2**63 - 1, 2**63 - 1, None),
    ("bigint", "9223372036854775807", 2**63 - 1, None),
    ("bigint", 2**53 + 1, 2**53 + 1, None),
    ("bigint", "9007199254740993", 9007199254740993, None),
    ("bigint", 2**63, None, "9223372036854775808"),
    ("bigint", -(2**63) - 1, None, "-9223372036854775809"),
    ("bigint", 1e20, None, "1e+20"),
    ("bigint", 2.0**60, None, "1.152921504606847e+18"),
    ("bigint", 3.5, None, "3.5"),
    ("bigint", "3.0", None, "3.0"),
    ("bigint", "1e3", None, "1e3"),
    ("bigint", "1 000", None, "1 000"),
    ("bigint", "1_000", None, "1_000"),
    ("bigint", "1,0", None, "1,0"),
    ("bigint", "١٢", None, "١٢"),
    ("bigint", "", None, ""),
    ("bigint", True, None, "true"),
    ("bigint", NAN, None, "NaN"),
    ("bigint", -INF, None, "-Infinity"),
    ("bigint", "NOT_DEFINED", None, "NOT_DEFINED"),
    ("bigint", {"z": 1, "a": "x\x00"}, None, '{"z":1,"a":"x\ufffd"}'),
    ("bool", True, True, None),
    ("bool", 0, False, None),
    ("bool", " Yes ", True, None),
    ("bool", "false", False, None),
    ("bool", "1", True, None),
    ("bool", 1.0, None, "1.0"),
    ("bool", 2, None, "2"),
    ("bool", "on", None, "on"),
    ("bool", "", None, ""),
    ("timestamp", 1700000000, T0, None),
    ("timestamp", "1700000000", T0, None),
    ("timestamp", 1700000000.5, T0.replace(microsecond=500000), None),
    ("timestamp", "2023-11-14T22:13:20Z", T0, None),
    ("timestamp", "2023-11-15T01:13:20+03:00", T0, None),
    ("timestamp", "2023-11-14 22:13:20", T0, None),
    ("timestamp", "2023-11-14", T0.replace(hour=0, minute=0, second=0), None),
    ("timestamp", 1700000000000, None, "1700000000000"),
    ("timestamp", "1/2/2024", None, "1/2/2024"),
    ("timestamp", "Jan 2 2024", None, "Jan 2 2024"),
    ("timestamp", "3", datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC), None),
    ("timestamp", "", None, ""),
    ("timestamp", INF, None, "Infinity"),
    ("json", {"a": [1, None]}, {"a": [1, None]}, None),
    ("json", {"k\x00": [NAN, 2**70]}, {"k\ufffd": ["NaN", "1180591620717411303424"]}, None),
    ("json", "photo", None, "photo"),
    ("json", "", None, ""),
    ("json", 5, None, "5"),
    ("text", "", "", None),
    ("text", "a\x00b", "a\ufffdb", None),
    ("text", True, "true", None),
    ("text", 3.0, "3.0", None),
    ("text", 2**70, "1180591620717411303424", None),
    ("text", NAN, "NaN", None),
    ("text", {"z": 1, "a": [2]}, '{"z":1,"a":[2]}', None),
]
LEELOO = {"bigint": integer, "bool": boolean, "timestamp": timestamp, "json": json_value}


@pytest.mark.parametrize(("kind", "sent", "column", "side"), CASES, ids=[f"{c[0]}:{c[1]!r}" for c in CASES])
def test_one_rule_for_each_hostile_value_in_both_sources(kind: str, sent: Any, column: Any, side: str | None) -> None:
    row: dict[str, Any] = {}
    typed(row, "c", kind, sent, table="t", shapes=Shapes())  # type: ignore[arg-type]
    assert (row["c"], row.get("c" + SIDE)) == (column, side), "Salebot's typed()"
    if kind == "text":
        leeloo = (text(sent, "t.c"), None)
    else:
        leeloo = LEELOO[kind](sent, "t.c", placeholders=NO_PLACEHOLDERS)
    assert leeloo == (column, side), "Leeloo's converter"


def test_placeholders_are_no_value_only_where_the_api_writes_them() -> None:
    """Leeloo's `NOT_DEFINED` is NULL in every kind of column; Salebot writes no
    placeholder, so the same text a user typed there is kept beside the column."""
    for convert in LEELOO.values():
        assert convert("NOT_DEFINED", "t.c") == (None, None)
        assert convert("NOT_DEFINED", "t.c", placeholders=NO_PLACEHOLDERS) == (None, "NOT_DEFINED")


def test_both_sources_word_and_count_a_repair_the_same() -> None:
    leeloo, salebot = Oddities(), Shapes()
    for odd in (leeloo, salebot):
        for value in ("maybe", "", 1.0):
            boolean(value, "messages.read", odd)
    typed({}, "read", "bool", "sure", table="messages", shapes=salebot)
    boolean("sure", "messages.read", leeloo)
    assert leeloo.warnings() == salebot.warnings() == [
        "messages.read: 4 values of the wrong shape (not true/false), kept as text in read__v_text"]
    text({"a": "\x00"}, "people.name", leeloo)
    assert leeloo.warnings()[1:] == [
        "people.name: 1 value of the wrong shape (an object or list instead of text), stored as JSON text",
        "people.name: 1 value with NUL characters, replaced by U+FFFD",
    ]


def test_times_are_never_guessed() -> None:
    """Milliseconds are not guessed from a number's size, nor a day from a free text."""
    assert parse_time(1e11 + 1) == datetime(5138, 11, 16, 9, 46, 41, tzinfo=UTC)
    for junk in ("yesterday", "3 days ago", "2024/01/02 x", "١٧٠٠٠٠٠٠٠٠", "1e9", "nan", True, [1], {"at": 1}):
        assert parse_time(junk) is None, junk
    assert type(parse_time("2024-01-02T03:04:05.678+05:00")) is datetime


# ------------------------------------------------------------------ the lossless property

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", " 7 ", "3.0", "1e3", "true", "no", "1700000000", "2024-01-02T03:04:05Z", "2024-01-02",
                     "NOT_DEFINED", "nul\x00byte", "9223372036854775808", "١٢"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=8)


def _wire_text(value: Any) -> str:
    """What a value the column could not hold must be kept as: the text the API wrote
    (NUL repaired), objects and lists as JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (dict, list)):
        return json.dumps(clean_deep(value, "t.c", Oddities()), ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value)


def _same(stored: Any, sent: Any, kind: str) -> bool:
    """The stored value is the one sent, not an approximation of it."""
    if kind == "bigint":
        return stored == (int(sent.strip()) if isinstance(sent, str) else sent)
    if kind == "bool":
        return stored == (sent.strip().lower() in ("true", "1", "yes") if isinstance(sent, str) else sent)
    if kind == "timestamp":
        return isinstance(stored, datetime) and stored.utcoffset() is not None
    if kind == "json":
        return stored == clean_deep(sent, "t.c", Oddities())
    return stored == _wire_text(sent)


def assert_kept(row: dict[str, Any], column: str, kind: str, sent: Any) -> None:
    value, side = row.get(column), row.get(column + SIDE)
    if sent is None:
        assert value is None and side is None
    elif value is not None:
        assert side is None and _same(value, sent, kind), (column, sent, value)
    else:
        assert side == _wire_text(sent), (column, sent, side)


@settings(max_examples=400, deadline=None)
@given(json_values, st.sampled_from(["text", "bigint", "bool", "timestamp", "json"]))
def test_a_value_is_in_its_column_or_beside_it_never_lost(sent: Any, kind: str) -> None:
    row: dict[str, Any] = {}
    typed(row, "c", kind, sent, table="t", shapes=Shapes())  # type: ignore[arg-type]
    assert_kept(row, "c", kind, sent)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([k for k in CLIENT_FIELDS if k != "id"]), json_values), st.integers(1, 10**9))
def test_salebot_client_rows_lose_no_value(fields: dict[str, Any], client_id: int) -> None:
    row = client_row({**fields, "id": client_id}, Shapes())
    assert row is not None
    for column, sent in fields.items():
        assert_kept(row, column, CLIENT_FIELDS[column], sent)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([k for k in MESSAGE_FIELDS if k != "id"]), json_values), st.integers(1, 10**9))
def test_salebot_message_rows_lose_no_value(fields: dict[str, Any], message_id: int) -> None:
    row = message_row({**fields, "id": message_id}, 7, Shapes())
    assert row is not None
    for column, sent in fields.items():
        assert_kept(row, column, MESSAGE_FIELDS[column], sent)


LEELOO_MESSAGE = {"text": ("text", "text"), "read": ("read", "bool"), "createdAt": ("created_at", "timestamp"),
                  "updatedAt": ("updated_at", "timestamp")}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(LEELOO_MESSAGE)), json_values))
def test_leeloo_message_rows_lose_no_value(fields: dict[str, Any]) -> None:
    row = leeloo_message_row({**fields, "id": "m1"}, "c1", Oddities())
    assert row is not None
    for key, sent in fields.items():
        column, kind = LEELOO_MESSAGE[key]
        if sent in ("NOT_DEFINED", "NO_DATA") and kind != "text":
            assert row[column] is None and column + SIDE not in row, "Leeloo's placeholder is no value"
        else:
            assert_kept(row, column, kind, sent)


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_leeloo_order_rows_lose_no_value(title: Any, created: Any) -> None:
    row = leeloo_order_row({"id": "o1", "title": title, "createdAt": created}, None, Oddities())
    assert row is not None
    assert_kept(row, "title", "text", title)
    if created not in ("NOT_DEFINED", "NO_DATA"):
        assert_kept(row, "created_at", "timestamp", created)
