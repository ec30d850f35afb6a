"""The asyncio face of the store (Quart under hypercorn): the same plans, awaited."""

from __future__ import annotations

import asyncio
from typing import Any, Literal, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from . import plans
from .base import Access, BaseStore
from .drivers import drive_async
from .engines import (
    WRITER_POOL,
    PoolConfig,
    StoreTarget,
    build_async_engine,
    build_sync_engine,
    default_pool,
    prepare_target,
    read_options,
    write_options,
)
from .plans import Plan
from .records import CommitResult, Decide, LogEntry, NewLogEntry, PlayerRow
from .writer_thread import WriterThread

T = TypeVar("T")


SqliteWrites = Literal["thread", "aiosqlite"]


class AsyncStore(BaseStore):
    """Player state and action log for one event loop; every method is a coroutine.

    On PostgreSQL reads and writes go through the async engine (psycopg), and row locks
    order concurrent writers. On SQLite this process's statements are queued in arrival
    order, so hundreds of concurrent requests wait in Python rather than in SQLite's busy
    handler, while other processes are held off by ``BEGIN IMMEDIATE`` and ``busy_timeout``:
    by default everything runs on one :class:`WriterThread` (sync pysqlite engine, one hop per
    call; measured faster than aiosqlite for reads too: 150 -> 165 actions/s and 7.2 -> 6.5 ms
    of CPU per action in ``scripts/bench_actions.py``), or with ``sqlite_writes="aiosqlite"``
    reads use aiosqlite and writes the async engine behind an asyncio lock.
    """

    def __init__(
        self, engine: AsyncEngine, target: StoreTarget, writer: WriterThread | None = None
    ) -> None:
        super().__init__(target, engine.dialect.name)
        self.engine = engine
        self.writer = writer
        self._read = engine.execution_options(**read_options(target.backend))
        self._write = engine.execution_options(**write_options(target.backend))
        # Only for sqlite_writes="aiosqlite": queue this process's SQLite writers in the loop.
        self._write_lock = asyncio.Lock() if target.backend == "sqlite" and not writer else None

    async def _run(self, plan: Plan[T], access: Access = "read") -> T:
        try:
            if access == "read" and self.writer is None:
                return await drive_async(plan, self._read)
            if self.writer is not None:
                return await self.writer.run(plan, transaction=access == "transaction")
            engine = self._write if access == "transaction" else self._read
            if self._write_lock is None:
                return await drive_async(plan, engine)
            async with self._write_lock:
                return await drive_async(plan, engine)
        except SQLAlchemyError as exc:
            raise self._store_error(exc) from exc

    async def init_schema(self, *, upto: int | None = None) -> int:
        """Create or migrate the schema (idempotent, safe from concurrent processes).

        ``upto`` stops at an older migration (tests, staged roll-outs). Returns the version.
        """
        return await self._run(plans.init_schema(self._q, upto), "transaction")

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers."""
        await self._run(plans.ping(self._q))

    async def close(self) -> None:
        """Finish queued writes and close every connection."""
        if self.writer is not None:
            await self.writer.close()
        await self.engine.dispose()

    async def create_player(
        self, player_id: str, token_hash: str, state: dict[str, Any], entry: NewLogEntry
    ) -> PlayerRow:
        """Insert a player (version 0) and its first log entry; PlayerExists if taken."""
        return await self._run(
            plans.create_player(self._q, player_id, token_hash, state, entry), "transaction"
        )

    async def get_player(self, player_id: str) -> PlayerRow | None:
        """The player, or None."""
        return await self._run(plans.get_player(self._q, player_id))

    async def get_player_with_recent(
        self, player_id: str, seconds: float
    ) -> tuple[PlayerRow | None, int]:
        """The player (or None) and its actions in the last ``seconds``, in one round trip."""
        return await self._run(plans.get_player_with_recent(self._q, player_id, seconds))

    async def commit_action(
        self,
        player_id: str,
        expected_version: int,
        new_state: dict[str, Any],
        entry: NewLogEntry,
    ) -> CommitResult:
        """Write the new state and the log entry if the version is still ``expected_version``.

        Raises VersionConflict (nothing written) when it moved, PlayerNotFound when there is
        no such player. A reused idempotency key writes nothing and returns the first entry
        with ``replayed=True``.
        """
        return await self._run(
            plans.commit_action(self._q, player_id, expected_version, new_state, entry),
            "transaction",
        )

    async def transact_player(
        self,
        player_id: str,
        decide: Decide,
        *,
        recent_seconds: float = 0,
        idempotency_key: str | None = None,
    ) -> CommitResult:
        """Apply one action to a player in one transaction serialised with its other writers.

        Locks the player (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite's write lock), counts
        its actions in the last ``recent_seconds`` (database clock; skipped when 0), looks up
        the entry stored under ``idempotency_key`` (None without a key), then calls
        ``decide(row, recent, prior)`` (see :data:`shared.store.records.Decide`). A
        :class:`Commit` writes its state at version + 1 and inserts its entry; a
        :class:`Replay` writes nothing and returns ``CommitResult(replayed=True,
        entry=prior)``. An exception from ``decide`` rolls back and propagates unchanged.
        PlayerNotFound when ``decide`` commits on a missing player.
        """
        return await self._run(
            plans.transact_player(self._q, player_id, decide, recent_seconds, idempotency_key),
            "transaction",
        )

    async def find_idempotent(self, player_id: str, key: str) -> LogEntry | None:
        """The entry written under this idempotency key, or None."""
        return await self._run(plans.find_idempotent(self._q, player_id, key))

    async def set_narration(self, player_id: str, seq: int, text: str, degraded: bool) -> None:
        """Store an entry's narration; LogEntryNotFound if there is no such entry."""
        await self._run(plans.set_narration(self._q, player_id, seq, text, degraded), "write")

    async def set_narration_if_missing(
        self, player_id: str, seq: int, text: str, degraded: bool
    ) -> bool:
        """Store an entry's narration only where it has none (``WHERE narration IS NULL``).

        True when it wrote; False when the entry already has prose (or does not exist). A
        replay of an entry whose narration was lost (e.g. a crash) fills it this way without
        ever overwriting prose a player has already read.
        """
        return await self._run(
            plans.set_narration_if_missing(self._q, player_id, seq, text, degraded), "write"
        )

    async def list_log(
        self, player_id: str, limit: int, before_seq: int | None = None
    ) -> list[LogEntry]:
        """Up to ``limit`` entries, newest first; pass the last ``seq`` seen to page on."""
        return await self._run(plans.list_log(self._q, player_id, limit, before_seq))

    async def count_actions_since(self, player_id: str, seconds: float) -> int:
        """Actions (entries after the creation entry, seq > 0) in the last ``seconds``.

        Measured by the database clock, so every process agrees.
        """
        return await self._run(plans.count_actions_since(self._q, player_id, seconds))


def open_async_store(
    url: str,
    *,
    pool: PoolConfig | None = None,
    busy_timeout: float = 5.0,
    sqlite_writes: SqliteWrites = "thread",
) -> AsyncStore:
    """Open the async face on ``sqlite:///path`` or ``postgresql://...`` (no connection yet).

    Call it from the serving loop's start-up. ``busy_timeout`` (seconds) bounds waits for
    SQLite's lock and PostgreSQL's connect. ``sqlite_writes`` picks where SQLite writes run
    (see :class:`AsyncStore`; ``"aiosqlite"`` is kept for comparison and measured slower).
    """
    target = prepare_target(url)
    engine = build_async_engine(target, pool or default_pool(target.backend, True), busy_timeout)
    writer = None
    if target.backend == "sqlite" and sqlite_writes == "thread":
        writer = WriterThread(build_sync_engine(target, WRITER_POOL, busy_timeout))
    return AsyncStore(engine, target, writer)
