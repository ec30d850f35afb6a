"""Prometheus metrics for both apps: small functions the apps call, and ``render()``.

The metric objects are built lazily, on the first call, in a private registry. That matters
for gunicorn: ``prometheus_client`` picks its value storage (in memory, or one mmap file per
process under ``PROMETHEUS_MULTIPROC_DIR``) when it is first imported, and
``deploy/gunicorn.conf.py`` sets that variable in the master before any worker imports the
app. With the variable set, :func:`render` merges every worker's files, so ``/metrics`` shows
the whole server whichever worker answers. Without it (hypercorn, tests) it shows this process.

Label values are bounded: the route is the URL rule (``/api/players/<player_id>``), never the
raw path; unknown methods, statuses and breaker states become ``other``; attempts above 3
are ``4+``; and every free-form label (route, outcome, reason) keeps at most
``MAX_LABEL_VALUES`` distinct values per process before new ones become ``other``.

What to watch is described in ``docs/operations.md``.
"""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "BREAKER_STATES",
    "MAX_LABEL_VALUES",
    "InFlightGauge",
    "inc_degraded",
    "llm_in_flight",
    "multiprocess_enabled",
    "observe_llm_call",
    "observe_llm_tokens",
    "observe_request",
    "render",
    "set_breaker_state",
    "track_llm_in_flight",
    "watch_gc",
]

PREFIX = "xianxia"
MAX_LABEL_VALUES = 64
BREAKER_STATES = ("closed", "open", "half_open")
TOKEN_KINDS = ("prompt", "completion")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LABEL_OK = re.compile(r"[^A-Za-z0-9_./<>:-]")

# HTTP requests are mostly milliseconds, but an action that waits for narration can take as
# long as the LLM deadline (90 s).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 90, 120)


@dataclass(frozen=True)
class _Metrics:
    registry: CollectorRegistry
    multiprocess: bool
    requests: Counter
    request_seconds: Histogram
    llm_calls: Counter
    llm_seconds: Histogram
    llm_in_flight: Gauge
    breaker: Gauge
    degraded: Counter
    llm_tokens: Counter
    llm_cache_hit: Counter
    llm_cache_miss: Counter
    gc_seconds: Counter
    gc_collections: Counter


_lock = threading.Lock()
_built: _Metrics | None = None
_seen: dict[tuple[str, str], set[str]] = {}


