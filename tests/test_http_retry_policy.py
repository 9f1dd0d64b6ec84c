"""dlt's retry policy as the HTTP client builds it, pinned.

`sources.http.client.dlt_retry_policy` builds the policy with dlt's `_make_retry`, which
dlt does not publish (it builds its own `requests` sessions with it). Everything the
client relies on is held here, attempt by attempt, with the waits recorded instead of
slept: which answers and errors are retried, how long each wait is, how many attempts
there are, and what the caller gets after the last one (the last answer, or the last
error as itself). A dlt release that changes any of it fails here, not in a run.
(tests/test_http_client.py holds the same rules end to end, over HTTP.)
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from sources.http import BudgetExhausted
from sources.http import client as http_client
from sources.http.client import dlt_retry_policy


def _answer(status: int, body: bytes = b"{}", **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers)
    response._content = body
    return response


class _Attempts:
    """An attempt function that plays a script: an answer or an error per attempt (the
    last one again once the script runs out)."""

    def __init__(self, *outcomes: requests.Response | BaseException) -> None:
        self.outcomes = outcomes
        self.calls = 0

    def __call__(self) -> requests.Response:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def _run(attempts: _Attempts, max_attempts: int = 6, condition: Any = None) -> tuple[Any, list[float]]:
    """The policy's result for ``attempts`` and the waits it asked for, none slept."""
    waits: list[float] = []
    policy = dlt_retry_policy(max_attempts, condition).copy(sleep=waits.append)
    return policy(attempts), waits


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 520, 599])
def test_429_and_every_5xx_are_retried(status: int) -> None:
    attempts = _Attempts(_answer(status), _answer(200))
    result, waits = _run(attempts)
    assert result.status_code == 200
    assert attempts.calls == 2
    assert len(waits) == 1


@pytest.mark.parametrize("status", [200, 204, 301, 302, 400, 401, 403, 404, 409, 422])
def test_other_statuses_are_answered_at_once(status: int) -> None:
    attempts = _Attempts(_answer(status), _answer(200))
    result, waits = _run(attempts)
    assert result.status_code == status
    assert attempts.calls == 1
    assert waits == []


@pytest.mark.parametrize("error", [
    requests.ConnectionError("refused"),
    requests.ConnectTimeout("connect"),
    requests.ReadTimeout("read"),
    requests.exceptions.ChunkedEncodingError("cut"),
    requests.exceptions.SSLError("handshake"),
    requests.exceptions.ProxyError("proxy"),
])
def test_connection_errors_and_timeouts_are_retried(error: Exception) -> None:
    attempts = _Attempts(error, _answer(200))
    result, _ = _run(attempts)
    assert result.status_code == 200
    assert attempts.calls == 2


@pytest.mark.parametrize("error", [
    BudgetExhausted("spent"),
    requests.exceptions.InvalidURL("bad"),
    requests.exceptions.ContentDecodingError("gzip"),
    ValueError("a bug"),
])
def test_other_errors_are_raised_at_once(error: Exception) -> None:
    """A spent budget above all: a retry would only ask the budget again."""
    attempts = _Attempts(error, _answer(200))
    with pytest.raises(type(error)) as raised:
        _run(attempts)
    assert raised.value is error
    assert attempts.calls == 1


def test_after_the_last_attempt_the_last_answer_is_returned_not_raised() -> None:
    """The client maps the status to its typed error; a tenacity RetryError would escape it."""
    last = _answer(503)
    attempts = _Attempts(_answer(500), _answer(502), last)
    result, waits = _run(attempts, max_attempts=3)
    assert result is last
    assert attempts.calls == 3
    assert len(waits) == 2


def test_after_the_last_attempt_the_last_error_is_raised_as_itself() -> None:
    """The client catches `RequestException` to raise `ApiUnreachable`."""
    last = requests.ReadTimeout("third")
    attempts = _Attempts(requests.ConnectionError("first"), requests.ConnectTimeout("second"), last)
    with pytest.raises(requests.ReadTimeout) as raised:
        _run(attempts, max_attempts=3)
    assert raised.value is last
    assert attempts.calls == 3


def test_waits_double_from_the_backoff_factor_up_to_the_cap() -> None:
    attempts = _Attempts(_answer(503))
    _, waits = _run(attempts, max_attempts=12)
    factor, cap = http_client.BACKOFF_FACTOR, http_client.MAX_RETRY_DELAY
    assert waits == [min(factor * 2 ** n, cap) for n in range(11)]
    assert waits[:3] == [0.5, 1.0, 2.0]
    assert waits[-1] == cap == 120


@pytest.mark.parametrize(("retry_after", "wait"), [
    ("7", 7),
    (" 3 ", 3),
    ("100000", 120),  # capped at the longest wait
    ("0", 0.5),  # nothing to wait for: the backoff decides
    ("soon", 0.5),  # not a number nor a date: the backoff decides
])
def test_a_retry_after_in_seconds_decides_the_wait(retry_after: str, wait: float) -> None:
    attempts = _Attempts(_answer(429, **{"Retry-After": retry_after}), _answer(200))
    _, waits = _run(attempts)
    assert waits == [wait]


def test_a_retry_after_as_a_date_waits_until_then() -> None:
    then = email.utils.formatdate(time.time() + 30, usegmt=True)
    attempts = _Attempts(_answer(503, **{"Retry-After": then}), _answer(200))
    _, waits = _run(attempts)
    assert len(waits) == 1
    assert 27 <= waits[0] <= 31


def test_the_condition_sees_each_answer_and_its_verdict_retries_a_200() -> None:
    """How the client retries a 200 whose body is an error or of the wrong shape; after
    the last attempt the answer comes back, for the client to raise `UnexpectedAnswer`."""
    seen: list[tuple[int | None, BaseException | None]] = []

    def body_is_wrong(response: requests.Response | None, exc: BaseException | None) -> bool:
        seen.append((response.status_code if response is not None else None, exc))
        return response is not None and response.content == b"null"

    error = requests.ConnectionError("reset")
    good = _answer(200, b'{"data": []}')
    attempts = _Attempts(_answer(200, b"null"), error, good)
    result, waits = _run(attempts, condition=body_is_wrong)
    assert result is good
    assert attempts.calls == 3
    assert waits == [0.5, 1.0]
    assert seen.count((200, None)) == 2, "the condition judges both 200s"

    wrong = _answer(200, b"null")
    attempts = _Attempts(wrong)
    result, _ = _run(attempts, max_attempts=4, condition=body_is_wrong)
    assert result is wrong
    assert attempts.calls == 4
