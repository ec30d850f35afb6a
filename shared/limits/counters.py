"""Fixed-window counters: one atomic add per key and window, in the store or in Redis.

``add(tallies)`` adds each tally's amount to its counter for the current window (or the
window it names) and returns the new values; a negative amount gives units back. ``read``
returns values without changing them. The store face runs plain functions of a connection through
the store's ``run_transaction``/``run_read`` (so SQLite writes queue with the game's writes);
the Redis face one MULTI pipeline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.config import Settings
from shared.store.schema import limit_counters

Clock = Callable[[], float]
REDIS_PREFIX = "xianxia:limit:"


@dataclass(frozen=True, slots=True)
class Tally:
    """Add ``amount`` to counter ``key`` in its ``window``-second window (``slot`` = the
    window's index, epoch seconds // window; None = the current window)."""

    key: str
    window: int
    amount: int
    slot: int | None = None

    def at(self, slot: int, amount: int) -> Tally:
        """The same counter in a given window, with another amount."""
        return Tally(self.key, self.window, amount, slot)


@dataclass(frozen=True, slots=True)
class Count:
    """A counter after an add: its value, its window and the seconds until that window ends."""

    value: int
    slot: int
    resets_in: int


def _slot(tally: Tally, now: float) -> int:
    return tally.slot if tally.slot is not None else int(now // tally.window)


def _count(tally: Tally, slot: int, value: int, now: float) -> Count:
    return Count(int(value), slot, max(1, math.ceil((slot + 1) * tally.window - now)))


def _expires(tally: Tally, slot: int) -> int:
    return (slot + 2) * tally.window  # one window after its end: late settles still land


def _upsert(dialect: str, tally: Tally, slot: int) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(limit_counters).values(key=tally.key, slot=slot, value=tally.amount,
                                         expires_at=_expires(tally, slot))
    return stmt.on_conflict_do_update(
        index_elements=[limit_counters.c.key, limit_counters.c.slot],
        set_={"value": limit_counters.c.value + stmt.excluded.value},
    ).returning(limit_counters.c.value)


def add_counts(conn: Connection, tallies: Sequence[Tally], now: float) -> tuple[Count, ...]:
    """Add every tally in one transaction (run by ``store.run_transaction``); the new values
    in the tallies' order.

    Rows are touched in (key, slot) order, so two concurrent transactions on PostgreSQL
    never wait on each other's rows in opposite orders (no deadlock)."""
    dialect = conn.dialect.name
    slots = [_slot(t, now) for t in tallies]
    values: dict[int, int] = {}
    fresh = False
    for i in sorted(range(len(tallies)), key=lambda i: (tallies[i].key, slots[i])):
        value = int(conn.execute(_upsert(dialect, tallies[i], slots[i])).scalar_one())
        values[i] = value
        fresh = fresh or value == tallies[i].amount
    if fresh:  # a window started: drop the rows whose windows are long over
        conn.execute(delete(limit_counters).where(limit_counters.c.expires_at < int(now)))
    conn.commit()
    return tuple(_count(t, s, values[i], now)
                 for i, (t, s) in enumerate(zip(tallies, slots, strict=True)))


def read_counts(conn: Connection, tallies: Sequence[Tally], now: float) -> tuple[Count, ...]:
    """The current values (0 for a counter never added to), run by ``store.run_read``."""
    if not tallies:
        return ()
    slots = [_slot(t, now) for t in tallies]
    cond = or_(*(and_(limit_counters.c.key == t.key, limit_counters.c.slot == s)
                 for t, s in zip(tallies, slots, strict=True)))
    rows = conn.execute(select(limit_counters.c.key, limit_counters.c.slot,
                               limit_counters.c.value).where(cond)).all()
    found = {(str(r[0]), int(r[1])): int(r[2]) for r in rows}
    return tuple(_count(t, s, found.get((t.key, s), 0), now)
                 for t, s in zip(tallies, slots, strict=True))


class StoreCounters:
    """Counters in the game store, blocking face (``SyncStore``)."""

    def __init__(self, store: Any, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock

    def add(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """Add atomically; the new values."""
        result: tuple[Count, ...] = self._store.run_transaction(add_counts, tuple(tallies),
                                                                self._clock())
        return result

    def read(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """The current values."""
        result: tuple[Count, ...] = self._store.run_read(read_counts, tuple(tallies),
                                                         self._clock())
        return result

    def close(self) -> None:
        """Nothing of its own to close (the store is the runtime's)."""


class AsyncStoreCounters:
    """Counters in the game store, awaiting face (``AsyncStore``)."""

    def __init__(self, store: Any, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock

    async def add(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """Add atomically; the new values."""
        result: tuple[Count, ...] = await self._store.run_transaction(
            add_counts, tuple(tallies), self._clock())
        return result

    async def read(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """The current values."""
        result: tuple[Count, ...] = await self._store.run_read(read_counts, tuple(tallies),
                                                               self._clock())
        return result

    async def close(self) -> None:
        """Nothing of its own to close (the store is the runtime's)."""


# redis-py's default pool raises MaxConnectionsError at its 101st concurrent command, which
# 500 actions in flight reach at once (measured: 500s on player creation). A blocking pool of
# this size makes the extra callers wait for a connection instead, up to REDIS_POOL_WAIT s.
REDIS_POOL_SIZE = 100
REDIS_POOL_WAIT = 5.0


# INCRBY and EXPIREAT for each key (KEYS[i], amount ARGV[2i-1], expiry ARGV[2i]), atomically;
# the new values in order. The same commands the blocking face sends in MULTI/EXEC.
ADD_SCRIPT = """
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  redis.call('EXPIREAT', KEYS[i], ARGV[2 * i])
end
return out
"""


def _redis_key(tally: Tally, slot: int) -> str:
    return f"{REDIS_PREFIX}{tally.key}:{tally.window}:{slot}"


def _queue_adds(pipe: Any, tallies: Sequence[Tally], slots: Sequence[int]) -> None:
    for tally, slot in zip(tallies, slots, strict=True):
        key = _redis_key(tally, slot)
        pipe.incrby(key, tally.amount)
        pipe.expireat(key, _expires(tally, slot))


class RedisCounters:
    """Counters in Redis, blocking face: INCRBY in one MULTI/EXEC per call."""

    def __init__(self, url: str, clock: Clock = time.time, client: Any = None) -> None:
        import redis

        self._redis = client or redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
            url, max_connections=REDIS_POOL_SIZE, timeout=REDIS_POOL_WAIT, socket_timeout=5,
            socket_connect_timeout=5))
        self._clock = clock

    def add(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """Add atomically; the new values."""
        now = self._clock()
        slots = [_slot(t, now) for t in tallies]
        pipe = self._redis.pipeline(transaction=True)
        _queue_adds(pipe, tallies, slots)
        values = pipe.execute()[0::2]
        return tuple(_count(t, s, v, now) for t, s, v in zip(tallies, slots, values, strict=True))

    def read(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """The current values."""
        now = self._clock()
        slots = [_slot(t, now) for t in tallies]
        raw = self._redis.mget([_redis_key(t, s) for t, s in zip(tallies, slots, strict=True)])
        return tuple(_count(t, s, int(v or 0), now)
                     for t, s, v in zip(tallies, slots, raw, strict=True))

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


class AsyncRedisCounters:
    """Counters in Redis, awaiting face.

    Concurrent ``add`` calls are sent together: each call queues its tallies, and one
    flusher sends everything queued as one call of :data:`ADD_SCRIPT` while the previous one
    is answered, so at hundreds of requests in flight one command carries many callers'
    tallies (the profile of the action route had redis-py's per-pipeline work at 17% of the
    event loop's time with one MULTI/EXEC pipeline per call). Each caller still gets exactly
    its own values, or the call's exception; its adds stay atomic (a script runs whole).
    """

    def __init__(self, url: str, clock: Clock = time.time, client: Any = None) -> None:
        import redis.asyncio

        self._redis = client or redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=REDIS_POOL_SIZE, timeout=REDIS_POOL_WAIT, socket_timeout=5,
                socket_connect_timeout=5))
        self._clock = clock
        self._queued: list[tuple[Sequence[Tally], list[int], asyncio.Future[list[int]]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._add_script = self._redis.register_script(ADD_SCRIPT)

    async def add(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """Add atomically; the new values."""
        now = self._clock()
        slots = [_slot(t, now) for t in tallies]
        if not tallies:
            return ()
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queued.append((tallies, slots, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        values = await done
        return tuple(_count(t, s, v, now) for t, s, v in zip(tallies, slots, values, strict=True))

    async def _flush(self) -> None:
        """Send what is queued, one pipeline at a time, until nothing is left."""
        while self._queued:
            batch, self._queued = self._queued, []
            keys: list[str] = []
            argv: list[int] = []
            for tallies, slots, _ in batch:
                for tally, slot in zip(tallies, slots, strict=True):
                    keys.append(_redis_key(tally, slot))
                    argv += (tally.amount, _expires(tally, slot))
            try:
                replies = await self._add_script(keys=keys, args=argv)
            except BaseException as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception)
                                           else RuntimeError("counter flush cancelled"))
                if not isinstance(exc, Exception):
                    raise
                continue
            at = 0
            for tallies, _, done in batch:
                if not done.done():  # a caller cancelled meanwhile: its adds are applied
                    done.set_result([int(v) for v in replies[at:at + len(tallies)]])
                at += len(tallies)

    async def read(self, tallies: Sequence[Tally]) -> tuple[Count, ...]:
        """The current values."""
        now = self._clock()
        slots = [_slot(t, now) for t in tallies]
        raw = await self._redis.mget([_redis_key(t, s)
                                      for t, s in zip(tallies, slots, strict=True)])
        return tuple(_count(t, s, int(v or 0), now)
                     for t, s, v in zip(tallies, slots, raw, strict=True))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def open_counters(settings: Settings, store: Any) -> Any:
    """The blocking face of the limit counters: Redis, or the game store."""
    return RedisCounters(settings.redis_url) if settings.limits_backend == "redis" \
        else StoreCounters(store)


def open_async_counters(settings: Settings, store: Any) -> Any:
    """The awaiting face of the limit counters: Redis, or the game store."""
    return AsyncRedisCounters(settings.redis_url) if settings.limits_backend == "redis" \
        else AsyncStoreCounters(store)
