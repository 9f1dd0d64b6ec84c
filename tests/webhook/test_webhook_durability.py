"""A 200 means "on disk": a SIGKILL mid-burst loses none of them, and SIGTERM lets the
pushes in flight finish before the receiver exits."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path

import requests

from sources.salebot.webhook_store import WebhookStore
from tests.webhook.conftest import serve
from tests.webhook.load import Answer, burst, push_body


def _stored(path: Path) -> list[int]:
    return [int(r["payload"]["id"]) for r in WebhookStore(path).read_after(0)]


def test_sigkill_during_a_burst_loses_no_push_that_was_answered_200(
    dlt_env: Path, receiver_env: dict[str, str]
) -> None:
    inbox = dlt_env / "inbox.sqlite"
    served = serve(dlt_env, receiver_env)
    bodies = [push_body(i, i % 50) for i in range(1, 2001)]
    answers: list[Answer] = []
    ok = threading.Semaphore(0)

    def count_200(answer: Answer) -> None:
        if answer.status == 200:
            ok.release()

    pushing = threading.Thread(target=lambda: answers.extend(burst(served.url(), bodies, 30, on_answer=count_200)))
    pushing.start()
    for _ in range(300):  # a few hundred answered 200 so far, the rest in flight
        assert ok.acquire(timeout=30)
    served.proc.kill()  # SIGKILL: no shutdown, no flush, nothing
    served.proc.wait(10)
    pushing.join(60)
    answered = {json.loads(b)["id"] for b, a in zip(bodies, answers, strict=True) if a.status == 200}
    assert 0 < len(answered) < len(bodies), "the kill did not land mid-burst"
    stored = _stored(inbox)
    assert answered <= set(stored), f"answered 200 but lost: {sorted(answered - set(stored))[:10]}"
    assert len(stored) == len(set(stored))
    # the inbox is whole: a new receiver opens it and appends after the last push
    again = serve(dlt_env, receiver_env)
    try:
        assert requests.post(again.url(), data=push_body(5000, 7), timeout=10).status_code == 200
        assert _stored(inbox)[-1] == 5000
    finally:
        again.stop()


def test_sigterm_finishes_the_push_in_flight_then_exits_0(dlt_env: Path, receiver_env: dict[str, str]) -> None:
    served = serve(dlt_env, receiver_env)
    body = push_body(42, 7)
    target = served.url().split(str(served.port), 1)[1]
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as s:
        s.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:20])
        time.sleep(0.3)  # the request is in flight: headers read, body half there
        served.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        try:  # no new connections while it drains
            socket.create_connection(("127.0.0.1", served.port), timeout=2).close()
            refused = False
        except ConnectionRefusedError:
            refused = True
        s.sendall(body[20:])
        answer = s.recv(65536)
    assert refused
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert served.proc.wait(30) == 0
    assert _stored(dlt_env / "inbox.sqlite") == [42]
    assert "stopped: 1 pushes stored" in served.stdout.read_text()
