"""The producer side: both apps submit LLM tasks and read their state through this.

All state is in Redis (the broker, Celery's results and our record of issued ids), so a task
submitted through the Flask app can be polled through the Quart app and the other way round.

Celery answers PENDING for any id it never saw, so every submit also writes
``xianxia:llm-task:<id>`` with the results' TTL: :meth:`LLMTaskQueue.status` returns None for
an id without that record (the apps answer 404), and PENDING only for a real queued task.

The blocking face (Flask) uses a thread-safe Redis client and polls with backoff. The async
face (Quart) never blocks the loop: submits run on a small private thread pool (Celery's
producer is blocking), and reads go through ``redis.asyncio``; all waiters of one event loop
share one poller that reads every pending result with a single MGET per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

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

ISSUED_PREFIX = "xianxia:llm-task:"
# Blocking waiters poll from 10 ms up to this interval; the async poller ticks at POLL_TICK.
_MAX_POLL_INTERVAL = 0.25
POLL_TICK = 0.02


class LLMTaskQueue:
    """Submit ``llm.complete`` / ``llm.narrate`` and read their state (one per app process).

    ``strict=True`` on a submit turns the worker's offline fallback off, so an upstream error
    ends the task in FAILURE instead of in degraded text.
    """

    def __init__(
        self, settings: Settings, *, celery_app: Celery | None = None, submit_threads: int = 8
    ) -> None:
        self.settings = settings
        self.celery = celery_app or make_celery(settings)
        self._ttl = task_timings(settings).result_ttl
        # Pure helpers of the result backend (key names, JSON decoding); no I/O.
        self._backend = self.celery.backend
        self._redis = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3.0)
        self._executor = ThreadPoolExecutor(submit_threads, thread_name_prefix="llm-submit")
        self._aio: _AsyncSide | None = None

    # -- blocking face -------------------------------------------------------------------------

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
            issued, raw = self._redis.pipeline(transaction=False).exists(
                self._issued_key(task_id)
            ).get(self._meta_key(task_id)).execute()
        except redis.RedisError as exc:
            raise QueueUnavailable(f"task store unavailable: {exc}") from exc
        if not issued and raw is None:
            return None
        return status_from_meta(task_id, self._backend.decode(raw))

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
        """Release threads and connections (the async side is closed by :meth:`aclose`)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._redis.close()
        self.celery.close()

    # -- async face ----------------------------------------------------------------------------

    async def asubmit_complete(
        self, prompt: str, user_id: str | None = None, *, strict: bool = False
    ) -> str:
        """:meth:`submit_complete` without blocking the event loop."""
        return await self._off_loop(
            partial(self.submit_complete, prompt, user_id, strict=strict)
        )

    async def asubmit_narration(
        self,
        player_id: str,
        seq: int,
        request: dict[str, Any],
        user_id: str | None = None,
        *,
        strict: bool = False,
    ) -> str:
        """:meth:`submit_narration` without blocking the event loop."""
        return await self._off_loop(
            partial(self.submit_narration, player_id, seq, request, user_id, strict=strict)
        )

    async def astatus(self, task_id: str) -> TaskStatus | None:
        """:meth:`status` on ``redis.asyncio``."""
        if not looks_like_task_id(task_id):
            return None
        issued, raw = await self._async_side().read(task_id)
        if not issued and raw is None:
            return None
        return status_from_meta(task_id, self._backend.decode(raw))

    async def await_result_async(self, task_id: str, timeout: float) -> TaskStatus:
        """:meth:`await_result` for the event loop: one shared poller, no thread per waiter."""
        side = self._async_side()
        status = await self.astatus(task_id)
        if status is None:
            raise NotFound(f"No task with id {task_id!r}.", code="task_not_found")
        if status["state"] in ("SUCCESS", "FAILURE"):
            return status
        try:
            meta = await asyncio.wait_for(side.poller.wait(task_id), timeout)
        except TimeoutError:
            raise TaskTimeout(f"task {task_id} did not finish within {timeout:g} s") from None
        return status_from_meta(task_id, meta)

    async def aclose(self) -> None:
        """Close the async Redis client of the running loop."""
        side, self._aio = self._aio, None
        if side is not None and side.loop is asyncio.get_running_loop():
            await side.close()

    # -- internals -----------------------------------------------------------------------------

    def _issued_key(self, task_id: str) -> str:
        return ISSUED_PREFIX + task_id

    def _meta_key(self, task_id: str) -> bytes:
        return self._backend.get_key_for_task(task_id)

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

    async def _off_loop(self, call: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _async_side(self) -> _AsyncSide:
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio.loop is not loop:
            # A client is bound to the loop that made it (each test has its own loop).
            self._aio = _AsyncSide(loop, self.settings.redis_url, self)
        return self._aio


class _AsyncSide:
    """The ``redis.asyncio`` client and result poller of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str, queue: LLMTaskQueue) -> None:
        self.loop = loop
        self.redis = aioredis.Redis.from_url(url, socket_connect_timeout=3.0)
        self._queue = queue
        self.poller = _ResultPoller(self.redis, queue._meta_key, queue._backend.decode)

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
        await self.poller.stop()
        await self.redis.aclose()


class _ResultPoller:
    """Wakes the waiters of many tasks with one MGET per tick while any are waiting."""

    def __init__(self, client: aioredis.Redis, key_for: Any, decode: Any) -> None:
        self._redis = client
        self._key_for = key_for
        self._decode = decode
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, task_id: str) -> dict[str, Any]:
        """The task's final meta, whenever it comes (the caller bounds the wait)."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, []).append(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="llm-task-poller")
        try:
            return await fut
        finally:
            waiting = self._waiters.get(task_id)
            if waiting is not None and fut in waiting:
                waiting.remove(fut)
                if not waiting:
                    del self._waiters[task_id]

    async def _run(self) -> None:
        while self._waiters:
            ids = list(self._waiters)
            try:
                raws = await self._redis.mget([self._key_for(i) for i in ids])
            except redis.RedisError as exc:
                # Waiters keep their own deadlines; try again on the next tick.
                log.warning("result poll failed: %s", exc)
                raws = [None] * len(ids)
            for task_id, raw in zip(ids, raws, strict=True):
                if raw is None:
                    continue
                meta = self._decode(raw)
                if is_final(meta):
                    for fut in self._waiters.pop(task_id, []):
                        if not fut.done():
                            fut.set_result(meta)
            await asyncio.sleep(POLL_TICK)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
