"""SQLite writes of the async face, run whole on one dedicated thread.

Measured reason (see ``scripts/bench_store.py --sqlite-writes``): SQLite admits one writer at
a time, so a write transaction's duration is the store's write capacity. Driven through
aiosqlite, every statement of the transaction is a hop to aiosqlite's thread and back *through
the event loop*, and with hundreds of requests in flight each hop waits behind the loop's other
ready callbacks while the write lock is held. Here the same plan runs start to finish on one
thread with the sync pysqlite engine; the loop is involved once per write. The thread is also
the in-process queue of writers (FIFO), so no asyncio lock is needed.

A caller cancelled while its write is queued or running does not stop it: the transaction
completes (or rolls back) as a whole, exactly as on the sync face.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine

from .drivers import drive_sync
from .engines import read_options, write_options
from .errors import StoreError
from .plans import Plan

T = TypeVar("T")


class WriterThread:
    """One thread and one pysqlite connection that run write plans in arrival order."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._single = engine.execution_options(**read_options("sqlite"))
        self._transaction = engine.execution_options(**write_options("sqlite"))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._closed = False

    async def run(self, plan: Plan[T], transaction: bool) -> T:
        """Run ``plan`` on the writer thread (in a BEGIN IMMEDIATE transaction if asked)."""
        if self._closed:
            plan.close()
            raise StoreError("the store is closed")
        engine = self._transaction if transaction else self._single
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, drive_sync, plan, engine)

    async def close(self) -> None:
        """Finish queued writes, close the connection and stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.engine.dispose)
        self._executor.shutdown(wait=True)
