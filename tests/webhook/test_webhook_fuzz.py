"""Property-based: whatever JSON shape or bytes arrive, the receiver answers 400 or 200,
never 500, and a push it accepts is one the loader can turn into a row."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.webhook import AppSettings, BadPush, Receiver, parse_push
from pipelines.webhook.validation import MAX_DEPTH
from sources.salebot.rows import Shapes, webhook_message_row
from tests.webhook.conftest import FAST, inbox

_surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
_texts = st.integers(min_value=0, max_value=15).flatmap(lambda k: _surrogates if k == 0 else st.text(max_size=20))
_scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | _texts
)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
                     max_leaves=20)
def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``choices``, each as often as its weight says."""
    total = sum(w for w, _ in choices)

    def choose(k: int) -> st.SearchStrategy[Any]:
        for w, strategy in choices:
            if k < w:
                return strategy
            k -= w
        raise AssertionError(k)

    return st.integers(min_value=0, max_value=total - 1).flatmap(choose)


_good_ids = (
    st.integers(min_value=0, max_value=2**63 - 1) | st.integers(min_value=0, max_value=10**9).map(str)
    | st.integers(min_value=0, max_value=99).map(lambda i: f" {i}\t")
)
_bad_ids = weighted(
    (3, st.sampled_from(["", " ", "12a", "١٢", "²", "0x10", "1e3", "+5", "-3", "1_000", "9" * 25, "0" * 20 + "1"])),
    (1, st.integers(max_value=-1)),
    (1, st.integers(min_value=2**63, max_value=2**70)),
    (1, st.booleans() | st.floats()),
    (1, _json),
)
_good_flags = st.sampled_from([0, 1, True, False, "0", "1"])
_bad_flags = weighted(
    (3, st.sampled_from([1.0, 0.0, "true", "01", " 1", None, [], {}])), (2, st.integers()), (1, _json)
)


@st.composite
def pushes(draw: st.DrawFn) -> Any:
    """Push-shaped objects near the line between valid and not: about half of them are
    valid, the others have one or more keys missing or of a wrong type or range."""

    def pick(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
        return draw(bad) if draw(st.integers(min_value=0, max_value=3)) == 0 else draw(good)

    body: dict[str, Any] = {}
    if draw(st.integers(min_value=0, max_value=9)):
        body["id"] = pick(_good_ids, _bad_ids)
    if draw(st.integers(min_value=0, max_value=9)):
        client: Any = draw(st.dictionaries(_texts, _json, max_size=3))
        if draw(st.integers(min_value=0, max_value=9)):
            client["id"] = pick(_good_ids, _bad_ids)
        body["client"] = pick(st.just(client), _json)
    if draw(st.integers(min_value=0, max_value=9)):
        body["is_input"] = pick(_good_flags, _bad_flags)
    body.update(draw(st.dictionaries(st.sampled_from(["message", "attachments", "message_id", "delivered",
                                                      "error_message", "project_id", "name"]), _json, max_size=4)))
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        nested: Any = "deep"
        for _ in range(draw(st.integers(min_value=MAX_DEPTH - 3, max_value=MAX_DEPTH + 3))):
            nested = [nested]
        body["attachments"] = nested
    return body


def _examples(values: list[Any]) -> Any:
    def decorate(test: Any) -> Any:
        for value in reversed(values):
            test = example(value)(test)
        return test

    return decorate


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8")  # ASCII: surrogates become \ud800 escapes


def documented(value: Any) -> bool:
    """The model: what the push contract says is a push, written independently of the receiver."""

    def an_id(v: Any) -> bool:
        if isinstance(v, str):
            digits = v.strip()
            return digits.isascii() and digits.isdigit() and len(digits) <= 19 and int(digits) < 2**63
        return type(v) is int and 0 <= v < 2**63

    def depth_and_text_ok(v: Any, depth: int) -> bool:
        if depth > MAX_DEPTH:
            return False
        if isinstance(v, float):
            return math.isfinite(v)
        if isinstance(v, str):
            return not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
        if isinstance(v, list):
            return all(depth_and_text_ok(x, depth + 1) for x in v)
        if isinstance(v, dict):
            return all(depth_and_text_ok(k, depth) and depth_and_text_ok(x, depth + 1) for k, x in v.items())
        return True

    return (
        isinstance(value, dict)
        and an_id(value.get("id"))
        and isinstance(value.get("client"), dict)
        and an_id(value["client"].get("id"))
        and ((type(value.get("is_input")) in (bool, int) and value.get("is_input") in (0, 1))
             or value.get("is_input") in ("0", "1"))
        and depth_and_text_ok(value, 1)
    )


def _check(raw: bytes) -> bool:
    """Whether the receiver takes ``raw``: exactly when the model says it is a push, and
    then the loader's row builder takes it as it is stored. Never any other exception."""
    try:
        model = documented(json.loads(raw.decode("utf-8"), parse_constant=float))
    except (UnicodeDecodeError, ValueError, RecursionError):
        model = False
    try:
        push = parse_push(raw)
    except BadPush:
        assert not model, raw[:200]
        return False
    assert model, raw[:200]
    row = webhook_message_row(json.loads(push.text), 1_700_000_000.0, Shapes())
    assert row is not None and row["id"] == push.message_id and row["client_id"] == push.client_id
    return True


_EDGES = [
    {"id": "١٢", "client": {"id": 1}, "is_input": 1},  # digits int() takes, but not ASCII
    {"id": 1, "client": {"id": "²"}, "is_input": 1},  # str.isdigit() takes it, int() does not
    {"id": 2**63, "client": {"id": 1}, "is_input": 1},
    {"id": 2**63 - 1, "client": {"id": "9223372036854775807"}, "is_input": "0"},
    {"id": 1, "client": {"id": 1}, "is_input": 2},
    {"id": 1, "client": {"id": 1}, "is_input": 1.0},
    {"id": True, "client": {"id": 1}, "is_input": 1},
]


@given(pushes() | _json)
@settings(max_examples=600, deadline=None)
@_examples(_EDGES)
def test_any_json_is_a_push_or_a_bad_push_never_an_error(value: Any) -> None:
    _check(_encode(value))


_damaged = pushes().map(_encode).flatmap(lambda b: st.binary(max_size=8).map(lambda tail: b[:-3] + tail))


@given(st.binary(max_size=300) | _damaged)
@settings(max_examples=400, deadline=None)
def test_any_bytes_are_a_push_or_a_bad_push_never_an_error(raw: bytes) -> None:
    _check(raw)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "inbox.sqlite"
    with Receiver([inbox(path)], FAST, AppSettings(body_timeout=2.0)) as r:
        yield r


@given(body=(pushes() | _json).map(_encode) | st.binary(max_size=200))
@settings(max_examples=250, deadline=None)
def test_over_http_every_bad_shape_gets_400_and_none_gets_500(live: Receiver, body: bytes) -> None:
    answer = requests.post(live.url(), data=body, timeout=10)
    expected = 200 if _check(body) else 400
    assert answer.status_code == expected, (answer.status_code, answer.text[:200])
    assert answer.json()["status"] == ("success" if expected == 200 else "error")
