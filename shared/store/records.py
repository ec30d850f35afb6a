"""The rows the store hands out and takes in, as plain frozen dataclasses.

JSON columns travel as dicts; the store never looks inside them (it is agnostic of game rules).
Timestamps come from the database clock and are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


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
    """What ``commit_action`` did.

    ``replayed`` is True when the idempotency key had already been used: nothing was written,
    ``entry`` is the entry first stored under that key and ``version`` the player's current
    version. Otherwise ``entry`` is the new entry and ``version`` the new version.
    """

    replayed: bool
    entry: LogEntry
    version: int
