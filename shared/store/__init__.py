"""The player state store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL (psycopg 3).

Two faces over one schema and one set of statements: :func:`open_store` gives the blocking,
thread-safe :class:`SyncStore` (Flask), :func:`open_async_store` the :class:`AsyncStore`
(Quart). Writes are optimistic (a version per player) and optionally idempotent (a key per
action). Nothing connects until the first call; call ``init_schema()`` at start-up.

Layout: ``schema`` (tables, migrations) and ``queries`` (every statement, built once per
dialect) feed ``plans`` (each operation once, as a sans-I/O generator), which ``drivers`` run
for both faces; ``engines`` turns a URL into configured engines; ``aiosqlite_onehop`` and
``writer_thread`` are the async SQLite face's measured speed-ups (``scripts/bench_store.py``).
"""

from __future__ import annotations

from .async_store import AsyncStore, SqliteWrites, open_async_store
from .engines import PoolConfig, resolve_url
from .errors import LogEntryNotFound, PlayerExists, PlayerNotFound, StoreError, VersionConflict
from .records import (
    REPLAY,
    Commit,
    CommitResult,
    Decide,
    Decision,
    LogEntry,
    NewLogEntry,
    PlayerRow,
    Replay,
)
from .schema import SCHEMA_VERSION
from .sync_store import SyncStore, open_store

__all__ = [
    "REPLAY",
    "SCHEMA_VERSION",
    "AsyncStore",
    "Commit",
    "CommitResult",
    "Decide",
    "Decision",
    "LogEntry",
    "LogEntryNotFound",
    "NewLogEntry",
    "PlayerExists",
    "PlayerNotFound",
    "PlayerRow",
    "PoolConfig",
    "Replay",
    "SqliteWrites",
    "StoreError",
    "SyncStore",
    "VersionConflict",
    "open_async_store",
    "open_store",
    "resolve_url",
]
