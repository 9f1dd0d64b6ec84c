"""`chatfunnel webhook serve` under load and under hostile clients, over real sockets."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from emulators.salebot import SalebotEmulator
from sources.salebot.webhook_store import WebhookStore
from tests.webhook.conftest import Served, messages_by_origin, new_messages, run_salebot, serve
from tests.webhook.load import burst, closed_by_peer, open_idle, push_body


def _ids(bodies: list[bytes]) -> set[int]:
    import json

    return {int(json.loads(b)["id"]) for b in bodies}


def test_2000_pushes_opened_at_once_are_all_answered_and_the_next_run_loads_each_once(
    salebot: SalebotEmulator, served: Served, duckdb_path: Path
) -> None:
    run_salebot()  # last night's load
    bodies = new_messages(salebot, new_clients=1000)  # a broadcast: 2 messages per new client
    assert len(bodies) == 2000
    began = time.monotonic()
    answers = burst(served.url(), bodies, timeout=60)
    assert time.monotonic() - began < 60
    assert Counter(a.status for a in answers) == {200: 2000}, Counter(a.error for a in answers)
    # one request: spent before any history is read, so the pushes alone carry these messages
    run_salebot("--max-requests", "1")
    loaded = messages_by_origin(duckdb_path, _ids(bodies))
    assert {i: o for i, o in loaded.items() if o != ["webhook"]} == {}
    assert WebhookStore(served.cwd / "inbox.sqlite").counts()["pending"] == 0


def test_2000_pushes_from_20_threads_all_200_and_each_loaded_exactly_once(
    salebot: SalebotEmulator, served: Served, duckdb_path: Path
) -> None:
    run_salebot()
    bodies: list[bytes] = []
    while len(bodies) < 2000:
        bodies += new_messages(salebot, active_clients=60)
    bodies = bodies[:2000]
    statuses: list[int] = []
    lock = threading.Lock()

    def client(share: list[bytes]) -> None:
        with requests.Session() as session:  # keep-alive, as a pushing server would
            for body in share:
                status = session.post(served.url(), data=body, timeout=30).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=client, args=(bodies[i::20],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert Counter(statuses) == {200: 2000}
    # the pushes named their clients: the run reads their histories, which hold every
    # pushed message; each message lands once, as the polled row
    run_salebot()
    loaded = messages_by_origin(duckdb_path, _ids(bodies))
    assert {i: o for i, o in loaded.items() if o != ["history"]} == {}


def test_300_half_open_connections_do_not_delay_a_push_and_are_dropped(
    dlt_env: Path, receiver_env: dict[str, str]
) -> None:
    served = serve(dlt_env, receiver_env, "--header-timeout", "3")
    try:
        silent = open_idle("127.0.0.1", served.port, 150)
        trickling = open_idle("127.0.0.1", served.port, 150, partial=b"POST /salebot/webhook/")
        began = time.monotonic()
        assert requests.post(served.url(), data=push_body(1, 7), timeout=5).status_code == 200
        assert time.monotonic() - began < 5
        dropped = [closed_by_peer(s, within=3 + 3) for s in silent + trickling]
        assert all(dropped), f"{dropped.count(False)} of 300 still open after the header deadline"
        for s in silent + trickling:
            s.close()
        assert requests.post(served.url(), data=push_body(2, 7), timeout=5).status_code == 200
    finally:
        served.stop()


def test_a_stalled_body_is_dropped_within_30s_while_other_pushes_get_200(served: Served) -> None:
    """With the default deadlines: 100 KB promised, 10 bytes sent, then nothing."""
    stalled = socket.create_connection(("127.0.0.1", served.port), timeout=40)
    target = served.url().split(str(served.port), 1)[1]
    stalled.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode() + b'{"id": 1, ')
    began = time.monotonic()
    others = [requests.post(served.url(), data=push_body(i, 7), timeout=5).status_code for i in range(2, 22)]
    assert others == [200] * 20
    answer = b""
    while chunk := stalled.recv(65536):
        answer += chunk
    waited = time.monotonic() - began
    assert answer.startswith(b"HTTP/1.1 408 ") and waited < 30
    assert [r["payload"]["id"] for r in WebhookStore(served.cwd / "inbox.sqlite").read_after(0)] == list(range(2, 22))


def test_a_10_mb_body_gets_413_without_being_read(served: Served) -> None:
    target = served.url().split(str(served.port), 1)[1]
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n".encode())
        s.sendall(b"[" * 65536)  # 64 KB of the 10 MB; the answer does not wait for more
        began = time.monotonic()
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 413 ") and time.monotonic() - began < 2
        assert closed_by_peer(s, within=2)
    assert requests.get(f"http://127.0.0.1:{served.port}/healthz", timeout=5).status_code == 200


def test_above_the_connection_bound_a_push_gets_503_and_recovers(dlt_env: Path, receiver_env: dict[str, str]) -> None:
    served = serve(dlt_env, receiver_env, "--max-connections", "20", "--header-timeout", "2")
    try:
        idle = open_idle("127.0.0.1", served.port, 25)
        assert requests.post(served.url(), data=push_body(1, 7), timeout=5).status_code == 503
        assert all(closed_by_peer(s, within=5) for s in idle)
        assert requests.post(served.url(), data=push_body(2, 7), timeout=5).status_code == 200
    finally:
        served.stop()


def test_keep_alive_is_bounded_in_requests_and_idle_time(dlt_env: Path, receiver_env: dict[str, str]) -> None:
    served = serve(dlt_env, receiver_env, "--max-requests-per-connection", "3", "--keep-alive", "1")
    try:
        target = served.url().split(str(served.port), 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
        closes = []
        for i in range(3):
            conn.request("POST", target, body=push_body(i, 7))
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 200
            closes.append(answer.getheader("connection"))
        assert closes == [None, None, "close"]
        assert conn.sock is None  # http.client closed it, as the answer said
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
            began = time.monotonic()
            assert closed_by_peer(s, within=4) and time.monotonic() - began < 3
    finally:
        served.stop()
