"""The blocking face of the store (Flask under gunicorn gthread workers): thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import operations as ops
from .base import Access, BaseStore, Operation, engines_by_access, run_on
from .engines import PoolConfig, StoreTarget, build_sync_engine, default_pool, prepare_target
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

P = ParamSpec("P")
T = TypeVar("T")


class SyncStore(BaseStore):
    """Player state and action log; every method blocks and may be called from any thread.

    Each method runs one function of :mod:`shared.store.operations` on a pooled connection.
    On SQLite the writes of this process take a lock first, so its threads queue in Python
    instead of polling SQLite's busy handler; other processes are held off by ``BEGIN
    IMMEDIATE`` and ``busy_timeout``. On PostgreSQL row locks do that work.
    """

    def __init__(self, engine: Engine, target: StoreTarget) -> None:
        super().__init__(target)
        self.engine = engine
        self._engines = engines_by_access(engine, target.backend)
        self._write_lock = threading.Lock() if target.backend == "sqlite" else None

    def _run(
        self, access: Access, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        queue = self._write_lock if access != "read" and self._write_lock else nullcontext()
        try:
            with queue:
                return run_on(self._engines[access], operation, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise self._store_error(exc) from exc

    def run_read(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``operation(conn, *args, **kwargs)`` on a connection without a transaction.

        For SELECTs written as plain functions of a connection, like the ones in
        :mod:`shared.store.operations`; database errors become :class:`StoreError`.
        """
        return self._run("read", operation, *args, **kwargs)

    def run_transaction(
        self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``operation(conn, *args, **kwargs)`` in a write transaction.

        The transaction begins at its first statement (``BEGIN IMMEDIATE`` on SQLite, queued
        behind this process's other writes); ``operation`` calls ``conn.commit()``, and what
        it leaves open is rolled back. Database errors become :class:`StoreError`; any other
        exception propagates unchanged.
        """
        return self._run("transaction", operation, *args, **kwargs)

    def init_schema(self, *, upto: int | None = None) -> int:
        """Create or migrate the schema (idempotent, safe from concurrent processes).

        ``upto`` stops at an older migration (tests, staged roll-outs). Returns the version.
        """
        return self._run("transaction", ops.init_schema, upto)

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers."""
        self._run("read", ops.ping)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def create_player(
        self, player_id: str, token_hash: str, state: dict[str, Any], entry: NewLogEntry
    ) -> PlayerRow:
        """Insert a player (version 0) and its first log entry; PlayerExists if taken."""
        return self._run("transaction", ops.create_player, player_id, token_hash, state, entry)

    def create_heir(
        self,
        player_id: str,
        token_hash: str,
        state: dict[str, Any],
        entry: NewLogEntry,
        predecessor_id: str,
    ) -> PlayerRow | None:
        """Claim ``predecessor_id``'s legacy and insert the heir in one transaction: the row,
        or None (nothing written) when another heir has the legacy; PlayerExists if taken."""
        return self._run(
            "transaction", ops.create_heir, player_id, token_hash, state, entry, predecessor_id
        )

    def get_player(self, player_id: str) -> PlayerRow | None:
        """The player, or None."""
        return self._run("read", ops.get_player, player_id)

    def player_id_for_token_hash(self, token_hash: str) -> str | None:
        """The id of the player whose token has this hash, or None (for routes that get only
        a bearer token). Token hashes are unique in practice (random tokens, sha256)."""
        return self._run("read", ops.player_id_for_token_hash, token_hash)

    def get_player_with_recent(
        self, player_id: str, seconds: float
    ) -> tuple[PlayerRow | None, int]:
        """The player (or None) and its actions in the last ``seconds``, in one round trip."""
        return self._run("read", ops.get_player_with_recent, player_id, seconds)

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
            "transaction", ops.commit_action, player_id, expected_version, new_state, entry
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
            "transaction", ops.transact_player, player_id, decide, recent_seconds, idempotency_key
        )

    def find_idempotent(self, player_id: str, key: str) -> LogEntry | None:
        """The entry written under this idempotency key, or None."""
        return self._run("read", ops.find_idempotent, player_id, key)

    def set_narration(self, player_id: str, seq: int, text: str, degraded: bool) -> None:
        """Store an entry's narration; LogEntryNotFound if there is no such entry."""
        self._run("write", ops.set_narration, player_id, seq, text, degraded)

    def set_narration_if_missing(
        self, player_id: str, seq: int, text: str, degraded: bool
    ) -> bool:
        """Store an entry's narration only where it has none (``WHERE narration IS NULL``).

        True when it wrote; False when the entry already has prose (or does not exist). A
        replay of an entry whose narration was lost (e.g. a crash) fills it this way without
        ever overwriting prose a player has already read.
        """
        return self._run("write", ops.set_narration_if_missing, player_id, seq, text, degraded)

    def list_log(self, player_id: str, limit: int, before_seq: int | None = None) -> list[LogEntry]:
        """Up to ``limit`` entries, newest first; pass the last ``seq`` seen to page on."""
        return self._run("read", ops.list_log, player_id, limit, before_seq)

    def count_actions_since(self, player_id: str, seconds: float) -> int:
        """Actions (entries after the creation entry, seq > 0) in the last ``seconds``.

        Measured by the database clock, so every process agrees.
        """
        return self._run("read", ops.count_actions_since, player_id, seconds)

    def get_conversation(self, player_id: str, npc_id: str) -> Conversation:
        """The player's conversation with ``npc_id``: summary and last exchanges, oldest first.

        ``Conversation("", [])`` when they never talked.
        """
        return self._run("read", ops.get_conversation, player_id, npc_id)

    def append_exchange(
        self, player_id: str, npc_id: str, exchange: Exchange, keep: int
    ) -> list[Exchange]:
        """Save the next exchange, keep the last ``keep`` verbatim, return those pushed out.

        The pushed-out exchanges (oldest first) go to exactly one caller, which folds them into
        the summary (``set_conversation_summary``). Concurrent calls for one pair are applied
        one after the other. PlayerNotFound without the player; ValueError for a malformed
        exchange (``{"player": str, "npc": str, "turn": int}``) or a negative ``keep``.
        """
        return self._run("transaction", ops.append_exchange, player_id, npc_id, exchange, keep)

    def set_talk_narration(
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
        return self._run(
            "transaction", ops.set_talk_narration, player_id, seq, text, degraded, npc_id,
            exchange, only_if_missing,
        )

    def fold_conversation(
        self, player_id: str, npc_id: str, summary: str, previous: str, turns: Sequence[int]
    ) -> bool:
        """Store ``summary`` and drop the exchanges of ``turns`` it folded, together, if the
        stored summary is still ``previous`` (a compare-and-set); True when it wrote."""
        return self._run(
            "transaction", ops.fold_conversation, player_id, npc_id, summary, previous, turns
        )

    def set_conversation_summary(
        self, player_id: str, npc_id: str, summary: str, *, previous: str | None = None
    ) -> bool:
        """Store the pair's running summary (creating the pair if needed); True when written.

        With ``previous`` it writes only while the stored summary is still ``previous``, so two
        refreshes built on the same summary cannot drop each other's exchanges (the loser gets
        False). PlayerNotFound without the player.
        """
        return self._run(
            "transaction", ops.set_conversation_summary, player_id, npc_id, summary, previous
        )

    def record_legacy(
        self, player_id: str, name: str, kind: HallKind, record: dict[str, Any]
    ) -> HallEntry:
        """Enter an ended run (``kind`` ``"ascended"`` or ``"died"``) in the hall, once.

        Returns the stored entry; a second call for the same player changes nothing and
        returns the first. ``record`` is kept as given (the rules decide what it holds).
        """
        return self._run("transaction", ops.record_legacy, player_id, name, kind, record)

    def get_legacy(self, player_id: str) -> HallEntry | None:
        """The hall entry of this player's ended run, or None."""
        return self._run("read", ops.get_legacy, player_id)

    def list_hall(self, limit: int, kind: HallKind | None = None) -> list[HallEntry]:
        """Up to ``limit`` hall entries, newest first; only ``kind`` when given."""
        return self._run("read", ops.list_hall, limit, kind)

    def claim_legacy(self, player_id: str, heir_id: str) -> HallEntry | None:
        """Give this run's legacy to ``heir_id`` unless another heir has it: the entry, or None.

        Atomic: one heir per legacy under any concurrency; the same heir may claim again.
        """
        return self._run("transaction", ops.claim_legacy, player_id, heir_id)


def open_store(url: str, *, pool: PoolConfig | None = None, busy_timeout: float = 5.0) -> SyncStore:
    """Open the sync face on ``sqlite:///path`` or ``postgresql://...`` (no connection yet).

    ``busy_timeout`` (seconds) bounds waits for SQLite's lock and PostgreSQL's connect.
    """
    target = prepare_target(url)
    engine = build_sync_engine(target, pool or default_pool(target.backend, False), busy_timeout)
    return SyncStore(engine, target)
