"""Each store operation written once, as a generator of steps (sans-I/O).

A plan yields :class:`Run` (execute one statement; the result is sent back), ``COMMIT`` or
``ROLLBACK``, and finally returns its value. A database error raised by a ``Run`` is thrown
back into the plan at that ``yield``, so a plan can handle e.g. a unique violation.
:mod:`shared.store.drivers` runs plans for both faces; the faces contain no logic of their
own (the model is httpx's BaseClient / Client / AsyncClient split).

A statement after ``COMMIT``/``ROLLBACK`` starts a new transaction. Writes must end with an
explicit ``COMMIT``: whatever is still open when the plan returns or raises is rolled back
when the driver returns the connection (for single-statement reads that rollback is free).
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Executable

from .errors import LogEntryNotFound, PlayerExists, PlayerNotFound, VersionConflict
from .queries import Queries, log_params, to_log_entry, to_player
from .records import Commit, CommitResult, Decide, LogEntry, NewLogEntry, PlayerRow, Replay
from .schema import MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Run:
    """Execute ``statement`` with ``params``; the plan receives its ``CursorResult``."""

    statement: Executable
    params: Mapping[str, Any] | None = None


class End(enum.Enum):
    """Finish the current transaction."""

    COMMIT = "commit"
    ROLLBACK = "rollback"


COMMIT = End.COMMIT
ROLLBACK = End.ROLLBACK

Step = Run | End
# A plan receives a CursorResult for each Run (both faces drive it on a sync Connection).
Plan = Generator[Step, Any, T]


def ping(q: Queries) -> Plan[None]:
    """Round trip to the database."""
    (yield Run(q.ping)).scalar_one()


def init_schema(q: Queries, upto: int | None = None) -> Plan[int]:
    """Create or migrate the schema up to ``upto`` (default: latest); return the version.

    Runs in one write transaction after taking the schema lock (PostgreSQL advisory lock,
    SQLite ``BEGIN IMMEDIATE``), so concurrent callers apply each migration exactly once.
    """
    target = SCHEMA_VERSION if upto is None else upto
    if q.schema_lock is not None:
        yield Run(q.schema_lock)
    yield Run(q.schema_version_create)
    current = (yield Run(q.schema_version_max)).scalar() or 0
    for migration in MIGRATIONS:
        if current < migration.version <= target:
            for ddl in migration.ddl():
                yield Run(ddl)
            yield Run(
                q.schema_version_insert,
                {"version": migration.version, "description": migration.description},
            )
            current = migration.version
    yield COMMIT
    return current


def create_player(
    q: Queries, player_id: str, token_hash: str, state: dict[str, Any], entry: NewLogEntry
) -> Plan[PlayerRow]:
    """Insert a player at version 0 together with its first log entry."""
    try:
        stamps = (
            yield Run(
                q.player_insert,
                {"id": player_id, "token_hash": token_hash, "state": state, "version": 0},
            )
        ).one()
    except IntegrityError:
        yield ROLLBACK
        raise PlayerExists(player_id) from None
    (yield Run(q.log_insert, log_params(player_id, entry))).one()
    yield COMMIT
    return PlayerRow(player_id, token_hash, state, 0, stamps.created_at, stamps.updated_at)


def get_player(q: Queries, player_id: str) -> Plan[PlayerRow | None]:
    """The player, or None."""
    row = (yield Run(q.player_select, {"p_id": player_id})).first()
    return None if row is None else to_player(row)


def get_player_with_recent(
    q: Queries, player_id: str, seconds: float
) -> Plan[tuple[PlayerRow | None, int]]:
    """The player and its actions in the last ``seconds``, in one trip (the action path)."""
    row = yield from get_player(q, player_id)
    if row is None:
        return None, 0
    return row, (yield from count_actions_since(q, player_id, seconds))


def find_idempotent(q: Queries, player_id: str, key: str) -> Plan[LogEntry | None]:
    """The entry stored under ``key`` for this player, or None."""
    row = (yield Run(q.log_by_key, {"p_id": player_id, "p_key": key})).first()
    return None if row is None else to_log_entry(row)


def _replay(q: Queries, player_id: str, key: str | None) -> Plan[CommitResult | None]:
    if key is None:
        return None
    row = (yield Run(q.log_by_key_with_version, {"p_id": player_id, "p_key": key})).first()
    if row is None:
        return None
    return CommitResult(replayed=True, entry=to_log_entry(row), version=row.player_version)


def commit_action(
    q: Queries,
    player_id: str,
    expected_version: int,
    new_state: dict[str, Any],
    entry: NewLogEntry,
) -> Plan[CommitResult]:
    """Compare-and-set the player's state and append the log entry, in one transaction.

    The versioned UPDATE comes first: on PostgreSQL a concurrent writer blocks on the row lock
    and then sees the new version; on SQLite the transaction holds the write lock. A reused
    idempotency key needs no extra query up front: its first use moved the version (so the
    UPDATE matches nothing) or, if the caller sent the current version again, the unique
    constraint rejects the INSERT. Both losing paths look the key up, so a request that lost
    to its own duplicate is a replay, not a conflict. (``find_idempotent`` is the cheap
    pre-check for callers that want to skip the game rules on a replay.)
    """
    key = entry.idempotency_key
    updated: CursorResult[Any] = yield Run(
        q.player_update,
        {
            "p_id": player_id,
            "p_expected": expected_version,
            "p_state": new_state,
            "p_version": expected_version + 1,
        },
    )
    if updated.rowcount != 1:
        # Read committed (PostgreSQL) sees the winner's rows from this statement on.
        replay = yield from _replay(q, player_id, key)
        actual = None
        if replay is None:
            actual = (yield Run(q.player_version, {"p_id": player_id})).scalar()
        yield ROLLBACK
        if replay is not None:
            return replay
        if actual is None:
            raise PlayerNotFound(player_id)
        raise VersionConflict(player_id, expected_version, actual)
    try:
        created_at = (yield Run(q.log_insert, log_params(player_id, entry))).scalar_one()
    except IntegrityError:
        yield ROLLBACK
        replay = yield from _replay(q, player_id, key)
        if replay is not None:
            return replay
        raise VersionConflict(player_id, expected_version, None) from None
    yield COMMIT
    stored = _stored(player_id, entry, created_at)
    return CommitResult(replayed=False, entry=stored, version=expected_version + 1)


def transact_player(
    q: Queries,
    player_id: str,
    decide: Decide,
    recent_seconds: float = 0,
    idempotency_key: str | None = None,
) -> Plan[CommitResult]:
    """Lock the player, read what ``decide`` needs, let it rule, write its verdict.

    One write transaction: the row is read ``FOR UPDATE`` on PostgreSQL (SQLite holds the
    write lock from ``BEGIN IMMEDIATE``), so every writer of this player, in any thread, task
    or process, waits here and then sees the previous writer's commit. The recent-action count
    and the idempotency lookup run after the lock, so ``decide`` rules on settled data and a
    check it makes (rate limit, replay) cannot be raced.
    """
    found = (yield Run(q.player_lock, {"p_id": player_id})).first()
    row = None if found is None else to_player(found)
    recent = 0
    prior: LogEntry | None = None
    if row is not None:
        if recent_seconds > 0:
            recent = yield from count_actions_since(q, player_id, recent_seconds)
        if idempotency_key is not None:
            prior = yield from find_idempotent(q, player_id, idempotency_key)
    decision = decide(row, recent, prior)  # an exception here leaves nothing written
    if isinstance(decision, Replay):
        if row is None or prior is None:
            raise ValueError("decide returned Replay, but there is no prior entry to replay")
        yield ROLLBACK
        return CommitResult(replayed=True, entry=prior, version=row.version)
    if not isinstance(decision, Commit):
        raise TypeError(f"decide must return Commit or Replay, not {type(decision).__name__}")
    if row is None:
        raise PlayerNotFound(player_id)
    return (yield from _write_locked(q, row, decision))


def _write_locked(q: Queries, row: PlayerRow, decision: Commit) -> Plan[CommitResult]:
    """The write half of :func:`transact_player`, with the player's row locked."""
    entry = decision.entry
    updated: CursorResult[Any] = yield Run(
        q.player_update,
        {
            "p_id": row.id,
            "p_expected": row.version,
            "p_state": decision.state,
            "p_version": row.version + 1,
        },
    )
    if updated.rowcount != 1:  # only if the lock were not held: never silently overwrite
        yield ROLLBACK
        raise VersionConflict(row.id, row.version, None)
    try:
        created_at = (yield Run(q.log_insert, log_params(row.id, entry))).scalar_one()
    except IntegrityError:
        # The seq is taken (a caller's bug) or the key was used (decide ignored ``prior``).
        yield ROLLBACK
        replay = yield from _replay(q, row.id, entry.idempotency_key)
        if replay is not None:
            return replay
        raise VersionConflict(row.id, row.version, None) from None
    yield COMMIT
    return CommitResult(
        replayed=False, entry=_stored(row.id, entry, created_at), version=row.version + 1
    )


