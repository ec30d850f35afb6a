"""An aiosqlite connection that needs one thread hop per statement instead of four.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it, and aiosqlite
sends each of those to its worker thread and back. Each hop costs ~50-100 us of loop wake-up
and GIL hand-over, which dominated the async store's CPU per call. Here ``execute`` runs the
whole sequence in the worker thread in one hop and the cursor keeps the rows; ``commit`` and
``rollback`` skip the hop when SQLite has no transaction open (reads run without BEGIN, and
the pool's reset-on-return then costs nothing).

Built on aiosqlite's ``Connection._execute`` (its documented extension point for running a
function in the connection's thread); the tests exercise every path SQLAlchemy uses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

_Outcome = tuple[Any, int, int | None, list[Any]]


def _run(conn: aiosqlite.Connection, many: bool, sql: str, parameters: Any) -> _Outcome:
    """In the worker thread: execute, fetch everything, close."""
    cursor = conn._conn.cursor()
    try:
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

    async def _hop(self, many: bool, sql: str, parameters: Any) -> OneHopCursor:
        outcome: _Outcome = await self._conn._execute(_run, self._conn, many, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        """Execute one statement and buffer its rows."""
        return await self._hop(False, sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        """Execute one statement for each parameter set."""
        return await self._hop(True, sql, list(parameters))

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
    """aiosqlite connection with one-hop cursors and free no-op commit/rollback."""

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        """A buffered cursor (no hop until ``execute``)."""
        return OneHopCursor(self)

    async def commit(self) -> None:
        """Commit if SQLite has a transaction open."""
        if self._idle():
            return
        await super().commit()

    async def rollback(self) -> None:
        """Roll back if SQLite has a transaction open."""
        if self._idle():
            return
        await super().rollback()

    def _idle(self) -> bool:
        # Safe from the loop thread: this connection's work is always awaited, so the
        # worker is not running a statement now, and the flag is a plain C-level read.
        conn: sqlite3.Connection | None = self._connection
        return conn is not None and not conn.in_transaction


def one_hop_creator(path: str, **connect_args: Any) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine`` opening :class:`OneHopConnection`."""

    async def create() -> OneHopConnection:
        connection = OneHopConnection(partial(sqlite3.connect, path, **connect_args), 64)
        # Like SQLAlchemy's own aiosqlite dialect: a leaked connection must not keep the
        # interpreter alive at exit.
        connection._thread.daemon = True
        return await connection

    return create
