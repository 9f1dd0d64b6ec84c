"""How a run stops: SIGINT, SIGTERM and the run's deadline end it within a grace period, at
any step, leaving at worst what a kill would leave (which the next run recovers)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from typing import Any

from pipelines.errors import Interrupted

REDELIVER_SECONDS = 0.05  # a swallowed stop is sent again this long after: out of the finalizer by then


class StopRequested(BaseException):
    """Raised in the main thread when a signal or the deadline asks the run to stop.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way
    (ours, dlt's, a driver's) mistakes it for an ordinary failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopGuard:
    """SIGINT, SIGTERM and the deadline end the run within `grace` seconds, at any step.

    The first signal (or the deadline) raises `StopRequested` in the main thread, which
    unwinds the run cleanly: dlt keeps what it committed and the next run recovers the
    rest. Python runs a signal handler only when the main thread gets back to Python code,
    and a driver waiting on a socket that went silent never does; so the signal is also
    seen at once by a thread of ours (through the signal wakeup fd), which ends such waits
    after a second (`unblock`) and, should the run still not stop, writes the journal and
    exits the process after `grace` seconds: what a kill would leave, never worse. dlt's
    own signal interception (drain the job pool, ignore the first signal) is switched off
    for our pipelines: a nightly job must stop when told. A stop raised while the main thread
    runs a finalizer (a connection pool's weakref callback closing a socket, say) is swallowed
    by Python, which only reports it to `sys.unraisablehook`: the guard's hook sends it again,
    so the run stops at the next line instead of running on to its end or the hard exit.
    """

    def __init__(self, deadline_seconds: float | None, grace: float, on_hard_exit: Any,
                 unblock: Any = None) -> None:
        self.deadline_seconds = deadline_seconds
        self.grace = grace
        self.on_hard_exit = on_hard_exit
        self.unblock = unblock
        self.reason: str | None = None
        self._raised = False
        self._timers: list[threading.Timer] = []
        self._previous: dict[int, Any] = {}
        self._main = threading.main_thread()
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._previous_wakeup = -1
        self._previous_unraisable: Any = None

    def __enter__(self) -> StopGuard:
        if threading.current_thread() is self._main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
            reader, writer = socket.socketpair()
            writer.setblocking(False)
            self._wakeup = (reader, writer)
            self._previous_wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            threading.Thread(target=self._watch, args=(reader,), name="chatfunnel-signals", daemon=True).start()
            self._previous_unraisable, sys.unraisablehook = sys.unraisablehook, self._on_unraisable
        if self.deadline_seconds:
            self._start(self.deadline_seconds, self._on_deadline)
        return self

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._previous_unraisable is not None:
            sys.unraisablehook = self._previous_unraisable
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            for end in self._wakeup:
                end.close()

    def _watch(self, reader: socket.socket) -> None:
        """Sees a signal the moment it arrives, whatever the main thread is doing."""
        while True:
            try:
                data = reader.recv(16)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in (signal.SIGINT, signal.SIGTERM):
                    self._stop(self._signal_reason(signum))

    @staticmethod
    def _signal_reason(signum: int) -> str:
        return "interrupted (Ctrl-C)" if signum == signal.SIGINT else f"stopped ({signal.Signals(signum).name})"

    def _start(self, seconds: float, action: Any) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _stop(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        if self.unblock is not None:  # a wait on a mute database cannot see the signal: end that wait
            self._start(min(1.0, self.grace / 2), self.unblock)
        self._start(self.grace, self._hard_exit)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop(self._signal_reason(signum))
        if not self._raised:
            self._raised = True
            raise StopRequested(self.reason or "stopped")

    def _on_unraisable(self, unraisable: Any) -> None:
        """A stop swallowed in a finalizer is delivered again, through SIGUSR1 (the handler
        `run_account` installs raises it), from a timer: sent from here it would be raised
        inside this hook and swallowed too. Swallowed again, it comes back again. Any other
        unraisable goes where it went before."""
        if isinstance(unraisable.exc_value, StopRequested) and threading.current_thread() is self._main \
                and signal.getsignal(signal.SIGUSR1) is raise_deadline:
            self._start(REDELIVER_SECONDS, lambda: signal.pthread_kill(self._main.ident or 0, signal.SIGUSR1))
            return
        self._previous_unraisable(unraisable)

    def _on_deadline(self) -> None:
        self._stop(f"stopped at its deadline ({duration(self.deadline_seconds or 0)}, --max-runtime)")
        if self._previous:  # our handlers are installed: interrupt the main thread's wait
            signal.pthread_kill(self._main.ident or 0, signal.SIGUSR1)

    def _hard_exit(self) -> None:
        if not self._previous:
            return  # a run inside a host process (an orchestrator's thread) never ends the process
        reason = f"{self.reason}; the run did not stop within {self.grace:g} s and was ended"
        with contextlib.suppress(Exception):
            self.on_hard_exit(reason)
        with contextlib.suppress(OSError):
            os.write(2, f"chatfunnel: error: {reason}. The next run recovers what it left.\n".encode())
        os._exit(Interrupted.exit_code)


def duration(seconds: float) -> str:
    """A length of time for a message: `90 s`, `2 min`, `1.5 h`."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def raise_deadline(signum: int, frame: object) -> None:
    """The SIGUSR1 handler while a run goes: the deadline timer interrupts the main thread's wait."""
    raise StopRequested("deadline")  # the deadline timer's SIGUSR1: StopGuard has set the reason


STEP_MARGIN = 1.5
"""A history step is sized to cost about what the last one did in requests, but its time also
varies with the API's pace and the warehouse's: half as long again is allowed for."""


def time_for_step(last_seconds: float | None, elapsed: float, deadline: float | None) -> bool:
    """Whether another history step, taking about as long as the last window did, ends before
    the run's deadline (`--max-runtime`, seconds since the start). One that would not is not
    started: the run ends cleanly and the next one reads that window, rather than the deadline
    stopping it halfway (exit 130, its requests spent for nothing). No deadline, or no window
    read yet: there is time."""
    if not deadline or last_seconds is None:
        return True
    return elapsed + last_seconds * STEP_MARGIN <= deadline
