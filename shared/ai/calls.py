"""One chat call's bookkeeping, shared by every face (no I/O, no sleeping).

A :class:`Call` owns the call's total deadline, its attempt count and its retry decisions;
it talks to the circuit breaker, updates :class:`ClientStats` and writes the log lines
(one INFO line per call, a WARNING per retry, an ERROR on give-up). The faces only send,
read and sleep.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from shared import metrics
from shared.ai.breaker import CircuitBreaker
from shared.ai.errors import CircuitOpenError, LLMError, LLMTimeout
from shared.ai.protocol import ChatResult, Completion, TokenCounts
from shared.ai.retry import RetryPolicy

_ids = itertools.count(1)


def _dash(count: int | None) -> str:
    """A count for the log line; ``-`` when the upstream did not report it."""
    return "-" if count is None else str(count)


class ClientStats:
    """Counters for the metrics layer: in-flight calls, calls by outcome, attempts, retries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.calls: Counter[str] = Counter()  # outcome ("ok", "timeout", "status_429"...) -> n
        self.attempts = 0
        self.retries = 0

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter."""
        with self._lock:
            return {
                "in_flight": self.in_flight,
                "calls": dict(self.calls),
                "attempts": self.attempts,
                "retries": self.retries,
            }

    def _started(self) -> None:
        with self._lock:
            self.in_flight += 1
        metrics.llm_in_flight.inc()

    def _ended(self, outcome: str) -> None:
        with self._lock:
            self.in_flight -= 1
            self.calls[outcome] += 1
        metrics.llm_in_flight.dec()

    def _attempt(self, retry: bool) -> None:
        with self._lock:
            self.attempts += 1
            if retry:
                self.retries += 1

    def _rejected(self, outcome: str) -> None:
        with self._lock:
            self.calls[outcome] += 1


class CallTracker:
    """Starts calls for one client: checks the breaker, sets the deadline, counts."""

    def __init__(
        self,
        *,
        total_timeout: float,
        connect_timeout: float,
        read_timeout: float,
        breaker: CircuitBreaker,
        policy: RetryPolicy,
        clock: Callable[[], float],
        logger: logging.Logger,
        stats: ClientStats,
    ) -> None:
        self.total_timeout = total_timeout
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.breaker = breaker
        self.policy = policy
        self.clock = clock
        self.log = logger
        self.stats = stats
        self._exported_state: str | None = None

    def export_breaker_state(self) -> None:
        """Publish the breaker's state when it changed, so each worker's gauge is current
        between scrapes without a metrics write on every call."""
        state = self.breaker.state
        if state != self._exported_state:
            self._exported_state = state
            metrics.set_breaker_state(state)

    def start(self, model: str, *, stream: bool = False) -> Call:
        """A new call, or CircuitOpenError when the breaker is failing fast."""
        if not self.breaker.allow():
            self.stats._rejected(CircuitOpenError.reason)
            raise CircuitOpenError(
                f"circuit open after repeated upstream failures; "
                f"next trial in {self.breaker.retry_in():.1f}s"
            )
        self.stats._started()
        return Call(self, model, stream)


class Call:
    """The state of one call across its attempts."""

    __slots__ = ("_ended", "attempts", "deadline", "id", "model", "started", "stream", "t")

    def __init__(self, tracker: CallTracker, model: str, stream: bool) -> None:
        self.t = tracker
        self.id = f"llm-{next(_ids)}"
        self.model = model
        self.stream = stream
        self.started = tracker.clock()
        self.deadline = self.started + tracker.total_timeout
        self.attempts = 0
        self._ended = False

    def remaining(self) -> float:
        """Seconds left of the call's total budget (may be negative)."""
        return self.deadline - self.t.clock()

    def expired(self) -> bool:
        """True once the total deadline has passed."""
        return self.t.clock() >= self.deadline

    def begin_attempt(self) -> float:
        """Count an attempt and return its time budget; LLMTimeout when none is left."""
        remaining = self.remaining()
        if remaining <= 0:
            raise LLMTimeout(f"total deadline of {self.t.total_timeout:g}s exceeded")
        self.attempts += 1
        self.t.stats._attempt(self.attempts > 1)
        return remaining

    def timeouts(self, remaining: float) -> dict[str, float]:
        """httpx's per-operation timeouts for an attempt, none longer than the budget."""
        read = min(self.t.read_timeout, remaining)
        return {
            "connect": min(self.t.connect_timeout, remaining),
            "read": read,
            "write": read,
            "pool": remaining,
        }

    def deadline_error(self) -> LLMTimeout:
        """The error for a deadline that ran out during an attempt."""
        return LLMTimeout(f"total deadline of {self.t.total_timeout:g}s exceeded")

    def retry_delay(self, err: LLMError) -> float | None:
        """Seconds to wait before retrying after ``err``, or None to give up."""
        delay = self.t.policy.next_delay(
            retryable=err.retryable,
            retries_taken=self.attempts - 1,
            remaining=self.remaining(),
            retry_after=getattr(err, "retry_after", None),
        )
        if delay is not None:
            self.t.log.warning(
                "llm retry id=%s model=%s attempt=%d error=%s delay=%.2fs: %s",
                self.id, self.model, self.attempts, err.reason, delay, err.message,
            )
        return delay

    def succeeded(self, completion: Completion) -> ChatResult:
        """Close the call as a success and build its result."""
        latency_ms = (self.t.clock() - self.started) * 1000.0
        self.t.breaker.record_success()
        self._end("ok")
        usage = completion.usage
        tokens = TokenCounts.of(usage)
        metrics.observe_llm_tokens(
            tokens.prompt, tokens.completion, tokens.cache_hit, tokens.cache_miss
        )
        if self.t.log.isEnabledFor(logging.INFO):
            self.t.log.info(
                "llm call id=%s model=%s stream=%s outcome=ok status=200 attempts=%d "
                "latency_ms=%.0f prompt_tokens=%s completion_tokens=%s "
                "cache_hit_tokens=%s cache_miss_tokens=%s",
                self.id, completion.model or self.model, self.stream, self.attempts,
                latency_ms, _dash(tokens.prompt), _dash(tokens.completion),
                _dash(tokens.cache_hit), _dash(tokens.cache_miss),
            )
        return ChatResult(
            text=completion.text,
            model=completion.model or self.model,
            finish_reason=completion.finish_reason,
            usage=usage,
            attempts=self.attempts,
            latency_ms=latency_ms,
        )

    def failed(self, err: LLMError) -> LLMError:
        """Close the call as a failure (after its retries); returns ``err`` to raise."""
        latency_ms = (self.t.clock() - self.started) * 1000.0
        if err.trips_breaker:
            self.t.breaker.record_failure()
        else:
            self.t.breaker.record_success()  # the upstream answered: it is up
        self._end(err.reason)
        status = getattr(err, "status", None) or "-"
        self.t.log.info(
            "llm call id=%s model=%s stream=%s outcome=%s status=%s attempts=%d "
            "latency_ms=%.0f prompt_tokens=- completion_tokens=- cache_hit_tokens=- "
            "cache_miss_tokens=-",
            self.id, self.model, self.stream, err.reason, status, self.attempts, latency_ms,
        )
        self.t.log.error(
            "llm gave up id=%s model=%s attempts=%d error=%s: %s",
            self.id, self.model, self.attempts, err.reason, err.message,
        )
        return err

    def abandon(self) -> None:
        """Close a call that ended without an outcome (cancelled); no-op once closed."""
        if self._ended:
            return
        self.t.breaker.release()
        self._end("cancelled")
        self.t.log.info(
            "llm call id=%s model=%s stream=%s outcome=cancelled attempts=%d",
            self.id, self.model, self.stream, self.attempts,
        )

    def _end(self, outcome: str) -> None:
        if not self._ended:
            self._ended = True
            self.t.stats._ended(outcome)
            metrics.observe_llm_call(outcome, self.attempts, self.t.clock() - self.started)
            self.t.export_breaker_state()