def _stored(player_id: str, entry: NewLogEntry, created_at: Any) -> LogEntry:
    return LogEntry(
        player_id=player_id,
        seq=entry.seq,
        action=entry.action,
        outcome=entry.outcome,
        narration_request=entry.narration_request,
        narration=None,
        degraded=None,
        idempotency_key=entry.idempotency_key,
        created_at=created_at,
    )


def set_narration_if_missing(
    q: Queries, player_id: str, seq: int, text: str, degraded: bool
) -> Plan[bool]:
    """Store an entry's narration only if it has none; True when it wrote."""
    updated: CursorResult[Any] = yield Run(
        q.narration_fill,
        {"p_id": player_id, "p_seq": seq, "p_narration": text, "p_degraded": degraded},
    )
    wrote = updated.rowcount == 1
    yield COMMIT
    return wrote


def set_narration(q: Queries, player_id: str, seq: int, text: str, degraded: bool) -> Plan[None]:
    """Store the narration of one log entry."""
    updated: CursorResult[Any] = yield Run(
        q.narration_update,
        {"p_id": player_id, "p_seq": seq, "p_narration": text, "p_degraded": degraded},
    )
    if updated.rowcount != 1:
        yield ROLLBACK
        raise LogEntryNotFound(player_id, seq)
    yield COMMIT


def list_log(
    q: Queries, player_id: str, limit: int, before_seq: int | None = None
) -> Plan[list[LogEntry]]:
    """Up to ``limit`` entries, newest first, optionally only those before ``before_seq``."""
    if before_seq is None:
        result: Result[Any] = yield Run(q.log_page, {"p_id": player_id, "p_limit": limit})
    else:
        result = yield Run(
            q.log_page_before, {"p_id": player_id, "p_limit": limit, "p_before": before_seq}
        )
    return [to_log_entry(row) for row in result]


def count_actions_since(q: Queries, player_id: str, seconds: float) -> Plan[int]:
    """How many actions (log entries after creation) in the last ``seconds`` (database clock)."""
    result = yield Run(q.log_count_since, {"p_id": player_id, "p_seconds": float(seconds)})
    return int(result.scalar_one())
