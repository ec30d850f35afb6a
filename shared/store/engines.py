"""From a store URL to configured SQLAlchemy engines with sized pools.

``sqlite:///path`` maps to pysqlite for both faces (the async face runs it on its SQLite
thread), ``postgresql://`` and ``postgresql+psycopg://`` to psycopg 3 (its async variant for
the async face). SQLite connections get the settings of
:mod:`shared.store.sqlite_setup`, and SQLAlchemy takes over BEGIN (the documented event recipe)
so that write transactions start with ``BEGIN IMMEDIATE``: a writer takes the write lock up
front instead of failing to upgrade a read lock later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from shared.config import ConfigError

from .errors import StoreError
from .sqlite_setup import configure_sqlite

Backend = Literal["sqlite", "postgresql"]

# Execution option read by the SQLite "begin" hook: present on the write engine only.
WRITE_OPTION = "xianxia_write"

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg_async")
# "sqlite+aiosqlite" is still accepted (older settings); every face now runs pysqlite.
_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")


@dataclass(frozen=True)
class StoreTarget:
    """Where the store lives: the backend and the driver URL of each face.

    On SQLite both URLs name pysqlite: the async face runs the sync driver on one thread.
    """

    backend: Backend
    sync_url: URL
    async_url: URL
    path: Path | None  # the SQLite file, None for PostgreSQL

    def display(self) -> str:
        """The URL without driver or password, for logs and errors."""
        return self.sync_url.set(drivername=self.backend).render_as_string(hide_password=True)


@dataclass(frozen=True)
class PoolConfig:
    """Connection pool sizing for one engine."""

    size: int
    max_overflow: int
    timeout: float  # seconds a caller may wait for a connection before StoreError
    recycle: float = -1  # seconds; -1 keeps connections forever


def default_pool(backend: Backend, is_async: bool) -> PoolConfig:
    """Pool sizes that fit the apps' concurrency.

    Async: one hypercorn worker may have 500 requests in flight; they queue for a
    connection (generous timeout) rather than open hundreds. On SQLite the async face's one
    thread needs exactly one connection. Sync: gunicorn gthread workers run up to ~32 threads
    each (SQLite writers queue in-process; the pool serves the concurrent reads).
    """
    if backend == "sqlite":
        return SQLITE_THREAD_POOL if is_async else PoolConfig(size=8, max_overflow=24, timeout=30.0)
    if is_async:
        return PoolConfig(size=20, max_overflow=10, timeout=60.0, recycle=1800.0)
    return PoolConfig(size=5, max_overflow=15, timeout=30.0, recycle=1800.0)


# The async face's SQLite thread (see sqlite_thread.py) uses exactly one connection.
SQLITE_THREAD_POOL = PoolConfig(size=1, max_overflow=0, timeout=60.0)


def resolve_url(url: str) -> StoreTarget:
    """Map a user-facing store URL to the driver URLs of both faces; ConfigError if unusable."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r}") from exc
    scheme = parsed.drivername
    if scheme in _POSTGRES_SCHEMES:
        # psycopg 3 serves both faces; SQLAlchemy picks its async variant for the async engine.
        pg = parsed.set(drivername="postgresql+psycopg")
        return StoreTarget("postgresql", pg, pg, None)
    if scheme in _SQLITE_SCHEMES:
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ConfigError(
                "the store needs a SQLite file (sqlite:///path): an in-memory database is not "
                "shared between pooled connections"
            )
        path = Path(database).expanduser().resolve()
        pysqlite = parsed.set(drivername="sqlite+pysqlite", database=str(path))
        return StoreTarget("sqlite", pysqlite, pysqlite, path)
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///path or postgresql://..."
    )


def read_options(backend: Backend) -> dict[str, Any]:
    """Execution options of the engine used for single-statement reads."""
    # PostgreSQL: autocommit saves the BEGIN/COMMIT round trips around a lone SELECT.
    # SQLite: the begin hook emits no BEGIN for reads, so each SELECT is its own snapshot.
    return {"isolation_level": "AUTOCOMMIT"} if backend == "postgresql" else {}


def write_options(backend: Backend) -> dict[str, Any]:
    """Execution options of the engine used for transactions that write."""
    return {WRITE_OPTION: True}


def build_sync_engine(target: StoreTarget, pool: PoolConfig, busy_timeout: float) -> Engine:
    """The pysqlite or psycopg engine of the sync face."""
    engine = create_engine(
        target.sync_url,
        poolclass=QueuePool,
        **_engine_kwargs(target, pool, busy_timeout),
    )
    if target.backend == "sqlite":

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            configure_sqlite(dbapi_connection, busy_timeout)

        event.listen(engine, "connect", on_connect)
        _listen_begin(engine)
    return engine


def build_async_engine(target: StoreTarget, pool: PoolConfig, busy_timeout: float) -> AsyncEngine:
    """The async psycopg engine of the async face (PostgreSQL only: SQLite uses a thread)."""
    if target.backend != "postgresql":
        raise ConfigError("the async engine is for PostgreSQL; SQLite runs on SqliteThread")
    kwargs = _engine_kwargs(target, pool, busy_timeout)
    return create_async_engine(target.async_url, poolclass=AsyncAdaptedQueuePool, **kwargs)


def prepare_target(url: str) -> StoreTarget:
    """Resolve ``url`` and create the SQLite file's folder (StoreError if impossible)."""
    target = resolve_url(url)
    if target.path is not None:
        try:
            target.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of {target.display()}: {exc}") from exc
    return target


def _engine_kwargs(target: StoreTarget, pool: PoolConfig, busy_timeout: float) -> dict[str, Any]:
    if target.backend == "sqlite":
        connect_args: dict[str, Any] = {"timeout": busy_timeout, "check_same_thread": False}
    else:
        connect_args = {"connect_timeout": max(1, round(busy_timeout))}
    return {
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout,
        "pool_recycle": pool.recycle,
        "connect_args": connect_args,
    }


def _listen_begin(engine: Engine) -> None:
    def on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "begin", on_begin)
