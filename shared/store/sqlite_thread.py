"""The async face's SQLite work, reads and writes: each operation run whole, in place on the
calling loop when it can (see "Inline first" below), else on one dedicated thread.

Measured reason (``scripts/bench_store.py``): SQLite admits one writer at a time, so a write
transaction's duration is the store's write capacity. Driven from the event loop statement by
statement, every statement of a transaction is a hop to a driver thread and back *through the
loop*, and with hundreds of requests in flight each hop waits behind the loop's other ready
callbacks while the write lock is held. Here each operation runs start to finish on one
connection (through :mod:`shared.store.sqlite_direct`), the same function the sync face runs;
the loop is involved once per operation. The thread is also this process's FIFO queue of
SQLite work, so no asyncio lock is needed. Reads share it: one hop on a warm connection was
measured faster than reading through aiosqlite (150 -> 165 actions/s, 7.2 -> 6.5 ms CPU per
action in the action benchmark).

Operations that queue up while the thread is busy are run as one batch: one hop onto the
thread for the batch, and one wake-up of each waiting loop with every result of the batch
(``call_soon_threadsafe``), instead of a ``run_in_executor`` future, a thread hand-off and a
loop wake-up per operation. Each operation still runs alone, in arrival order, in its own
transaction, and its caller gets exactly its own result or exception.

A caller cancelled while its operation is queued drops it; once it runs it is not stopped: the
transaction completes (or rolls back) as a whole, exactly as on the sync face.

**Inline first.** When the thread has nothing queued, an operation runs right on the calling
loop, on a second connection whose ``busy_timeout`` is 0, instead of hopping to the thread. A
store operation takes 0.05-0.5 ms and never awaits, so running it in place costs the loop
what the hop itself cost, and it saves the hop, the wake-up and, above all, the GIL hand-offs:
the thread gave up the GIL at every SQLite call and then waited for the busy loop to hand it
back (up to the 5 ms switch interval), which, with the action transaction's 4-5 statements,
put the whole process's write queue behind the loop. Measured on the action mix at 500 in
flight (devtools.bench targets, A/B in one session): about 15% less server CPU per action and
p99 2.5 s instead of 3.2-3.9 s. Only when SQLite cannot grant the lock at once (another
process, e.g. a second hypercorn worker, holds it: ``SQLITE_BUSY`` before anything was
committed) or the thread is already busy does the operation queue for the thread, which
waits with the store's ``busy_timeout`` as before. Either way each operation runs whole and
alone in this process, in its own transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from .base import Access, Operation
from .errors import StoreError
from .sqlite_direct import DirectSqlite

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


class _LockBusy(Exception):
    """SQLite could not grant the lock at once and nothing was committed: queue instead."""


def _is_busy(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == sqlite3.SQLITE_BUSY  # extended codes keep the primary in the low byte
    return "database is locked" in str(exc.orig)


class SqliteThread:
    """One thread and one pysqlite connection that run store operations in arrival order,
    and, with ``inline``, a second connection (``busy_timeout`` 0) on which operations run on
    the calling loop whenever the thread is idle and the lock is free (see the module doc).
    Both execute through :mod:`shared.store.sqlite_direct`; ``engine`` (SQLAlchemy, on the
    same file) stays for inspection and is what the face reports."""

    def __init__(self, engine: Engine, *, busy_timeout: float, inline: bool = True) -> None:
        self.engine = engine
        path = Path(str(engine.url.database))
        self._threaded = DirectSqlite(path, busy_timeout)
        self._inline = DirectSqlite(path, 0.0) if inline else None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sqlite")
        self._closed = False
        self._lock = threading.Lock()  # guards _queue and _draining
        self._queue: deque[_Job] = deque()
        self._draining = False  # the thread, or an inline operation, has the SQLite work
        self.inline_runs = 0  # operations run on the caller's loop
        self.queued_runs = 0  # operations run on the thread

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """See every SQL statement either connection sends (debugging, tests)."""
        self._threaded.trace(callback)
        if self._inline is not None:
            self._inline.trace(callback)

    async def run(
        self, access: Access, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation`` in place if the thread is idle and SQLite grants its lock at
        once, else on the thread (in a BEGIN IMMEDIATE transaction if asked)."""
        if self._closed:
            raise StoreError("the store is closed")
        transaction = access == "transaction"
        if self._inline is not None and self._claim():
            try:
                return self._run_inline(self._inline, transaction, operation, *args, **kwargs)
            except _LockBusy:
                pass  # another process writes: wait for it on the thread, not on the loop
            finally:
                self._release()
        self.queued_runs += 1
        loop = asyncio.get_running_loop()
        job = _Job(partial(self._threaded.run, transaction, operation, *args, **kwargs),
                   loop.create_future(), loop)
        with self._lock:
            self._queue.append(job)
            start, self._draining = not self._draining, True
        if start:
            self._executor.submit(self._drain)
        result: T = await job.future
        return result

    def _claim(self) -> bool:
        """Take the SQLite work for one inline operation, if nothing is queued or running."""
        with self._lock:
            if self._draining or self._queue:
                return False
            self._draining = True
            return True

    def _release(self) -> None:
        """Give the SQLite work back; start the thread if operations queued meanwhile."""
        with self._lock:
            start = bool(self._queue)
            self._draining = start
        if start:
            self._executor.submit(self._drain)

    def _run_inline(
        self, direct: DirectSqlite, transaction: bool, operation: Operation[P, T],
        *args: P.args, **kwargs: P.kwargs,
    ) -> T:
        commits = direct.commits
        try:
            result = direct.run(transaction, operation, *args, **kwargs)
        except OperationalError as exc:
            if _is_busy(exc) and direct.commits == commits:
                raise _LockBusy from exc  # nothing was written: run it again on the thread
            raise
        self.inline_runs += 1
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
        await loop.run_in_executor(self._executor, self._threaded.close)
        self._executor.shutdown(wait=True)
        if self._inline is not None:
            self._inline.close()
        self.engine.dispose()


def _deliver(outcomes: list[tuple[_Job, bool, Any]]) -> None:
    """On the caller's loop: hand each result or exception to its waiting caller."""
    for job, ok, value in outcomes:
        if job.future.done():  # cancelled while it ran: its transaction is complete anyway
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
