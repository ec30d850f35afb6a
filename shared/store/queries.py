"""Every SQL statement the store runs, built once per dialect, and the row mappers.

Both faces execute these objects unchanged, so SQLAlchemy's compiled-statement cache compiles
each one once per engine. Parameters are always passed by name (the ``p_*`` names keep clear of
the column names that UPDATE reserves for its SET clause).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Row,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable, Table
from sqlalchemy.sql import ColumnElement, Executable

from .records import Conversation, Exchange, HallEntry, LogEntry, NewLogEntry, PlayerRow
from .schema import (
    SQLITE_TIME_FORMAT,
    action_log,
    conversations,
    db_now,
    hall,
    players,
    schema_version,
)

# Any constant works; it only has to be the same in every process that migrates this database.
SCHEMA_LOCK_KEY = 7_270_271_331


@dataclass(frozen=True)
class Queries:
    """The statements for one dialect (see :func:`queries_for`)."""

    dialect: str
    ping: Executable
    schema_lock: Executable | None
    schema_version_create: Executable
    schema_version_max: Executable
    schema_version_insert: Executable
    player_insert: Executable
    player_select: Executable
    player_lock: Executable
    player_by_token: Executable
    player_version: Executable
    player_update: Executable
    log_insert: Executable
    log_by_key: Executable
    log_by_key_with_version: Executable
    log_page: Executable
    log_page_before: Executable
    log_count_since: Executable
    narration_update: Executable
    narration_fill: Executable
    conversation_select: Executable
    conversation_ensure: Executable
    conversation_lock: Executable
    conversation_update: Executable
    conversation_fold: Executable
    summary_upsert: Executable
    summary_replace: Executable
    hall_insert: Executable
    hall_by_player: Executable
    hall_page: Executable
    hall_page_of_kind: Executable
    hall_claim: Executable
    # SQLite only (None on PostgreSQL): the player row and its recent-action count in one
    # statement, for the action transaction. BEGIN IMMEDIATE holds the write lock before it
    # runs, so the count is as settled as with two statements. On PostgreSQL the count must
    # be a statement of its own after the row lock: a subquery would read the snapshot taken
    # before the lock wait, and miss the actions of the writer it waited for.
    player_lock_recent: Executable | None = None


def _since(dialect: str) -> ColumnElement[Any]:
    """The database clock minus ``:p_seconds`` seconds, comparable with ``created_at``."""
    seconds = bindparam("p_seconds", type_=Float)
    if dialect == "sqlite":
        modifier = literal_column("'-'").concat(seconds).concat(literal_column("' seconds'"))
        return func.strftime(literal_column(f"'{SQLITE_TIME_FORMAT}'"), "now", modifier)
    return db_now() - literal_column("interval '1 second'") * seconds


def _upsert_insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT (both databases speak it; Core needs the dialect)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


@cache
def queries_for(dialect: str) -> Queries:
    """Build (once per process and dialect) every statement the store runs."""
    log = action_log.c
    of_player = log.player_id == bindparam("p_id")
    by_key = and_(of_player, log.idempotency_key == bindparam("p_key"))
    talk = conversations.c
    of_pair = and_(talk.player_id == bindparam("p_id"), talk.npc_id == bindparam("p_npc"))
    pair_select = select(talk.summary, talk.exchanges).where(of_pair)
    summary_insert = _upsert_insert(dialect, conversations)
    hall_newest = select(hall).order_by(hall.c.id.desc()).limit(bindparam("p_limit", type_=Integer))
    page = (
        select(action_log)
        .where(of_player)
        .order_by(log.seq.desc())
        .limit(bindparam("p_limit", type_=Integer))
    )
    recent_count = (
        select(func.count())
        .select_from(action_log)
        # seq 0 is the character's creation, not an action
        .where(of_player, log.seq > 0, log.created_at > _since(dialect))
    )
    return Queries(
        dialect=dialect,
        ping=select(literal_column("1")),
        schema_lock=(
            text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            if dialect == "postgresql"
            else None  # SQLite: BEGIN IMMEDIATE already serialises writers across processes
        ),
        schema_version_create=CreateTable(schema_version, if_not_exists=True),
        schema_version_max=select(func.max(schema_version.c.version)),
        schema_version_insert=insert(schema_version),
        player_insert=insert(players).returning(players.c.created_at, players.c.updated_at),
        player_select=select(players).where(players.c.id == bindparam("p_id")),
        player_by_token=select(players.c.id).where(players.c.token_hash == bindparam("p_hash")),
        # PostgreSQL: the row lock that orders every writer of one player. SQLite has no row
        # locks: the transaction's BEGIN IMMEDIATE already holds the database's write lock.
        player_lock=(
            select(players).where(players.c.id == bindparam("p_id")).with_for_update()
            if dialect == "postgresql"
            else select(players).where(players.c.id == bindparam("p_id"))
        ),
        player_version=select(players.c.version).where(players.c.id == bindparam("p_id")),
        player_update=(
            update(players)
            .where(
                players.c.id == bindparam("p_id"),
                players.c.version == bindparam("p_expected"),
            )
            .values(
                state=bindparam("p_state", type_=players.c.state.type),
                version=bindparam("p_version", type_=Integer),
                updated_at=db_now(),
            )
        ),
        log_insert=insert(action_log).returning(log.created_at),
        log_by_key=select(action_log).where(by_key),
        log_by_key_with_version=(
            select(action_log, players.c.version.label("player_version"))
            .join(players, players.c.id == log.player_id)
            .where(by_key)
        ),
        log_page=page,
        log_page_before=page.where(log.seq < bindparam("p_before", type_=Integer)),
        log_count_since=recent_count,
        narration_update=(
            update(action_log)
            .where(of_player, log.seq == bindparam("p_seq"))
            .values(
                narration=bindparam("p_narration", type_=log.narration.type),
                degraded=bindparam("p_degraded", type_=log.degraded.type),
            )
        ),
        narration_fill=(
            update(action_log)
            .where(of_player, log.seq == bindparam("p_seq"), log.narration.is_(None))
            .values(
                narration=bindparam("p_narration", type_=log.narration.type),
                degraded=bindparam("p_degraded", type_=log.degraded.type),
            )
        ),
        conversation_select=pair_select,
        # Creates the pair's row if missing, so the next statement has a row to lock.
        conversation_ensure=_upsert_insert(dialect, conversations).on_conflict_do_nothing(
            index_elements=[talk.player_id, talk.npc_id]
        ),
        conversation_lock=(
            pair_select.with_for_update() if dialect == "postgresql" else pair_select
        ),
        conversation_update=(
            update(conversations)
            .where(of_pair)
            .values(
                exchanges=bindparam("p_exchanges", type_=talk.exchanges.type),
                updated_at=db_now(),
            )
        ),
        conversation_fold=(
            update(conversations)
            .where(of_pair)
            .values(
                summary=bindparam("p_summary"),
                exchanges=bindparam("p_exchanges", type_=talk.exchanges.type),
                updated_at=db_now(),
            )
        ),
        summary_upsert=summary_insert.on_conflict_do_update(
            index_elements=[talk.player_id, talk.npc_id],
            set_={"summary": summary_insert.excluded.summary, "updated_at": db_now()},
        ),
        summary_replace=(
            update(conversations)
            .where(of_pair, talk.summary == bindparam("p_previous"))
            .values(summary=bindparam("p_summary"), updated_at=db_now())
        ),
        hall_insert=_upsert_insert(dialect, hall).on_conflict_do_nothing(
            index_elements=[hall.c.player_id]
        ),
        hall_by_player=select(hall).where(hall.c.player_id == bindparam("p_id")),
        hall_page=hall_newest,
        hall_page_of_kind=hall_newest.where(hall.c.kind == bindparam("p_kind")),
        hall_claim=(
            update(hall)
            .where(
                hall.c.player_id == bindparam("p_id"),
                (hall.c.heir_id.is_(None)) | (hall.c.heir_id == bindparam("p_heir")),
            )
            .values(heir_id=bindparam("p_heir"))
        ),
        player_lock_recent=(
            None
            if dialect == "postgresql"
            else select(players, recent_count.scalar_subquery().label("recent_actions")).where(
                players.c.id == bindparam("p_id")
            )
        ),
    )


def log_params(player_id: str, entry: NewLogEntry) -> dict[str, Any]:
    """Insert parameters for one log entry (``created_at`` comes from the database clock)."""
    return {
        "player_id": player_id,
        "seq": entry.seq,
        "action": entry.action,
        "outcome": entry.outcome,
        "narration_request": entry.narration_request,
        "idempotency_key": entry.idempotency_key,
    }


def to_player(row: Row[Any]) -> PlayerRow:
    """Map a ``players`` row."""
    return PlayerRow(
        id=row.id,
        token_hash=row.token_hash,
        state=row.state,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def to_log_entry(row: Row[Any]) -> LogEntry:
    """Map an ``action_log`` row."""
    return LogEntry(
        player_id=row.player_id,
        seq=row.seq,
        action=row.action,
        outcome=row.outcome,
        narration_request=row.narration_request,
        narration=row.narration,
        degraded=row.degraded,
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
    )


def to_conversation(row: Row[Any] | None) -> Conversation:
    """Map a ``conversations`` row (None: the pair never talked)."""
    if row is None:
        return Conversation(summary="", exchanges=[])
    exchanges: list[Exchange] = list(row.exchanges)
    return Conversation(summary=row.summary, exchanges=exchanges)


def to_hall_entry(row: Row[Any]) -> HallEntry:
    """Map a ``hall`` row."""
    return HallEntry(
        id=row.id,
        player_id=row.player_id,
        name=row.name,
        kind=row.kind,
        record=row.record,
        heir_id=row.heir_id,
        created_at=row.created_at,
    )
