"""The limit counters (shared.limits.counters): one atomic add per call, so concurrent
callers can never both take the last unit; store (SQLite, PostgreSQL) and Redis, both faces."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.limits.counters import (
    AsyncRedisCounters,
    AsyncStoreCounters,
    RedisCounters,
    StoreCounters,
    Tally,
)
from shared.store import open_async_store, open_store

LIMIT = 10
CALLERS = 40


def _taken(values: list[int]) -> int:
    return sum(1 for v in values if v <= LIMIT)


def _mid_minute() -> float:
    """The middle of the next minute, fixed: concurrent adds on the real clock could straddle
    a minute's end and land in two windows (as one CI run's did). Ahead of the real clock, so
    Redis does not expire the keys meanwhile."""
    return (time.time() // 60 + 1) * 60 + 30


def test_store_counters_are_atomic_across_threads(store_url: str) -> None:
    store = open_store(store_url)
    store.init_schema()
    fixed = _mid_minute()
    counters = StoreCounters(store, clock=lambda: fixed)
    key = f"t.{uuid.uuid4().hex}"
    try:
        with ThreadPoolExecutor(8) as pool:
            values = list(pool.map(lambda _: counters.add((Tally(key, 60, 1),))[0].value,
                                   range(CALLERS)))
        assert sorted(values) == list(range(1, CALLERS + 1))  # every add saw its own value
        assert _taken(values) == LIMIT
        (now,) = counters.read((Tally(key, 60, 0),))
        assert (now.value, now.resets_in) == (CALLERS, 30)
        back = counters.add((Tally(key, 60, -5),))[0]
        assert back.value == CALLERS - 5
    finally:
        store.close()


async def test_async_store_counters_are_atomic(store_url: str) -> None:
    store = open_async_store(store_url)
    await store.init_schema()
    fixed = _mid_minute()
    counters = AsyncStoreCounters(store, clock=lambda: fixed)
    key = f"t.{uuid.uuid4().hex}"
    try:
        counts = await asyncio.gather(*(
            counters.add((Tally(key, 60, 1), Tally(key + "d", 86400, 2))) for _ in range(CALLERS)
        ))
        minute = [c[0].value for c in counts]
        day = [c[1].value for c in counts]
        assert sorted(minute) == list(range(1, CALLERS + 1))
        assert sorted(day) == list(range(2, 2 * CALLERS + 1, 2))
        assert _taken(minute) == LIMIT
    finally:
        await store.close()


def test_windows_are_separate_and_expire(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.init_schema()
    clock = [1_000_020.0]  # the start of a minute
    counters = StoreCounters(store, clock=lambda: clock[0])
    try:
        assert counters.add((Tally("w", 60, 3),))[0].value == 3
        clock[0] += 60
        first = counters.add((Tally("w", 60, 1),))[0]
        assert first.value == 1 and first.resets_in == 60
        clock[0] += 600  # old windows are dropped when a new one starts
        counters.add((Tally("w", 60, 1),))
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("select count(*) from limit_counters").scalar()
        assert rows == 1
    finally:
        store.close()


def test_redis_counters_are_atomic(redis_url: str) -> None:
    fixed = _mid_minute()
    counters = RedisCounters(redis_url, clock=lambda: fixed)
    key = f"t.{uuid.uuid4().hex}"
    try:
        with ThreadPoolExecutor(8) as pool:
            values = list(pool.map(lambda _: counters.add((Tally(key, 60, 1),))[0].value,
                                   range(CALLERS)))
        assert sorted(values) == list(range(1, CALLERS + 1))
        assert counters.read((Tally(key, 60, 0),))[0].value == CALLERS
    finally:
        counters.close()


async def test_async_redis_counters_are_atomic(redis_url: str) -> None:
    fixed = _mid_minute()
    counters = AsyncRedisCounters(redis_url, clock=lambda: fixed)
    key = f"t.{uuid.uuid4().hex}"
    try:
        counts = await asyncio.gather(*(counters.add((Tally(key, 60, 1),))
                                        for _ in range(CALLERS)))
        assert sorted(c[0].value for c in counts) == list(range(1, CALLERS + 1))
    finally:
        await counters.close()


def test_settings_pick_redis_when_redis_url_is_set() -> None:
    from shared.config import Settings

    assert Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/3"}).limits_backend == "redis"
    assert Settings.from_env({}).limits_backend == "store"
    assert Settings.from_env({"REDIS_URL": "redis://x", "LIMITS_BACKEND": "store"}
                             ).limits_backend == "store"
