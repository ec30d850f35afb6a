"""The asyncio face of the store (Quart under hypercorn): the same operations, awaited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, ParamSpec, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import ConfigError

from . import operations as ops
from .base import Access, BaseStore, Operation
from .engines import (
    PoolConfig,
    StoreTarget,
    build_async_engine,
    build_sync_engine,
    default_pool,
    prepare_target,
    read_options,
    write_options,
)
from .records import (
    CommitResult,
    Conversation,
    Decide,
    Exchange,
    HallEntry,
    HallKind,
    LogEntry,
    NewLogEntry,
    PlayerRow,
)
from .sqlite_thread import SqliteThread

P = ParamSpec("P")
T = TypeVar("T")

# Where the async face runs SQLite work. Only "thread" remains: the aiosqlite path measured
# slower and is gone; the keyword stays so existing callers keep working.
SqliteWrites = Literal["thread"]


class Runner(Protocol):
    """Runs an operation (a function of a sync ``Connection``) for the async face."""

    @property
    def engine(self) -> Engine | AsyncEngine:
        """The engine behind it (for tests and diagnostics)."""

    async def run(
        self, access: Access, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation`` with a connection suited to ``access``; return its value."""

    async def close(self) -> None:
        """Close every connection."""


class AsyncEngineRunner:
    """PostgreSQL: each operation runs inside ``AsyncConnection.run_sync``.

    SQLAlchemy's greenlet bridge turns each DBAPI call of the sync function into an await on
    async psycopg, so the function the sync face runs is the one awaited here (one greenlet
    per operation, not one per statement).
    """

    def __init__(self, engine: AsyncEngine, target: StoreTarget) -> None:
        self._engine = engine
        single = engine.execution_options(**read_options(target.backend))
        self._engines: dict[Access, AsyncEngine] = {
            "read": single,
            "write": single,
            "transaction": engine.execution_options(**write_options(target.backend)),
        }

    @property
    def engine(self) -> AsyncEngine:
        """The async psycopg engine."""
        return self._engine

    async def run(
        self, access: Access, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation`` on a pooled connection (rolled back if left open)."""
        async with self._engines[access].connect() as conn:
            return await conn.run_sync(operation, *args, **kwargs)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()


class AsyncStore(BaseStore):
    """Player state and action log for one event loop; every method is a coroutine.

    Each method runs one function of :mod:`shared.store.operations`, the same one the sync
    face runs. On PostgreSQL through the async engine (:class:`AsyncEngineRunner`); row locks
    order concurrent writers. On SQLite through :class:`SqliteThread`: in place on the loop
    while nothing is queued and the lock is free, else queued in arrival order on its one
    thread, so hundreds of concurrent requests wait in Python rather than in SQLite's busy
    handler, while other processes are held off by ``BEGIN IMMEDIATE`` and ``busy_timeout``.
    """

    def __init__(self, runner: Runner, target: StoreTarget) -> None:
        super().__init__(target)
        self.runner = runner

    @property
    def engine(self) -> Engine | AsyncEngine:
        """The async psycopg engine (PostgreSQL), or a pysqlite engine on the same file for
        inspection (SQLite: operations run on :mod:`shared.store.sqlite_direct`)."""
        return self.runner.engine

    async def _run(
        self, access: Access, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            return await self.runner.run(access, operation, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise self._store_error(exc) from exc

    async def run_read(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``operation(conn, *args, **kwargs)`` on a connection without a transaction.

        ``operation`` is a plain sync function of a connection, the same the sync face's
        ``run_read`` takes; database errors become :class:`StoreError`.
        """
        return await self._run("read", operation, *args, **kwargs)

    async def run_transaction(
        self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation(conn, *args, **kwargs)`` in a write transaction.

        As the sync face's ``run_transaction``: ``BEGIN IMMEDIATE`` on SQLite, ``operation``
        calls ``conn.commit()``, what it leaves open is rolled back, database errors become
        :class:`StoreError` and any other exception propagates unchanged.
        """
        return await self._run("transaction", operation, *args, **kwargs)

    async def init_schema(self, *, upto: int | None = None) -> int:
        """Create or migrate the schema (idempotent, safe from concurrent processes).

        ``upto`` stops at an older migration (tests, staged roll-outs). Returns the version.
        """
        return await self._run("transaction", ops.init_schema, upto)

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers."""
        await self._run("read", ops.ping)

    async def close(self) -> None:
        """Finish queued work and close every connection."""
        await self.runner.close()

    async def create_player(
        self, player_id: str, token_hash: str, state: dict[str, Any], entry: NewLogEntry
    ) -> PlayerRow:
        """Insert a player (version 0) and its first log entry; PlayerExists if taken."""
        return await self._run(
            "transaction", ops.create_player, player_id, token_hash, state, entry
        )

    async def create_heir(
        self,
        player_id: str,
        token_hash: str,
        state: dict[str, Any],
        entry: NewLogEntry,
        predecessor_id: str,
    ) -> PlayerRow | None:
        """Claim ``predecessor_id``'s legacy and insert the heir in one transaction: the row,
        or None (nothing written) when another heir has the legacy; PlayerExists if taken."""
        return await self._run(
            "transaction", ops.create_heir, player_id, token_hash, state, entry, predecessor_id
        )

    async def get_player(self, player_id: str) -> PlayerRow | None:
        """The player, or None."""
        return await self._run("read", ops.get_player, player_id)

    async def player_id_for_token_hash(self, token_hash: str) -> str | None:
        """The id of the player whose token has this hash, or None (for routes that get only
        a bearer token). Token hashes are unique in practice (random tokens, sha256)."""
        return await self._run("read", ops.player_id_for_token_hash, token_hash)

    async def get_player_with_recent(
        self, player_id: str, seconds: float
    ) -> tuple[PlayerRow | None, int]:
        """The player (or None) and its actions in the last ``seconds``, in one round trip."""
        return await self._run("read", ops.get_player_with_recent, player_id, seconds)

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
            "transaction", ops.commit_action, player_id, expected_version, new_state, entry
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

        As :meth:`SyncStore.transact_player`: lock the player, count its recent actions,
        look up ``idempotency_key``, call ``decide(row, recent, prior)`` (synchronously, on
        the connection's greenlet or the SQLite thread) and write its verdict. An exception
        from ``decide`` rolls back and propagates unchanged.
        """
        return await self._run(
            "transaction", ops.transact_player, player_id, decide, recent_seconds, idempotency_key
        )

    async def find_idempotent(self, player_id: str, key: str) -> LogEntry | None:
        """The entry written under this idempotency key, or None."""
        return await self._run("read", ops.find_idempotent, player_id, key)

    async def set_narration(self, player_id: str, seq: int, text: str, degraded: bool) -> None:
        """Store an entry's narration; LogEntryNotFound if there is no such entry."""
        await self._run("write", ops.set_narration, player_id, seq, text, degraded)

    async def set_narration_if_missing(
        self, player_id: str, seq: int, text: str, degraded: bool
    ) -> bool:
        """Store an entry's narration only where it has none (``WHERE narration IS NULL``).

        True when it wrote; False when the entry already has prose (or does not exist).
        """
        return await self._run(
            "write", ops.set_narration_if_missing, player_id, seq, text, degraded
        )

    async def list_log(
        self, player_id: str, limit: int, before_seq: int | None = None
    ) -> list[LogEntry]:
        """Up to ``limit`` entries, newest first; pass the last ``seq`` seen to page on."""
        return await self._run("read", ops.list_log, player_id, limit, before_seq)

    async def count_actions_since(self, player_id: str, seconds: float) -> int:
        """Actions (entries after the creation entry, seq > 0) in the last ``seconds``.

        Measured by the database clock, so every process agrees.
        """
        return await self._run("read", ops.count_actions_since, player_id, seconds)

    async def get_conversation(self, player_id: str, npc_id: str) -> Conversation:
        """The player's conversation with ``npc_id``: summary and last exchanges, oldest first.

        ``Conversation("", [])`` when they never talked.
        """
        return await self._run("read", ops.get_conversation, player_id, npc_id)

    async def append_exchange(
        self, player_id: str, npc_id: str, exchange: Exchange, keep: int
    ) -> list[Exchange]:
        """Save the next exchange, keep the last ``keep`` verbatim, return those pushed out.

        The pushed-out exchanges (oldest first) go to exactly one caller, which folds them into
        the summary (``set_conversation_summary``). Concurrent calls for one pair are applied
        one after the other. PlayerNotFound without the player; ValueError for a malformed
        exchange (``{"player": str, "npc": str, "turn": int}``) or a negative ``keep``.
        """
        return await self._run(
            "transaction", ops.append_exchange, player_id, npc_id, exchange, keep
        )

    async def set_talk_narration(
        self,
        player_id: str,
        seq: int,
        text: str,
        degraded: bool,
        npc_id: str,
        exchange: Exchange,
        only_if_missing: bool = False,
    ) -> bool:
        """Store a talk entry's prose and the NPC's reply as the pair's newest exchange in one
        transaction; True when this call stored them (``only_if_missing``: False where the
        entry had prose). LogEntryNotFound without the entry (unless ``only_if_missing``)."""
        return await self._run(
            "transaction", ops.set_talk_narration, player_id, seq, text, degraded, npc_id,
            exchange, only_if_missing,
        )

    async def fold_conversation(
        self, player_id: str, npc_id: str, summary: str, previous: str, turns: Sequence[int]
    ) -> bool:
        """Store ``summary`` and drop the exchanges of ``turns`` it folded, together, if the
        stored summary is still ``previous`` (a compare-and-set); True when it wrote."""
        return await self._run(
            "transaction", ops.fold_conversation, player_id, npc_id, summary, previous, turns
        )

    async def set_conversation_summary(
        self, player_id: str, npc_id: str, summary: str, *, previous: str | None = None
    ) -> bool:
        """Store the pair's running summary (creating the pair if needed); True when written.

        With ``previous`` it writes only while the stored summary is still ``previous``, so two
        refreshes built on the same summary cannot drop each other's exchanges (the loser gets
        False). PlayerNotFound without the player.
        """
        return await self._run(
            "transaction", ops.set_conversation_summary, player_id, npc_id, summary, previous
        )

    async def record_legacy(
        self, player_id: str, name: str, kind: HallKind, record: dict[str, Any]
    ) -> HallEntry:
        """Enter an ended run (``kind`` ``"ascended"`` or ``"died"``) in the hall, once.

        Returns the stored entry; a second call for the same player changes nothing and
        returns the first. ``record`` is kept as given (the rules decide what it holds).
        """
        return await self._run("transaction", ops.record_legacy, player_id, name, kind, record)

    async def get_legacy(self, player_id: str) -> HallEntry | None:
        """The hall entry of this player's ended run, or None."""
        return await self._run("read", ops.get_legacy, player_id)

    async def list_hall(self, limit: int, kind: HallKind | None = None) -> list[HallEntry]:
        """Up to ``limit`` hall entries, newest first; only ``kind`` when given."""
        return await self._run("read", ops.list_hall, limit, kind)

    async def claim_legacy(self, player_id: str, heir_id: str) -> HallEntry | None:
        """Give this run's legacy to ``heir_id`` unless another heir has it: the entry, or None.

        Atomic: one heir per legacy under any concurrency; the same heir may claim again.
        """
        return await self._run("transaction", ops.claim_legacy, player_id, heir_id)


def open_async_store(
    url: str,
    *,
    pool: PoolConfig | None = None,
    busy_timeout: float = 5.0,
    sqlite_writes: SqliteWrites = "thread",
) -> AsyncStore:
    """Open the async face on ``sqlite:///path`` or ``postgresql://...`` (no connection yet).

    Call it from the serving loop's start-up. ``busy_timeout`` (seconds) bounds waits for
    SQLite's lock and PostgreSQL's connect. ``sqlite_writes`` must be ``"thread"`` (kept for
    callers of the removed aiosqlite path).
    """
    if sqlite_writes != "thread":
        raise ConfigError(
            f"sqlite_writes={sqlite_writes!r}: the aiosqlite path was removed; use 'thread'"
        )
    target = prepare_target(url)
    runner: Runner
    sizes = pool or default_pool(target.backend, True)
    if target.backend == "sqlite":
        runner = SqliteThread(build_sync_engine(target, sizes, busy_timeout),
                              busy_timeout=busy_timeout)
    else:
        runner = AsyncEngineRunner(build_async_engine(target, sizes, busy_timeout), target)
    return AsyncStore(runner, target)
