"""Each store operation written once, as a plain function of a SQLAlchemy ``Connection``.

Both faces run these functions unchanged: the sync face on a pooled connection
(``engine.connect()``), the async face through ``AsyncConnection.run_sync`` (PostgreSQL) or on
its SQLite thread (:mod:`shared.store.sqlite_thread`). A database error raises out of
``Connection.execute`` like any exception, so a function catches what it handles (a unique
violation) and lets the rest reach the face, which wraps it in :class:`StoreError`.

Transactions are "commit as you go": the first statement begins one (``BEGIN IMMEDIATE`` on
SQLite when the face asked for a transaction), a function that writes ends with
``conn.commit()``, and whatever is still open when it returns or raises is rolled back when
the face closes the connection. A statement after ``commit()``/``rollback()`` begins anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, CursorResult
from sqlalchemy.exc import IntegrityError

from .errors import LogEntryNotFound, PlayerExists, PlayerNotFound, VersionConflict
from .queries import (
    Queries,
    log_params,
    queries_for,
    to_conversation,
    to_hall_entry,
    to_log_entry,
    to_player,
)
from .records import (
    HALL_KINDS,
    Commit,
    CommitResult,
    Conversation,
    Decide,
    Exchange,
    HallEntry,
    HallKind,
    LogEntry,
    NewLogEntry,
    PlayerRow,
    Replay,
)
from .schema import MIGRATIONS, SCHEMA_VERSION


def _q(conn: Connection) -> Queries:
    return queries_for(conn.dialect.name)  # cached: built once per dialect


def ping(conn: Connection) -> None:
    """Round trip to the database."""
    conn.execute(_q(conn).ping).scalar_one()


def init_schema(conn: Connection, upto: int | None = None) -> int:
    """Create or migrate the schema up to ``upto`` (default: latest); return the version.

    Runs in one write transaction after taking the schema lock (PostgreSQL advisory lock,
    SQLite ``BEGIN IMMEDIATE``), so concurrent callers apply each migration exactly once.
    """
    q = _q(conn)
    target = SCHEMA_VERSION if upto is None else upto
    if q.schema_lock is not None:
        conn.execute(q.schema_lock)
    conn.execute(q.schema_version_create)
    current: int = conn.execute(q.schema_version_max).scalar() or 0
    for migration in MIGRATIONS:
        if current < migration.version <= target:
            for ddl in migration.ddl():
                conn.execute(ddl)
            conn.execute(
                q.schema_version_insert,
                {"version": migration.version, "description": migration.description},
            )
            current = migration.version
    conn.commit()
    return current


def create_player(
    conn: Connection, player_id: str, token_hash: str, state: dict[str, Any], entry: NewLogEntry
) -> PlayerRow:
    """Insert a player at version 0 together with its first log entry."""
    row = _insert_player(conn, player_id, token_hash, state, entry)
    conn.commit()
    return row


def create_heir(
    conn: Connection,
    player_id: str,
    token_hash: str,
    state: dict[str, Any],
    entry: NewLogEntry,
    predecessor_id: str,
) -> PlayerRow | None:
    """Claim ``predecessor_id``'s legacy for ``player_id`` and insert that player, in one
    transaction; None (nothing written) when another heir has the legacy.

    One transaction so a failed insert (a crash, ``PlayerExists``) never leaves the legacy
    claimed by a player that does not exist: it stays free for the next heir.
    """
    claimed: CursorResult[Any] = conn.execute(
        _q(conn).hall_claim, {"p_id": predecessor_id, "p_heir": player_id}
    )
    if claimed.rowcount != 1:
        conn.rollback()
        return None
    row = _insert_player(conn, player_id, token_hash, state, entry)
    conn.commit()
    return row


def _insert_player(
    conn: Connection, player_id: str, token_hash: str, state: dict[str, Any], entry: NewLogEntry
) -> PlayerRow:
    """The player row and its first log entry, uncommitted; PlayerExists (rolled back)."""
    q = _q(conn)
    try:
        stamps = conn.execute(
            q.player_insert,
            {"id": player_id, "token_hash": token_hash, "state": state, "version": 0},
        ).one()
    except IntegrityError:
        conn.rollback()
        raise PlayerExists(player_id) from None
    conn.execute(q.log_insert, log_params(player_id, entry)).one()
    return PlayerRow(player_id, token_hash, state, 0, stamps.created_at, stamps.updated_at)


def get_player(conn: Connection, player_id: str) -> PlayerRow | None:
    """The player, or None."""
    row = conn.execute(_q(conn).player_select, {"p_id": player_id}).first()
    return None if row is None else to_player(row)


def player_id_for_token_hash(conn: Connection, token_hash: str) -> str | None:
    """The id of the player whose token has this hash, or None."""
    found = conn.execute(_q(conn).player_by_token, {"p_hash": token_hash}).first()
    return None if found is None else str(found.id)


def get_player_with_recent(
    conn: Connection, player_id: str, seconds: float
) -> tuple[PlayerRow | None, int]:
    """The player and its actions in the last ``seconds``, in one trip (the action path)."""
    row = get_player(conn, player_id)
    if row is None:
        return None, 0
    return row, count_actions_since(conn, player_id, seconds)


def find_idempotent(conn: Connection, player_id: str, key: str) -> LogEntry | None:
    """The entry stored under ``key`` for this player, or None."""
    row = conn.execute(_q(conn).log_by_key, {"p_id": player_id, "p_key": key}).first()
    return None if row is None else to_log_entry(row)


def _replay(conn: Connection, player_id: str, key: str | None) -> CommitResult | None:
    if key is None:
        return None
    row = conn.execute(
        _q(conn).log_by_key_with_version, {"p_id": player_id, "p_key": key}
    ).first()
    if row is None:
        return None
    return CommitResult(replayed=True, entry=to_log_entry(row), version=row.player_version)


def _stored(player_id: str, entry: NewLogEntry, created_at: datetime) -> LogEntry:
    """The entry as just inserted (no prose yet)."""
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


def commit_action(
    conn: Connection,
    player_id: str,
    expected_version: int,
    new_state: dict[str, Any],
    entry: NewLogEntry,
) -> CommitResult:
    """Compare-and-set the player's state and append the log entry, in one transaction.

    The versioned UPDATE comes first: on PostgreSQL a concurrent writer blocks on the row lock
    and then sees the new version; on SQLite the transaction holds the write lock. A reused
    idempotency key needs no extra query up front: its first use moved the version (so the
    UPDATE matches nothing) or, if the caller sent the current version again, the unique
    constraint rejects the INSERT. Both losing paths look the key up, so a request that lost
    to its own duplicate is a replay, not a conflict. (``find_idempotent`` is the cheap
    pre-check for callers that want to skip the game rules on a replay.)
    """
    q = _q(conn)
    key = entry.idempotency_key
    updated: CursorResult[Any] = conn.execute(
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
        replay = _replay(conn, player_id, key)
        actual = None
        if replay is None:
            actual = conn.execute(q.player_version, {"p_id": player_id}).scalar()
        conn.rollback()
        if replay is not None:
            return replay
        if actual is None:
            raise PlayerNotFound(player_id)
        raise VersionConflict(player_id, expected_version, actual)
    try:
        created_at = conn.execute(q.log_insert, log_params(player_id, entry)).scalar_one()
    except IntegrityError:
        conn.rollback()  # PostgreSQL refuses any statement in a failed transaction
        replay = _replay(conn, player_id, key)
        if replay is not None:
            return replay
        raise VersionConflict(player_id, expected_version, None) from None
    conn.commit()
    return CommitResult(
        replayed=False, entry=_stored(player_id, entry, created_at), version=expected_version + 1
    )


def transact_player(
    conn: Connection,
    player_id: str,
    decide: Decide,
    recent_seconds: float = 0,
    idempotency_key: str | None = None,
) -> CommitResult:
    """Lock the player, read what ``decide`` needs, let it rule, write its verdict.

    One write transaction: the row is read ``FOR UPDATE`` on PostgreSQL (SQLite holds the
    write lock from ``BEGIN IMMEDIATE``), so every writer of this player, in any thread, task
    or process, waits here and then sees the previous writer's commit. The recent-action count
    and the idempotency lookup run after the lock, so ``decide`` rules on settled data and a
    check it makes (rate limit, replay) cannot be raced.
    """
    q = _q(conn)
    recent = 0
    prior: LogEntry | None = None
    lock_recent = q.player_lock_recent if recent_seconds > 0 else None
    counted = lock_recent is not None
    if lock_recent is not None:  # SQLite: one statement (see Queries.player_lock_recent)
        found = conn.execute(
            lock_recent, {"p_id": player_id, "p_seconds": float(recent_seconds)}
        ).first()
    else:
        found = conn.execute(q.player_lock, {"p_id": player_id}).first()
    row = None if found is None else to_player(found)
    if row is not None:
        if counted:
            recent = int(found.recent_actions)  # type: ignore[union-attr]
        elif recent_seconds > 0:
            recent = count_actions_since(conn, player_id, recent_seconds)
        if idempotency_key is not None:
            prior = find_idempotent(conn, player_id, idempotency_key)
    decision = decide(row, recent, prior)  # an exception here leaves nothing written
    if isinstance(decision, Replay):
        if row is None or prior is None:
            raise ValueError("decide returned Replay, but there is no prior entry to replay")
        conn.rollback()  # release the lock now; nothing was written
        return CommitResult(replayed=True, entry=prior, version=row.version)
    if not isinstance(decision, Commit):
        raise TypeError(f"decide must return Commit or Replay, not {type(decision).__name__}")
    if row is None:
        raise PlayerNotFound(player_id)
    if idempotency_key is not None and decision.entry.idempotency_key != idempotency_key:
        # Stored under another key, a retry would not find it and would apply twice.
        raise ValueError("decide's entry must carry the idempotency_key it was looked up by")
    return _write_locked(conn, row, decision)


def _write_locked(conn: Connection, row: PlayerRow, decision: Commit) -> CommitResult:
    """The write half of :func:`transact_player`, with the player's row locked."""
    q = _q(conn)
    entry = decision.entry
    updated: CursorResult[Any] = conn.execute(
        q.player_update,
        {
            "p_id": row.id,
            "p_expected": row.version,
            "p_state": decision.state,
            "p_version": row.version + 1,
        },
    )
    if updated.rowcount != 1:  # only if the lock were not held: never silently overwrite
        conn.rollback()
        raise VersionConflict(row.id, row.version, None)
    try:
        created_at = conn.execute(q.log_insert, log_params(row.id, entry)).scalar_one()
    except IntegrityError:
        # The seq is taken (a caller's bug) or the key was used (decide ignored ``prior``).
        conn.rollback()
        replay = _replay(conn, row.id, entry.idempotency_key)
        if replay is not None:
            return replay
        raise VersionConflict(row.id, row.version, None) from None
    if decision.hall is not None:
        _insert_hall(conn, row.id, decision.hall.name, decision.hall.kind, decision.hall.record)
    conn.commit()
    return CommitResult(
        replayed=False, entry=_stored(row.id, entry, created_at), version=row.version + 1
    )


