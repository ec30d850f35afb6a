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
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql import ColumnElement, Executable

from .records import LogEntry, NewLogEntry, PlayerRow
from .schema import SQLITE_TIME_FORMAT, action_log, db_now, players, schema_version

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


def _since(dialect: str) -> ColumnElement[Any]:
    """The database clock minus ``:p_seconds`` seconds, comparable with ``created_at``."""
    seconds = bindparam("p_seconds", type_=Float)
    if dialect == "sqlite":
        modifier = literal_column("'-'").concat(seconds).concat(literal_column("' seconds'"))
        return func.strftime(literal_column(f"'{SQLITE_TIME_FORMAT}'"), "now", modifier)
    return db_now() - literal_column("interval '1 second'") * seconds


@cache
def queries_for(dialect: str) -> Queries:
    """Build (once per process and dialect) every statement the store runs."""
    log = action_log.c
    of_player = log.player_id == bindparam("p_id")
    by_key = and_(of_player, log.idempotency_key == bindparam("p_key"))
    page = (
        select(action_log)
        .where(of_player)
        .order_by(log.seq.desc())
        .limit(bindparam("p_limit", type_=Integer))
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
        log_count_since=(
            select(func.count())
            .select_from(action_log)
            # seq 0 is the character's creation, not an action
            .where(of_player, log.seq > 0, log.created_at > _since(dialect))
        ),
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
