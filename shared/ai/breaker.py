"""A circuit breaker: a small state machine with an injectable clock (no I/O).

closed     calls pass; ``failure_threshold`` consecutive failed calls open the circuit.
open       calls fail fast for ``cooldown`` seconds instead of piling up on a sick upstream.
half_open  after the cooldown one trial call may pass; its success closes the circuit, its
           failure opens it again for another cooldown. Other calls still fail fast.

The client calls :meth:`allow` before a call and exactly one of :meth:`record_success`,
:meth:`record_failure` or :meth:`release` after it. A lock makes it safe for the thread-pool
face; uncontended it costs well under a microsecond.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failed calls and fails fast while the upstream looks down."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_out = False
        self.opened_count = 0  # how many times the circuit opened (for metrics)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (an open circuit past its cooldown reads
        ``half_open``: the next call will be let through as a trial)."""
        with self._lock:
            self._tick()
            return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failed calls since the last success."""
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a trial call through (0 when not open)."""
        with self._lock:
            self._tick()
            if self._state != OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.cooldown - self._clock())

    def allow(self) -> bool:
        """True if a call may go upstream now; in half_open only one trial at a time."""
        with self._lock:
            self._tick()
            if self._state == CLOSED:
                return True
            if self._state == HALF_OPEN and not self._probe_out:
                self._probe_out = True
                return True
            return False

    def record_success(self) -> None:
        """The call reached a healthy upstream: close the circuit."""
        with self._lock:
            self._failures = 0
            self._probe_out = False
            self._state = CLOSED

    def record_failure(self) -> None:
        """The call failed after its retries: count it, open the circuit at the threshold."""
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.failure_threshold:
                if self._state != OPEN:
                    self.opened_count += 1
                self._state = OPEN
                self._opened_at = self._clock()
            self._probe_out = False

    def release(self) -> None:
        """The call ended without telling us anything (cancelled): free the trial slot."""
        with self._lock:
            self._probe_out = False

    def _tick(self) -> None:
        if self._state == OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._state = HALF_OPEN
            self._probe_out = False
