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

A caller cancelled while its operation is queued drops it; once it runs it is not stopped: the
transaction completes (or rolls back) as a whole, exactly as on the sync face.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine

from .base import Access, Operation, engines_by_access, run_on
from .errors import StoreError

P = ParamSpec("P")
T = TypeVar("T")


class SqliteThread:
    """One thread and one pysqlite connection that run store operations in arrival order."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._engines = engines_by_access(engine, "sqlite")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sqlite")
        self._closed = False

    async def run(
        self, access: Access, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation`` on the thread (in a BEGIN IMMEDIATE transaction if asked)."""
        if self._closed:
            raise StoreError("the store is closed")
        call = partial(run_on, self._engines[access], operation, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        """Finish queued operations, close the connection and stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.engine.dispose)
        self._executor.shutdown(wait=True)
