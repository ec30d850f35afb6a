"""Errors the store raises; all are :class:`shared.errors.AppError` so both apps render them."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, NotReady


class StoreError(NotReady):
    """503: the database failed or did not answer (the original error is ``__cause__``)."""

    code = "store_unavailable"


class VersionConflict(Conflict):
    """409: the player's version moved since it was read; nothing was written.

    ``actual`` is the version found, or None when the conflict was on the log sequence.
    """

    def __init__(self, player_id: str, expected: int, actual: int | None) -> None:
        found = "another writer took the log seq" if actual is None else f"found {actual}"
        super().__init__(f"player {player_id}: expected version {expected}, {found}")
        self.player_id = player_id
        self.expected = expected
        self.actual = actual


class PlayerExists(Conflict):
    """409: ``create_player`` with an id that is already taken."""

    code = "player_exists"

    def __init__(self, player_id: str) -> None:
        super().__init__(f"角色编号 {player_id} 已被占用，请重试。")
        self.player_id = player_id


class PlayerNotFound(NotFound):
    """404: a write addressed a player that does not exist."""

    code = "player_not_found"

    def __init__(self, player_id: str) -> None:
        super().__init__(f"no player {player_id}")
        self.player_id = player_id


class LogEntryNotFound(NotFound):
    """404: ``set_narration`` addressed a log entry that does not exist."""

    code = "log_entry_not_found"

    def __init__(self, player_id: str, seq: int) -> None:
        super().__init__(f"no log entry {seq} for player {player_id}")
        self.player_id = player_id
        self.seq = seq
