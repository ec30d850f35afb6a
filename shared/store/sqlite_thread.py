"""The async face's SQLite work, reads and writes, run whole on one dedicated thread.

Measured reason (``scripts/bench_store.py``): SQLite admits one writer at a time, so a write
transaction's duration is the store's write capacity. Driven from the event loop statement by
statement, every statement of a transaction is a hop to a driver thread and back *through the
loop*, and with hundreds of requests in flight each hop waits behind the loop's other ready
callbacks while the write lock is held. Here each operation runs start to finish on one thread
with the sync pysqlite engine, the same function the sync face runs; the loop is involved once
per operation. The thread is also this process's FIFO queue of SQLite work, so no asyncio lock
is needed. Reads share it: one hop on a warm connection was measured faster than reading
through aiosqlite (150 -> 165 actions/s, 7.2 -> 6.5 ms CPU per action in the action benchmark).

Operations that queue up while the thread is busy are run as one batch: one hop onto the
thread for the batch, and one wake-up of each waiting loop with every result of the batch
(``call_soon_threadsafe``), instead of a ``run_in_executor`` future, a thread hand-off and a
loop wake-up per operation. Each operation still runs alone, in arrival order, in its own
transaction, and its caller gets exactly its own result or exception.

A caller cancelled while its operation is queued drops it; once it runs it is not stopped: the
transaction completes (or rolls back) as a whole, exactly as on the sync face.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine

from .base import Access, Operation, engines_by_access, run_on
from .errors import StoreError

P = ParamSpec("P")
T = TypeVar("T")


# At most this many operations run between two deliveries of results, so the first caller
# of a long queue does not wait for the whole queue.
MAX_BATCH = 32


@dataclass(slots=True)
class _Job:
    call: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class SqliteThread:
    """One thread and one pysqlite connection that run store operations in arrival order."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._engines = engines_by_access(engine, "sqlite")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sqlite")
        self._closed = False
        self._lock = threading.Lock()  # guards _queue and _draining
        self._queue: deque[_Job] = deque()
        self._draining = False

    async def run(
        self, access: Access, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation`` on the thread (in a BEGIN IMMEDIATE transaction if asked)."""
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        job = _Job(partial(run_on, self._engines[access], operation, *args, **kwargs),
                   loop.create_future(), loop)
        with self._lock:
            self._queue.append(job)
            start, self._draining = not self._draining, True
        if start:
            self._executor.submit(self._drain)
        result: T = await job.future
        return result

    def _drain(self) -> None:
        """On the thread: run queued operations, a batch at a time, until none is left."""
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    return
                count = min(MAX_BATCH, len(self._queue))
                batch = [self._queue.popleft() for _ in range(count)]
            done: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
            for job in batch:
                if job.future.cancelled():  # cancelled while queued: never started
                    continue
                try:
                    outcome: tuple[_Job, bool, Any] = (job, True, job.call())
                except BaseException as exc:  # the caller's to handle, as with an executor
                    outcome = (job, False, exc)
                done.setdefault(job.loop, []).append(outcome)
            for loop, outcomes in done.items():
                try:
                    loop.call_soon_threadsafe(_deliver, outcomes)
                except RuntimeError:  # that loop is closed: nobody waits any more
                    continue

    async def close(self) -> None:
        """Finish queued operations, close the connection and stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.engine.dispose)
        self._executor.shutdown(wait=True)


def _deliver(outcomes: list[tuple[_Job, bool, Any]]) -> None:
    """On the caller's loop: hand each result or exception to its waiting caller."""
    for job, ok, value in outcomes:
        if job.future.done():  # cancelled while it ran: its transaction is complete anyway
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
