"""When to retry an upstream call and how long to wait first (pure, no I/O).

The delay follows the official openai SDK: ``min(0.5 * 2**n, 8) * U(0.75, 1)`` for the
``n``-th retry, unless the upstream sent ``retry-after-ms`` / ``Retry-After`` with a sane
value (0 < v <= 120 s), which wins. Every delay is checked against the call's remaining
budget: sleeping past the deadline only to fail with a timeout would waste the caller's time.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 120.0


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the upstream asked us to wait, or None when absent or not usable.

    Order as in openai's ``_parse_retry_after_header``: ``retry-after-ms`` (float ms), then
    ``retry-after`` as float seconds, then as an HTTP date (``now`` is a unix time).
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = math.nan
        if _sane(value):
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if now is None:
            now = time.time()
        value = when.timestamp() - now
    return value if _sane(value) else None


def _sane(value: float) -> bool:
    return math.isfinite(value) and 0 < value <= MAX_RETRY_AFTER


@dataclass
class RetryPolicy:
    """How many retries a call gets and how long to wait before each.

    ``rng`` returns a float in [0, 1); tests inject a fixed one to get exact delays.
    """

    max_retries: int = 2
    initial_delay: float = INITIAL_DELAY
    max_delay: float = MAX_DELAY
    rng: Callable[[], float] = field(default=random.random)

    def backoff(self, retries_taken: int) -> float:
        """The jittered exponential delay before retry number ``retries_taken + 1``."""
        base = min(self.initial_delay * 2.0**retries_taken, self.max_delay)
        return base * (1.0 - 0.25 * self.rng())

    def next_delay(
        self,
        *,
        retryable: bool,
        retries_taken: int,
        remaining: float,
        retry_after: float | None = None,
    ) -> float | None:
        """Seconds to sleep before the next attempt, or None to give up now.

        Gives up when the error is not retryable, the retries are spent, or the wait would
        not leave any of the remaining budget for the next attempt.
        """
        if not retryable or retries_taken >= self.max_retries:
            return None
        delay = retry_after if retry_after is not None else self.backoff(retries_taken)
        if delay >= remaining:
            return None
        return delay