def multiprocess_enabled() -> bool:
    """True when this process writes its metrics to ``PROMETHEUS_MULTIPROC_DIR``."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def _metrics() -> _Metrics:
    """Build the metric objects once per process (thread-safe)."""
    global _built
    if _built is not None:
        return _built
    with _lock:
        if _built is None:
            _built = _build()
    return _built


def _build() -> _Metrics:
    # Imported here, not at module import, so the multiprocess choice follows the
    # environment of the process that first records a metric.
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        disable_created_metrics,
    )

    # No `*_created` series: gunicorn's merged output has none, so both apps expose the same
    # shape (and a third less text per scrape).
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=True)
    multiprocess = multiprocess_enabled()
    requests = Counter(
        f"{PREFIX}_http_requests_total",
        "HTTP requests served, by URL rule, method and status.",
        ["route", "method", "status"],
        registry=registry,
    )
    request_seconds = Histogram(
        f"{PREFIX}_http_request_duration_seconds",
        "Time to serve an HTTP request, by URL rule and method.",
        ["route", "method"],
        buckets=HTTP_BUCKETS,
        registry=registry,
    )
    llm_calls = Counter(
        f"{PREFIX}_llm_calls_total",
        "Calls to the LLM upstream by outcome and number of attempts (1, 2, 3, 4+).",
        ["outcome", "attempts"],
        registry=registry,
    )
    llm_seconds = Histogram(
        f"{PREFIX}_llm_call_duration_seconds",
        "Time of one LLM call across all its attempts, by outcome.",
        ["outcome"],
        buckets=LLM_BUCKETS,
        registry=registry,
    )
    in_flight = Gauge(
        f"{PREFIX}_llm_in_flight",
        "LLM upstream calls in flight now (summed over live processes).",
        registry=registry,
        multiprocess_mode="livesum",
    )
    breaker = Gauge(
        f"{PREFIX}_llm_breaker_state",
        "Circuit breaker: number of live processes whose breaker is in each state.",
        ["state"],
        registry=registry,
        multiprocess_mode="livesum",
    )
    degraded = Counter(
        f"{PREFIX}_narrations_degraded_total",
        "Narrations served by the offline fallback instead of the LLM, by reason.",
        ["reason"],
        registry=registry,
    )
    llm_tokens = Counter(
        f"{PREFIX}_llm_tokens",
        "Tokens spent on LLM calls that succeeded, by kind (prompt, completion).",
        ["kind"],
        registry=registry,
    )
    for kind in TOKEN_KINDS:
        llm_tokens.labels(kind)  # present at 0 from the first scrape
    cache_hit = Counter(
        f"{PREFIX}_llm_prompt_cache_hit_tokens",
        "Prompt tokens DeepSeek served from its context cache (usage.prompt_cache_hit_tokens).",
        registry=registry,
    )
    cache_miss = Counter(
        f"{PREFIX}_llm_prompt_cache_miss_tokens",
        "Prompt tokens DeepSeek did not find in its context cache "
        "(usage.prompt_cache_miss_tokens).",
        registry=registry,
    )
    gc_seconds = Counter(
        f"{PREFIX}_gc_seconds",
        "Time the cyclic garbage collector ran (the process stands still), by generation.",
        ["generation"],
        registry=registry,
    )
    gc_collections = Counter(
        f"{PREFIX}_gc_collections",
        "Collections of the cyclic garbage collector, by generation.",
        ["generation"],
        registry=registry,
    )
    for generation in ("0", "1", "2"):
        gc_seconds.labels(generation)
        gc_collections.labels(generation)
    return _Metrics(
        registry=registry,
        multiprocess=multiprocess,
        requests=requests,
        request_seconds=request_seconds,
        llm_calls=llm_calls,
        llm_seconds=llm_seconds,
        llm_in_flight=in_flight,
        breaker=breaker,
        degraded=degraded,
        llm_tokens=llm_tokens,
        llm_cache_hit=cache_hit,
        llm_cache_miss=cache_miss,
        gc_seconds=gc_seconds,
        gc_collections=gc_collections,
    )


# Collections seen by the gc callback, not yet counted: the callback may run inside any code
# (even with _lock held), so it only appends here and requests and scrapes count them.
_gc_started = [0.0]
_gc_done: deque[tuple[int, float]] = deque()


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        _gc_done.append((int(info.get("generation", 0)), time.perf_counter() - _gc_started[0]))


def watch_gc() -> None:
    """Time every collection of this process's garbage collector (``xianxia_gc_*``)."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def _count_gc(m: _Metrics) -> None:
    while _gc_done:
        try:
            generation, seconds = _gc_done.popleft()
        except IndexError:  # another thread took the last one
            return
        m.gc_seconds.labels(str(generation)).inc(seconds)
        m.gc_collections.labels(str(generation)).inc()


