"""The receiver's contract over real HTTP: who may push where, what a push must be, and
what each refusal costs the receiver (nothing read that it does not need)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import requests

from pipelines.webhook import AppSettings, Inbox, Receiver
from sources.salebot.webhook_store import WebhookStore
from tests.webhook.conftest import ACME_SECRET, FAST, GLOBEX_SECRET, SECRET
from tests.webhook.load import closed_by_peer, push_body


def _stored_ids(inbox: Inbox) -> list[int]:
    if not inbox.store_path.exists():
        return []
    return [row["payload"]["id"] for row in WebhookStore(inbox.store_path).read_after(0)]


def _raw(receiver: Receiver, request: bytes, wait: float = 5.0, closes: bool = True) -> tuple[int, float, bool]:
    """Send ``request`` bytes; (status, seconds to the answer, closed by the receiver
    within a second after it, if ``closes`` is asked about)."""
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=wait) as s:
        s.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(65536)
            assert chunk, "closed without an answer"
            head += chunk
        elapsed = time.perf_counter() - began
        return int(head.split()[1]), elapsed, closes and closed_by_peer(s, within=1.0)


def test_each_account_pushes_into_its_own_inbox_by_path_or_token(receiver: Receiver, inboxes: list[Inbox]) -> None:
    base = receiver.base_url + "/salebot/webhook"
    accepted = {
        f"{base}/{SECRET}": 1,
        f"{base}/{SECRET}/": 2,  # as people paste it
        f"{base}?token={SECRET}": 3,
        f"{base}/acme/{ACME_SECRET}": 11,
        f"{base}/acme?token={ACME_SECRET}": 12,
        f"{base}/globex/{GLOBEX_SECRET}": 21,
    }
    for url, message_id in accepted.items():
        answer = requests.post(url, data=push_body(message_id, 7), timeout=10)
        assert answer.status_code == 200, url.replace(receiver.base_url, "")
        assert answer.json()["status"] == "success" and answer.json()["seq"] >= 1
    default, acme, globex = inboxes
    assert _stored_ids(default) == [1, 2, 3]
    assert _stored_ids(acme) == [11, 12]
    assert _stored_ids(globex) == [21]


WRONG_TARGETS = [
    "/salebot/webhook",  # no secret at all
    "/salebot/webhook/",
    "/salebot/webhook?token=",
    "/salebot/webhook/wrong-secret-0123456789",
    f"/salebot/webhook/{SECRET[:-1]}",  # a prefix
    f"/salebot/webhook/{SECRET[:8]}",
    f"/salebot/webhook/{SECRET}x",  # the secret and more
    f"/salebot/webhook/{SECRET.upper()}",  # case changed
    f"/salebot/webhook?token={SECRET.upper()}",
    f"/salebot/webhook?token={SECRET[:-1]}",
    f"/salebot/webhook?token={SECRET}&token={SECRET}",  # ambiguous
    f"/salebot/webhook?TOKEN={SECRET}",
    f"/salebot/webhook/{ACME_SECRET}",  # a named account's secret on the unnamed route
    f"/salebot/webhook/acme/{GLOBEX_SECRET}",  # another account's secret
    f"/salebot/webhook/acme/{SECRET}",
    f"/salebot/webhook/ACME/{ACME_SECRET}",  # account name case changed
    f"/salebot/webhook/nobody/{SECRET}",
    f"/salebot/webhook/acme?token={GLOBEX_SECRET}",
    f"/salebot/webhook/acme%2F{ACME_SECRET}",  # encoded slash: decoded it would be valid
    f"/salebot/webhook%2Facme%2F{ACME_SECRET}",
    f"/salebot/webhook/acme/%{ACME_SECRET.encode().hex()[:2]}{ACME_SECRET[1:]}",  # a percent-encoded letter
    f"/salebot/webhook/{SECRET}%2F",
    f"/salebot/webhook/acme/../{SECRET}",  # traversal
    f"/salebot/webhook/../webhook/{SECRET}",
    f"/salebot/webhook/./{SECRET}",
    f"/salebot/webhook/acme/{ACME_SECRET}/extra",
    f"/salebot/webhook//{SECRET}",
    f"/salebot//webhook/{SECRET}",
    f"/salebot/webhookx/{SECRET}",
    f"/SALEBOT/webhook/{SECRET}",
]


@pytest.mark.parametrize("target", WRONG_TARGETS, ids=range(len(WRONG_TARGETS)))
def test_wrong_missing_partial_case_changed_secrets_and_path_tricks_get_4xx(
    receiver: Receiver, inboxes: list[Inbox], target: str
) -> None:
    request = (
        f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(push_body(99, 7))}\r\n\r\n"
    ).encode() + push_body(99, 7)
    status, _, _ = _raw(receiver, request, closes=False)
    assert 400 <= status < 500
    assert all(_stored_ids(i) == [] for i in inboxes)


def test_a_stranger_gets_403_before_the_body_is_read_and_loses_the_connection(receiver: Receiver) -> None:
    # 100 KB promised, none sent: the answer cannot have waited for the body
    head = b"POST /salebot/webhook/not-the-secret-0123456789 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    status, seconds, closed = _raw(receiver, head)
    assert status == 403 and seconds < 1.0 and closed


def test_a_body_over_1_mib_gets_413_without_being_read(receiver: Receiver, inboxes: list[Inbox]) -> None:
    url_path = f"/salebot/webhook/{SECRET}"
    head = f"POST {url_path} HTTP/1.1\r\nHost: x\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n".encode()
    status, seconds, closed = _raw(receiver, head + b"{" * 1024)  # 1 KB of the 10 MB
    assert status == 413 and seconds < 1.0 and closed
    # chunked, so no length to judge by: refused once more than 1 MiB arrived
    chunk = b"x" * 65536
    chunked = f"POST {url_path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    chunked += (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 17  # and no last chunk: nothing unread
    status, _, closed = _raw(receiver, chunked)
    assert status == 413 and closed
    # exactly 1 MiB is still a body (a bad one here): the limit is "over", not "at"
    body = b" " * (1024 * 1024 - 2) + b"{}"
    answer = requests.post(receiver.url(), data=body, timeout=10)
    assert answer.status_code == 400
    assert _stored_ids(inboxes[0]) == []


BAD_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"\xff\xfe{}",
    b"\xef\xbb\xbf" + push_body(1, 7),  # a UTF-8 byte-order mark
    json.dumps([json.loads(push_body(1, 7))]).encode(),
    b'{"id": 1}',
    b'{"id": 1, "client": 7, "is_input": 1}',
    b'{"id": 1, "client": {"id": null}, "is_input": 1}',
    push_body(1, 7, is_input=5),
    push_body(1, 7, is_input=1.0),
    push_body(1, 7, is_input="true"),
    push_body("abc", 7),
    push_body(-1, 7),
    push_body(True, 7),
    push_body(1.5, 7),
    push_body(2**63, 7),  # does not fit the warehouse's bigint
    push_body("١٢", 7),  # Arabic-Indic digits: int() would take them
    push_body("²", 7),  # str.isdigit() would take it, int() would not
    push_body(1, 7).replace(b'"hi"', b"NaN"),
    push_body(1, 7).replace(b'"hi"', b"Infinity"),
    push_body(1, 7).replace(b'"hi"', b'"\\ud800"'),  # a lone surrogate: not storable text
    push_body(1, 7).replace(b'"hi"', b"[" * 40 + b"]" * 40),  # nested beyond any push
    push_body(1, 7).replace(b'"hi"', b"[" * 100000 + b"]" * 100000),  # beyond the parser's recursion
    push_body(1, 7).replace(b'"hi"', b"1" * 5000),  # a number beyond int()'s digit limit
]


def test_bad_bodies_get_400_and_nothing_is_stored(receiver: Receiver, inboxes: list[Inbox]) -> None:
    for body in BAD_BODIES:
        answer = requests.post(receiver.url(), data=body, timeout=10)
        assert answer.status_code == 400, body[:80]
        assert answer.json()["status"] == "error"
    assert _stored_ids(inboxes[0]) == []
    # and the documented variants of a good push are accepted
    for i, variant in enumerate([push_body(1, 7, is_input=0), push_body("2", "7", is_input="1"),
                                 push_body(3, 7, is_input=True), push_body(" 4 ", 7)]):
        assert requests.post(receiver.url(), data=variant, timeout=10).status_code == 200, i
    assert _stored_ids(inboxes[0]) == [1, "2", 3, " 4 "]


def test_other_methods_are_refused_and_healthz_answers(receiver: Receiver) -> None:
    assert requests.get(receiver.url(), timeout=10).status_code == 405
    assert requests.put(receiver.url(), data=push_body(1, 7), timeout=10).status_code == 405
    assert requests.get(receiver.base_url + "/salebot/webhook/wrong-0123456789abcdef", timeout=10).status_code == 403
    health = requests.get(receiver.base_url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert requests.get(receiver.base_url + "/", timeout=10).status_code == 404
    assert "server" not in {k.lower() for k in health.headers}


def test_pushes_survive_a_restart_and_sequence_numbers_keep_growing(tmp_path: Path, inboxes: list[Inbox]) -> None:
    with Receiver(inboxes, FAST, AppSettings(body_timeout=2.0)) as r:
        first = [requests.post(r.url(), data=push_body(i, 7), timeout=10).json()["seq"] for i in (1, 2)]
    with Receiver(inboxes, FAST, AppSettings(body_timeout=2.0)) as r:
        second = requests.post(r.url(), data=push_body(3, 7), timeout=10).json()["seq"]
    assert [*first, second] == sorted({*first, second})
    assert _stored_ids(inboxes[0]) == [1, 2, 3]
