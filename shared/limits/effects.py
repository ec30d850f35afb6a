"""The effects of the limit counters (served by ``shared.limits.counters``, either face)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.limits.counters import Count, Tally
from shared.usecases.effects import LimitsEffect, MaybeAwaitable, StoreEffect


@dataclass(frozen=True, slots=True)
class AddCounts(LimitsEffect["tuple[Count, ...]"]):
    """Add each tally atomically; the counters' new values, in order."""

    tallies: tuple[Tally, ...]

    def call(self, counters: Any) -> MaybeAwaitable[tuple[Count, ...]]:
        """``counters.add``."""
        return counters.add(self.tallies)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class ReadCounts(LimitsEffect["tuple[Count, ...]"]):
    """The counters' current values, in order."""

    tallies: tuple[Tally, ...]

    def call(self, counters: Any) -> MaybeAwaitable[tuple[Count, ...]]:
        """``counters.read``."""
        return counters.read(self.tallies)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class PlayerForToken(StoreEffect["str | None"]):
    """The player a bearer token belongs to (by its hash), for routes without a player id."""

    token_hash: str

    def call(self, store: Any) -> MaybeAwaitable[str | None]:
        """``store.player_id_for_token_hash`` (one indexed read)."""
        return store.player_id_for_token_hash(self.token_hash)  # type: ignore[no-any-return]
