"""The asyncio face of the store (Quart under hypercorn): the same plans, awaited."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from . import plans
from .base import Access, BaseStore
from .engines import (
    PoolConfig,
    StoreTarget,
    build_async_engine,
    default_pool,
    ensure_parent,
    read_options,
    resolve_url,
    write_options,
)
from .errors import StoreError
from .plans import COMMIT, ROLLBACK, Plan
from .records import CommitResult, LogEntry, NewLogEntry, PlayerRow

T = TypeVar("T")


async def drive_async(plan: Plan[T], engine: AsyncEngine) -> T:
    """Run a plan on one pooled connection (see :mod:`shared.store.plans`)."""
    async with engine.connect() as conn:
        result: Any = None
        error: DBAPIError | None = None
        while True:
            try:
                step = plan.send(result) if error is None else plan.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result = error = None
            if step is COMMIT:
                await conn.commit()
            elif step is ROLLBACK:
                await conn.rollback()
            else:
                try:
                    result = await conn.execute(step.statement, step.params)
                except DBAPIError as exc:
                    error = exc


class AsyncStore(BaseStore):
    """Player state and action log for one event loop; every method is a coroutine.

    On SQLite the writes of this process queue on an asyncio lock, so hundreds of concurrent
    requests wait in the loop rather than in SQLite's busy handler; other processes are held
    off by ``BEGIN IMMEDIATE`` and ``busy_timeout``. On PostgreSQL row locks do that work.
    """

    def __init__(self, engine: AsyncEngine, target: StoreTarget) -> None:
        super().__init__(target, engine.dialect.name)
        self.engine = engine
        self._read = engine.execution_options(**read_options(target.backend))
        self._write = engine.execution_options(**write_options(target.backend))
        self._write_lock = asyncio.Lock() if target.backend == "sqlite" else None

    async def _run(self, plan: Plan[T], access: Access = "read") -> T:
        engine = self._write if access == "transaction" else self._read
        try:
            if access == "read" or self._write_lock is None:
                return await drive_async(plan, engine)
            async with self._write_lock:
                return await drive_async(plan, engine)
        except SQLAlchemyError as exc:
            raise self._store_error(exc) from exc
        finally:
            plan.close()

    async def init_schema(self, *, upto: int | None = None) -> int:
        """Create or migrate the schema (idempotent, safe from concurrent processes).

        ``upto`` stops at an older migration (tests, staged roll-outs). Returns the version.
        """
        return await self._run(plans.init_schema(self._q, upto), "transaction")

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers."""
        await self._run(plans.ping(self._q))

    async def close(self) -> None:
        """Close every pooled connection."""
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

    async def find_idempotent(self, player_id: str, key: str) -> LogEntry | None:
        """The entry written under this idempotency key, or None."""
        return await self._run(plans.find_idempotent(self._q, player_id, key))

    async def set_narration(self, player_id: str, seq: int, text: str, degraded: bool) -> None:
        """Store an entry's narration; LogEntryNotFound if there is no such entry."""
        await self._run(plans.set_narration(self._q, player_id, seq, text, degraded), "write")

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
    url: str, *, pool: PoolConfig | None = None, busy_timeout: float = 5.0
) -> AsyncStore:
    """Open the async face on ``sqlite:///path`` or ``postgresql://...`` (no connection yet).

    Call it from the serving loop's start-up (the SQLite write lock belongs to one loop).
    ``busy_timeout`` (seconds) bounds waits for SQLite's lock and PostgreSQL's connect.
    """
    target = resolve_url(url)
    try:
        ensure_parent(target)
    except OSError as exc:
        raise StoreError(f"cannot create the folder of {target.display()}: {exc}") from exc
    engine = build_async_engine(target, pool or default_pool(target.backend, True), busy_timeout)
    return AsyncStore(engine, target)