def _narration_params(player_id: str, seq: int, text: str, degraded: bool) -> dict[str, Any]:
    return {"p_id": player_id, "p_seq": seq, "p_narration": text, "p_degraded": degraded}


def set_narration(conn: Connection, player_id: str, seq: int, text: str, degraded: bool) -> None:
    """Store the narration of one log entry."""
    updated: CursorResult[Any] = conn.execute(
        _q(conn).narration_update, _narration_params(player_id, seq, text, degraded)
    )
    if updated.rowcount != 1:
        conn.rollback()
        raise LogEntryNotFound(player_id, seq)
    conn.commit()


def set_narration_if_missing(
    conn: Connection, player_id: str, seq: int, text: str, degraded: bool
) -> bool:
    """Store an entry's narration only if it has none; True when it wrote."""
    updated: CursorResult[Any] = conn.execute(
        _q(conn).narration_fill, _narration_params(player_id, seq, text, degraded)
    )
    conn.commit()
    return updated.rowcount == 1


def list_log(
    conn: Connection, player_id: str, limit: int, before_seq: int | None = None
) -> list[LogEntry]:
    """Up to ``limit`` entries, newest first, optionally only those before ``before_seq``."""
    q = _q(conn)
    if before_seq is None:
        result = conn.execute(q.log_page, {"p_id": player_id, "p_limit": limit})
    else:
        result = conn.execute(
            q.log_page_before, {"p_id": player_id, "p_limit": limit, "p_before": before_seq}
        )
    return [to_log_entry(row) for row in result]


