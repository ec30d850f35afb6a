"""An aiosqlite connection that needs one thread hop per statement instead of four.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it, and aiosqlite
sends each of those to its worker thread and back. Each hop costs ~50-100 us of loop wake-up
and GIL hand-over, and a write transaction waits for the loop at every hop while it holds
SQLite's write lock. Here:

- ``execute`` runs the whole sequence in the worker thread in one hop; the cursor keeps rows;
- ``BEGIN ...`` is not sent on its own but in the same hop as the next statement;
- ``commit`` and ``rollback`` skip the hop when nothing can be open: no hop still queued or
  running (a cancelled caller's statement still runs) and SQLite reports no transaction.
  Reads run without BEGIN, so the pool's reset-on-return costs nothing.

Built on aiosqlite's ``Connection._execute`` (how aiosqlite itself runs a function in the
connection's thread); the store tests exercise every path SQLAlchemy uses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")
_Outcome = tuple[Any, int, int | None, list[Any]]


def _statement(
    conn: sqlite3.Connection, prefix: list[str], many: bool, sql: str, parameters: Any
) -> _Outcome:
    """In the worker thread: run the deferred BEGIN, execute, fetch everything, close."""
    cursor = conn.cursor()
    try:
        for statement in prefix:
            cursor.execute(statement)
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        # rowcount is final only once RETURNING rows have been fetched.
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor:
    """The subset of ``aiosqlite.Cursor`` that SQLAlchemy's adapter calls, buffered."""

    arraysize = 1

    def __init__(self, conn: OneHopConnection) -> None:
        self._conn = conn
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _send(self, many: bool, sql: str, parameters: Any) -> OneHopCursor:
        outcome = await self._conn.statement(many, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        """Execute one statement and buffer its rows (a BEGIN waits for the next one)."""
        if not parameters and sql.lstrip()[:5].upper() == "BEGIN":
            self._conn.defer(sql)
            self.description, self.rowcount, self.lastrowid, self._rows = None, -1, None, []
            return self
        return await self._send(False, sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        """Execute one statement for each parameter set."""
        return await self._send(True, sql, list(parameters))

    async def fetchall(self) -> list[Any]:
        """The remaining buffered rows."""
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        """The next buffered row, or None."""
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        """Up to ``size`` buffered rows."""
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        """Drop the buffer (the sqlite3 cursor is already closed)."""
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    """aiosqlite connection with one-hop cursors, deferred BEGIN and free no-op commits."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._deferred: list[str] = []
        # Hops handed to the worker and hops it finished; each has a single writer (the loop
        # thread and the worker thread respectively), so plain ints are safe under the GIL.
        self._issued = 0
        self._finished = 0

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        """A buffered cursor (no hop until ``execute``)."""
        return OneHopCursor(self)

    def defer(self, statement: str) -> None:
        """Queue a statement to run just before the next one, in the same hop."""
        self._deferred.append(statement)

    async def statement(self, many: bool, sql: str, parameters: Any) -> _Outcome:
        """Run one statement (after any deferred ones) in one hop."""
        prefix, self._deferred = self._deferred, []
        return await self._hop(_statement, prefix, many, sql, parameters)

    async def commit(self) -> None:
        """Commit unless nothing can be open (a BEGIN never sent is simply dropped)."""
        self._deferred = []
        if not self._idle():
            await self._hop(sqlite3.Connection.commit)

    async def rollback(self) -> None:
        """Roll back unless nothing can be open (a BEGIN never sent is simply dropped)."""
        self._deferred = []
        if not self._idle():
            await self._hop(sqlite3.Connection.rollback)

    @property
    def hops(self) -> int:
        """How many hops this connection has sent to its thread (for tests and tuning)."""
        return self._issued

    def _idle(self) -> bool:
        conn: sqlite3.Connection | None = self._connection
        return conn is not None and self._finished == self._issued and not conn.in_transaction

    async def _hop(self, fn: Callable[..., T], *args: Any) -> T:
        self._issued += 1
        ticket = self._issued

        def tracked() -> T:
            try:
                return fn(self._conn, *args)
            finally:
                self._finished = ticket

        return await self._execute(tracked)


def one_hop_creator(
    path: str, configure: Callable[[sqlite3.Connection], sqlite3.Connection], **connect_args: Any
) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine`` opening :class:`OneHopConnection`.

    ``configure`` runs on the connection's own thread right after ``sqlite3.connect``.
    """

    def connector() -> sqlite3.Connection:
        return configure(sqlite3.connect(path, **connect_args))

    async def create() -> OneHopConnection:
        connection = OneHopConnection(connector, 64)
        # Like SQLAlchemy's own aiosqlite dialect: a leaked connection must not keep the
        # interpreter alive at exit.
        connection._thread.daemon = True
        return await connection

    return create
