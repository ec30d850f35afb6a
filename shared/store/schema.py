"""Table definitions, column types and the ordered list of schema migrations.

Built once for every dialect: the tables are plain SQLAlchemy Core objects; the two pieces
that differ between SQLite and PostgreSQL (the database clock and the timestamp storage) are
compiled per dialect here, so nothing else needs to know which database it talks to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLite keeps timestamps as ISO text with milliseconds: fixed width, so text order is time order.
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%f"


class db_now(FunctionElement[datetime]):  # lower case: it reads like the SQL function it renders
    """The database clock (UTC): ``now()`` on PostgreSQL, ``strftime(... 'now')`` on SQLite."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "db_now"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('{SQLITE_TIME_FORMAT}', 'now')"


@compiles(db_now)
def _db_now_default(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "now()"


class Timestamp(TypeDecorator[datetime]):
    """A UTC instant: ``timestamptz`` on PostgreSQL, ISO text on SQLite; aware datetimes out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        utc = value.astimezone(UTC) if value.tzinfo else value
        return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite: naive ISO text that is UTC by construction
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamp from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """A JSON document kept as text (compact, UTF-8 as is), identical on both databases."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData()

players = Table(
    "players",
    metadata,
    Column("id", Text, primary_key=True),
    Column("token_hash", Text, nullable=False),
    Column("state", JSONText, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    Column("updated_at", Timestamp, nullable=False, server_default=db_now()),
)

action_log = Table(
    "action_log",
    metadata,
    Column(
        "player_id",
        Text,
        ForeignKey("players.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("action", JSONText, nullable=False),
    Column("outcome", JSONText, nullable=False),
    Column("narration_request", JSONText, nullable=False),
    Column("narration", Text, nullable=True),
    Column("degraded", Boolean, nullable=True),
    Column("idempotency_key", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
    # NULL keys never collide (both databases treat NULLs as distinct here).
    UniqueConstraint("player_id", "idempotency_key", name="uq_action_log_idempotency"),
)

# Serves count_actions_since (rate limiting) without scanning a player's whole log.
action_log_recent = Index(
    "ix_action_log_player_created", action_log.c.player_id, action_log.c.created_at
)

# issue 10: one row per player-NPC pair, the last exchanges verbatim and a running summary.
conversations = Table(
    "conversations",
    metadata,
    Column(
        "player_id",
        Text,
        ForeignKey("players.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("npc_id", Text, primary_key=True),
    Column("summary", Text, nullable=False),
    Column("exchanges", JSONText, nullable=False),  # a JSON list, oldest first
    Column("updated_at", Timestamp, nullable=False, server_default=db_now()),
)

# issue 9: the lasting record of every ended run. No foreign key: the hall outlives players.
hall = Table(
    "hall",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # order of entry
    Column("player_id", Text, nullable=False, unique=True),  # one ended run per player
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),  # "ascended" or "died"
    Column("record", JSONText, nullable=False),
    Column("heir_id", Text, nullable=True),  # who inherited the legacy, once
    Column("created_at", Timestamp, nullable=False, server_default=db_now()),
)

# Serves list_hall(kind=...) newest first.
hall_by_kind = Index("ix_hall_kind_id", hall.c.kind, hall.c.id)

# Rate and budget counters of shared.limits: one row per key and fixed window (slot = the
# window's index, e.g. epoch minute), kept until ``expires_at`` (epoch seconds, app clock).
limit_counters = Table(
    "limit_counters",
    metadata,
    Column("key", Text, primary_key=True),
    Column("slot", BigInteger, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
limit_counters_expiry = Index("ix_limit_counters_expires", limit_counters.c.expires_at)
# /api/llm finds its caller from the bearer token alone (shared.limits.effects.PlayerForToken).
players_token_hash = Index("ix_players_token_hash", players.c.token_hash)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", Timestamp, nullable=False, server_default=db_now()),
)


@dataclass(frozen=True)
class Migration:
    """One schema step; ``ddl()`` gives its statements (each must be safe to run again)."""

    version: int
    description: str
    ddl: Callable[[], Sequence[ExecutableDDLElement]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "players and action_log",
        lambda: (
            CreateTable(players, if_not_exists=True),
            CreateTable(action_log, if_not_exists=True),
        ),
    ),
    Migration(
        2,
        "index for count_actions_since",
        lambda: (CreateIndex(action_log_recent, if_not_exists=True),),
    ),
    Migration(
        3,
        "conversations (NPC memory)",
        lambda: (CreateTable(conversations, if_not_exists=True),),
    ),
    Migration(
        4,
        "hall of ended runs",
        lambda: (
            CreateTable(hall, if_not_exists=True),
            CreateIndex(hall_by_kind, if_not_exists=True),
        ),
    ),
    Migration(
        5,
        "limit_counters for rate limits and LLM budgets; players by token hash",
        lambda: (
            CreateTable(limit_counters, if_not_exists=True),
            CreateIndex(limit_counters_expiry, if_not_exists=True),
            CreateIndex(players_token_hash, if_not_exists=True),
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version
