"""The rows the store hands out and takes in, as plain frozen dataclasses.

JSON columns travel as dicts; the store never looks inside them (it is agnostic of game rules).
Timestamps come from the database clock and are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict


@dataclass(frozen=True, slots=True)
class PlayerRow:
    """One player: its current state and the version optimistic concurrency checks against."""

    id: str
    token_hash: str
    state: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewLogEntry:
    """A log entry to write with a state change.

    ``seq`` is chosen by the caller and must be unique per player; the natural choice is the
    player's version after the write (0 for the creation entry, ``expected_version + 1`` for
    an action), which keeps the log contiguous.
    """

    seq: int
    action: dict[str, Any]
    outcome: dict[str, Any]
    narration_request: dict[str, Any]
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One stored entry of a player's action log."""

    player_id: str
    seq: int
    action: dict[str, Any]
    outcome: dict[str, Any]
    narration_request: dict[str, Any]
    narration: str | None
    degraded: bool | None
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What ``commit_action`` or ``transact_player`` did.

    ``replayed`` is True when the idempotency key had already been used: nothing was written,
    ``entry`` is the entry first stored under that key and ``version`` the player's current
    version. Otherwise ``entry`` is the new entry and ``version`` the new version.
    """

    replayed: bool
    entry: LogEntry
    version: int


@dataclass(frozen=True, slots=True)
class Commit:
    """A ``decide`` verdict of ``transact_player``: write ``state`` and append ``entry``.

    The store writes ``state`` as the player's new state at version + 1 and inserts ``entry``
    (its ``seq`` and ``idempotency_key`` are the caller's, as for ``commit_action``). With
    ``hall`` (the action ended the story) the run enters the hall in the same commit.
    """

    state: dict[str, Any]
    entry: NewLogEntry
    hall: HallRecord | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """A ``decide`` verdict of ``transact_player``: the request was already applied.

    Nothing is written; ``transact_player`` returns ``CommitResult(replayed=True,
    entry=prior)`` with the player's current version. Only valid when ``prior`` is not None.
    """


# The one Replay value (every Replay() is equal to it; this saves building new ones).
REPLAY = Replay()

Decision = Commit | Replay
"""What ``decide`` returns: :class:`Commit` or :class:`Replay` (or it raises)."""

Decide = Callable[[PlayerRow | None, int, LogEntry | None], Decision]
"""``decide(row, recent, prior)``, called by ``transact_player`` inside its transaction.

``row`` is the player (None when there is no such player; returning a Commit then raises
PlayerNotFound), ``recent`` the player's actions in the last ``recent_seconds`` (0 when not
asked), ``prior`` the entry stored under the idempotency key (None without a key or when the
key is new). It must be pure, quick and synchronous: it runs while the player's row is locked
(on SQLite, while the database's write lock is held). Any exception it raises rolls the
transaction back and reaches the caller of ``transact_player`` unchanged.
"""


class Exchange(TypedDict):
    """One exchange of a player-NPC conversation: what each said, and on which turn."""

    player: str
    npc: str
    turn: int


@dataclass(frozen=True, slots=True)
class Conversation:
    """A player's conversation with one NPC: a summary of older exchanges plus the last few.

    ``exchanges`` is oldest first. A pair that never talked is ``Conversation("", [])``.
    """

    summary: str
    exchanges: list[Exchange]


HallKind = Literal["ascended", "died"]
"""How a run ended, as the hall records it."""

HALL_KINDS: tuple[HallKind, ...] = ("ascended", "died")


@dataclass(frozen=True, slots=True)
class HallRecord:
    """An ended run as the rules give it to the hall: ``record_legacy``'s arguments."""

    name: str
    kind: HallKind
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HallEntry:
    """The lasting record of one ended run (``record`` is the rules' JSON, kept as given).

    ``id`` orders entries by the time they were recorded; ``heir_id`` is the cultivator who
    inherited this run's legacy (None until ``claim_legacy``).
    """

    id: int
    player_id: str
    name: str
    kind: HallKind
    record: dict[str, Any]
    heir_id: str | None
    created_at: datetime
