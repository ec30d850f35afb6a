"""The async face's SQLite executor: SQLAlchemy compiles each statement once, pysqlite runs it.

Why: the store's operations (``shared.store.operations``) take a SQLAlchemy ``Connection``.
On SQLite, whose statements take 10-20 µs each, SQLAlchemy's per-execution machinery (an
execution context, event dispatch, parameter and result-set set-up, a pool checkout per
operation) cost several times the statement itself: the action transaction took ~0.4 ms
through SQLAlchemy and ~0.15 ms as the same statements on the raw connection. Under 500
requests in flight that is the action path's largest cost apart from the HTTP stack.

:class:`DirectConnection` is the part of ``Connection`` the operations use (``execute``,
``exec_driver_sql``, ``commit``, ``rollback``, ``dialect``) over one raw pysqlite connection.
The statements stay the ones of ``shared.store.queries`` and the counters (one place); what
is kept from SQLAlchemy is exactly what it would do once per statement: the compiled SQL,
keyed like its own compiled cache (the statement's cache key and the parameter names), with
the column types' bind and result processors (``JSONText``, ``Timestamp``). Errors are
SQLAlchemy's exception classes (``IntegrityError``, ``OperationalError``...), wrapping the
pysqlite error, so operations and the faces handle them unchanged. The sync face (Flask) and
PostgreSQL still execute through SQLAlchemy.

Transactions are as on the SQLAlchemy engines: a "transaction" operation's first statement
begins ``BEGIN IMMEDIATE`` (again after each ``commit()``), reads and single writes run in
autocommit, and whatever an operation leaves open is rolled back when it returns or raises.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.ddl import BaseDDLElement

from .sqlite_setup import configure_sqlite

P = ParamSpec("P")
T = TypeVar("T")

Processor = Callable[[Any], Any]
Trace = Callable[[str], None]


class _Prepared:
    """One compiled statement: SQL, parameter order and processors, the row type."""

    __slots__ = ("binds", "compiled", "names", "results", "row", "sql")

    def __init__(self, compiled: Compiled, dialect: SQLiteDialect_pysqlite) -> None:
        self.compiled = compiled
        self.sql = compiled.string
        positions = getattr(compiled, "positiontup", None) or []
        processors: Mapping[str, Processor] = getattr(compiled, "_bind_processors", {})
        self.names: list[str] = list(positions)
        self.binds: list[Processor | None] = [processors.get(n) for n in self.names]
        columns = getattr(compiled, "_result_columns", None) or []
        self.results: list[Processor | None] = [
            column[3]._cached_result_processor(dialect, None) for column in columns
        ]
        keys = [str(column[0]) for column in columns]
        self.row: Any = namedtuple("Row", keys, rename=True) if keys else None

    def parameters(self, given: Mapping[str, Any] | None,
                   extracted: Sequence[Any] | None) -> list[Any]:
        """Positional values, processed, for ``given`` (and a dynamic statement's own)."""
        values: Any = self.compiled.construct_params(given, extracted_parameters=extracted,
                                                     escape_names=False)
        return [value if proc is None else proc(value)
                for value, proc in zip((values[n] for n in self.names), self.binds,
                                       strict=True)]

    def rows(self, raw_rows: list[Any]) -> list[Any]:
        """The fetched rows as attribute-and-index rows, values processed."""
        make, procs = self.row, self.results
        if make is None:
            return list(raw_rows)
        if not any(procs):
            return [make(*r) for r in raw_rows]
        return [make(*(v if p is None else p(v) for v, p in zip(r, procs, strict=True)))
                for r in raw_rows]


class DirectResult:
    """The rows (all fetched) and rowcount of one statement, read as SQLAlchemy's are."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        """Every row."""
        return list(self._rows)

    def first(self) -> Any:
        """The first row, or None."""
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        """The only row (NoResultFound / MultipleResultsFound otherwise)."""
        if not self._rows:
            raise sa_exc.NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise sa_exc.MultipleResultsFound("Multiple rows were found when one was required")
        return self._rows[0]

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        """The first column of the only row."""
        return self.one()[0]


class _Handle:
    """``conn.connection.dbapi_connection``, as on a SQLAlchemy connection."""

    __slots__ = ("dbapi_connection",)

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.dbapi_connection = raw


class DirectConnection:
    """What the store's operations use of a ``Connection``, over one raw connection."""

    def __init__(self, target: DirectSqlite, raw: sqlite3.Connection, begin: bool) -> None:
        self._target = target
        self._raw = raw
        self._begin = begin
        self.dialect = target.dialect
        self.connection = _Handle(raw)

    def execute(self, statement: Any, parameters: Mapping[str, Any] | None = None
                ) -> DirectResult:
        """Run a SQLAlchemy statement (compiled once per shape, as SQLAlchemy caches it)."""
        prepared, extracted = self._target.prepare(statement, parameters)
        values = prepared.parameters(parameters, extracted)
        cursor = self._run(prepared.sql, values, parameters)
        rows = prepared.rows(cursor.fetchall()) if cursor.description else []
        return DirectResult(rows, cursor.rowcount)

    def exec_driver_sql(self, sql: str, parameters: Sequence[Any] = ()) -> DirectResult:
        """Run SQL text as is (pragmas, tests)."""
        cursor = self._run(sql, list(parameters), None)
        return DirectResult(cursor.fetchall() if cursor.description else [], cursor.rowcount)

    def _run(self, sql: str, values: list[Any], given: Mapping[str, Any] | None
             ) -> sqlite3.Cursor:
        raw = self._raw
        try:
            if self._begin and not raw.in_transaction:
                raw.execute("BEGIN IMMEDIATE")
            cursor = raw.execute(sql, values)
        except sqlite3.Error as err:
            raise _wrapped(sql, given, err) from err
        if not raw.in_transaction and sql.lstrip()[:6].upper() not in ("SELECT", "PRAGMA"):
            self._target.commits += 1  # a write in autocommit is committed as it returns
        return cursor

    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._raw.in_transaction

    def commit(self) -> None:
        """Commit what is open (a later statement begins anew)."""
        if self._raw.in_transaction:
            try:
                self._raw.execute("COMMIT")
            except sqlite3.Error as err:
                raise _wrapped("COMMIT", None, err) from err
            self._target.commits += 1

    def rollback(self) -> None:
        """Roll back what is open."""
        if self._raw.in_transaction:
            self._raw.execute("ROLLBACK")


def _wrapped(sql: str, given: Mapping[str, Any] | None, err: sqlite3.Error) -> Exception:
    """The SQLAlchemy exception SQLAlchemy itself would raise for ``err``."""
    return sa_exc.DBAPIError.instance(sql, dict(given or {}), err, sqlite3.Error)


class DirectSqlite:
    """One raw pysqlite connection to the store's file, opened on first use, and the
    compiled statements; ``run`` performs one operation on it (one caller at a time)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.dialect = SQLiteDialect_pysqlite()
        self.commits = 0  # COMMITs that succeeded (SqliteThread: a retry must not repeat one)
        self._raw: sqlite3.Connection | None = None
        self._cache: dict[Any, _Prepared] = {}
        self._trace: Trace | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._raw is None:
            try:
                raw = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                      check_same_thread=False)
                configure_sqlite(raw, self.busy_timeout)
            except sqlite3.Error as err:
                raise _wrapped("connect", None, err) from err
            raw.set_trace_callback(self._trace)
            self._raw = raw
        return self._raw

    def trace(self, callback: Trace | None) -> None:
        """See every SQL statement this connection sends (``sqlite3``'s trace callback)."""
        self._trace = callback
        if self._raw is not None:
            self._raw.set_trace_callback(callback)

    def prepare(self, statement: Any, parameters: Mapping[str, Any] | None
                ) -> tuple[_Prepared, Sequence[Any] | None]:
        """The compiled form of ``statement`` for these parameter names, and the statement's
        own bound values when it was built with them (SQLAlchemy's extracted parameters)."""
        names = tuple(sorted(parameters)) if parameters else ()
        if isinstance(statement, BaseDDLElement):  # schema set-up: compiled each time
            return _Prepared(statement.compile(dialect=self.dialect), self.dialect), None
        cache_key = (statement._generate_cache_key()
                     if isinstance(statement, ClauseElement) else None)
        key = (cache_key.key, names) if cache_key is not None else None
        prepared = self._cache.get(key) if key is not None else None
        if prepared is None:
            # With its cache key, as SQLAlchemy's own cache compiles: a later statement of the
            # same shape passes its own values as extracted parameters.
            compiled = statement.compile(dialect=self.dialect, column_keys=list(names) or None,
                                         cache_key=cache_key)
            prepared = _Prepared(compiled, self.dialect)
            if key is not None:
                self._cache[key] = prepared
        return prepared, (cache_key.bindparams if cache_key is not None else None)

    def run(self, transaction: bool,
            operation: Callable[Concatenate[Any, P], T], *args: P.args, **kwargs: P.kwargs
            ) -> T:
        """``operation(conn, ...)``; what it leaves open is rolled back."""
        raw = self._connection()
        conn = DirectConnection(self, raw, begin=transaction)
        try:
            return operation(conn, *args, **kwargs)
        finally:
            if raw.in_transaction:
                raw.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection (a later ``run`` opens a new one)."""
        if self._raw is not None:
            self._raw.close()
            self._raw = None
