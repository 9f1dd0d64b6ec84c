"""A Postgres server that stops answering must not hang a run for ever.

TCP keepalives and libpq's TCP user timeout catch a network that drops packets. They do
not catch a peer that is there but mute — a proxy or a half-dead host whose kernel still
acknowledges everything — and then psycopg2 waits in C code, where no Python signal
handler runs, for ever. The kernel knows better: for each of this process's TCP
connections to the server, `TCP_INFO` says when data was last sent and last received. A
connection that sent a request and has received nothing for longer than the server's own
statement timeout allows (`chatfunnel.postgres_silence_seconds`) is dead: the watchdog
shuts it down, the waiting call fails at once, and the run ends through its ordinary
error path with a message that says what happened. `cut()` does the same to every
connection when a run must stop (SIGTERM) and is stuck in such a wait.

Linux only (TCP_INFO with byte counters, kernel 4.19+); elsewhere the watchdog does nothing
and the run's deadline remains.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

logger = logging.getLogger("chatfunnel.watchdog")

# offsets in Linux's struct tcp_info (linux/tcp.h; bytes_sent since 4.19)
_LAST_DATA_SENT, _LAST_DATA_RECV = 44, 52  # u32, ms ago
_BYTES_RECEIVED, _BYTES_SENT = 128, 200  # u64
_TCP_INFO_SIZE = 232


def _addresses(host: str, port: int) -> set[tuple[str, int]]:
    try:
        return {(str(info[4][0]), port) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except OSError:
        return set()


class DestinationWatchdog:
    def __init__(self, host: str, port: int, silence_seconds: float, interval: float = 1.0) -> None:
        self.peers = _addresses(host, port)
        self.silence_ms = silence_seconds * 1000
        self.interval = interval
        self.tripped: str | None = None
        self.stopping = False
        self._counters: dict[tuple[int, int], tuple[int, int, float | None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sockets(self) -> Iterator[socket.socket]:
        import psutil

        for conn in psutil.Process().net_connections("tcp"):
            if conn.raddr and (conn.raddr.ip, conn.raddr.port) in self.peers and conn.fd >= 0:
                try:
                    sock = socket.socket(fileno=os.dup(conn.fd))
                except OSError:
                    continue
                try:
                    yield sock
                finally:
                    sock.close()  # closes our duplicate only

    def check(self) -> bool:
        """Shut down connections waiting on a mute server; True when one was.

        A connection is waiting when it sent bytes and has received none since: the byte
        counters say so exactly (two timestamps in milliseconds cannot tell a request
        answered within the same millisecond from one never answered)."""
        if not hasattr(socket, "TCP_INFO"):
            return False
        now = time.monotonic()
        seen: set[tuple[int, int]] = set()
        found = False
        for sock in self._sockets():
            with contextlib.suppress(OSError):
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
                if len(info) < _BYTES_SENT + 8:
                    return False  # an older kernel: no byte counters
                key = (sock.fileno(), sock.getsockname()[1])
                seen.add(key)
                sent = struct.unpack_from("Q", info, _BYTES_SENT)[0]
                received = struct.unpack_from("Q", info, _BYTES_RECEIVED)[0]
                last = self._counters.get(key)
                if last is None:  # first sight: the timestamps (ms) and whether anything ever came back
                    sent_ago = struct.unpack_from("I", info, _LAST_DATA_SENT)[0]
                    recv_ago = struct.unpack_from("I", info, _LAST_DATA_RECV)[0]
                    never_answered = sent > 0 and received == 0  # e.g. a connection still in its handshake
                    waiting_since = now - sent_ago / 1000 if sent_ago < recv_ago or never_answered else None
                elif received != last[1]:
                    waiting_since = None
                elif sent != last[0]:
                    waiting_since = last[2] if last[2] is not None else now
                else:
                    waiting_since = last[2]
                self._counters[key] = (sent, received, waiting_since)
                if waiting_since is not None and now - waiting_since > self.silence_ms / 1000:
                    self.tripped = (f"the Postgres server sent nothing back for {now - waiting_since:.0f} s after "
                                    f"a request (more than chatfunnel.postgres_silence_seconds = "
                                    f"{self.silence_ms / 1000:g} s allows); the connection was closed")
                    logger.warning("%s", self.tripped)
                    sock.shutdown(socket.SHUT_RDWR)
                    found = True
        self._counters = {k: v for k, v in self._counters.items() if k in seen}
        return found

    def stop_all(self) -> None:
        """The run is stopping: from now on every connection to the server is cut at once."""
        self.stopping = True
        self.cut()

    def cut(self) -> None:
        """Shut down every connection to the server: a stopping run must not wait on one."""
        for sock in self._sockets():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval if self.tripped is None and not self.stopping else 0.1):
            try:
                if self.tripped is None and not self.stopping:
                    self.check()
                else:
                    self.cut()  # gone for this run, or the run is stopping: new connections fail at once
            except Exception:
                logger.debug("watchdog check failed", exc_info=True)

    def __enter__(self) -> DestinationWatchdog:
        if self.peers and hasattr(socket, "TCP_INFO"):
            self._thread = threading.Thread(target=self._loop, name="chatfunnel-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
