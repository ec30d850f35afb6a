"""The blocking face of the store (Flask under gunicorn gthread workers): thread-safe."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import plans
from .base import Access, BaseStore
from .drivers import drive_sync
from .engines import (
    PoolConfig,
    StoreTarget,
    build_sync_engine,
    default_pool,
    prepare_target,
    read_options,
    write_options,
)
from .plans import Plan
from .records import CommitResult, Decide, LogEntry, NewLogEntry, PlayerRow

T = TypeVar("T")


class SyncStore(BaseStore):
    """Player state and action log; every method blocks and may be called from any thread.

    On SQLite the writes of this process take a lock first, so its threads queue in Python
    instead of polling SQLite's busy handler; other processes are held off by ``BEGIN
    IMMEDIATE`` and ``busy_timeout``. On PostgreSQL row locks do that work.
    """

    def __init__(self, engine: Engine, target: StoreTarget) -> None:
        super().__init__(target, engine.dialect.name)
        self.engine = engine
        self._read = engine.execution_options(**read_options(target.backend))
        self._write = engine.execution_options(**write_options(target.backend))
        self._write_lock = threading.Lock() if target.backend == "sqlite" else None

    def _run(self, plan: Plan[T], access: Access = "read") -> T:
        engine = self._write if access == "transaction" else self._read
        try:
            if access == "read" or self._write_lock is None:
                return drive_sync(plan, engine)
            with self._write_lock:
                return drive_sync(plan, engine)
        except SQLAlchemyError as exc:
            raise self._store_error(exc) from exc

    def init_schema(self, *, upto: int | None = None) -> int:
        """Create or migrate the schema (idempotent, safe from concurrent processes).

        ``upto`` stops at an older migration (tests, staged roll-outs). Returns the version.
        """
        return self._run(plans.init_schema(self._q, upto), "transaction")

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers."""
        self._run(plans.ping(self._q))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def create_player(
        self, player_id: str, token_hash: str, state: dict[str, Any], entry: NewLogEntry
    ) -> PlayerRow:
        """Insert a player (version 0) and its first log entry; PlayerExists if taken."""
        return self._run(
            plans.create_player(self._q, player_id, token_hash, state, entry), "transaction"
        )

    def get_player(self, player_id: str) -> PlayerRow | None:
        """The player, or None."""
        return self._run(plans.get_player(self._q, player_id))

    def get_player_with_recent(
        self, player_id: str, seconds: float
    ) -> tuple[PlayerRow | None, int]:
        """The player (or None) and its actions in the last ``seconds``, in one round trip."""
        return self._run(plans.get_player_with_recent(self._q, player_id, seconds))

    def commit_action(
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
        return self._run(
            plans.commit_action(self._q, player_id, expected_version, new_state, entry),
            "transaction",
        )

    def transact_player(
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
        return self._run(
            plans.transact_player(self._q, player_id, decide, recent_seconds, idempotency_key),
            "transaction",
        )

    def find_idempotent(self, player_id: str, key: str) -> LogEntry | None:
        """The entry written under this idempotency key, or None."""
        return self._run(plans.find_idempotent(self._q, player_id, key))

    def set_narration(self, player_id: str, seq: int, text: str, degraded: bool) -> None:
        """Store an entry's narration; LogEntryNotFound if there is no such entry."""
        self._run(plans.set_narration(self._q, player_id, seq, text, degraded), "write")

    def set_narration_if_missing(
        self, player_id: str, seq: int, text: str, degraded: bool
    ) -> bool:
        """Store an entry's narration only where it has none (``WHERE narration IS NULL``).

        True when it wrote; False when the entry already has prose (or does not exist). A
        replay of an entry whose narration was lost (e.g. a crash) fills it this way without
        ever overwriting prose a player has already read.
        """
        return self._run(
            plans.set_narration_if_missing(self._q, player_id, seq, text, degraded), "write"
        )

    def list_log(self, player_id: str, limit: int, before_seq: int | None = None) -> list[LogEntry]:
        """Up to ``limit`` entries, newest first; pass the last ``seq`` seen to page on."""
        return self._run(plans.list_log(self._q, player_id, limit, before_seq))

    def count_actions_since(self, player_id: str, seconds: float) -> int:
        """Actions (entries after the creation entry, seq > 0) in the last ``seconds``.

        Measured by the database clock, so every process agrees.
        """
        return self._run(plans.count_actions_since(self._q, player_id, seconds))


def open_store(url: str, *, pool: PoolConfig | None = None, busy_timeout: float = 5.0) -> SyncStore:
    """Open the sync face on ``sqlite:///path`` or ``postgresql://...`` (no connection yet).

    ``busy_timeout`` (seconds) bounds waits for SQLite's lock and PostgreSQL's connect.
    """
    target = prepare_target(url)
    engine = build_sync_engine(target, pool or default_pool(target.backend, False), busy_timeout)
    return SyncStore(engine, target)
