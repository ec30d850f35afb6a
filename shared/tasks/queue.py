"""The producer side: both apps submit LLM tasks and read their state through this.

All state is in Redis (the broker, Celery's results and our record of issued ids), so a task
submitted through the Flask app can be polled through the Quart app and the other way round.

Celery answers PENDING for any id it never saw, so every submit also writes
``xianxia:llm-task:<id>`` with the results' TTL: ``status`` returns None for an id without
that record (the apps answer 404), and PENDING only for a real queued task.

Two faces with the same method names: :class:`TaskQueue` (Flask) uses a thread-safe Redis
client and polls with backoff; :class:`AsyncTaskQueue` (Quart) never blocks the loop:
submits run on a small private thread pool (Celery's producer is blocking), reads go through
``redis.asyncio``, and all waiters of one event loop are woken by one pattern subscription to
the result backend's publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar, cast

import redis
import redis.asyncio as aioredis
from celery import Celery

from shared.config import Settings
from shared.errors import NotFound
from shared.logging_setup import get_logger
from shared.tasks.celery_app import COMPLETE_TASK, NARRATE_TASK, make_celery, task_timings
from shared.tasks.errors import QueueUnavailable, TaskTimeout
from shared.tasks.results import TaskStatus, is_final, looks_like_task_id, status_from_meta

log = get_logger("tasks")
T = TypeVar("T")

ISSUED_PREFIX = "xianxia:llm-task:"
# Each face's Redis pool: callers beyond it wait (up to REDIS_POOL_WAIT s) for a connection
# instead of failing; hundreds of requests in flight share a few dozen connections.
REDIS_CONNECTIONS = 32
REDIS_POOL_WAIT = 10.0
# Blocking waiters poll from 10 ms up to this interval.
_MAX_POLL_INTERVAL = 0.25
# Async waiters are woken by pub/sub; this sweep only catches what it missed.
SWEEP_INTERVAL = 1.0


class TaskQueue:
    """Submit ``llm.complete`` / ``llm.narrate`` and read their state, blocking (Flask, and
    the engine under :class:`AsyncTaskQueue`); one per app process.

    ``strict=True`` on a submit turns the worker's offline fallback off, so an upstream error
    ends the task in FAILURE instead of in degraded text.
    """

    def __init__(self, settings: Settings, *, celery_app: Celery | None = None) -> None:
        self.settings = settings
        self.celery = celery_app or make_celery(settings)
        self._ttl = task_timings(settings).result_ttl
        # Pure helpers of the result backend (key names, JSON decoding); no I/O. Typed Any:
        # the stubs type its keys as str, but the Redis backend builds bytes.
        self._backend: Any = self.celery.backend
        self._redis = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_POOL_WAIT,
            socket_connect_timeout=3.0,
        ))

    def submit_complete(
        self, prompt: str, user_id: str | None = None, *, strict: bool = False
    ) -> str:
        """Queue a raw prompt (``/api/llm``); returns the task id."""
        return self._submit(COMPLETE_TASK, [prompt], {"user_id": user_id, "strict": strict})

    def submit_narration(
        self,
        player_id: str,
        seq: int,
        request: dict[str, Any],
        user_id: str | None = None,
        *,
        strict: bool = False,
    ) -> str:
        """Queue the narration of log entry ``seq``; the worker records it in the store."""
        return self._submit(
            NARRATE_TASK, [player_id, seq, request], {"user_id": user_id, "strict": strict}
        )

    def status(self, task_id: str) -> TaskStatus | None:
        """``{"task_id", "state", "result"?, "error"?}``, or None for an id never issued."""
        if not looks_like_task_id(task_id):
            return None
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.exists(self._issued_key(task_id))
            pipe.get(self._meta_key(task_id))
            issued, raw = pipe.execute()
        except redis.RedisError as exc:
            raise QueueUnavailable(f"task store unavailable: {exc}") from exc
        if not issued and raw is None:
            return None
        return status_from_meta(task_id, self._decode(raw))

    def await_result(self, task_id: str, timeout: float) -> TaskStatus:
        """Wait up to ``timeout`` s for a final state (SUCCESS or FAILURE) and return it.

        Raises ``NotFound`` for an id never issued and :class:`TaskTimeout` when time runs out.
        """
        deadline = time.monotonic() + timeout
        interval = 0.01
        while True:
            status = self.status(task_id)
            if status is None:
                raise NotFound(f"No task with id {task_id!r}.", code="task_not_found")
            if status["state"] in ("SUCCESS", "FAILURE"):
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                raise TaskTimeout(f"task {task_id} did not finish within {timeout:g} s")
            time.sleep(min(interval, left))
            interval = min(interval * 1.5, _MAX_POLL_INTERVAL)

    def ping(self) -> bool:
        """True when Redis answers (for readiness checks)."""
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Release the Redis connections and the Celery producer."""
        self._redis.close()
        self.celery.close()

    # -- internals -----------------------------------------------------------------------------

    def _issued_key(self, task_id: str) -> str:
        return ISSUED_PREFIX + task_id

    def _meta_key(self, task_id: str) -> bytes:
        return cast(bytes, self._backend.get_key_for_task(task_id))

    def _decode(self, raw: bytes | None) -> dict[str, Any] | None:
        """A stored meta (None: nothing stored yet)."""
        return None if raw is None else cast(dict[str, Any] | None, self._backend.decode(raw))

    def _submit(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
        task_id = str(uuid.uuid4())
        # Record the id first: a status read right after the submit must not answer 404.
        try:
            self._redis.set(self._issued_key(task_id), name, ex=self._ttl)
            self.celery.send_task(name, args=args, kwargs=kwargs, task_id=task_id)
        except Exception as exc:  # redis-py and kombu each raise their own connection errors
            self._forget(task_id)
            log.warning("could not queue %s: %s", name, exc)
            raise QueueUnavailable(f"the task queue is unavailable: {exc}") from exc
        return task_id

    def _forget(self, task_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # else it expires with its TTL
            self._redis.delete(self._issued_key(task_id))



LLMTaskQueue = TaskQueue
"""The blocking face's earlier name."""


class AsyncTaskQueue:
    """:class:`TaskQueue` for the event loop: the same methods, as coroutines (Quart).

    Submits run on a small private thread pool (Celery's producer is blocking); reads go
    through ``redis.asyncio``; waiters are woken by one shared subscription, with no thread
    or poll per waiter. ``queue`` is the blocking engine underneath; when not given one is
    built from ``settings``, and :meth:`close` closes it too.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        celery_app: Celery | None = None,
        submit_threads: int = 2,
        queue: TaskQueue | None = None,
    ) -> None:
        self.settings = settings
        self._owns_sync = queue is None
        self.sync = queue or TaskQueue(settings, celery_app=celery_app)
        # Few threads on purpose: each publish is ~1 ms of pure Python, and more threads only
        # fight the event loop for the GIL (8 threads gave an 11 s p99 at 500 in flight, where
        # 2 gave 4.5 s).
        self._executor = ThreadPoolExecutor(submit_threads, thread_name_prefix="llm-submit")
        self._aio: _AsyncSide | None = None

    async def submit_complete(
        self, prompt: str, user_id: str | None = None, *, strict: bool = False
    ) -> str:
        """Queue a raw prompt (``/api/llm``); returns the task id."""
        return await self._off_loop(
            partial(self.sync.submit_complete, prompt, user_id, strict=strict)
        )

    async def submit_narration(
        self,
        player_id: str,
        seq: int,
        request: dict[str, Any],
        user_id: str | None = None,
        *,
        strict: bool = False,
    ) -> str:
        """Queue the narration of log entry ``seq``; the worker records it in the store."""
        return await self._off_loop(
            partial(self.sync.submit_narration, player_id, seq, request, user_id, strict=strict)
        )

    async def status(self, task_id: str) -> TaskStatus | None:
        """``{"task_id", "state", "result"?, "error"?}``, or None for an id never issued."""
        if not looks_like_task_id(task_id):
            return None
        issued, raw = await self._async_side().read(task_id)
        if not issued and raw is None:
            return None
        return status_from_meta(task_id, self.sync._decode(raw))

    async def await_result(self, task_id: str, timeout: float) -> TaskStatus:
        """Wait up to ``timeout`` s for a final state (SUCCESS or FAILURE) and return it.

        Raises ``NotFound`` for an id never issued and :class:`TaskTimeout` when time runs out.
        """
        if not looks_like_task_id(task_id):
            raise NotFound(f"No task with id {task_id!r}.", code="task_not_found")
        waiter = self._async_side().waiter
        # Listen first, then read: a result stored in between is either read or heard.
        fut = waiter.register(task_id)
        try:
            async with asyncio.timeout(timeout):
                await waiter.listening()
                status = await self.status(task_id)
                if status is None:
                    raise NotFound(f"No task with id {task_id!r}.", code="task_not_found")
                if status["state"] in ("SUCCESS", "FAILURE"):
                    return status
                return status_from_meta(task_id, await fut)
        except TimeoutError:
            raise TaskTimeout(f"task {task_id} did not finish within {timeout:g} s") from None
        finally:
            waiter.discard(task_id, fut)

    async def ping(self) -> bool:
        """True when Redis answers (for readiness checks)."""
        return await self._off_loop(self.sync.ping)

    async def close(self) -> None:
        """Close this loop's Redis client, the submit threads and the engine it built."""
        side, self._aio = self._aio, None
        if side is not None and side.loop is asyncio.get_running_loop():
            await side.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_sync:
            self.sync.close()

    async def _off_loop(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _async_side(self) -> _AsyncSide:
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio.loop is not loop:
            # A client is bound to the loop that made it (each test has its own loop).
            self._aio = _AsyncSide(loop, self.settings.redis_url, self.sync)
        return self._aio


class _AsyncSide:
    """The ``redis.asyncio`` client and result waiter of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str, queue: TaskQueue) -> None:
        self.loop = loop
        self.redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_POOL_WAIT,
            socket_connect_timeout=3.0,
        ))
        self._queue = queue
        self.waiter = _ResultWaiter(
            self.redis, cast(bytes, queue._backend.task_keyprefix), queue._decode
        )

    async def read(self, task_id: str) -> tuple[bool, bytes | None]:
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.exists(self._queue._issued_key(task_id))
            pipe.get(self._queue._meta_key(task_id))
            issued, raw = await pipe.execute()
        except redis.RedisError as exc:
            raise QueueUnavailable(f"task store unavailable: {exc}") from exc
        return bool(issued), raw

    async def close(self) -> None:
        await self.waiter.stop()
        await self.redis.aclose()


class _ResultWaiter:
    """Wakes the waiters of many tasks from the result backend's own publishes.

    Celery's Redis backend PUBLISHes every stored state on a channel named like its key
    (``celery-task-meta-<id>``). One pattern subscription per event loop hears them all, so
    the cost is per finished task, not per waiter and tick. While anyone waits, an MGET of
    the waited-for keys every :data:`SWEEP_INTERVAL` catches what the subscription missed
    (published before it was up, or during a reconnect).
    """

    def __init__(self, client: aioredis.Redis, prefix: bytes, decode: Any) -> None:
        self._redis = client
        self._prefix = prefix
        self._decode = decode
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def register(self, task_id: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the task's final meta; pair with :meth:`discard` when done with it."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, []).append(fut)
        if self._listener is None:
            self._ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(self._ready),
                                                 name="llm-result-listener")
        return fut

    async def listening(self) -> None:
        """Return once the subscription is up (or failed: the sweeps then stand in)."""
        await self._ready.wait()

    def discard(self, task_id: str, fut: asyncio.Future[dict[str, Any]]) -> None:
        """Forget a registered future (resolved, timed out or cancelled)."""
        waiting = self._waiters.get(task_id)
        if waiting is not None and fut in waiting:
            waiting.remove(fut)
            if not waiting:
                del self._waiters[task_id]

    def _deliver(self, task_id: str, raw: bytes) -> None:
        if task_id not in self._waiters:
            return
        meta = self._decode(raw)
        if is_final(meta):
            for fut in self._waiters.pop(task_id, []):
                if not fut.done():
                    fut.set_result(meta)

    async def _sweep(self, ids: list[str]) -> None:
        if not ids:
            return
        # Bytes: the client does not decode responses.
        raws = cast(list[bytes | None],
                    await self._redis.mget([self._prefix + i.encode() for i in ids]))
        for task_id, raw in zip(ids, raws, strict=True):
            if raw is not None:
                self._deliver(task_id, raw)

    async def _listen(self, ready: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        pubsub: Any = None
        cut = len(self._prefix)
        next_sweep = loop.time() + SWEEP_INTERVAL
        try:
            while self._waiters:
                try:
                    if pubsub is None:
                        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                        await pubsub.psubscribe(self._prefix + b"*")
                        ready.set()
                    msg = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=SWEEP_INTERVAL
                    )
                    if msg is not None and msg["type"] == "pmessage":
                        self._deliver(msg["channel"][cut:].decode(), msg["data"])
                    if loop.time() >= next_sweep:
                        next_sweep = loop.time() + SWEEP_INTERVAL
                        await self._sweep(list(self._waiters))
                except redis.RedisError as exc:
                    # Waiters keep their own deadlines; reconnect after a pause.
                    log.warning("result listener: %s", exc)
                    ready.set()
                    if pubsub is not None:
                        with contextlib.suppress(redis.RedisError):
                            await pubsub.aclose()
                        pubsub = None
                    await asyncio.sleep(SWEEP_INTERVAL)
        finally:
            # Cleared before any await, so a waiter arriving now starts a new listener.
            self._listener = None
            ready.set()
            if pubsub is not None:
                with contextlib.suppress(redis.RedisError):
                    await pubsub.aclose()

    async def stop(self) -> None:
        task = self._listener
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