def count_actions_since(conn: Connection, player_id: str, seconds: float) -> int:
    """How many actions (log entries after creation) in the last ``seconds`` (database clock)."""
    result = conn.execute(
        _q(conn).log_count_since, {"p_id": player_id, "p_seconds": float(seconds)}
    )
    return int(result.scalar_one())


# --- conversation memory (issue 10) ------------------------------------------------------


def get_conversation(conn: Connection, player_id: str, npc_id: str) -> Conversation:
    """The pair's summary and recent exchanges (empty if they never talked)."""
    row = conn.execute(_q(conn).conversation_select, {"p_id": player_id, "p_npc": npc_id}).first()
    return to_conversation(row)


def _check_exchange(exchange: Exchange) -> Exchange:
    player, npc, turn = exchange.get("player"), exchange.get("npc"), exchange.get("turn")
    if not isinstance(player, str) or not isinstance(npc, str):
        raise ValueError("an exchange needs the player's and the NPC's words as text")
    if not isinstance(turn, int) or isinstance(turn, bool):
        raise ValueError("an exchange needs the turn as an integer")
    return {"player": player, "npc": npc, "turn": turn}


def append_exchange(
    conn: Connection, player_id: str, npc_id: str, exchange: Exchange, keep: int
) -> list[Exchange]:
    """Append ``exchange``, keep the last ``keep`` verbatim, return the ones pushed out.

    One transaction with the pair's row locked (created first if missing), so concurrent
    talks to one NPC each land once and in order, and every exchange pushed out is returned
    to exactly one caller (who folds it into the summary). PlayerNotFound without the player.
    """
    if keep < 0:
        raise ValueError("keep must be 0 or more")
    new = _check_exchange(exchange)
    q = _q(conn)
    pair = {"p_id": player_id, "p_npc": npc_id}
    try:
        conn.execute(
            q.conversation_ensure,
            {"player_id": player_id, "npc_id": npc_id, "summary": "", "exchanges": []},
        )
    except IntegrityError:  # the foreign key: no such player
        conn.rollback()
        raise PlayerNotFound(player_id) from None
    current = to_conversation(conn.execute(q.conversation_lock, pair).first())
    everything = [*current.exchanges, new]
    cut = max(0, len(everything) - keep)
    conn.execute(q.conversation_update, {**pair, "p_exchanges": everything[cut:]})
    conn.commit()
    return everything[:cut]


