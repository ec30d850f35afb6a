"""A deadline watchdog for blocking reads: shuts a socket down when its call's time is up.

httpcore takes a response's read timeout once, when the body starts, and applies it to
every socket read; DeepSeek's keep-alive bytes or a body that stalls after late headers
can then hold a blocking call a full read timeout past its total deadline. Arming a watch
on the response's socket makes a read that is still blocked at the deadline fail at once
(``shutdown`` wakes a blocked ``recv`` with end-of-file); the flow then reports the
deadline. A watch is always disarmed before its response is closed, under the same lock the
watchdog fires under, so a socket that went back to the pool is never touched.

One daemon thread per process, started on the first watch (and again in a forked child).
Responses without a socket (``httpx.MockTransport``, custom transports) are not watched;
the driver's clock check between chunks still bounds them.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

COMPACT_AT = 256  # heap entries before disarmed ones are swept out


class Watch:
    """One armed deadline; ``fired`` tells whether the watchdog shut the socket down."""

    __slots__ = ("fired", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock
        self.fired = False


class Watchdog:
    """Shuts down the sockets of watches whose deadline passed, until they are disarmed."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._pid = -1
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._live = 0  # armed watches in the heap; the rest were disarmed and wait to expire
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def arm(self, when: float, response: Any) -> Watch | None:
        """Watch ``response``'s socket until ``when`` (this clock); None if it has none."""
        sock = socket_of(response)
        if sock is None:
            return None
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        watch = Watch(sock)
        with self._cond:
            heap = self._heap
            heapq.heappush(heap, (when, next(self._seq), watch))
            self._live += 1
            if len(heap) > COMPACT_AT and len(heap) > 4 * self._live:
                # Mostly disarmed entries (calls end long before their deadline): drop them.
                heap[:] = [entry for entry in heap if entry[2].sock is not None]
                heapq.heapify(heap)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="llm-deadline-watchdog", daemon=True
                )
                self._thread.start()
            elif heap[0][2] is watch:
                self._cond.notify()  # a new earliest deadline: wake up sooner
        return watch

    def disarm(self, watch: Watch | None) -> None:
        """Stop watching (before the response is closed); the entry expires lazily."""
        if watch is not None and watch.sock is not None:
            with self._cond:
                if watch.sock is not None:
                    watch.sock = None
                    self._live -= 1

    def _run(self) -> None:
        with self._cond:
            while True:
                now = self._clock()
                while self._heap and self._heap[0][0] <= now:
                    _, _, watch = heapq.heappop(self._heap)
                    sock, watch.sock = watch.sock, None
                    if sock is not None:
                        self._live -= 1
                        watch.fired = True  # first: the woken reader may look at once
                        _shutdown(sock)
                timeout = self._heap[0][0] - now if self._heap else None
                self._cond.wait(timeout)


def socket_of(response: Any) -> socket.socket | None:
    """The socket under an httpx response from httpcore, if there is one."""
    stream = getattr(response, "extensions", {}).get("network_stream")
    get = getattr(stream, "get_extra_info", None)
    sock = get("socket") if get is not None else None
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its owner
        sock.shutdown(socket.SHUT_RDWR)


_watchdog: Watchdog | None = None
_lock = threading.Lock()


def get_watchdog() -> Watchdog:
    """The process-wide watchdog (created on first use; its thread on the first watch)."""
    global _watchdog
    if _watchdog is None:
        with _lock:
            if _watchdog is None:
                _watchdog = Watchdog()
    return _watchdog
