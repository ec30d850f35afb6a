"""The player state store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL (psycopg 3).

Two faces over one schema and one set of operations: :func:`open_store` gives the blocking,
thread-safe :class:`SyncStore` (Flask), :func:`open_async_store` the :class:`AsyncStore`
(Quart), with the same method names. Actions go through ``transact_player`` (one transaction
serialised per player) or ``commit_action`` (optimistic, a version per player); both are
optionally idempotent (a key per action). Nothing connects until the first call; call
``init_schema()`` at start-up.

Layout: ``schema`` (tables, migrations) and ``queries`` (every statement, built once per
dialect) feed ``operations`` (each operation once, a plain function of a ``Connection``),
which each face runs: the sync face on ``engine.connect()``, the async face through
``AsyncConnection.run_sync`` (PostgreSQL) or on its ``sqlite_thread``. ``engines`` turns a
URL into configured engines; ``records`` holds the rows and the ``transact_player`` verdicts.
Other packages may add operations of their own and run them with ``run_read`` /
``run_transaction`` on either face.
"""

from __future__ import annotations

from .async_store import AsyncStore, SqliteWrites, open_async_store
from .engines import PoolConfig, resolve_url
from .errors import LogEntryNotFound, PlayerExists, PlayerNotFound, StoreError, VersionConflict
from .records import (
    HALL_KINDS,
    REPLAY,
    Commit,
    CommitResult,
    Conversation,
    Decide,
    Decision,
    Exchange,
    HallEntry,
    HallKind,
    HallRecord,
    LogEntry,
    NewLogEntry,
    PlayerRow,
    Replay,
)
from .schema import SCHEMA_VERSION
from .sync_store import SyncStore, open_store

__all__ = [
    "HALL_KINDS",
    "REPLAY",
    "SCHEMA_VERSION",
    "AsyncStore",
    "Commit",
    "CommitResult",
    "Conversation",
    "Decide",
    "Decision",
    "Exchange",
    "HallEntry",
    "HallKind",
    "HallRecord",
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