def set_talk_narration(
    conn: Connection,
    player_id: str,
    seq: int,
    text: str,
    degraded: bool,
    npc_id: str,
    exchange: Exchange,
    only_if_missing: bool = False,
) -> bool:
    """Store entry ``seq``'s prose and, in the same transaction, ``exchange`` (the NPC's reply
    in it) as the pair's newest exchange; True when this call stored them.

    One commit, so a crash cannot keep the prose and lose the reply (a replay sees the prose
    and never appends). Nothing is pushed out here: exchanges past the verbatim window stay
    until :func:`fold_conversation` has them in the summary. ``only_if_missing``: only where
    the entry has no prose (False when it had); otherwise LogEntryNotFound without the entry.
    """
    new = _check_exchange(exchange)
    q = _q(conn)
    updated: CursorResult[Any] = conn.execute(
        q.narration_fill if only_if_missing else q.narration_update,
        _narration_params(player_id, seq, text, degraded),
    )
    if updated.rowcount != 1:
        conn.rollback()
        if only_if_missing:
            return False
        raise LogEntryNotFound(player_id, seq)
    pair = {"p_id": player_id, "p_npc": npc_id}
    conn.execute(
        q.conversation_ensure,
        {"player_id": player_id, "npc_id": npc_id, "summary": "", "exchanges": []},
    )
    current = to_conversation(conn.execute(q.conversation_lock, pair).first())
    conn.execute(q.conversation_update, {**pair, "p_exchanges": [*current.exchanges, new]})
    conn.commit()
    return True


