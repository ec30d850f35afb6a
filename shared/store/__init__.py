"""The player state store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL (psycopg 3).

Two faces over one schema and one set of statements: :func:`open_store` gives the blocking,
thread-safe :class:`SyncStore` (Flask), :func:`open_async_store` the :class:`AsyncStore`
(Quart). Writes are optimistic (a version per player) and optionally idempotent (a key per
action). Nothing connects until the first call; call ``init_schema()`` at start-up.
"""

from __future__ import annotations

from .async_store import AsyncStore, open_async_store
from .engines import PoolConfig, resolve_url
from .errors import LogEntryNotFound, PlayerExists, PlayerNotFound, StoreError, VersionConflict
from .records import CommitResult, LogEntry, NewLogEntry, PlayerRow
from .schema import SCHEMA_VERSION
from .sync_store import SyncStore, open_store

__all__ = [
    "SCHEMA_VERSION",
    "AsyncStore",
    "CommitResult",
    "LogEntry",
    "LogEntryNotFound",
    "NewLogEntry",
    "PlayerExists",
    "PlayerNotFound",
    "PlayerRow",
    "PoolConfig",
    "StoreError",
    "SyncStore",
    "VersionConflict",
    "open_async_store",
    "open_store",
    "resolve_url",
]