def _bounded(metric: str, label: str, value: str | None, default: str = "unknown") -> str:
    """A label value that keeps the metric's cardinality bounded."""
    text = _LABEL_OK.sub("_", (value or default).strip())[:80] or default
    key = (metric, label)
    with _lock:
        seen = _seen.setdefault(key, set())
        if text in seen:
            return text
        if len(seen) >= MAX_LABEL_VALUES:
            return "other"
        seen.add(text)
        return text


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count one served request and its latency.

    ``route`` is the matched URL rule (``request.url_rule.rule``); pass ``None`` when no rule
    matched (404, 405), which is recorded as ``unmatched``.
    """
    m = _metrics()
    route_label = _bounded("http", "route", route, default="unmatched")
    method_label = method.upper() if method.upper() in _METHODS else "other"
    status_label = str(int(status)) if 100 <= int(status) <= 599 else "other"
    m.requests.labels(route_label, method_label, status_label).inc()
    m.request_seconds.labels(route_label, method_label).observe(max(0.0, seconds))
    if _gc_done:
        _count_gc(m)


def observe_llm_call(outcome: str, attempts: int, seconds: float) -> None:
    """Count one LLM call (all its attempts) by ``outcome`` (``ok``, ``timeout``, ``429``...).

    Record it once per call, when the call is over, whatever the result.
    """
    m = _metrics()
    outcome_label = _bounded("llm", "outcome", outcome.lower())
    attempts_label = str(attempts) if 0 <= attempts <= 3 else "4+"
    m.llm_calls.labels(outcome_label, attempts_label).inc()
    m.llm_seconds.labels(outcome_label).observe(max(0.0, seconds))


def observe_llm_tokens(
    prompt: int | None,
    completion: int | None,
    cache_hit: int | None = None,
    cache_miss: int | None = None,
) -> None:
    """Add one call's token counts (None: not reported, nothing added).

    ``cache_hit`` / ``cache_miss`` split the prompt tokens by DeepSeek's context cache, so
    ``hit / (hit + miss)`` is the cache's hit rate by tokens.
    """
    m = _metrics()
    if prompt:
        m.llm_tokens.labels("prompt").inc(prompt)
    if completion:
        m.llm_tokens.labels("completion").inc(completion)
    if cache_hit:
        m.llm_cache_hit.inc(cache_hit)
    if cache_miss:
        m.llm_cache_miss.inc(cache_miss)


def set_breaker_state(state: str) -> None:
    """Record the circuit breaker's state: ``closed``, ``open`` or ``half_open``."""
    m = _metrics()
    known = state if state in BREAKER_STATES else "other"
    if known == "other":
        m.breaker.labels("other").set(1.0)
    for name in BREAKER_STATES:
        m.breaker.labels(name).set(1.0 if name == known else 0.0)


def inc_degraded(reason: str | None = None) -> None:
    """Count one narration that fell back to the offline text (``reason`` e.g. ``timeout``)."""
    _metrics().degraded.labels(_bounded("degraded", "reason", reason)).inc()


class InFlightGauge:
    """The LLM in-flight gauge, resolved on first use (so importing this module builds nothing)."""

    def inc(self, amount: float = 1.0) -> None:
        """One more upstream call in flight."""
        _metrics().llm_in_flight.inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        """One upstream call finished (whatever its result)."""
        _metrics().llm_in_flight.dec(amount)

    def set(self, value: float) -> None:
        """Set the count directly, e.g. from a semaphore's bookkeeping."""
        _metrics().llm_in_flight.set(value)


llm_in_flight = InFlightGauge()


@contextmanager
def track_llm_in_flight() -> Iterator[None]:
    """Hold the in-flight gauge up for the duration of one upstream call (sync or async code)."""
    llm_in_flight.inc()
    try:
        yield
    finally:
        llm_in_flight.dec()


def render() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type.

    In multiprocess mode it merges the files of every process (live and dead) of this server.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    m = _metrics()
    _count_gc(m)
    if m.multiprocess:
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        merged = generate_latest(registry)
        # A family no process has written yet is absent from the merged files; list it from
        # this process's registry (at 0, or HELP/TYPE only) so both apps show the same series.
        present = {family.name for family in registry.collect()}
        missing = [f for f in m.registry.collect() if f.name not in present]
        if missing:
            merged += generate_latest(_Families(missing))
        return merged, CONTENT_TYPE_LATEST
    return generate_latest(m.registry), CONTENT_TYPE_LATEST


class _Families:
    """A fixed list of metric families, in the shape ``generate_latest`` reads."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> list[Any]:
        return self._families
