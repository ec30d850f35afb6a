"""A scripted effect handler: use cases run against a list of expected effects, no HTTP.

Each step names the effect type the use case must ask for next and what it gets back: a
value, an exception to raise into it, or a function of the effect (for instance one that
serves it from a real resource with ``effect.call(face)``). The handler records every
effect, so a test can also check what was (and was not) asked.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.store import LogEntry, NewLogEntry, PlayerRow
from shared.usecases import drive_async, drive_sync
from shared.usecases.effects import Effect, UseCase
from shared.usecases.identity import hash_token

TOKEN = "pt_scripted-token"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Script:
    """Serves effects in the order given; fails the test on any other effect."""

    steps: list[tuple[type[Effect[Any]], Any]]
    asked: list[Effect[Any]] = field(default_factory=list)

    def __call__(self, effect: Effect[Any]) -> Any:
        self.asked.append(effect)
        assert self.steps, f"unexpected effect after the script ended: {effect!r}"
        kind, answer = self.steps.pop(0)
        assert isinstance(effect, kind), f"expected {kind.__name__}, the use case asked {effect!r}"
        if isinstance(answer, BaseException):
            raise answer
        return answer(effect) if callable(answer) else answer

    async def awaiting(self, effect: Effect[Any]) -> Any:
        """The same script as an async handler (answers may be awaitables)."""
        result = self(effect)
        return await result if inspect.isawaitable(result) else result

    def kinds(self) -> list[str]:
        """The names of the effects asked so far."""
        return [type(e).__name__ for e in self.asked]


Driver = Callable[[UseCase[Any], Script], Awaitable[Any]]


async def run_blocking(flow: UseCase[Any], script: Script) -> Any:
    """Drive with the blocking driver."""
    result = drive_sync(flow, script)
    assert not script.steps, f"effects never asked: {script.steps}"
    return result


async def run_awaiting(flow: UseCase[Any], script: Script) -> Any:
    """Drive with the awaiting driver."""
    result = await drive_async(flow, script.awaiting)
    assert not script.steps, f"effects never asked: {script.steps}"
    return result


def player_row(state: dict[str, Any], version: int = 0, player_id: str = "p1") -> PlayerRow:
    """A stored player whose token is :data:`TOKEN`."""
    return PlayerRow(player_id, hash_token(TOKEN), state, version, NOW, NOW)


def stored(entry: NewLogEntry, player_id: str = "p1", narration: str | None = None,
           degraded: bool | None = None) -> LogEntry:
    """The log entry the store keeps for ``entry``."""
    return LogEntry(player_id, entry.seq, entry.action, entry.outcome, entry.narration_request,
                    narration, degraded, entry.idempotency_key, NOW)
