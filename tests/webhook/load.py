"""Clients that push the way a burst or a hostile network does, over raw sockets.

Not through a small thread pool: ``burst`` opens every connection at once from one asyncio
loop, so the receiver sees them all in its listen queue together, as it does when Salebot
fans out a broadcast.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, reset, timed out)
    seconds: float
    body: bytes = b""
    error: str | None = None


def post_request(url: str, body: bytes, *, keep_alive: bool = False, extra_headers: str = "") -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}"
        f"{extra_headers}\r\n"
    )
    return head.encode("ascii") + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed without an answer")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length) if length else b""


async def _push_once(url: str, body: bytes, timeout: float, start: asyncio.Event | None) -> Answer:
    parts = urlsplit(url)
    began = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            if start is not None:
                await start.wait()
                began = time.perf_counter()
            writer.write(post_request(url, body))
            await writer.drain()
            status, answer = await read_answer(reader)
        return Answer(status, time.perf_counter() - began, answer)
    except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        return Answer(None, time.perf_counter() - began, error=type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()


def burst(
    url: str,
    bodies: Sequence[bytes],
    timeout: float = 60.0,
    connect_first: bool = False,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """One connection per body, all opened at once; each answer, in the order of ``bodies``.

    ``connect_first``: open every connection, then send every request together (the
    receiver holds all of them at once); else each sends as soon as it is connected.
    ``on_answer`` is called with each answer as it arrives.
    """

    async def one(body: bytes, start: asyncio.Event | None) -> Answer:
        answer = await _push_once(url, body, timeout, start)
        if on_answer is not None:
            on_answer(answer)
        return answer

    async def main() -> list[Answer]:
        start = asyncio.Event() if connect_first else None
        tasks = [asyncio.create_task(one(b, start)) for b in bodies]
        if start is not None:
            await asyncio.sleep(0.5)
            start.set()
        return list(await asyncio.gather(*tasks))

    return asyncio.run(main())


def keep_alive_clients(url: str, bodies: Sequence[bytes], clients: int, timeout: float = 60.0) -> list[Answer]:
    """``clients`` connections kept alive, each pushing its share of ``bodies`` one after another.

    A push that gets no answer within ``timeout`` (or a connection that breaks) ends its
    client: that push and the rest of its share count as unanswered."""

    async def client(share: Sequence[bytes]) -> list[Answer]:
        parts = urlsplit(url)
        answers: list[Answer] = []
        writer = None
        began = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            for body in share:
                began = time.perf_counter()
                writer.write(post_request(url, body, keep_alive=True))
                await writer.drain()
                async with asyncio.timeout(timeout):
                    status, answer = await read_answer(reader)
                answers.append(Answer(status, time.perf_counter() - began, answer))
        except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            lost = Answer(None, time.perf_counter() - began, error=type(exc).__name__)
            answers.extend([lost] * (len(share) - len(answers)))
        finally:
            if writer is not None:
                writer.close()
        return answers

    async def main() -> list[Answer]:
        shares = [bodies[i::clients] for i in range(clients)]
        results = await asyncio.gather(*(client(s) for s in shares if s))
        return [a for r in results for a in r]

    return asyncio.run(main())


def open_idle(host: str, port: int, count: int, partial: bytes = b"") -> list[socket.socket]:
    """``count`` connected sockets that send ``partial`` (maybe nothing) and then nothing more."""
    socks = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=10)
        if partial:
            s.sendall(partial)
        socks.append(s)
    return socks


def closed_by_peer(sock: socket.socket, within: float) -> bool:
    """True when the peer closes (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def push_body(message_id: Any, client_id: Any, **fields: Any) -> bytes:
    """A push as Salebot documents it; ids may be of any type, to test refusals."""
    body = {"id": message_id, "client": {"id": client_id, "name": "A"}, "message": "hi",
            "attachments": [], "message_id": None, "project_id": 1, "is_input": 1, "delivered": 1,
            "error_message": None, **fields}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