def fold_conversation(
    conn: Connection,
    player_id: str,
    npc_id: str,
    summary: str,
    previous: str,
    turns: Sequence[int],
) -> bool:
    """Replace the pair's summary with ``summary`` and drop the exchanges of ``turns`` (the ones
    it folded in), in one transaction, if the stored summary is still ``previous``; True when
    it wrote. Exchanges are only dropped with the summary that holds them, so none is lost."""
    q = _q(conn)
    pair = {"p_id": player_id, "p_npc": npc_id}
    row = conn.execute(q.conversation_lock, pair).first()
    if row is None or to_conversation(row).summary != previous:
        conn.rollback()
        return False
    folded = set(turns)
    kept = [e for e in to_conversation(row).exchanges if e.get("turn") not in folded]
    conn.execute(q.conversation_fold, {**pair, "p_summary": summary, "p_exchanges": kept})
    conn.commit()
    return True


def set_conversation_summary(
    conn: Connection, player_id: str, npc_id: str, summary: str, previous: str | None = None
) -> bool:
    """Store the pair's summary; True when it wrote.

    With ``previous``, only if the stored summary is still ``previous`` (a compare-and-set,
    so two refreshes made from the same old summary cannot silently drop each other's
    exchanges: the loser gets False and can redo its summary from the new one).
    """
    q = _q(conn)
    if previous is not None:
        updated: CursorResult[Any] = conn.execute(
            q.summary_replace,
            {"p_id": player_id, "p_npc": npc_id, "p_summary": summary, "p_previous": previous},
        )
        conn.commit()
        return updated.rowcount == 1
    try:
        conn.execute(
            q.summary_upsert,
            {"player_id": player_id, "npc_id": npc_id, "summary": summary, "exchanges": []},
        )
    except IntegrityError:
        conn.rollback()
        raise PlayerNotFound(player_id) from None
    conn.commit()
    return True


# --- the hall of ended runs (issue 9) ----------------------------------------------------


def record_legacy(
    conn: Connection, player_id: str, name: str, kind: HallKind, record: dict[str, Any]
) -> HallEntry:
    """Enter an ended run in the hall, once per player; return the stored entry.

    Recording the same player again (a retried request) changes nothing and returns the
    first entry, so a run can never be entered twice.
    """
    _insert_hall(conn, player_id, name, kind, record)
    row = conn.execute(_q(conn).hall_by_player, {"p_id": player_id}).one()
    conn.commit()
    return to_hall_entry(row)


def _insert_hall(
    conn: Connection, player_id: str, name: str, kind: HallKind, record: dict[str, Any]
) -> None:
    """The run's hall row unless it has one (uncommitted)."""
    if kind not in HALL_KINDS:
        raise ValueError(f"kind must be one of {HALL_KINDS}, not {kind!r}")
    conn.execute(
        _q(conn).hall_insert,
        {"player_id": player_id, "name": name, "kind": kind, "record": record},
    )


def get_legacy(conn: Connection, player_id: str) -> HallEntry | None:
    """The hall entry of this player's ended run, or None."""
    row = conn.execute(_q(conn).hall_by_player, {"p_id": player_id}).first()
    return None if row is None else to_hall_entry(row)


def list_hall(conn: Connection, limit: int, kind: HallKind | None = None) -> list[HallEntry]:
    """Up to ``limit`` entries, newest first, optionally only one ``kind``."""
    q = _q(conn)
    if kind is None:
        result = conn.execute(q.hall_page, {"p_limit": limit})
    else:
        result = conn.execute(q.hall_page_of_kind, {"p_limit": limit, "p_kind": kind})
    return [to_hall_entry(row) for row in result]


def claim_legacy(conn: Connection, player_id: str, heir_id: str) -> HallEntry | None:
    """Give ``player_id``'s legacy to ``heir_id`` if nobody else has it; the entry, or None.

    At most one heir per legacy, whatever the concurrency; claiming again for the same heir
    returns the entry again (a retried creation inherits once, not twice).
    """
    q = _q(conn)
    claimed: CursorResult[Any] = conn.execute(
        q.hall_claim, {"p_id": player_id, "p_heir": heir_id}
    )
    if claimed.rowcount != 1:
        conn.rollback()
        return None
    row = conn.execute(q.hall_by_player, {"p_id": player_id}).one()
    conn.commit()
    return to_hall_entry(row)
